//! Embedding without traps: the pipeline on whatever executor the host
//! has — a tokio runtime without timers, or no runtime at all — and the
//! defaults a host gets without asking (a generated execution id).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec};
use registry_core::{
    AuditLog, Backoff, BackoffKind, ErrorCode, ExecContext, NodeCall, NodeStatus, RecoveryStrategy,
    Registry, TenantPolicy,
};
use serde_json::json;

/// A minimal executor with no reactor and no timers: polls on the calling
/// thread, parks until woken.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// A tokio runtime built without `enable_time`: `tokio::time` panics there.
fn runtime_without_timers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn sleeper(request: &NodeRequest) -> Result<NodeOutput, NodeError> {
    let ms = request.f64_param("ms")? as u64;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(NodeOutput::result(json!("slept")))
}

fn always_retryable_failure(_: &NodeRequest) -> Result<NodeOutput, NodeError> {
    Err(NodeError::execution("not yet").retryable())
}

/// A registry with one blocking node type, `host.sleep`, and one that
/// always fails retryably, `host.flaky`.
fn registry() -> Registry {
    let registry = Registry::new();
    registry
        .register_spec(
            NodeSpec::new("host.sleep", "1.0.0", "test", "Sleeps `ms`.")
                .blocking()
                .handler(sleeper),
        )
        .unwrap();
    registry
        .register_spec(
            NodeSpec::new("host.flaky", "1.0.0", "test", "Always fails, retryably.")
                .handler(always_retryable_failure),
        )
        .unwrap();
    registry
}

#[test]
fn a_blocking_node_runs_on_a_runtime_without_timers() {
    let registry = registry();
    let params = json!({"ms": 1});
    let call = NodeCall::new("host.sleep", "n", &params);
    let done = runtime_without_timers().block_on(registry.execute(&call));
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    assert_eq!(done.output, json!({"result": "slept"}));
}

#[test]
fn a_blocking_node_times_out_on_a_runtime_without_timers() {
    let registry = registry();
    let params = json!({"ms": 2000});
    let call = NodeCall::new("host.sleep", "n", &params).timeout(Some(Duration::from_millis(20)));
    let done = runtime_without_timers().block_on(registry.execute(&call));
    assert_eq!(done.error_code(), Some(ErrorCode::ExecutionTimeout));
}

#[test]
fn a_blocking_node_runs_without_any_runtime() {
    let registry = registry();
    let params = json!({"ms": 1});
    let call = NodeCall::new("host.sleep", "n", &params);
    let done = block_on(registry.execute(&call));
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
}

#[test]
fn a_blocking_node_times_out_without_any_runtime() {
    let registry = registry();
    let params = json!({"ms": 2000});
    let call = NodeCall::new("host.sleep", "n", &params).timeout(Some(Duration::from_millis(20)));
    let done = block_on(registry.execute(&call));
    assert_eq!(done.error_code(), Some(ErrorCode::ExecutionTimeout));
}

#[test]
fn retry_backoff_waits_without_any_runtime() {
    let registry = registry();
    let params = json!({});
    let strategy = RecoveryStrategy::Retry {
        max_retries: 2,
        backoff: Backoff {
            kind: BackoffKind::Fixed,
            initial: Duration::from_millis(5),
            max: Duration::from_millis(5),
            jitter: 0.0,
        },
        any_execution_error: false,
        retry_codes: Vec::new(),
    };
    let call = NodeCall::new("host.flaky", "n", &params).strategy(&strategy);
    let done = block_on(registry.execute(&call));
    assert_eq!((done.status, done.retries), (NodeStatus::Error, 2));
}

#[test]
fn an_execution_id_is_generated_when_none_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let registry = registry();
    registry.set_audit_log(Some(AuditLog::open(&path, false).unwrap()));
    registry.set_tenant_policy(TenantPolicy {
        audit_logging: true,
        ..TenantPolicy::new("acme")
    });
    let params = json!({"ms": 0});
    let context = ExecContext {
        tenant_id: Some("acme".into()),
        ..Default::default()
    };
    let call = NodeCall::new("host.sleep", "n", &params).context(&context);
    let done = block_on(registry.execute(&call));
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    let line = std::fs::read_to_string(&path).unwrap();
    let record: registry_core::AuditRecord = serde_json::from_str(line.trim()).unwrap();
    assert!(
        record.execution_id.starts_with("exec-"),
        "{}",
        record.execution_id
    );
}
