//! Run-time faults of plugins loaded from their `.so`: every fault is
//! contained, carries its stable error code, and the metrics and the audit
//! log agree with the results. The host survives all of it.

use std::path::Path;
use std::time::{Duration, Instant};

use plugflow_tests::AuditedHost;
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
    AuditedHost::new(registry, &["fixture_faults"], "acme")
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

#[test]
fn every_fault_is_contained_with_its_code_and_metrics_and_audit_agree() {
    let runtime = detached_runtime();
    runtime.block_on(every_fault());
    runtime.shutdown_background();
}

async fn every_fault() {
    let host = host();
    let r = &host.registry;

    let panicked = run(r, "fault.panic", "p", json!({}), None).await;
    assert_eq!(panicked.status, NodeStatus::Error);
    assert_eq!(code(&panicked), "EXECUTION_ERROR");
    assert!(
        message(&panicked).contains("panicked in execute"),
        "{}",
        message(&panicked)
    );

    let in_validate = run(r, "fault.panicValidate", "pv", json!({"boom": true}), None).await;
    assert_eq!(in_validate.status, NodeStatus::Error);
    assert_eq!(code(&in_validate), "EXECUTION_ERROR");
    assert!(
        message(&in_validate).contains("panicked in validate"),
        "{}",
        message(&in_validate)
    );

    // Never returns: abandoned at its timeout, within 10 %.
    let timeout = Duration::from_secs(1);
    let started = Instant::now();
    let hung = run(r, "fault.hang", "h", json!({}), Some(timeout)).await;
    let took = started.elapsed();
    assert_eq!(code(&hung), "EXECUTION_TIMEOUT", "{}", message(&hung));
    assert!(
        took >= timeout && took <= timeout.mul_f64(1.1),
        "timed out after {took:?}"
    );

    let malformed = run(r, "fault.malformed", "m", json!({}), None).await;
    assert_eq!(code(&malformed), "EXECUTION_ERROR");
    assert!(
        message(&malformed).contains("malformed output"),
        "{}",
        message(&malformed)
    );

    let oversized = run(
        r,
        "fault.oversized",
        "o",
        json!({"bytes": 2 * OUTPUT_LIMIT}),
        None,
    )
    .await;
    assert_eq!(code(&oversized), "EXECUTION_ERROR");
    assert!(
        message(&oversized).contains("limit"),
        "{}",
        message(&oversized)
    );
    assert_eq!(oversized.output, Value::Null, "nothing of it is kept");

    let foreign = run(r, "fault.foreign", "f", json!({"other": "globex"}), None).await;
    assert_eq!(foreign.status, NodeStatus::Error);
    assert_eq!(foreign.output, Value::Null, "the output is withheld");
    assert!(
        !serde_json::to_string(&foreign.error)
            .unwrap()
            .contains("theirs"),
        "the foreign record does not leak through the error"
    );

    let thread = run(r, "fault.threadPanic", "t", json!({}), None).await;
    assert_eq!(thread.status, NodeStatus::Success, "{}", message(&thread));
    assert_eq!(thread.output, json!({"threadPanicked": true}));

    let results = [
        ("p", &panicked),
        ("pv", &in_validate),
        ("h", &hung),
        ("m", &malformed),
        ("o", &oversized),
        ("f", &foreign),
        ("t", &thread),
    ];

    // Metrics agree with the results.
    let stats = r.stats().execution;
    assert_eq!(stats.executions, 7);
    assert_eq!(stats.successes, 1);
    assert_eq!(stats.failures, 6);
    assert_eq!(stats.tenant_violations, 1);
    let mut by_code = std::collections::BTreeMap::new();
    for (_, done) in &results {
        if let Some(e) = &done.error {
            *by_code.entry(e.code.as_str().to_owned()).or_insert(0u64) += 1;
        }
    }
    assert_eq!(stats.errors.by_code, by_code);

    // The audit log has one verified line per node run, agreeing too.
    let records = audit_records(&host.audit);
    assert_eq!(records.len(), results.len());
    for (record, (id, done)) in records.iter().zip(results) {
        assert_eq!(record.node_id, id);
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

    // And the host still works.
    let after = run(r, "fault.chaos", "ok", json!({"plan": "ok"}), None).await;
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
    let before = rss_bytes();
    for i in 0..10_000 {
        let done = run(
            &host.registry,
            "fault.panic",
            &format!("n{}", i % 10),
            json!({}),
            None,
        )
        .await;
        assert_eq!(code(&done), "EXECUTION_ERROR");
    }
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < 8 << 20,
        "RSS grew by {} KiB over 10,000 panics",
        grown >> 10
    );
    assert_eq!(host.registry.stats().execution.failures, 11_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_outputs_do_not_accumulate_in_the_host() {
    let host = host();
    let parameters = json!({"bytes": 3 * OUTPUT_LIMIT});
    let done = run(
        &host.registry,
        "fault.oversized",
        "o",
        parameters.clone(),
        None,
    )
    .await;
    assert_eq!(code(&done), "EXECUTION_ERROR");
    let before = rss_bytes();
    for _ in 0..50 {
        let done = run(
            &host.registry,
            "fault.oversized",
            "o",
            parameters.clone(),
            None,
        )
        .await;
        assert_eq!(code(&done), "EXECUTION_ERROR");
    }
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < 12 << 20,
        "12 refused 3 MiB outputs (36 MiB in all) left {} KiB behind",
        grown >> 10
    );
}
