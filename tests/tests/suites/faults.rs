// The suite, run on each execution tier by the files that include it
// (`faults.rs` in-process, `faults_process_tier.rs` in plugin-host
// processes); each defines `fn tier() -> Tier`.
//
// Run-time faults of plugins loaded from their `.so`: every fault is
// contained, carries its stable error code, and the metrics and the audit
// log agree with the results. The host survives all of it.

use std::path::Path;
use std::time::{Duration, Instant};

use plugflow_tests::{AuditedHost, Tier};
use plugin_abi::request::ExecContext;
use registry_core::{AuditRecord, NodeCall, NodeExecution, NodeStatus, Registry, RegistryConfig};
use serde_json::{json, Value};

/// Outputs over this many bytes are refused.
const OUTPUT_LIMIT: usize = 1 << 20;

fn host() -> AuditedHost {
    let registry = Registry::with_config(RegistryConfig {
        max_output_bytes: OUTPUT_LIMIT,
        ..RegistryConfig::default()
    });
    AuditedHost::on(registry, &["fixture_faults"], "acme", &tier())
}

async fn run(
    registry: &Registry,
    node_type: &str,
    node_id: &str,
    parameters: Value,
    timeout: Option<Duration>,
) -> NodeExecution {
    let context = ExecContext {
        tenant_id: Some("acme".into()),
        execution_id: "faults".into(),
        ..Default::default()
    };
    let call = NodeCall::new(node_type, node_id, &parameters)
        .context(&context)
        .timeout(timeout);
    registry.execute(&call).await
}

fn audit_records(path: &Path) -> Vec<AuditRecord> {
    let report = registry_core::verify_audit_log(path).unwrap();
    assert!(report.is_valid(), "{report:?}");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn code(done: &NodeExecution) -> &'static str {
    done.error.as_ref().map_or("", |e| e.code.as_str())
}

fn message(done: &NodeExecution) -> String {
    done.error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

/// A runtime that does not wait, when dropped, for plugin calls abandoned
/// at their timeout (they never return).
fn detached_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs one fault on a fresh host; the runtime does not wait for calls
/// abandoned at their timeout.
fn one_fault(
    node_type: &str,
    parameters: Value,
    timeout: Option<Duration>,
) -> (NodeExecution, AuditedHost) {
    let host = host();
    let runtime = detached_runtime();
    let done = runtime.block_on(run(&host.registry, node_type, "n", parameters, timeout));
    runtime.shutdown_background();
    (done, host)
}

#[test]
fn a_panic_in_execute_is_an_execution_error() {
    let (done, _host) = one_fault("fault.panic", json!({}), None);
    assert_eq!(done.status, NodeStatus::Error);
    assert_eq!(code(&done), "EXECUTION_ERROR");
    assert!(
        message(&done).contains("panicked in execute"),
        "{}",
        message(&done)
    );
}

#[test]
fn a_panic_in_validate_is_an_execution_error() {
    let (done, _host) = one_fault("fault.panicValidate", json!({"boom": true}), None);
    assert_eq!(done.status, NodeStatus::Error);
    assert_eq!(code(&done), "EXECUTION_ERROR");
    assert!(
        message(&done).contains("panicked in validate"),
        "{}",
        message(&done)
    );
}

#[test]
fn a_call_that_never_returns_is_abandoned_at_its_timeout() {
    let timeout = Duration::from_secs(1);
    let started = Instant::now();
    let (done, _host) = one_fault("fault.hang", json!({}), Some(timeout));
    let took = started.elapsed();
    assert_eq!(code(&done), "EXECUTION_TIMEOUT", "{}", message(&done));
    // At the timeout, not at the end of the call (which never comes);
    // a loaded machine may add scheduling delay, never another timeout.
    assert!(
        took >= timeout && took < timeout * 2,
        "timed out after {took:?}"
    );
}

#[test]
fn malformed_output_is_an_execution_error() {
    let (done, _host) = one_fault("fault.malformed", json!({}), None);
    assert_eq!(code(&done), "EXECUTION_ERROR");
    assert!(
        message(&done).contains("malformed output"),
        "{}",
        message(&done)
    );
}

#[test]
fn an_output_over_the_limit_is_refused_and_nothing_of_it_kept() {
    let (done, _host) = one_fault("fault.oversized", json!({"bytes": 2 * OUTPUT_LIMIT}), None);
    assert_eq!(code(&done), "EXECUTION_ERROR");
    assert!(message(&done).contains("limit"), "{}", message(&done));
    assert_eq!(done.output, Value::Null);
}

#[test]
fn another_tenants_record_in_an_output_is_withheld() {
    let (done, host) = one_fault("fault.foreign", json!({"other": "globex"}), None);
    assert_eq!(done.status, NodeStatus::Error);
    assert_eq!(done.output, Value::Null, "the output is withheld");
    assert!(
        !serde_json::to_string(&done.error)
            .unwrap()
            .contains("theirs"),
        "the foreign record does not leak through the error"
    );
    assert_eq!(host.registry.stats().execution.tenant_violations, 1);
}

#[test]
fn a_panic_on_a_thread_the_plugin_spawned_is_contained() {
    let (done, _host) = one_fault("fault.threadPanic", json!({}), None);
    assert_eq!(done.status, NodeStatus::Success, "{}", message(&done));
    assert_eq!(done.output, json!({"threadPanicked": true}));
}

/// Every fault but the hang (covered on its own) on one host.
async fn every_fault(r: &Registry) -> Vec<(&'static str, NodeExecution)> {
    vec![
        ("p", run(r, "fault.panic", "p", json!({}), None).await),
        (
            "pv",
            run(r, "fault.panicValidate", "pv", json!({"boom": true}), None).await,
        ),
        ("m", run(r, "fault.malformed", "m", json!({}), None).await),
        (
            "o",
            run(
                r,
                "fault.oversized",
                "o",
                json!({"bytes": 2 * OUTPUT_LIMIT}),
                None,
            )
            .await,
        ),
        (
            "f",
            run(r, "fault.foreign", "f", json!({"other": "globex"}), None).await,
        ),
        ("t", run(r, "fault.threadPanic", "t", json!({}), None).await),
    ]
}

#[test]
fn metrics_count_every_fault_by_its_code() {
    let host = host();
    let runtime = detached_runtime();
    let results = runtime.block_on(every_fault(&host.registry));
    let stats = host.registry.stats().execution;
    assert_eq!(stats.executions, 6);
    assert_eq!(stats.successes, 1);
    assert_eq!(stats.failures, 5);
    let mut by_code = std::collections::BTreeMap::new();
    for (_, done) in &results {
        if let Some(e) = &done.error {
            *by_code.entry(e.code.as_str().to_owned()).or_insert(0u64) += 1;
        }
    }
    assert_eq!(stats.errors.by_code, by_code);
}

#[test]
fn the_audit_log_has_one_verified_line_per_fault_agreeing_with_it() {
    let host = host();
    let runtime = detached_runtime();
    let results = runtime.block_on(every_fault(&host.registry));
    let records = audit_records(&host.audit);
    assert_eq!(records.len(), results.len());
    for (record, (id, done)) in records.iter().zip(&results) {
        assert_eq!(record.node_id, *id);
        assert_eq!(
            record.error_code.as_deref(),
            done.error.as_ref().map(|e| e.code.as_str()),
            "{id}"
        );
        let status = if done.status == NodeStatus::Success {
            "success"
        } else {
            "error"
        };
        assert_eq!(record.status, status, "{id}");
    }
}

#[test]
fn the_host_keeps_working_after_every_fault() {
    let host = host();
    let runtime = detached_runtime();
    let after = runtime.block_on(async {
        every_fault(&host.registry).await;
        run(
            &host.registry,
            "fault.chaos",
            "ok",
            json!({"plan": "ok"}),
            None,
        )
        .await
    });
    assert_eq!(after.status, NodeStatus::Success);
}

fn rss_bytes() -> u64 {
    plugflow_tests::rss_bytes().expect("RSS readable on Linux")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_panics_neither_abort_nor_grow_memory() {
    let host = host();
    // Warm up: caches, the panic machinery, allocator arenas.
    for i in 0..1_000 {
        let done = run(
            &host.registry,
            "fault.panic",
            &format!("w{}", i % 10),
            json!({}),
            None,
        )
        .await;
        assert_eq!(done.status, NodeStatus::Error);
    }
    host.registry.set_audit_log(None);
    // Two batches of 5,000, each measured: a leak grows the process in
    // both; the other tests of this binary, running beside this one, may
    // grow it during one (their buffers are not this test's).
    let mut growth = Vec::new();
    for batch in 0..2 {
        let before = rss_bytes();
        for i in 0..5_000 {
            let done = run(
                &host.registry,
                "fault.panic",
                &format!("n{batch}-{}", i % 10),
                json!({}),
                None,
            )
            .await;
            assert_eq!(code(&done), "EXECUTION_ERROR");
        }
        growth.push(rss_bytes().saturating_sub(before));
    }
    let least = growth.iter().copied().min().unwrap_or(0);
    assert!(
        least < 4 << 20,
        "RSS grew by {:?} KiB over each 5,000 panics",
        growth.iter().map(|g| g >> 10).collect::<Vec<_>>()
    );
    assert_eq!(host.registry.stats().execution.failures, 11_000);
}
