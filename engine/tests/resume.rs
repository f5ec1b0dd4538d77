//! Resuming an interrupted execution: recorded nodes are replayed (never
//! run again), the rest run with the recorded outputs as their inputs, and
//! a durable host is told of every node started and executed.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use plugflow_engine::*;
use plugin_abi::request::ExecContext;
use registry_core::{ErrorCode, NodeExecution, NodeFailure};
use serde_json::{json, Value};

fn chain() -> CompiledWorkflow {
    compile(json!({"nodes": [
        node("a", "t.echo", json!({"k": "a"})),
        node("b", "t.echo", json!({"k": "b"})),
        node("c", "t.echo", json!({"k": "c"}))],
      "connections": {"a": {"main": [edge(&["b"])]}, "b": {"main": [edge(&["c"])]}}}))
}

fn recorded(output: Value) -> RecordedNode {
    serde_json::from_value(json!({"status": "success", "output": output})).unwrap()
}

async fn resume(
    engine: &Engine,
    completed: BTreeMap<String, RecordedNode>,
    progress: Option<Progress>,
) -> ExecutionResult {
    let options = RunOptions {
        trigger: json!({"start": 1}),
        context: context(),
        resume: Some(Arc::new(Resume {
            completed,
            ..Resume::default()
        })),
        progress,
        ..RunOptions::default()
    };
    engine.run(&chain(), options).await.unwrap()
}

#[tokio::test]
async fn a_recorded_node_is_not_run_again() {
    let (engine, probe) = setup();
    let completed = BTreeMap::from([("a".to_owned(), recorded(json!({"from": "record"})))]);
    let result = resume(&engine, completed, None).await;
    assert_eq!(result.status, RunStatus::Success);
    assert_eq!(probe.count("a"), 0);
    assert_eq!((probe.count("b"), probe.count("c")), (1, 1));
}

#[tokio::test]
async fn the_next_node_gets_the_recorded_output_as_its_input() {
    let (engine, _) = setup();
    let completed = BTreeMap::from([("a".to_owned(), recorded(json!({"from": "record"})))]);
    let result = resume(&engine, completed, None).await;
    assert_eq!(result.nodes["b"].output["input"], json!({"from": "record"}));
    assert_eq!(result.nodes["a"].output, json!({"from": "record"}));
    assert!(result.nodes["a"]
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("not run again"));
}

#[tokio::test]
async fn a_recorded_failure_stops_the_workflow_as_it_did() {
    let (engine, probe) = setup();
    let failed = RecordedNode::failed(NodeFailure::new(ErrorCode::ExecutionError, "was in flight"));
    let completed = BTreeMap::from([
        ("a".to_owned(), recorded(json!(1))),
        ("b".to_owned(), failed),
    ]);
    let result = resume(&engine, completed, None).await;
    assert_eq!(result.status, RunStatus::Error);
    assert_eq!(result.nodes["b"].error.as_deref(), Some("was in flight"));
    assert_eq!(probe.count("c"), 0);
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl ProgressObserver for Recorder {
    fn node_finished(&self, _: NodeProgress<'_>) {}
    fn node_started(&self, node_id: &str) {
        self.0.lock().unwrap().push(format!("started {node_id}"));
    }
    fn node_executed(&self, node_id: &str, execution: &NodeExecution) {
        let record: RecordedNode =
            serde_json::from_value(serde_json::to_value(execution).unwrap()).unwrap();
        self.0.lock().unwrap().push(format!(
            "executed {node_id} {}",
            record.output["params"]["k"]
        ));
    }
}

#[tokio::test]
async fn a_durable_host_is_told_of_each_node_run_but_not_of_replayed_ones() {
    let (engine, _) = setup();
    let recorder = Arc::new(Recorder::default());
    let completed = BTreeMap::from([("a".to_owned(), recorded(json!(1)))]);
    resume(&engine, completed, Some(Progress(recorder.clone()))).await;
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [
            "started b",
            "executed b \"b\"",
            "started c",
            "executed c \"c\""
        ]
    );
}

/// `a` → `flaky` (retried twice, 5 s apart, with an error port to `c`) →
/// `b`.
fn with_a_slow_retry(fail_times: u64) -> CompiledWorkflow {
    let mut flaky = node("flaky", "t.flaky", json!({"failTimes": fail_times}));
    flaky["retryPolicy"] = json!({"maxAttempts": 3, "backoffType": "linear", "initialDelay": 5000, "retryableErrors": ["EXECUTION_ERROR"]});
    flaky["onError"] = json!("continueErrorOutput");
    compile(json!({"nodes": [
        node("a", "t.echo", json!({"k": "a"})),
        flaky,
        node("b", "t.echo", json!({"k": "b"})),
        node("c", "t.echo", json!({"k": "c"}))],
      "connections": {"a": {"main": [edge(&["flaky"])]},
                      "flaky": {"main": [edge(&["b"])], "error": [edge(&["c"])]}}}))
}

fn durable(resume: Option<Resume>) -> RunOptions {
    RunOptions {
        context: ExecContext {
            resumable: true,
            ..context()
        },
        suspend_retries_after: Some(std::time::Duration::from_secs(1)),
        resume: resume.map(Arc::new),
        ..RunOptions::default()
    }
}

#[tokio::test]
async fn a_backoff_longer_than_the_host_allows_stops_the_run_at_the_node_without_waiting() {
    let (engine, probe) = setup();
    let started = std::time::Instant::now();
    let result = engine
        .run(&with_a_slow_retry(1), durable(None))
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(result.status, RunStatus::Error);
    assert_eq!(
        (probe.count("flaky"), result.nodes["flaky"].retries),
        (1, 1)
    );
    assert_eq!(
        (probe.count("b"), probe.count("c")),
        (0, 0),
        "neither its output nor its error port ran"
    );
}

#[tokio::test]
async fn a_run_that_cannot_be_resumed_waits_its_backoff_out() {
    let (engine, probe) = setup();
    let mut options = durable(None);
    options.context.resumable = false;
    let mut flaky = node("flaky", "t.flaky", json!({"failTimes": 1}));
    flaky["retryPolicy"] = json!({"maxAttempts": 2, "backoffType": "fixed", "initialDelay": 1200, "retryableErrors": ["EXECUTION_ERROR"]});
    let workflow = compile(json!({"nodes": [flaky], "connections": {}}));
    let result = engine.run(&workflow, options).await.unwrap();
    assert_eq!(result.status, RunStatus::Success);
    assert_eq!(probe.count("flaky"), 2);
}

#[tokio::test]
async fn a_resumed_retry_runs_the_node_again_with_its_retries_counted() {
    let (engine, probe) = setup();
    // Its first attempt failed before the suspension; this is retry 1.
    probe.hit("flaky");
    let resume = Resume {
        completed: BTreeMap::from([("a".to_owned(), recorded(json!(1)))]),
        retries: BTreeMap::from([("flaky".to_owned(), 1)]),
    };
    let result = engine
        .run(&with_a_slow_retry(1), durable(Some(resume)))
        .await
        .unwrap();
    assert_eq!(
        result.status,
        RunStatus::Success,
        "{:?}",
        result.nodes["flaky"]
    );
    assert_eq!(probe.count("a"), 0);
    assert_eq!(result.nodes["flaky"].retries, 1);
    assert!(result.nodes["flaky"].recovery_applied);
    assert_eq!(probe.count("b"), 1);
}

#[tokio::test]
async fn a_resumed_last_retry_that_fails_takes_the_error_port() {
    let (engine, probe) = setup();
    probe.hit("flaky");
    probe.hit("flaky");
    let resume = Resume {
        completed: BTreeMap::from([("a".to_owned(), recorded(json!(1)))]),
        retries: BTreeMap::from([("flaky".to_owned(), 2)]),
    };
    let result = engine
        .run(&with_a_slow_retry(10), durable(Some(resume)))
        .await
        .unwrap();
    assert_eq!(result.nodes["flaky"].retries, 2);
    assert_eq!((probe.count("b"), probe.count("c")), (0, 1));
}
