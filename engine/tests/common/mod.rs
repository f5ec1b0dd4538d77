//! Helpers shared by the engine tests: in-process node types that record
//! their calls, and small builders for workflow JSON.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugflow_engine::*;
use plugin_abi::manifest::{ExecutionClass, NodeTypeManifest};
use plugin_abi::request::ExecContext;
use plugin_abi::sdk::{executor_box, Node, NodeError, NodeOutput, NodeRequest};
use registry_core::*;
use serde_json::{json, Value};

pub struct FnNode<F>(pub F);
impl<F> Node for FnNode<F>
where
    F: Fn(&NodeRequest) -> Result<NodeOutput, NodeError> + Send + Sync + 'static,
{
    fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
        (self.0)(request)
    }
}

#[derive(Default)]
pub struct Probe {
    pub calls: Mutex<HashMap<String, usize>>,
    pub running: AtomicUsize,
    pub max_running: AtomicUsize,
}

impl Probe {
    pub fn count(&self, id: &str) -> usize {
        self.calls.lock().unwrap().get(id).copied().unwrap_or(0)
    }
    pub fn hit(&self, id: &str) -> usize {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.entry(id.to_owned()).or_default();
        *n += 1;
        *n
    }
}

pub fn add<F>(registry: &Registry, node_type: &str, class: ExecutionClass, f: F)
where
    F: Fn(&NodeRequest) -> Result<NodeOutput, NodeError> + Send + Sync + 'static,
{
    let mut m = NodeTypeManifest::new(node_type, "1.0.0");
    m.execution = class;
    registry
        .register_with_metadata(
            executor_box(FnNode(f)),
            NodeMetadata::new(m, NodeSource::InProcess),
        )
        .unwrap();
}

pub fn setup() -> (Engine, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    let registry = Registry::new();
    let p = probe.clone();
    add(&registry, "t.echo", ExecutionClass::Pure, move |r| {
        p.hit(&r.node_id);
        Ok(NodeOutput::new(
            json!({"input": r.input, "params": r.parameters}),
        ))
    });
    let p = probe.clone();
    add(&registry, "t.cond", ExecutionClass::Pure, move |r| {
        p.hit(&r.node_id);
        let yes = plugin_abi::sdk::value::truthy(r.param("value").unwrap_or(&Value::Null));
        Ok(NodeOutput::result(json!(yes)).with_output_index(if yes { 0 } else { 1 }))
    });
    let p = probe.clone();
    add(&registry, "t.fail", ExecutionClass::Pure, move |r| {
        p.hit(&r.node_id);
        Err(NodeError::execution("boom"))
    });
    let p = probe.clone();
    add(&registry, "t.flaky", ExecutionClass::Pure, move |r| {
        let n = p.hit(&r.node_id);
        let fail_until = r.param("failTimes").and_then(Value::as_u64).unwrap_or(2) as usize;
        if n <= fail_until {
            Err(NodeError::execution(format!("flake {n}")))
        } else {
            Ok(NodeOutput::new(json!({"attempt": n})))
        }
    });
    let p = probe.clone();
    add(&registry, "t.slow", ExecutionClass::Blocking, move |r| {
        p.hit(&r.node_id);
        let now = p.running.fetch_add(1, Ordering::SeqCst) + 1;
        p.max_running.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(
            r.param("ms").and_then(Value::as_u64).unwrap_or(50),
        ));
        p.running.fetch_sub(1, Ordering::SeqCst);
        Ok(NodeOutput::new(json!("slept")))
    });
    add(&registry, "t.setvar", ExecutionClass::Pure, |r| {
        let mut out = NodeOutput::new(Value::Null);
        out.variables.set.insert(
            r.str_param("name")?.to_owned(),
            r.required_param("value")?.clone(),
        );
        Ok(out)
    });
    let options = EngineOptions {
        env_allowlist: vec!["PLUGFLOW_TEST_ALLOWED".into()],
        ..EngineOptions::default()
    };
    (Engine::with_options(Arc::new(registry), options), probe)
}

pub fn node(id: &str, node_type: &str, parameters: Value) -> Value {
    json!({"id": id, "name": id, "type": "operation", "nodeType": node_type, "typeVersion": 1, "position": [0, 0], "parameters": parameters})
}

pub fn edge(targets: &[&str]) -> Value {
    Value::Array(
        targets
            .iter()
            .map(|t| json!({"node": t, "type": "main", "index": 0}))
            .collect(),
    )
}

pub fn compile(workflow: Value) -> CompiledWorkflow {
    CompiledWorkflow::compile(Workflow::from_json_str(&workflow.to_string(), "test.json").unwrap())
}

pub fn context() -> ExecContext {
    ExecContext {
        tenant_id: Some("acme".into()),
        user: json!({"id": "u1"}),
        execution_id: "x1".into(),
        resumable: false,
    }
}

pub async fn run(engine: &Engine, workflow: Value, trigger: Value) -> ExecutionResult {
    engine
        .run(
            &compile(workflow),
            RunOptions {
                trigger,
                context: context(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

pub fn status(result: &ExecutionResult, id: &str) -> NodeStatus {
    result.nodes[id].status
}
