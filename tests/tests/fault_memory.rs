//! Oversized outputs of a plugin loaded from its `.so` are refused without
//! the host keeping their memory. Alone in its test binary: resident memory
//! is a property of the whole process, so no other test may run beside it.

use plugflow_tests::AuditedHost;
use plugin_abi::request::ExecContext;
use registry_core::{NodeCall, Registry, RegistryConfig};
use serde_json::json;

/// Outputs over this many bytes are refused.
const OUTPUT_LIMIT: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_outputs_do_not_accumulate_in_the_host() {
    let registry = Registry::with_config(RegistryConfig {
        max_output_bytes: OUTPUT_LIMIT,
        ..RegistryConfig::default()
    });
    let host = AuditedHost::new(registry, &["fixture_faults"], "acme");
    let context = ExecContext {
        tenant_id: Some("acme".into()),
        execution_id: "memory".into(),
        ..Default::default()
    };
    let parameters = json!({"bytes": 3 * OUTPUT_LIMIT});
    let call = NodeCall::new("fault.oversized", "o", &parameters).context(&context);
    let refused = |done: &registry_core::NodeExecution| {
        done.error.as_ref().map(|e| e.code.as_str()) == Some("EXECUTION_ERROR")
    };
    assert!(refused(&host.registry.execute(&call).await));
    let before = plugflow_tests::rss_bytes().expect("resident memory is readable");
    for _ in 0..50 {
        assert!(refused(&host.registry.execute(&call).await));
    }
    let grown = plugflow_tests::rss_bytes()
        .expect("resident memory is readable")
        .saturating_sub(before);
    assert!(
        grown < 12 << 20,
        "50 refused 3 MiB outputs (150 MiB in all) left {} KiB behind",
        grown >> 10
    );
}
