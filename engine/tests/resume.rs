//! Resuming an interrupted execution: recorded nodes are replayed (never
//! run again), the rest run with the recorded outputs as their inputs, and
//! a durable host is told of every node started and executed.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use plugflow_engine::*;
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
        resume: Some(Arc::new(Resume { completed })),
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
