// The suite, run on each execution tier by the files that include it
// (`secrets.rs` in-process, `secrets_process_tier.rs` in plugin-host
// processes); each defines `fn tier() -> Tier`.
//
// Secrets through the whole stack: a hostile plugin (loaded from its
// `.so`) puts its resolved credentials in its output, its error and its
// log line; none of them reaches a result, a log line or an audit record.
//
// Its own test binary: a `tracing` subscriber scoped to one thread is
// only reliable when no other test runs in the process.

use plugflow_tests::{AuditedHost, Tier};
use plugin_abi::request::ExecContext;
use registry_core::Registry;
use serde_json::json;

fn host() -> AuditedHost {
    AuditedHost::on(Registry::new(), &["fixture_faults"], "acme", &tier())
}

#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_credential_value_reaches_a_result_a_log_line_or_an_audit_record() {
    const SECRET: &str = "sk-live-SECRET-4242";
    const LOGIN: &str = "svc-account-7";
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let (result, audit) = tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let AuditedHost {
            registry,
            audit,
            dirs,
            loader,
        } = host();
        registry.credentials().insert(
            "acme",
            registry_core::Credential {
                id: "api".into(),
                kind: "api-key".into(),
                fields: json!({"key": SECRET, "user": LOGIN})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            },
        );
        let engine = plugflow_engine::Engine::new(std::sync::Arc::new(registry));
        let node = |id: &str, mode: &str| {
            json!({"id": id, "name": id, "type": "operation", "nodeType": "fault.leaky", "typeVersion": 1,
                   "position": [0, 0], "onError": "continueRegularOutput",
                   "credentials": {"api": {"id": "api"}}, "parameters": {"mode": mode}})
        };
        let workflow = json!({"id": "leak", "name": "leak",
            "nodes": [node("out", "output"), node("err", "error")],
            "connections": {"out": {"main": [[{"node": "err", "type": "main", "index": 0}]]}}});
        let compiled = plugflow_engine::CompiledWorkflow::compile(
            plugflow_engine::Workflow::from_json_str(&workflow.to_string(), "leak.json").unwrap(),
        );
        let result = runtime
            .block_on(engine.run(
                &compiled,
                plugflow_engine::RunOptions {
                    context: ExecContext {
                        tenant_id: Some("acme".into()),
                        execution_id: "leak".into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ))
            .unwrap();
        let audit_text = std::fs::read_to_string(&audit).unwrap();
        drop((dirs, loader));
        (result, audit_text)
    });
    let result_text = serde_json::to_string(&result).unwrap();
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    // Not vacuous: the plugin did put its credentials everywhere it could.
    assert!(
        result_text.contains("***"),
        "masked in the result: {result_text}"
    );
    assert_eq!(result.nodes["err"].status, registry_core::NodeStatus::Error);
    assert!(
        logs.contains("my credentials are"),
        "the plugin's log line reached the host:\n{logs}"
    );
    assert_eq!(audit.lines().count(), 2, "{audit}");
    for (what, text) in [("result", &result_text), ("logs", &logs), ("audit", &audit)] {
        for secret in [SECRET, LOGIN] {
            assert!(
                !text.contains(secret),
                "{secret} appears in the {what}:\n{text}"
            );
        }
    }
}
