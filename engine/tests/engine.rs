//! The DAG executor on small workflows built from in-process executors.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use plugflow_engine::*;
use plugin_abi::manifest::{ExecutionClass, NodeTypeManifest};
use plugin_abi::sdk::{executor_box, NodeOutput, NodeRequest};
use registry_core::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_diamond_join_runs_once_with_both_inputs() {
    let (engine, probe) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({})), node("b", "t.echo", json!({"k": "b"})), node("c", "t.echo", json!({"k": "c"})), node("d", "t.echo", json!({}))],
        "connections": {"a": {"main": [edge(&["b", "c"])]}, "b": {"main": {"0": edge(&["d"])}}, "c": {"main": [edge(&["d"])]}}});
    let result = run(&engine, wf, json!({"start": true})).await;
    assert_eq!(result.status, RunStatus::Success);
    assert_eq!(probe.count("d"), 1);
    let d_input = &result.nodes["d"].output["input"];
    assert_eq!(d_input["b"]["params"]["k"], "b");
    assert_eq!(d_input["c"]["params"]["k"], "c");
    assert_eq!(
        result.nodes["a"].output["input"],
        json!({"start": true}),
        "start nodes get the trigger data"
    );
    assert_eq!(result.metrics.nodes_run, 4);
}

#[tokio::test]
async fn a_condition_picks_its_branch_and_skips_propagate_through_joins() {
    let (engine, probe) = setup();
    for (value, taken, not_taken) in [(true, "yes", "no"), (false, "no", "yes")] {
        let wf = json!({"nodes": [node("c", "t.cond", json!({"value": value})), node("yes", "t.echo", json!({})), node("no", "t.echo", json!({})),
                                  node("after_no", "t.echo", json!({})), node("join", "t.echo", json!({}))],
            "connections": {"c": {"main": [edge(&["yes"]), edge(&["no"])]}, "no": {"main": [edge(&["after_no"])]},
                            "yes": {"main": [edge(&["join"])]}, "after_no": {"main": [edge(&["join"])]}}});
        let result = run(&engine, wf, Value::Null).await;
        assert_eq!(status(&result, taken), NodeStatus::Success);
        assert_eq!(status(&result, not_taken), NodeStatus::Skipped);
        assert_eq!(result.nodes["c"].output, json!({"result": value}));
        assert_eq!(
            status(&result, "join"),
            NodeStatus::Success,
            "a join with one live input runs"
        );
        if !value {
            assert_eq!(status(&result, "after_no"), NodeStatus::Success);
        } else {
            assert_eq!(
                status(&result, "after_no"),
                NodeStatus::Skipped,
                "skips propagate"
            );
        }
    }
    assert_eq!(probe.count("join"), 2);
}

#[tokio::test]
async fn errors_route_to_the_error_port_or_continue_or_stop() {
    let (engine, _) = setup();
    let mut failing = node("f", "t.fail", json!({}));
    failing["onError"] = json!("continueErrorOutput");
    let wf = json!({"nodes": [failing, node("ok_path", "t.echo", json!({})), node("handler", "t.echo", json!({}))],
        "connections": {"f": {"main": [edge(&["ok_path"])], "error": [edge(&["handler"])]}}});
    let result = run(&engine, wf, Value::Null).await;
    assert_eq!(result.status, RunStatus::Success);
    assert_eq!(status(&result, "f"), NodeStatus::Error);
    assert_eq!(
        result.nodes["f"].error_code,
        Some(ErrorCode::ExecutionError)
    );
    assert_eq!(status(&result, "ok_path"), NodeStatus::Skipped);
    assert_eq!(
        result.nodes["handler"].output["input"]["error"]["message"],
        "boom"
    );

    let mut failing = node("f", "t.fail", json!({}));
    failing["continueOnError"] = json!(true);
    let wf = json!({"nodes": [failing, node("next", "t.echo", json!({}))], "connections": {"f": {"main": [edge(&["next"])]}}});
    let result = run(&engine, wf, Value::Null).await;
    assert_eq!(
        result.nodes["next"].output["input"]["error"]["code"],
        "EXECUTION_ERROR"
    );

    let wf = json!({"nodes": [node("f", "t.fail", json!({})), node("next", "t.echo", json!({}))], "connections": {"f": {"main": [edge(&["next"])]}},
                    "errorHandling": {"nodeOverrides": {"f": "continueRegularOutput"}}});
    assert_eq!(
        status(&run(&engine, wf, Value::Null).await, "next"),
        NodeStatus::Success,
        "nodeOverrides set onError"
    );
}

#[tokio::test]
async fn stop_workflow_cancels_running_siblings_and_leaves_the_rest_pending() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("start", "t.echo", json!({})), node("f", "t.fail", json!({})), node("slow", "t.slow", json!({"ms": 300})),
                              node("after_slow", "t.echo", json!({})), node("after_f", "t.echo", json!({}))],
        "connections": {"start": {"main": [edge(&["slow", "f"])]}, "slow": {"main": [edge(&["after_slow"])]}, "f": {"main": [edge(&["after_f"])]}}});
    let started = std::time::Instant::now();
    let result = run(&engine, wf, Value::Null).await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "did not wait for the slow sibling"
    );
    assert_eq!(result.status, RunStatus::Error);
    assert!(result.error.as_ref().unwrap().contains("`f`"));
    assert_eq!(status(&result, "slow"), NodeStatus::Cancelled);
    assert_eq!(status(&result, "after_slow"), NodeStatus::Pending);
    assert_eq!(status(&result, "after_f"), NodeStatus::Pending);
}

// Retry waits run on plugflow's own clock (any executor can await the
// engine), so these measure real time: lower bounds only.
#[tokio::test]
async fn retries_fire_for_returned_errors_and_wait_between_tries() {
    let (engine, probe) = setup();
    let mut flaky = node("fl", "t.flaky", json!({"failTimes": 2}));
    flaky["maxTries"] = json!(3);
    flaky["waitBetweenTries"] = json!(40);
    let started = std::time::Instant::now();
    let result = run(
        &engine,
        json!({"nodes": [flaky], "connections": {}}),
        Value::Null,
    )
    .await;
    assert_eq!(status(&result, "fl"), NodeStatus::Success);
    assert_eq!(result.nodes["fl"].retries, 2);
    assert_eq!(probe.count("fl"), 3);
    assert!(started.elapsed() >= Duration::from_millis(80));
}

#[tokio::test]
async fn a_retry_policy_backs_off_linearly_and_gives_up_after_its_attempts() {
    let (engine, probe) = setup();
    let mut flaky = node("f2", "t.flaky", json!({"failTimes": 5}));
    flaky["retryPolicy"] = json!({"maxAttempts": 3, "backoffType": "linear", "initialDelay": 20, "retryableErrors": ["EXECUTION_ERROR"]});
    let started = std::time::Instant::now();
    let result = run(
        &engine,
        json!({"nodes": [flaky], "connections": {}}),
        Value::Null,
    )
    .await;
    assert_eq!(status(&result, "f2"), NodeStatus::Error);
    assert_eq!(result.nodes["f2"].retries, 2);
    assert_eq!(probe.count("f2"), 3);
    // Linear 20 + 40 ms, less up to 10% jitter.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(54), "{waited:?}");
}

#[tokio::test]
async fn node_timeouts_and_the_execution_timeout() {
    let (engine, _) = setup();
    let mut slow = node("s", "t.slow", json!({"ms": 400}));
    slow["timeout"] = json!(0.05);
    slow["onError"] = json!("continueRegularOutput");
    let wf = json!({"nodes": [slow, node("next", "t.echo", json!({}))], "connections": {"s": {"main": [edge(&["next"])]}}});
    let result = run(&engine, wf, Value::Null).await;
    assert_eq!(
        result.nodes["s"].error_code,
        Some(ErrorCode::ExecutionTimeout)
    );
    assert_eq!(status(&result, "next"), NodeStatus::Success);

    let wf = json!({"nodes": [node("s", "t.slow", json!({"ms": 400})), node("next", "t.echo", json!({}))], "connections": {"s": {"main": [edge(&["next"])]}}});
    let options = RunOptions {
        timeout: Some(Duration::from_millis(50)),
        context: context(),
        ..Default::default()
    };
    let result = engine.run(&compile(wf), options).await.unwrap();
    assert_eq!(result.status, RunStatus::Cancelled);
    assert!(result.error.as_ref().unwrap().contains("timed out"));
    assert_eq!(status(&result, "s"), NodeStatus::Cancelled);
    assert_eq!(
        result.nodes["s"].error_code,
        Some(ErrorCode::ExecutionTimeout)
    );
    assert_eq!(status(&result, "next"), NodeStatus::Pending);
}

#[tokio::test]
async fn a_cancel_handle_stops_a_running_execution() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("s1", "t.slow", json!({"ms": 300})), node("s2", "t.slow", json!({"ms": 300}))], "connections": {}});
    let cancel = CancelHandle::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        c.cancel();
    });
    let result = engine
        .run(
            &compile(wf),
            RunOptions {
                cancel: Some(cancel),
                context: context(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(status(&result, "s1"), NodeStatus::Cancelled);
    assert_eq!(status(&result, "s2"), NodeStatus::Cancelled);
}

#[tokio::test]
async fn concurrency_is_bounded_by_max_concurrency() {
    for (limit, expect_parallel) in [(1usize, false), (4, true)] {
        let (engine, probe) = setup();
        let nodes: Vec<Value> = (0..4)
            .map(|i| node(&format!("s{i}"), "t.slow", json!({"ms": 60})))
            .collect();
        let wf = json!({"nodes": nodes, "connections": {}, "settings": {"maxConcurrency": limit}});
        let result = run(&engine, wf, Value::Null).await;
        assert_eq!(result.metrics.nodes_succeeded, 4);
        let max = probe.max_running.load(Ordering::SeqCst);
        if expect_parallel {
            assert!(max > 1, "independent branches run concurrently");
        } else {
            assert_eq!(max, 1);
        }
    }
}

#[tokio::test]
async fn nothing_runs_when_the_workflow_has_problems_and_all_are_reported() {
    let (engine, probe) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({})), node("b", "nope.missing", json!({})), node("c", "also.missing", json!({})),
                              node("d", "t.echo", json!({})), node("e", "t.echo", json!({"x": "{{ $json.a }}"}))],
        "connections": {"a": {"main": [edge(&["d"])]}, "d": {"main": [edge(&["a"])]}, "b": {"main": [edge(&["ghost"])]}}});
    let err = engine
        .run(&compile(wf), RunOptions::default())
        .await
        .unwrap_err();
    let codes: Vec<(Option<String>, ErrorCode)> = err
        .problems
        .iter()
        .map(|p| (p.node_id.clone(), p.code))
        .collect();
    assert!(
        codes.contains(&(Some("b".into()), ErrorCode::NodeTypeNotFound)),
        "{codes:?}"
    );
    assert!(codes.contains(&(Some("c".into()), ErrorCode::NodeTypeNotFound)));
    assert!(
        err.problems.iter().any(|p| p.message.contains("cycle")
            && p.message.contains("a -> d -> a")
            || p.message.contains("d -> a -> d")),
        "{err}"
    );
    assert!(err.problems.iter().any(|p| p.message.contains("ghost")));
    assert_eq!(probe.calls.lock().unwrap().len(), 0, "nothing ran");
}

#[tokio::test]
async fn templates_see_inputs_steps_nodes_context_vars_and_only_allowed_env() {
    std::env::set_var("PLUGFLOW_TEST_ALLOWED", "visible");
    std::env::set_var("PLUGFLOW_TEST_SECRET", "hidden");
    let (engine, _) = setup();
    let wf = json!({
        "id": "wf-1", "name": "Templates",
        "variables": {"greeting": {"name": "greeting", "type": "string", "defaultValue": "hi"}},
        "nodes": [
            node("first", "t.echo", json!({"n": 41})),
            node("setv", "t.setvar", json!({"name": "count", "value": "{{ $steps.first.output.params.n + 1 }}"})),
            node("second", "t.echo", json!({
                "prev": "{{ $input }}",
                "n": "{{ $steps.first.output.params.n }}",
                "byName": "{{ $node[\"first\"].json.params.n }}",
                "tenant": "{{ $context.tenantId }}",
                "user": "{{ $context.user.id }}",
                "greeting": "{{ $vars.greeting }}",
                "count": "{{ $vars.count }}",
                "env": "{{ $env.PLUGFLOW_TEST_ALLOWED }}",
                "secret": "{{ $env.PLUGFLOW_TEST_SECRET }}",
                "js": "{{ Math.max($steps.first.output.params.n || 1, 50) }}",
                "mixed": "n={{ $steps.first.output.params.n }} obj={{ $steps.first.output.params }}",
                "wf": "{{ $workflow.name }}",
                "status": "{{ $steps['first'].status }}",
                "trigger": "{{ $trigger }}",
                "now": "{{ $now }}"
            }))
        ],
        "connections": {"first": {"main": [edge(&["setv"])]}, "setv": {"main": [edge(&["second"])]}}
    });
    let result = run(&engine, wf, json!({"page": 2})).await;
    assert_eq!(result.status, RunStatus::Success, "{result:#?}");
    let p = &result.nodes["second"].output["params"];
    assert_eq!(p["prev"], Value::Null, "setv outputs null");
    assert_eq!(p["n"], json!(41), "one template keeps the number type");
    assert_eq!(p["byName"], json!(41));
    assert_eq!(p["tenant"], "acme");
    assert_eq!(p["user"], "u1");
    assert_eq!(p["greeting"], "hi");
    assert_eq!(p["count"], json!(42));
    assert_eq!(p["env"], "visible");
    assert_eq!(
        p["secret"],
        Value::Null,
        "variables off the allowlist are undefined"
    );
    assert_eq!(p["js"], json!(50));
    assert_eq!(p["mixed"], "n=41 obj={\"n\":41}");
    assert_eq!(p["wf"], "Templates");
    assert_eq!(p["status"], "success");
    assert_eq!(
        p["trigger"],
        json!({"page": 2}),
        "$trigger is the trigger data everywhere"
    );
    assert!(p["now"].as_str().unwrap().ends_with('Z'));
    assert_eq!(result.nodes["first"].output["input"], json!({"page": 2}));
}

#[tokio::test]
async fn a_failing_expression_fails_its_node_naming_the_expression() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"x": "{{ $json.missing.deeper.call() }}"}))], "connections": {}});
    let result = run(&engine, wf, json!({})).await;
    assert_eq!(
        result.nodes["a"].error_code,
        Some(ErrorCode::ExpressionError)
    );
    assert!(result.nodes["a"]
        .error
        .as_ref()
        .unwrap()
        .contains("$json.missing.deeper.call()"));
}

#[tokio::test]
async fn parallel_nodes_run_their_tasks_and_collect_them() {
    let (engine, probe) = setup();
    let wf = json!({"nodes": [
            node("start", "t.echo", json!({})),
            {"id": "par", "name": "par", "type": "parallel", "typeVersion": 1, "position": [0, 0], "parameters": {"tasks": [{"nodeId": "t1", "type": "t.slow"}, {"nodeId": "t2"}]}},
            node("t1", "t.slow", json!({"ms": 60})), node("t2", "t.slow", json!({"ms": 60})),
            node("after", "t.echo", json!({"fromTask": "{{ $steps.t2.output }}"}))],
        "connections": {"start": {"main": [edge(&["par"])]}, "par": {"main": [edge(&["after"])]}}});
    let result = run(&engine, wf, Value::Null).await;
    assert_eq!(result.status, RunStatus::Success, "{result:#?}");
    assert_eq!(probe.count("t1"), 1);
    assert_eq!(
        probe.count("t2"),
        1,
        "tasks are not start nodes and run once"
    );
    assert_eq!(status(&result, "t1"), NodeStatus::Success);
    let task = |id: &str| json!({"output": "slept", "status": "success", "success": true, "error": null, "id": id});
    let mut expected = json!({"t1": task("t1"), "t2": task("t2")});
    for t in ["t1", "t2"] {
        expected[t].as_object_mut().unwrap().remove("id");
    }
    assert_eq!(result.nodes["par"].output, expected);
    assert_eq!(result.nodes["after"].output["params"]["fromTask"], "slept");
    assert!(
        probe.max_running.load(Ordering::SeqCst) >= 2,
        "tasks run concurrently"
    );
}

#[tokio::test]
async fn a_forbidden_node_type_is_refused_everywhere_including_parallel_tasks() {
    let (engine, probe) = setup();
    engine.registry().set_tenant_policy(TenantPolicy {
        restricted_node_types: vec!["t.slow".into()],
        ..TenantPolicy::new("acme")
    });
    let wf = json!({"nodes": [
            {"id": "par", "name": "par", "type": "parallel", "typeVersion": 1, "position": [0, 0], "parameters": {"tasks": [{"nodeId": "t1"}]}},
            node("t1", "t.slow", json!({}))], "connections": {}});
    let err = engine
        .run(
            &compile(wf),
            RunOptions {
                context: context(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.problems[0].code, ErrorCode::NodeTypeDisabledForTenant);
    assert_eq!(err.problems[0].node_id.as_deref(), Some("t1"));
    assert_eq!(probe.count("t1"), 0);

    // The workflow's own multiTenancy block tightens the policy.
    let wf = json!({"nodes": [node("a", "t.echo", json!({}))], "connections": {}, "multiTenancy": {"restrictNodeTypes": ["t.echo"]}});
    let err = engine
        .run(
            &compile(wf),
            RunOptions {
                context: context(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.problems[0].code, ErrorCode::NodeTypeDisabledForTenant);
}

#[tokio::test]
async fn disabled_nodes_pass_their_input_through() {
    let (engine, probe) = setup();
    let mut off = node("off", "t.fail", json!({}));
    off["disabled"] = json!(true);
    let wf = json!({"nodes": [node("a", "t.echo", json!({"v": 1})), off, node("c", "t.echo", json!({}))],
        "connections": {"a": {"main": [edge(&["off"])]}, "off": {"main": [edge(&["c"])]}}});
    let result = run(&engine, wf, Value::Null).await;
    assert_eq!(status(&result, "off"), NodeStatus::Skipped);
    assert_eq!(probe.count("off"), 0);
    assert_eq!(result.nodes["c"].output["input"]["params"]["v"], 1);
}

#[test]
fn metabuilder_shaped_workflows_parse_and_name_their_unknown_types() {
    // Written after the shape of MetaBuilder's samples: `type` as executor
    // key, array and object connection forms, canvas fields, settings.
    let text = r#"{
      "name": "Handle Pagination", "active": false, "id": "workflow_pagination", "version": "3.0.0",
      "tenantId": "${TENANT_ID}", "staticData": {}, "meta": {},
      "settings": {"timezone": "UTC", "executionTimeout": 3600, "saveExecutionProgress": true},
      "nodes": [
        {"id": "extract", "name": "Extract", "type": "metabuilder.transform", "typeVersion": 1, "position": [100, 100],
         "parameters": {"output": {"page": "{{ Math.max($json.page || 1, 1) }}"}, "operation": "transform_data"}},
        {"id": "offset", "name": "Offset", "type": "metabuilder.transform", "typeVersion": 1, "position": [400, 100],
         "parameters": {"output": "{{ ($steps.extract.output.page - 1) * 10 }}"}},
        {"id": "respond", "name": "Respond", "type": "metabuilder.action", "typeVersion": 1, "position": [700, 100],
         "parameters": {"action": "http_response", "status": 200, "body": {"message": "ok"}}}
      ],
      "connections": {
        "extract": {"main": [[{"node": "offset", "type": "main", "index": 0}]]},
        "Offset": {"main": {"0": [{"node": "respond", "type": "main", "index": 0}]}}
      }
    }"#;
    let workflow = Workflow::from_json_str(text, "pagination.json").unwrap();
    let compiled = CompiledWorkflow::compile(workflow);
    assert_eq!(
        compiled.graph.edges.len(),
        2,
        "connections by id and by name"
    );
    let problems = Engine::new(Arc::new(Registry::new()))
        .validate(&compiled, &RunOptions::default())
        .problems;
    let unknown: Vec<_> = problems
        .iter()
        .filter(|p| p.code == ErrorCode::NodeTypeNotFound)
        .map(|p| p.node_id.clone().unwrap())
        .collect();
    assert_eq!(unknown, ["extract", "offset", "respond"]);
    assert!(problems[0].message.contains("metabuilder.transform"));

    let err = Workflow::from_json_str(
        r#"{"nodes": [{"id": "a", "parameters": {}, "timeout": "soon"}]}"#,
        "bad.json",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bad.json: at `/nodes/0/timeout`"),
        "{err}"
    );
    let err = Workflow::from_json_str("{\"nodes\": [", "broken.json").unwrap_err();
    assert!(err.to_string().contains("broken.json"), "{err}");
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, NodeStatus, usize, usize)>>);

impl ProgressObserver for Recorder {
    fn node_finished(&self, p: NodeProgress<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((p.node_id.to_owned(), p.status, p.done, p.total));
    }
}

#[tokio::test]
async fn progress_is_reported_once_per_node_as_it_reaches_its_final_status() {
    let (engine, _) = setup();
    let mut disabled = node("off", "t.echo", json!({}));
    disabled["disabled"] = json!(true);
    let wf = json!({"nodes": [node("c", "t.cond", json!({"value": true})), node("yes", "t.echo", json!({})),
                              node("no", "t.echo", json!({})), node("after_no", "t.echo", json!({})), disabled],
        "connections": {"c": {"main": [edge(&["yes"]), edge(&["no"])]}, "no": {"main": [edge(&["after_no"])]},
                        "yes": {"main": [edge(&["off"])]}}});
    let recorder = Arc::new(Recorder::default());
    let result = engine
        .run(
            &compile(wf),
            RunOptions {
                context: context(),
                progress: Some(Progress(recorder.clone())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(events.len(), 5, "{events:?}");
    for (k, (id, status, done, total)) in events.iter().enumerate() {
        assert_eq!((*done, *total), (k + 1, 5));
        assert_eq!(*status, result.nodes[id].status, "{id}");
    }
    let ids: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids[0], "c", "the condition finishes first");
    for id in ["yes", "no", "after_no", "off"] {
        assert!(ids.contains(&id), "{id} reported: {ids:?}");
    }
}

#[test]
fn validation_refuses_a_node_whose_dependency_the_tenant_may_not_use() {
    let registry = Registry::new();
    add(&registry, "base.secret", ExecutionClass::Pure, |_| {
        Ok(NodeOutput::new(json!("secret")))
    });
    let mut outer = NodeTypeManifest::new("wrap.outer", "1.0.0");
    outer.dependencies = vec![plugin_abi::manifest::NodeDependency {
        node_type: "base.secret".into(),
        version: "^1".into(),
    }];
    registry
        .register_with_metadata(
            executor_box(FnNode(|_: &NodeRequest| {
                Ok(NodeOutput::new(json!("outer")))
            })),
            NodeMetadata::new(outer, NodeSource::InProcess),
        )
        .unwrap();
    registry.set_tenant_policy(TenantPolicy {
        restricted_node_types: vec!["base.*".into()],
        ..TenantPolicy::new("acme")
    });
    let compiled = compile(json!({"nodes": [node("w", "wrap.outer", json!({}))]}));
    let options = RunOptions {
        context: context(),
        ..Default::default()
    };
    let problems = Engine::new(Arc::new(registry))
        .validate(&compiled, &options)
        .problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].code, ErrorCode::NodeTypeDisabledForTenant);
    assert_eq!(problems[0].node_id.as_deref(), Some("w"));
}

#[test]
fn the_execution_deadline_holds_on_a_runtime_without_timers() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("s", "t.slow", json!({"ms": 400})), node("next", "t.echo", json!({}))],
                    "connections": {"s": {"main": [edge(&["next"])]}}});
    let options = RunOptions {
        timeout: Some(Duration::from_millis(30)),
        context: context(),
        ..Default::default()
    };
    // Built without `enable_time`: tokio's own timers would panic here.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = runtime.block_on(engine.run(&compile(wf), options)).unwrap();
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(status(&result, "s"), NodeStatus::Cancelled);
    assert_eq!(status(&result, "next"), NodeStatus::Pending);
}

#[tokio::test]
async fn a_node_fed_by_a_failure_that_continued_says_its_input_is_degraded() {
    let (engine, _) = setup();
    let mut failing = node("f", "t.fail", json!({}));
    failing["onError"] = json!("continueRegularOutput");
    let result = run(
        &engine,
        json!({"nodes": [failing, node("next", "t.echo", json!({"k": 1}))],
               "connections": {"f": {"main": [edge(&["next"])]}}}),
        json!({}),
    )
    .await;
    let warnings = &result.nodes["next"].warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].code, "DEGRADED_INPUT");
    assert!(
        warnings[0].message.contains("EXECUTION_ERROR: boom"),
        "{}",
        warnings[0].message
    );
}

#[tokio::test]
async fn a_node_on_the_error_port_is_not_warned_about_its_input() {
    let (engine, _) = setup();
    let mut failing = node("f", "t.fail", json!({}));
    failing["onError"] = json!("continueErrorOutput");
    let result = run(
        &engine,
        json!({"nodes": [failing, node("handler", "t.echo", json!({"k": 1}))],
               "connections": {"f": {"error": [edge(&["handler"])]}}}),
        json!({}),
    )
    .await;
    assert!(result.nodes["handler"].warnings.is_empty());
    assert_eq!(
        result.nodes["handler"].output["input"]["error"]["code"],
        "EXECUTION_ERROR"
    );
}
