//! email-send against a small real SMTP server on 127.0.0.1 run by the test.

use plugflow_tests::smtp_server::smtp_server;
use plugin_abi::request::ExecContext;
use registry_core::{Credential, CredentialRef, ErrorCode, NodeCall, NodeExecution, Registry};
use serde_json::{json, Map, Value};

/// The plugin loaded from its `.so` (with the directory to keep) and
/// linked statically.
fn registries(
    port: u16,
    templates: &std::path::Path,
) -> Vec<(Registry, Option<tempfile::TempDir>)> {
    let plugins = tempfile::tempdir().unwrap();
    plugflow_tests::install(plugins.path(), &["plugflow_email"]);
    let dynamic = Registry::new();
    let report = loader::Loader::new(loader::DiscoveryConfig::with_directories([plugins.path()]))
        .discover(&dynamic);
    assert_eq!(report.totals.loaded, 1, "{report:#?}");
    let linked = Registry::new();
    loader::register_static_plugin(&linked, plugflow_email::plugflow_module()).unwrap();
    vec![
        (configure(dynamic, port, templates), Some(plugins)),
        (configure(linked, port, templates), None),
    ]
}

fn configure(registry: Registry, port: u16, templates: &std::path::Path) -> Registry {
    let mut config = Map::new();
    config.insert(
        "smtp".into(),
        json!({"host": "127.0.0.1", "port": port, "from": "Flow <flow@example.test>"}),
    );
    config.insert("templateDir".into(), json!(templates.display().to_string()));
    registry.set_node_config("email-send", config);
    registry.credentials().insert(
        "a",
        Credential {
            id: "mail".into(),
            kind: "smtp".into(),
            fields: json!({"username": "alice", "password": "s3cret-pass"})
                .as_object()
                .unwrap()
                .clone(),
        },
    );
    registry
}

async fn send(registry: &Registry, tenant: &str, params: Value) -> NodeExecution {
    let context = ExecContext {
        tenant_id: Some(tenant.into()),
        ..Default::default()
    };
    let refs = [CredentialRef {
        slot: "smtp".into(),
        id: "mail".into(),
    }];
    let call = NodeCall::new("email-send", "mail", &params)
        .context(&context)
        .credentials(&refs);
    registry.execute(&call).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_mail_with_the_tenants_login_and_templates() {
    let (port, inbox) = smtp_server();
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("welcome.txt"),
        "Subject: Welcome, {name}!\nHello {name}, your plan is {plan}.\n",
    )
    .unwrap();
    for (registry, _dir) in registries(port, templates.path()) {
        inbox.lock().unwrap().clear();
        let done = send(&registry, "a", json!({"to": "bob@example.test", "cc": ["carol@example.test"], "bcc": "dave@example.test", "subject": "Hi", "body": "Plain text."})).await;
        assert!(done.error.is_none(), "{:?}", done.error);
        assert_eq!(
            done.output["accepted"],
            json!([
                "bob@example.test",
                "carol@example.test",
                "dave@example.test"
            ])
        );
        let done = send(&registry, "a", json!({"to": "eve@example.test", "template": "welcome", "data": {"name": "Eve", "plan": "pro"}})).await;
        assert_eq!(done.output["subject"], "Welcome, Eve!");

        let mails = inbox.lock().unwrap().clone();
        assert_eq!(mails.len(), 2);
        assert_eq!(mails[0].recipients.len(), 3, "bcc is a recipient");
        assert!(mails[0].from.contains("flow@example.test"));
        assert!(mails[0].data.contains("Subject: Hi") && mails[0].data.contains("Plain text."));
        assert!(
            !mails[0].data.to_ascii_lowercase().contains("bcc:"),
            "bcc is not in the headers"
        );
        assert!(
            mails[0].auth.is_some(),
            "logged in with the tenant's credential"
        );
        assert!(mails[1].data.contains("Hello Eve, your plan is pro."));
        assert!(!serde_json::to_string(&done)
            .unwrap()
            .contains("s3cret-pass"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_missing_configuration_are_clear_errors() {
    let (port, _inbox) = smtp_server();
    let templates = tempfile::tempdir().unwrap();
    for (registry, _dir) in registries(port, templates.path()) {
        let bad = send(&registry, "a", json!({"to": "not an address", "body": "x"})).await;
        assert_eq!(bad.error_code(), Some(ErrorCode::InvalidParameters));
        assert!(bad.error.unwrap().message.contains("to/0"));
        let traversal = send(
            &registry,
            "a",
            json!({"to": "x@example.test", "template": "../../etc/passwd"}),
        )
        .await;
        assert_eq!(traversal.error_code(), Some(ErrorCode::ValidationFailed));
        let missing = send(
            &registry,
            "a",
            json!({"to": "x@example.test", "template": "nope"}),
        )
        .await;
        assert!(missing.error.unwrap().message.contains("template `nope`"));
        let other_tenant = send(&registry, "b", json!({"to": "x@example.test", "body": "x"})).await;
        assert_eq!(
            other_tenant.error_code(),
            Some(ErrorCode::CredentialMissing)
        );
    }

    let unconfigured = Registry::new();
    loader::register_static_plugin(&unconfigured, plugflow_email::plugflow_module()).unwrap();
    let done = send(
        &unconfigured,
        "none",
        json!({"to": "x@example.test", "body": "x"}),
    )
    .await;
    let done_error = done.error.unwrap();
    assert!(
        done_error.code == ErrorCode::InvalidParameters
            || done_error.code == ErrorCode::CredentialMissing,
        "{done_error:?}"
    );
    let params = json!({"to": "x@example.test", "body": "x"});
    let context = ExecContext::default();
    let done = unconfigured
        .execute(&NodeCall::new("email-send", "m", &params).context(&context))
        .await;
    assert!(done
        .error
        .unwrap()
        .message
        .contains("no SMTP server is configured"));
}

/// Sends as node `node` of execution `execution` for tenant `a`.
async fn send_in(registry: &Registry, execution: &str, node: &str) -> NodeExecution {
    let context = ExecContext {
        tenant_id: Some("a".into()),
        execution_id: execution.into(),
        ..Default::default()
    };
    let params = json!({"to": "bob@example.test", "subject": "Hi", "body": "Plain text."});
    let call = NodeCall::new("email-send", node, &params).context(&context);
    registry.execute(&call).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_sent_again_in_the_same_execution_carries_the_same_message_id() {
    let (port, inbox) = smtp_server();
    let templates = tempfile::tempdir().unwrap();
    for (registry, _dir) in registries(port, templates.path()) {
        inbox.lock().unwrap().clear();
        for (execution, node) in [
            ("exec-1", "mail"),
            ("exec-1", "mail"),
            ("exec-2", "mail"),
            ("exec-1", "other node"),
        ] {
            let done = send_in(&registry, execution, node).await;
            assert!(done.error.is_none(), "{:?}", done.error);
        }
        let ids: Vec<String> = inbox
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.header("Message-ID").expect("a Message-ID"))
            .collect();
        assert_eq!(ids[0], "<plugflow.exec-1.mail@example.test>");
        assert_eq!(ids[1], ids[0], "the same node of the same execution");
        assert_ne!(ids[2], ids[0], "another execution");
        assert_eq!(ids[3], "<plugflow.exec-1.other=20node@example.test>");
    }
}
