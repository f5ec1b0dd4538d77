//! MetaBuilder's data flow and error handling, through the library: each
//! test is one behaviour of a v3 workflow as MetaBuilder's authors write it.

mod common;

use std::sync::Arc;

use common::*;
use plugflow_engine::*;
use plugin_abi::manifest::NodeTypeManifest;
use plugin_abi::request::ExecContext;
use plugin_abi::sdk::{
    executor_box, Node, NodeDescription, NodeError, NodeOutput, NodeRequest, Validation,
};
use registry_core::*;
use serde_json::{json, Value};

async fn run_with(
    engine: &Engine,
    workflow: Value,
    options: RunOptions,
) -> Result<ExecutionResult, InvalidWorkflow> {
    engine.run(&compile(workflow), options).await
}

fn options(trigger: Value) -> RunOptions {
    RunOptions {
        trigger,
        context: context(),
        ..Default::default()
    }
}

fn params<'r>(result: &'r ExecutionResult, id: &str) -> &'r Value {
    &result.nodes[id].output["params"]
}

#[tokio::test]
async fn json_is_the_trigger_data_in_every_node() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"v": "{{ $json.amount }}"})), node("b", "t.echo", json!({})),
                              node("c", "t.echo", json!({"v": "{{ $json.amount }}", "page": "{{ $json.data.length }}"}))],
        "connections": {"a": {"main": [edge(&["b"])]}, "b": {"main": [edge(&["c"])]}}});
    let result = run(&engine, wf, json!({"amount": 2500, "data": [1, 2]})).await;
    assert_eq!(params(&result, "a")["v"], 2500);
    assert_eq!(
        params(&result, "c")["v"],
        2500,
        "the third node still sees the trigger data"
    );
    assert_eq!(params(&result, "c")["page"], 2);
}

#[tokio::test]
async fn input_is_the_single_predecessors_output() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"k": 1})), node("b", "t.echo", json!({"prev": "{{ $input.params.k }}"}))],
        "connections": {"a": {"main": [edge(&["b"])]}}});
    let result = run(&engine, wf, json!({})).await;
    assert_eq!(params(&result, "b")["prev"], 1);
}

#[tokio::test]
async fn input_of_a_start_node_is_the_trigger_data() {
    let (engine, _) = setup();
    let wf =
        json!({"nodes": [node("a", "t.echo", json!({"in": "{{ $input }}"}))], "connections": {}});
    let result = run(&engine, wf, json!({"x": 1})).await;
    assert_eq!(params(&result, "a")["in"], json!({"x": 1}));
}

#[tokio::test]
async fn input_is_keyed_by_predecessor_at_a_join_with_null_for_a_branch_not_taken() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("c", "t.cond", json!({"value": true})), node("yes", "t.echo", json!({"k": "y"})),
                              node("no", "t.echo", json!({"k": "n"})), node("join", "t.echo", json!({"in": "{{ $input }}"}))],
        "connections": {"c": {"main": [edge(&["yes"]), edge(&["no"])]}, "yes": {"main": [edge(&["join"])]}, "no": {"main": [edge(&["join"])]}}});
    let result = run(&engine, wf, json!({})).await;
    let input = &params(&result, "join")["in"];
    assert_eq!(input["yes"]["params"]["k"], "y");
    assert!(
        input.as_object().unwrap().contains_key("no"),
        "always keyed: {input}"
    );
    assert_eq!(input["no"], Value::Null);
}

#[tokio::test]
async fn steps_show_status_success_and_error_of_a_failed_node() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [
        {"id": "f", "name": "f", "type": "operation", "nodeType": "t.fail", "onError": "continueErrorOutput", "parameters": {}},
        node("after", "t.echo", json!({"message": "{{ $steps['f'].error.message }}", "code": "{{ $steps.f.error.code }}",
                                       "status": "{{ $steps.f.status }}", "success": "{{ $steps.f.success }}"}))],
        "connections": {"f": {"error": [edge(&["after"])]}}});
    let result = run(&engine, wf, json!({})).await;
    let p = params(&result, "after");
    assert_eq!(p["message"], "boom");
    assert_eq!(p["code"], "EXECUTION_ERROR");
    assert_eq!(p["status"], "error");
    assert_eq!(p["success"], false);
}

#[tokio::test]
async fn steps_of_a_skipped_node_say_skipped_and_not_success() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("c", "t.cond", json!({"value": false})), node("yes", "t.echo", json!({})),
                              node("no", "t.echo", json!({"s": "{{ $steps.yes }}"}))],
        "connections": {"c": {"main": [edge(&["yes"]), edge(&["no"])]}}});
    let result = run(&engine, wf, json!({})).await;
    let s = &params(&result, "no")["s"];
    assert_eq!(s["status"], "skipped");
    assert_eq!(s["success"], false);
}

#[tokio::test]
async fn workflow_variables_have_their_defaults_overridden_per_run() {
    let (engine, _) = setup();
    let wf = json!({"variables": {"threshold": {"defaultValue": 0.8}, "region": {"defaultValue": "eu"}},
        "nodes": [node("a", "t.echo", json!({"t": "{{ $workflow.variables.threshold }}", "r": "{{ $workflow.variables.region }}"}))], "connections": {}});
    let mut opts = options(json!({}));
    opts.variables.insert("region".into(), json!("us"));
    let result = run_with(&engine, wf, opts).await.unwrap();
    assert_eq!(params(&result, "a")["t"], 0.8);
    assert_eq!(params(&result, "a")["r"], "us");
}

#[tokio::test]
async fn a_required_variable_without_a_value_is_a_problem() {
    let (engine, probe) = setup();
    let wf = json!({"variables": {"approverEmail": {"required": true}},
        "nodes": [node("a", "t.echo", json!({}))], "connections": {}});
    let err = run_with(&engine, wf, options(json!({}))).await.unwrap_err();
    assert_eq!(err.problems[0].path, "/variables/approverEmail");
    assert!(
        err.problems[0].message.contains("--var approverEmail="),
        "{err}"
    );
    assert_eq!(probe.count("a"), 0);
}

#[tokio::test]
async fn context_user_is_the_whole_user_object() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"admin": "{{ $context.user.level >= 3 }}", "email": "{{ $context.user.email }}"}))], "connections": {}});
    let mut opts = options(json!({}));
    opts.context.user = json!({"id": "u1", "email": "ada@acme.test", "level": 4});
    let result = run_with(&engine, wf, opts).await.unwrap();
    assert_eq!(params(&result, "a")["admin"], true);
    assert_eq!(params(&result, "a")["email"], "ada@acme.test");
}

fn tenant_workflow(allow_cross: bool) -> Value {
    json!({"tenantId": "acme-corp", "multiTenancy": {"allowCrossTenantAccess": allow_cross},
           "nodes": [node("a", "t.echo", json!({"t": "{{ $context.tenantId }}"}))], "connections": {}})
}

fn as_tenant(tenant: Option<&str>) -> RunOptions {
    RunOptions {
        context: ExecContext {
            tenant_id: tenant.map(str::to_owned),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn a_workflow_declaring_a_tenant_refuses_another_tenant() {
    let (engine, probe) = setup();
    let err = run_with(&engine, tenant_workflow(false), as_tenant(Some("globex")))
        .await
        .unwrap_err();
    assert_eq!(err.problems[0].code, ErrorCode::TenantMismatch);
    assert_eq!(probe.count("a"), 0, "nothing ran");
}

#[tokio::test]
async fn a_workflow_runs_as_its_declared_tenant_when_none_is_given() {
    let (engine, _) = setup();
    let result = run_with(&engine, tenant_workflow(false), as_tenant(None))
        .await
        .unwrap();
    assert_eq!(params(&result, "a")["t"], "acme-corp");
}

#[tokio::test]
async fn cross_tenant_access_needs_both_the_workflow_and_the_tenants_policy() {
    let (engine, _) = setup();
    let refused = run_with(&engine, tenant_workflow(true), as_tenant(Some("globex"))).await;
    assert!(refused.is_err(), "the workflow alone cannot allow it");
    engine.registry().set_tenant_policy(TenantPolicy {
        allow_cross_tenant_access: true,
        ..TenantPolicy::new("globex")
    });
    let result = run_with(&engine, tenant_workflow(true), as_tenant(Some("globex")))
        .await
        .unwrap();
    assert_eq!(params(&result, "a")["t"], "globex");
}

#[tokio::test]
async fn the_error_port_carries_the_failed_nodes_input_and_the_error() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [
        node("a", "t.echo", json!({"k": 1})),
        {"id": "f", "name": "f", "type": "operation", "nodeType": "t.fail", "onError": "continueErrorOutput", "parameters": {}},
        node("handler", "t.echo", json!({"in": "{{ $input }}"}))],
        "connections": {"a": {"main": [edge(&["f"])]}, "f": {"error": [edge(&["handler"])]}}});
    let result = run(&engine, wf, json!({})).await;
    let input = &params(&result, "handler")["in"];
    assert_eq!(input["params"]["k"], 1, "the item is kept: {input}");
    assert_eq!(input["error"]["code"], "EXECUTION_ERROR");
    assert_eq!(input["error"]["message"], "boom");
    assert_eq!(input["error"]["nodeId"], "f");
}

#[tokio::test]
async fn continue_regular_output_carries_the_input_and_the_error() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [
        {"id": "f", "name": "f", "type": "operation", "nodeType": "t.fail", "continueOnError": true, "parameters": {}},
        node("next", "t.echo", json!({"in": "{{ $input }}"}))],
        "connections": {"f": {"main": [edge(&["next"])]}}});
    let result = run(&engine, wf, json!({"order": 9})).await;
    let input = &params(&result, "next")["in"];
    assert_eq!(input["order"], 9);
    assert_eq!(input["error"]["message"], "boom");
}

fn parallel(task_on_error: Option<&str>) -> Value {
    let mut failing = json!({"id": "t2", "name": "t2", "type": "operation", "nodeType": "t.fail", "parameters": {}});
    if let Some(on_error) = task_on_error {
        failing["onError"] = json!(on_error);
    }
    json!({"nodes": [
        {"id": "par", "name": "par", "type": "parallel", "nodeType": "parallel", "parameters": {"tasks": [{"nodeId": "t1"}, {"nodeId": "t2"}]}},
        node("t1", "t.echo", json!({})), failing, node("after", "t.echo", json!({}))],
        "connections": {"par": {"main": [edge(&["after"])]}}})
}

#[tokio::test]
async fn a_parallel_task_that_continues_does_not_fail_its_parallel_node() {
    let (engine, _) = setup();
    let result = run(&engine, parallel(Some("continueErrorOutput")), json!({})).await;
    assert_eq!(result.status, RunStatus::Success, "{result:#?}");
    assert_eq!(status(&result, "par"), NodeStatus::Success);
    assert_eq!(status(&result, "after"), NodeStatus::Success);
}

#[tokio::test]
async fn the_parallel_output_reports_each_tasks_status() {
    let (engine, _) = setup();
    let result = run(&engine, parallel(Some("continueRegularOutput")), json!({})).await;
    let out = &result.nodes["par"].output;
    assert_eq!(out["t1"]["status"], "success");
    assert_eq!(out["t1"]["success"], true);
    assert_eq!(out["t2"]["status"], "error");
    assert_eq!(out["t2"]["error"]["message"], "boom");
}

#[tokio::test]
async fn a_parallel_task_that_stops_fails_its_parallel_node() {
    let (engine, _) = setup();
    let result = run(&engine, parallel(None), json!({})).await;
    assert_eq!(result.status, RunStatus::Error);
    assert_eq!(status(&result, "par"), NodeStatus::Error);
    assert!(result.nodes["par"]
        .error
        .as_ref()
        .unwrap()
        .contains("task `t2` failed"));
    assert_eq!(status(&result, "after"), NodeStatus::Pending);
}

fn with_logger(fail: bool) -> Value {
    json!({"errorHandling": {"default": "stopWorkflow", "errorLogger": "log"},
        "nodes": [node("a", if fail { "t.fail" } else { "t.echo" }, json!({})), node("b", "t.echo", json!({})),
                  node("log", "t.echo", json!({"failed": "{{ $input.error.nodeId }}", "why": "{{ $input.error.message }}"}))],
        "connections": {"a": {"main": [edge(&["b"])]}, "b": {"main": [edge(&["log"])]}}})
}

#[tokio::test]
async fn the_error_logger_runs_once_with_the_error_when_the_workflow_stops() {
    let (engine, probe) = setup();
    let result = run(&engine, with_logger(true), json!({})).await;
    assert_eq!(result.status, RunStatus::Error);
    assert_eq!(probe.count("log"), 1);
    assert_eq!(params(&result, "log")["failed"], "a");
    assert_eq!(params(&result, "log")["why"], "boom");
    assert!(result.nodes["log"]
        .reason
        .as_ref()
        .unwrap()
        .contains("errorLogger"));
    assert_eq!(status(&result, "b"), NodeStatus::Pending);
}

#[tokio::test]
async fn the_error_logger_runs_only_in_its_place_when_nothing_fails() {
    let (engine, probe) = setup();
    let result = run(&engine, with_logger(false), json!({})).await;
    assert_eq!(result.status, RunStatus::Success);
    assert_eq!(probe.count("log"), 1, "once, as an ordinary node");
    assert!(result.nodes["log"].reason.is_none());
}

#[tokio::test]
async fn text_that_is_not_an_expression_is_kept_literally() {
    let (engine, _) = setup();
    let jsx = "<div style={{ color: 'red'; }}>{{ $json.name }}</div>";
    let wf = json!({"nodes": [node("a", "t.echo", json!({"html": jsx}))], "connections": {}});
    let result = run(&engine, wf, json!({"name": "Ada"})).await;
    assert_eq!(
        params(&result, "a")["html"],
        "<div style={{ color: 'red'; }}>Ada</div>"
    );
}

#[tokio::test]
async fn validate_warns_about_text_kept_literally() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"html": "<b style={{ x: ; }}>"}))], "connections": {}});
    let report = engine.validate(&compile(wf), &options(json!({})));
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.warnings[0].kind, WarningKind::TemplateKeptAsText);
    assert_eq!(report.warnings[0].path, "/nodes/0/parameters/html");
}

#[tokio::test]
async fn an_escaped_opening_writes_literal_braces() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"t": "\\{{ name }} is {{ $json.name }}"}))], "connections": {}});
    let result = run(&engine, wf, json!({"name": "Ada"})).await;
    assert_eq!(params(&result, "a")["t"], "{{ name }} is Ada");
}

#[tokio::test]
async fn a_dollar_before_a_template_is_text() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"subject": "New Approval Request: ${{ $json.amount }}"}))], "connections": {}});
    let result = run(&engine, wf, json!({"amount": 2500})).await;
    assert_eq!(
        params(&result, "a")["subject"],
        "New Approval Request: $2500"
    );
}

#[tokio::test]
async fn validate_warns_about_a_reference_to_a_node_that_does_not_exist() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("total", "t.echo", json!({})), node("b", "t.echo", json!({"t": "{{ $steps.totl.output }}"}))],
        "connections": {"total": {"main": [edge(&["b"])]}}});
    let report = engine.validate(&compile(wf), &options(json!({})));
    let w = &report.warnings[0];
    assert_eq!(w.kind, WarningKind::UnknownReference);
    assert_eq!(w.node_id.as_deref(), Some("b"));
    assert!(w.message.contains("$steps.totl"), "{w}");
}

#[tokio::test]
async fn validate_warns_about_a_reference_to_a_node_not_upstream() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"t": "{{ $steps.b.output }}"})), node("b", "t.echo", json!({}))],
        "connections": {"a": {"main": [edge(&["b"])]}}});
    let report = engine.validate(&compile(wf), &options(json!({})));
    assert_eq!(report.warnings[0].kind, WarningKind::UnreachableReference);
}

#[tokio::test]
async fn a_reference_to_an_upstream_node_through_a_parallel_task_is_fine() {
    let (engine, _) = setup();
    let mut wf = parallel(Some("continueErrorOutput"));
    wf["nodes"][3]["parameters"] = json!({"t": "{{ $steps.t1.output }}"});
    let report = engine.validate(&compile(wf), &options(json!({})));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[tokio::test]
async fn unresolved_references_are_listed_per_node_in_the_result() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"v": "{{ $json.missing }}", "w": "x {{ $json.gone }}"}))], "connections": {}});
    let result = run(&engine, wf, json!({})).await;
    assert_eq!(result.status, RunStatus::Success);
    assert_eq!(params(&result, "a")["v"], Value::Null);
    let warnings = &result.nodes["a"].warnings;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0].path, "/parameters/v");
    assert_eq!(warnings[0].expression, "$json.missing");
}

#[tokio::test]
async fn strict_templates_make_an_unresolved_reference_an_error() {
    let (engine, _) = setup();
    let wf = json!({"settings": {"strictTemplates": true},
        "nodes": [node("a", "t.echo", json!({"v": "{{ $json.missing }}"}))], "connections": {}});
    let result = run(&engine, wf, json!({})).await;
    assert_eq!(
        result.nodes["a"].error_code,
        Some(ErrorCode::ExpressionError)
    );
    assert!(result.nodes["a"]
        .error
        .as_ref()
        .unwrap()
        .contains("$json.missing"));
}

#[tokio::test]
async fn strict_runs_refuse_references_to_nodes_that_do_not_exist() {
    let (engine, probe) = setup();
    let wf = json!({"nodes": [node("a", "t.echo", json!({"v": "{{ $steps.nope.output }}"}))], "connections": {}});
    let mut opts = options(json!({}));
    opts.strict = true;
    let err = run_with(&engine, wf, opts).await.unwrap_err();
    assert!(err.problems[0].message.contains("$steps.nope"), "{err}");
    assert_eq!(probe.count("a"), 0);
}

#[tokio::test]
async fn an_expression_that_throws_is_an_expression_error() {
    let (engine, _) = setup();
    let wf =
        json!({"nodes": [node("a", "t.echo", json!({"v": "{{ null.x }}"}))], "connections": {}});
    let result = run(&engine, wf, json!({})).await;
    assert_eq!(
        result.nodes["a"].error_code,
        Some(ErrorCode::ExpressionError)
    );
}

#[tokio::test]
async fn the_execution_order_lists_nodes_as_they_finished() {
    let (engine, _) = setup();
    let wf = json!({"nodes": [node("z", "t.echo", json!({})), node("a", "t.echo", json!({})), node("m", "t.echo", json!({}))],
        "connections": {"z": {"main": [edge(&["a"])]}, "a": {"main": [edge(&["m"])]}}});
    let result = run(&engine, wf, json!({})).await;
    assert_eq!(result.execution_order, ["z", "a", "m"]);
}

struct Picky;
impl Node for Picky {
    fn validate(&self, node: &NodeDescription) -> Validation {
        match node.parameters.get("mode").and_then(Value::as_str) {
            Some("fast" | "safe") | None => Validation::valid(),
            Some(other) => Validation::valid().error(format!("mode `{other}` is not fast or safe")),
        }
    }
    fn execute(&self, _: &NodeRequest) -> Result<NodeOutput, NodeError> {
        Ok(NodeOutput::new(json!("ran")))
    }
}

#[tokio::test]
async fn validate_runs_the_node_types_own_check_on_parameters_without_templates() {
    let registry = Registry::new();
    registry
        .register_with_metadata(
            executor_box(Picky),
            NodeMetadata::new(
                NodeTypeManifest::new("t.picky", "1.0.0"),
                NodeSource::InProcess,
            ),
        )
        .unwrap();
    let engine = Engine::new(Arc::new(registry));
    let wf = json!({"nodes": [node("a", "t.picky", json!({"mode": "reckless"})), node("b", "t.picky", json!({"mode": "{{ $json.mode }}"}))], "connections": {}});
    let report = engine.validate(&compile(wf), &options(json!({})));
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(report.problems[0].node_id.as_deref(), Some("a"));
    assert_eq!(report.problems[0].code, ErrorCode::InvalidParameters);
    assert!(report.problems[0].message.contains("reckless"));
}

#[tokio::test]
async fn a_placeholder_tenant_id_binds_nothing() {
    let (engine, _) = setup();
    let mut wf = tenant_workflow(false);
    wf["tenantId"] = json!("${TENANT_ID}");
    let result = run_with(&engine, wf, as_tenant(Some("globex")))
        .await
        .unwrap();
    assert_eq!(params(&result, "a")["t"], "globex");
}
