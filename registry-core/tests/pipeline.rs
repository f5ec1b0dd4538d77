//! The registry pipeline with in-process executors: every stage, cache
//! behaviour, tenant layers, recovery, audit and metrics.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_abi::manifest::{ExecutionClass, NodeTypeManifest};
use plugin_abi::request::ExecContext;
use plugin_abi::sdk::{
    executor_box, Node, NodeDescription, NodeError, NodeOutput, NodeRequest, Validation,
};
use registry_core::*;
use serde_json::{json, Value};

struct FnNode<F>(F);

impl<F> Node for FnNode<F>
where
    F: Fn(&NodeRequest) -> Result<NodeOutput, NodeError> + Send + Sync + 'static,
{
    fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
        (self.0)(request)
    }
}

fn manifest(node_type: &str, schema: Value) -> NodeTypeManifest {
    let mut m = NodeTypeManifest::new(node_type, "1.0.0");
    m.parameter_schema = schema;
    m
}

fn register<F>(registry: &Registry, m: NodeTypeManifest, f: F)
where
    F: Fn(&NodeRequest) -> Result<NodeOutput, NodeError> + Send + Sync + 'static,
{
    registry
        .register_with_metadata(
            executor_box(FnNode(f)),
            NodeMetadata::new(m, NodeSource::InProcess),
        )
        .unwrap();
}

fn echo_registry() -> Registry {
    let registry = Registry::new();
    register(
        &registry,
        manifest("test.echo", json!({"type": "object"})),
        |r| {
            Ok(NodeOutput::new(
                json!({"parameters": r.parameters, "input": r.input}),
            ))
        },
    );
    registry
}

fn tenant(t: &str) -> ExecContext {
    ExecContext {
        tenant_id: Some(t.into()),
        execution_id: "exec-1".into(),
        ..Default::default()
    }
}

async fn run(
    registry: &Registry,
    node_type: &str,
    params: Value,
    context: &ExecContext,
    strategy: &RecoveryStrategy,
) -> NodeExecution {
    let input = json!({"in": 1});
    let call = NodeCall::new(node_type, "n1", &params)
        .context(context)
        .input(&input)
        .strategy(strategy);
    registry.execute(&call).await
}

#[tokio::test]
async fn the_tenant_check_comes_before_the_lookup() {
    let registry = echo_registry();
    registry.set_tenant_policy(TenantPolicy {
        allowed_node_types: vec!["string.*".into()],
        ..TenantPolicy::new("a")
    });
    let refused = run(
        &registry,
        "test.echo",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(
        refused.error_code(),
        Some(ErrorCode::NodeTypeDisabledForTenant)
    );
    let unknown = run(
        &registry,
        "nope.nothing",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(
        unknown.error_code(),
        Some(ErrorCode::NodeTypeDisabledForTenant),
        "a forbidden tenant learns nothing about what exists"
    );
    let unknown = run(
        &registry,
        "nope.nothing",
        json!({}),
        &tenant("b"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(unknown.error_code(), Some(ErrorCode::NodeTypeNotFound));
    assert!(unknown.error.unwrap().message.contains("nope.nothing"));
    registry.remove_tenant_policy("a");
    let ok = run(
        &registry,
        "test.echo",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(ok.status, NodeStatus::Success);
    assert_eq!(ok.output["input"], json!({"in": 1}));
}

#[tokio::test]
async fn validation_reports_every_error_with_its_path_and_runs_the_plugins_own_check() {
    struct Picky;
    impl Node for Picky {
        fn validate(&self, node: &NodeDescription) -> Validation {
            if node.parameters["name"] == "root" {
                Validation::valid().error("`root` is reserved")
            } else {
                Validation::valid()
            }
        }
        fn execute(&self, _: &NodeRequest) -> Result<NodeOutput, NodeError> {
            Ok(NodeOutput::new(json!("ran")))
        }
    }
    let registry = Registry::new();
    let mut m = manifest(
        "test.picky",
        json!({"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}}}}),
    );
    m.required_fields = vec!["name".into()];
    registry
        .register_with_metadata(
            executor_box(Picky),
            NodeMetadata::new(m, NodeSource::InProcess),
        )
        .unwrap();

    let bad = run(
        &registry,
        "test.picky",
        json!({"age": -1, "tags": ["x", 3]}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(bad.error_code(), Some(ErrorCode::ValidationFailed));
    let paths: Vec<String> = bad
        .error
        .as_ref()
        .unwrap()
        .validation_errors
        .iter()
        .map(|i| i.path.clone())
        .collect();
    assert!(
        paths.contains(&"/name".to_owned())
            && paths.contains(&"/age".to_owned())
            && paths.contains(&"/tags/1".to_owned()),
        "{paths:?}"
    );

    let reserved = run(
        &registry,
        "test.picky",
        json!({"name": "root"}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    // The node type's own check: INVALID_PARAMETERS, as `validate` reports it.
    assert_eq!(reserved.error_code(), Some(ErrorCode::InvalidParameters));
    assert!(reserved.error.unwrap().message.contains("reserved"));
    let fine = run(
        &registry,
        "test.picky",
        json!({"name": "ada"}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(fine.output, json!("ran"));
}

#[tokio::test]
async fn a_repeated_workload_hits_the_caches() {
    let registry = Registry::new();
    for i in 0..5 {
        register(
            &registry,
            manifest(
                &format!("test.n{i}"),
                json!({"type": "object", "properties": {"x": {"type": "integer"}}}),
            ),
            |_| Ok(NodeOutput::new(Value::Null)),
        );
    }
    for round in 0..200 {
        for i in 0..5 {
            let done = run(
                &registry,
                &format!("test.n{i}"),
                json!({"x": round % 3}),
                &tenant("a"),
                &RecoveryStrategy::Fail,
            )
            .await;
            assert_eq!(done.status, NodeStatus::Success);
        }
    }
    let stats = registry.stats();
    let executors = stats.caches["executors"];
    assert!(executors.hit_rate >= 0.95, "{executors:?}");
    assert_eq!(executors.misses, 5);
    let validation = stats.caches["validation"];
    assert_eq!(
        validation.misses, 15,
        "5 node types x 3 distinct parameter sets: {validation:?}"
    );
    assert!(validation.hit_rate >= 0.95);
    // Five identical schemas were compiled once.
    assert_eq!(stats.caches["schemas"].len, 1);
    assert_eq!(stats.execution.executions, 1000);
}

#[tokio::test]
async fn registering_again_replaces_and_invalidates_cached_validation() {
    let registry = Registry::new();
    register(
        &registry,
        manifest("test.v", json!({"type": "object"})),
        |_| Ok(NodeOutput::new(json!(1))),
    );
    let params = json!({"x": "text"});
    assert_eq!(
        run(
            &registry,
            "test.v",
            params.clone(),
            &tenant("a"),
            &RecoveryStrategy::Fail
        )
        .await
        .status,
        NodeStatus::Success
    );
    let replaced = registry
        .register_with_metadata(
            executor_box(FnNode(|_: &NodeRequest| Ok(NodeOutput::new(json!(2))))),
            NodeMetadata::new(
                manifest(
                    "test.v",
                    json!({"type": "object", "properties": {"x": {"type": "integer"}}}),
                ),
                NodeSource::InProcess,
            ),
        )
        .unwrap();
    assert!(replaced.is_some());
    let now = run(
        &registry,
        "test.v",
        params,
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(
        now.error_code(),
        Some(ErrorCode::ValidationFailed),
        "stale validation result must not survive re-registration"
    );
    assert_eq!(
        run(
            &registry,
            "test.v",
            json!({"x": 1}),
            &tenant("a"),
            &RecoveryStrategy::Fail
        )
        .await
        .output,
        json!(2)
    );
}

#[test]
fn invalid_metadata_is_refused_with_invalid_parameters() {
    let registry = Registry::new();
    let mut m = manifest("bad name!", json!({"type": "no-such-type"}));
    m.version = "one".into();
    let err = registry
        .register_with_metadata(
            executor_box(FnNode(|_: &NodeRequest| Ok(NodeOutput::default()))),
            NodeMetadata::new(m, NodeSource::InProcess),
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidParameters);
    let RegistryError::InvalidMetadata { problems, .. } = &err;
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(registry.is_empty());
}

#[test]
fn list_filter_unregister_validate_all_and_invalidate() {
    let registry = Registry::new();
    for (t, cat, tag) in [
        ("a.one", "x", "red"),
        ("a.two", "x", "blue"),
        ("b.one", "y", "red"),
    ] {
        let mut m = manifest(t, json!({"type": "object"}));
        m.category = cat.into();
        m.tags = vec![tag.into()];
        register(&registry, m, |_| Ok(NodeOutput::default()));
    }
    let names = |f: ListFilter| {
        registry
            .list(&f)
            .iter()
            .map(|m| m.manifest.node_type.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(ListFilter {
            category: Some("x".into()),
            tag: None
        }),
        ["a.one", "a.two"]
    );
    assert_eq!(
        names(ListFilter {
            category: None,
            tag: Some("red".into())
        }),
        ["a.one", "b.one"]
    );
    assert_eq!(registry.validate_all_executors().len(), 3);
    assert!(registry.validate_all_executors().iter().all(|r| r.ok));
    assert!(registry.metadata("a.one").is_some());
    assert!(registry.unregister("a.one").is_some());
    assert!(
        !registry.has("a.one")
            && registry.get("a.one").is_none()
            && registry.metadata("a.one").is_none()
    );
    registry.get("a.two");
    registry.invalidate_cache(CacheKind::All);
    assert_eq!(registry.cache_stats()["executors"].len, 0);
}

fn capture_registry(scoped: bool) -> (Registry, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let registry = Registry::new();
    let mut m = manifest("dbal.read", json!({"type": "object"}));
    m.tenant_scoped = scoped;
    let s = seen.clone();
    register(&registry, m, move |r| {
        s.lock().unwrap().push(r.parameters.clone());
        Ok(NodeOutput::new(
            json!({"records": [{"tenantId": r.context.tenant_id, "v": 1}]}),
        ))
    });
    (registry, seen)
}

#[tokio::test]
async fn strict_isolation_scopes_filters_and_writes_of_tenant_scoped_nodes() {
    let (registry, seen) = capture_registry(true);
    let params = json!({"filter": {"$or": [{"tenantId": "b"}, {"x": 1}]}, "data": {"tenantId": "b", "v": 2}});
    let done = run(
        &registry,
        "dbal.read",
        params.clone(),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    let got = seen.lock().unwrap()[0].clone();
    assert_eq!(
        got["filter"],
        json!({"$and": [{"tenantId": "a"}, {"$or": [{"tenantId": "b"}, {"x": 1}]}]})
    );
    assert_eq!(got["data"]["tenantId"], "a");

    registry.set_tenant_policy(TenantPolicy {
        data_isolation: DataIsolation::Relaxed,
        ..TenantPolicy::new("r")
    });
    run(
        &registry,
        "dbal.read",
        params.clone(),
        &tenant("r"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(
        seen.lock().unwrap()[1],
        params,
        "relaxed isolation leaves parameters alone"
    );

    let (unscoped, seen) = capture_registry(false);
    run(
        &unscoped,
        "dbal.read",
        params.clone(),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(
        seen.lock().unwrap()[0],
        params,
        "node types that are not tenant-scoped are not rewritten"
    );
}

#[tokio::test]
async fn another_tenants_records_in_an_output_are_withheld_and_counted() {
    let registry = Registry::new();
    let mut m = manifest("dbal.leaky", json!({"type": "object"}));
    m.tenant_scoped = true;
    register(&registry, m, |_| {
        Ok(NodeOutput::new(
            json!({"records": [{"tenantId": "a", "v": 1}, {"tenantId": "b", "secret": "B's"}]}),
        ))
    });
    let done = run(
        &registry,
        "dbal.leaky",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(done.status, NodeStatus::Error);
    assert_eq!(done.output, Value::Null, "the output is withheld");
    assert!(done.error.unwrap().message.contains("/records/1"));
    assert_eq!(registry.stats().execution.tenant_violations, 1);
}

#[tokio::test]
async fn credentials_resolve_per_tenant_and_secrets_are_masked_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let registry = Registry::new();
    registry.set_audit_log(Some(AuditLog::open(&audit_path, false).unwrap()));
    registry.set_tenant_policy(TenantPolicy {
        audit_logging: true,
        ..TenantPolicy::new("a")
    });
    registry.credentials().insert(
        "a",
        Credential {
            id: "api".into(),
            kind: "api-key".into(),
            fields: json!({"key": "sk-live-123456"})
                .as_object()
                .unwrap()
                .clone(),
        },
    );
    register(
        &registry,
        manifest("test.leak", json!({"type": "object"})),
        |r| {
            let key = r.credentials["api"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if r.parameters["fail"] == true {
                Err(NodeError::execution(format!("auth failed with {key}")))
            } else {
                Ok(NodeOutput::new(
                    json!({"used": key, "nested": [format!("Bearer {key}")]}),
                ))
            }
        },
    );
    let refs = [CredentialRef {
        slot: "api".into(),
        id: "api".into(),
    }];
    for (t, fail) in [("a", false), ("a", true), ("b", false)] {
        let params = json!({"fail": fail});
        let context = tenant(t);
        let call = NodeCall::new("test.leak", "n1", &params)
            .context(&context)
            .credentials(&refs);
        let done = registry.execute(&call).await;
        let text = serde_json::to_string(&done).unwrap();
        assert!(!text.contains("sk-live-123456"), "secret leaked: {text}");
        match (t, fail) {
            ("a", false) => assert_eq!(
                done.output,
                json!({"used": "***", "nested": ["Bearer ***"]})
            ),
            ("a", true) => assert!(done.error.unwrap().message.contains("***")),
            _ => assert_eq!(done.error_code(), Some(ErrorCode::CredentialMissing)),
        }
    }
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert_eq!(
        audit.lines().count(),
        2,
        "tenant a audits, tenant b does not"
    );
    assert!(!audit.contains("sk-live"));
    assert!(registry_core::verify_audit_log(&audit_path)
        .unwrap()
        .is_valid());
}

fn flaky(registry: &Registry, fail_times: u32, retryable: bool) -> Arc<AtomicU32> {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    register(
        registry,
        manifest("test.flaky", json!({"type": "object"})),
        move |_| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            if n < fail_times {
                let e = NodeError::execution(format!("transient #{n}"));
                Err(if retryable { e.retryable() } else { e })
            } else {
                Ok(NodeOutput::new(json!(n)))
            }
        },
    );
    calls
}

fn exponential(initial_ms: u64, max_retries: u32) -> RecoveryStrategy {
    RecoveryStrategy::Retry {
        max_retries,
        backoff: Backoff {
            kind: BackoffKind::Exponential,
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_secs(10),
            jitter: 0.0,
        },
        any_execution_error: false,
        retry_codes: Vec::new(),
    }
}

// Backoff waits run on plugflow's own clock (any executor can await the
// pipeline), so they are measured in real time: lower bounds only.
#[tokio::test]
async fn retry_waits_follow_an_exponential_backoff() {
    let registry = Registry::new();
    let calls = flaky(&registry, 3, true);
    let started = std::time::Instant::now();
    let done = run(
        &registry,
        "test.flaky",
        json!({}),
        &tenant("a"),
        &exponential(10, 5),
    )
    .await;
    assert_eq!(done.status, NodeStatus::Success);
    assert_eq!(done.retries, 3);
    assert!(done.recovery_applied);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(10 + 20 + 40), "{waited:?}");
}

#[tokio::test]
async fn errors_not_marked_retryable_are_not_retried() {
    let registry = Registry::new();
    let calls = flaky(&registry, 10, false);
    let done = run(
        &registry,
        "test.flaky",
        json!({}),
        &tenant("a"),
        &exponential(1, 5),
    )
    .await;
    assert_eq!((done.status, done.retries), (NodeStatus::Error, 0));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_stop_at_the_maximum_and_count_as_a_failed_recovery() {
    let registry = Registry::new();
    let calls = flaky(&registry, 10, true);
    let done = run(
        &registry,
        "test.flaky",
        json!({}),
        &tenant("a"),
        &exponential(1, 5),
    )
    .await;
    assert_eq!((done.status, done.retries), (NodeStatus::Error, 5));
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    let stats = registry.stats().execution;
    assert_eq!(stats.errors.recovery_attempts, 1);
    assert_eq!(stats.errors.recovery_failures, 1);
}

#[tokio::test]
async fn a_backoff_longer_than_the_call_may_wait_schedules_the_retry_instead() {
    let registry = Registry::new();
    let calls = flaky(&registry, 10, true);
    let strategy = exponential(5_000, 3);
    let params = json!({});
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let started = std::time::Instant::now();
    let done = registry
        .execute(
            &NodeCall::new("test.flaky", "n1", &params)
                .context(&tenant("a"))
                .strategy(&strategy)
                .suspend_retries_after(Some(Duration::from_secs(1))),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(4), "it waited");
    assert_eq!((done.status, done.retries), (NodeStatus::Error, 1));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the first attempt ran"
    );
    let due = done.retry_at_ms.expect("the retry is scheduled");
    assert!((before + 5_000..before + 35_000).contains(&due), "{due}");
}

#[tokio::test]
async fn a_scheduled_retry_runs_as_that_retry_and_keeps_the_remaining_count() {
    let registry = Registry::new();
    let calls = flaky(&registry, 10, true);
    let strategy = exponential(1, 3);
    let params = json!({});
    // Retry 2 of 3 was due: this call is it, and one more is left.
    let done = registry
        .execute(
            &NodeCall::new("test.flaky", "n1", &params)
                .context(&tenant("a"))
                .strategy(&strategy)
                .retries_done(2),
        )
        .await;
    assert_eq!((done.status, done.retries), (NodeStatus::Error, 3));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(done.retry_at_ms, None);
}

#[tokio::test]
async fn a_scheduled_retry_that_succeeds_is_a_recovery() {
    let registry = Registry::new();
    flaky(&registry, 0, true);
    let strategy = exponential(1, 3);
    let params = json!({});
    let done = registry
        .execute(
            &NodeCall::new("test.flaky", "n1", &params)
                .context(&tenant("a"))
                .strategy(&strategy)
                .retries_done(1),
        )
        .await;
    assert_eq!((done.status, done.retries), (NodeStatus::Success, 1));
    assert!(done.recovery_applied);
}

#[tokio::test]
async fn fallback_skip_and_a_forbidden_fallback() {
    let registry = echo_registry();
    flaky(&registry, 100, false);
    let fallback = RecoveryStrategy::Fallback {
        fallback_node_type: "test.echo".into(),
    };
    let done = run(&registry, "test.flaky", json!({}), &tenant("a"), &fallback).await;
    assert_eq!(done.status, NodeStatus::Success);
    assert!(done.recovery_applied);
    assert_eq!(done.fallback_node_type.as_deref(), Some("test.echo"));

    registry.set_tenant_policy(TenantPolicy {
        restricted_node_types: vec!["test.echo".into()],
        ..TenantPolicy::new("a")
    });
    let refused = run(&registry, "test.flaky", json!({}), &tenant("a"), &fallback).await;
    assert_eq!(refused.status, NodeStatus::Error);
    assert!(
        refused
            .error
            .unwrap()
            .message
            .contains("not allowed for tenant"),
        "a forbidden fallback is still refused"
    );

    let skipped = run(
        &registry,
        "test.flaky",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Skip,
    )
    .await;
    assert_eq!(skipped.status, NodeStatus::Skipped);
    assert_eq!(skipped.output, json!({}));
    assert!(skipped.recovery_applied);
}

#[tokio::test]
async fn a_blocking_node_that_overruns_its_timeout_times_out() {
    let registry = Registry::new();
    let mut m = manifest("test.slow", json!({"type": "object"}));
    m.execution = ExecutionClass::Blocking;
    register(&registry, m, |_| {
        std::thread::sleep(Duration::from_millis(400));
        Ok(NodeOutput::new(json!("late")))
    });
    let params = json!({});
    let context = tenant("a");
    let call = NodeCall::new("test.slow", "n1", &params)
        .context(&context)
        .timeout(Some(Duration::from_millis(50)));
    let started = std::time::Instant::now();
    let done = registry.execute(&call).await;
    let took = started.elapsed();
    assert_eq!(done.error_code(), Some(ErrorCode::ExecutionTimeout));
    assert!(
        took < Duration::from_millis(300),
        "timed out after {took:?}"
    );
}

#[tokio::test]
async fn oversized_and_malformed_outputs_are_errors() {
    let registry = Registry::with_config(RegistryConfig {
        max_output_bytes: 1024,
        ..RegistryConfig::default()
    });
    register(
        &registry,
        manifest("test.big", json!({"type": "object"})),
        |_| Ok(NodeOutput::new(json!("x".repeat(10_000)))),
    );
    let done = run(
        &registry,
        "test.big",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(done.error_code(), Some(ErrorCode::ExecutionError));
    assert!(done.error.unwrap().message.contains("limit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_registry() {
    let registry = Arc::new(echo_registry());
    let mut tasks = Vec::new();
    for t in 0..64 {
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let done = run(
                    &registry,
                    "test.echo",
                    json!({"i": i}),
                    &tenant(&format!("t{}", t % 4)),
                    &RecoveryStrategy::Fail,
                )
                .await;
                assert_eq!(done.output["parameters"]["i"], i);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(registry.stats().execution.successes, 64 * 50);
}

#[tokio::test]
async fn metrics_serialise_as_json_and_prometheus() {
    let registry = echo_registry();
    flaky(&registry, 100, false);
    run(
        &registry,
        "test.echo",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    run(
        &registry,
        "test.flaky",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    let snapshot = registry.stats();
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["execution"]["errors"]["byCode"]["EXECUTION_ERROR"], 1);
    assert_eq!(json["execution"]["errors"]["byNodeType"]["test.flaky"], 1);
    assert_eq!(json["registeredNodeTypes"], 2);
    let text = snapshot.to_prometheus();
    assert!(
        text.contains("plugflow_executions_total{status=\"success\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("plugflow_errors_total{code=\"EXECUTION_ERROR\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE plugflow_cache_hits_total counter"));
}

#[tokio::test]
async fn a_node_type_depending_on_a_forbidden_one_is_refused_too() {
    let registry = Registry::new();
    register(
        &registry,
        manifest("base.secret", json!({"type": "object"})),
        |_| Ok(NodeOutput::new(json!("secret"))),
    );
    let mut wrapper = manifest("wrap.middle", json!({"type": "object"}));
    wrapper.dependencies = vec![plugin_abi::manifest::NodeDependency {
        node_type: "base.secret".into(),
        version: "^1".into(),
    }];
    register(&registry, wrapper, |_| Ok(NodeOutput::new(json!("middle"))));
    let mut outer = manifest("wrap.outer", json!({"type": "object"}));
    outer.dependencies = vec![plugin_abi::manifest::NodeDependency {
        node_type: "wrap.middle".into(),
        version: "^1".into(),
    }];
    register(&registry, outer, |_| Ok(NodeOutput::new(json!("outer"))));
    registry.set_tenant_policy(TenantPolicy {
        restricted_node_types: vec!["base.*".into()],
        ..TenantPolicy::new("a")
    });
    for node_type in ["wrap.middle", "wrap.outer"] {
        let done = run(
            &registry,
            node_type,
            json!({}),
            &tenant("a"),
            &RecoveryStrategy::Fail,
        )
        .await;
        assert_eq!(
            done.error_code(),
            Some(ErrorCode::NodeTypeDisabledForTenant),
            "{node_type}"
        );
        let message = done.error.unwrap().message;
        assert!(message.contains("base.secret"), "{message}");
        // Another tenant, without the restriction, runs it.
        let done = run(
            &registry,
            node_type,
            json!({}),
            &tenant("b"),
            &RecoveryStrategy::Fail,
        )
        .await;
        assert_eq!(done.status, NodeStatus::Success, "{node_type}");
    }
}

#[tokio::test]
async fn a_node_type_declaring_no_check_of_its_own_is_not_asked_to_validate() {
    struct Refuses;
    impl Node for Refuses {
        fn validate(&self, _: &NodeDescription) -> Validation {
            Validation::valid().error("would refuse everything")
        }
        fn execute(&self, _: &NodeRequest) -> Result<NodeOutput, NodeError> {
            Ok(NodeOutput::new(json!("ran")))
        }
    }
    let registry = Registry::new();
    let mut m = manifest("test.unchecked", json!({"type": "object"}));
    m.validates = false;
    registry
        .register_with_metadata(
            executor_box(Refuses),
            NodeMetadata::new(m, NodeSource::InProcess),
        )
        .unwrap();
    let done = run(
        &registry,
        "test.unchecked",
        json!({}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
}

#[tokio::test]
async fn an_in_process_output_of_exactly_the_limit_passes_and_one_byte_more_fails() {
    let registry = Registry::with_config(RegistryConfig {
        max_output_bytes: 64,
        ..RegistryConfig::default()
    });
    // `{"output":"…"}` is 13 bytes around the string.
    register(
        &registry,
        manifest("test.sized", json!({"type": "object"})),
        |r| {
            let n = r.f64_param("n")? as usize;
            Ok(NodeOutput::new(json!("x".repeat(n))))
        },
    );
    let at_limit = run(
        &registry,
        "test.sized",
        json!({"n": 64 - 13}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(at_limit.status, NodeStatus::Success, "{:?}", at_limit.error);
    let over = run(
        &registry,
        "test.sized",
        json!({"n": 64 - 12}),
        &tenant("a"),
        &RecoveryStrategy::Fail,
    )
    .await;
    assert_eq!(over.error_code(), Some(ErrorCode::ExecutionError));
}
