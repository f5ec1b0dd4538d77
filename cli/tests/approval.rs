//! MetaBuilder's approval flow end to end through the `plugflow` binary:
//! webhook trigger data, dbal validation with rules, parallel checks (two
//! dbal reads and an HTTP call to a local server that checks the bearer
//! credential), a condition over `$steps`, a dbal write to a real SQLite
//! file, mails to a local SMTP responder, a webhook response.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use plugflow_tests::http_server::{self, Response};
use plugflow_tests::smtp_server::{smtp_server, Received};
use serde_json::{json, Value};

const KEY: &str = "sk-fraud-test-4242";

/// How the fraud service answers.
#[derive(Clone, Copy)]
enum Fraud {
    LowRisk,
    Refuses,
}

struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    fraud_calls: Arc<AtomicUsize>,
    fraud_auth: Arc<Mutex<Vec<String>>>,
    inbox: Arc<Mutex<Vec<Received>>>,
    fraud_port: u16,
}

fn world(fraud: Fraud, with_credential: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let fraud_calls = Arc::new(AtomicUsize::new(0));
    let fraud_auth = Arc::new(Mutex::new(Vec::new()));
    let (calls, auth) = (fraud_calls.clone(), fraud_auth.clone());
    let fraud_port = http_server::serve(move |request, _| {
        calls.fetch_add(1, Ordering::SeqCst);
        let given = request
            .headers
            .get("authorization")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        auth.lock().unwrap().push(given.clone());
        if given != format!("Bearer {KEY}") {
            return Response::json(401, &json!({"error": "unauthorised"}));
        }
        match fraud {
            Fraud::LowRisk => Response::json(200, &json!({"risk": 0.1})),
            Fraud::Refuses => Response::json(503, &json!({"error": "fraud service down"})),
        }
    });
    let (smtp_port, inbox) = smtp_server();
    let db = dir.path().join("approval.db");
    let credential = if with_credential {
        "[[credentials]]\ntenantId = \"acme-corp\"\nid = \"cred-fraud-api\"\nname = \"Fraud API Key\"\ntype = \"bearer\"\nsecret = { env = \"APPROVAL_TEST_FRAUD_KEY\" }\n"
    } else {
        ""
    };
    let config = dir.path().join("plugflow.toml");
    std::fs::write(
        &config,
        format!(
            "database = \"{}\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nfrom = \"workflows@acme.test\"\n\n[http-egress]\nacme-corp = [\"127.0.0.1:{fraud_port}\"]\n\n{credential}",
            db.display()
        ),
    )
    .unwrap();
    World {
        dir,
        config,
        db,
        fraud_calls,
        fraud_auth,
        inbox,
        fraud_port,
    }
}

fn workflow() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/approval.json")
        .display()
        .to_string()
}

impl World {
    fn run(&self, tenant: &str, input: Value) -> Output {
        let input_file = self.dir.path().join("input.json");
        std::fs::write(&input_file, input.to_string()).unwrap();
        Command::new(env!("CARGO_BIN_EXE_plugflow"))
            .args([
                "run",
                &workflow(),
                "--config",
                self.config.to_str().unwrap(),
                "--tenant",
                tenant,
                "--user",
                r#"{"id": "u-7", "email": "ada@acme.test", "level": 3}"#,
                "--var",
                "approverEmail=boss@acme.test",
                "--var",
                &format!("fraudApiUrl=http://127.0.0.1:{}", self.fraud_port),
                "--input",
                &format!("@{}", input_file.display()),
                "--output",
                "json",
            ])
            .env("APPROVAL_TEST_FRAUD_KEY", KEY)
            .env("PLUGFLOW_PLUGIN_CACHE", "off")
            .env_remove("PLUGFLOW_PLUGIN_DIRS")
            .output()
            .expect("plugflow runs")
    }

    fn approvals(&self) -> Vec<Value> {
        if !self.db.exists() {
            return Vec::new();
        }
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        let exists: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE '%Approval%' AND name NOT LIKE '%Request%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if exists == 0 {
            return Vec::new();
        }
        let table: String = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%Approval%' AND name NOT LIKE '%Request%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut stmt = conn
            .prepare(&format!("SELECT id, tenantId, data FROM \"{table}\""))
            .unwrap();
        stmt.query_map([], |r| {
            let data: String = r.get(2)?;
            let mut record: Value = serde_json::from_str(&data).unwrap();
            record["id"] = json!(r.get::<_, String>(0)?);
            record["tenantId"] = json!(r.get::<_, String>(1)?);
            Ok(record)
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    fn mails(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }
}

fn request() -> Value {
    json!({
        "requestId": "3f0e6a56-6a5d-4a38-9e5e-8a7c2f1b9d10",
        "amount": 2500,
        "requesterEmail": "carol@acme.test",
        "departmentId": "finance"
    })
}

fn document(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn an_approved_request_is_stored_complete_and_mailed_with_the_trigger_data() {
    let w = world(Fraud::LowRisk, true);
    let out = w.run("acme-corp", request());
    let result = document(&out);
    assert_eq!(out.status.code(), Some(0), "{result:#}");
    assert_eq!(result["status"], "success");

    let rows = w.approvals();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["tenantId"], "acme-corp");
    assert_eq!(row["requestId"], "3f0e6a56-6a5d-4a38-9e5e-8a7c2f1b9d10");
    assert_eq!(row["amount"], 2500);
    assert_eq!(row["requesterEmail"], "carol@acme.test");
    assert_eq!(
        row["requestedBy"], "ada@acme.test",
        "$context.user is the whole user"
    );
    assert_eq!(row["status"], "pending");

    let mails = w.mails();
    assert_eq!(mails.len(), 1, "one approval mail: {mails:?}");
    let mail = &mails[0];
    assert!(mail.to("boss@acme.test"), "{mail:?}");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("New Approval Request: $2500")
    );
    let body = mail.body();
    assert!(
        body.contains(
            "Request 3f0e6a56-6a5d-4a38-9e5e-8a7c2f1b9d10 for $2500 from carol@acme.test"
        ),
        "{body}"
    );
    let id = row["id"].as_str().unwrap();
    assert!(
        body.contains(&format!("https://approvals.acme.test/approvals/{id}")),
        "{body}"
    );

    assert_eq!(
        result["nodes"]["return-result"]["output"]["body"]["approvalId"],
        json!(id)
    );
    assert_eq!(
        w.fraud_auth.lock().unwrap().as_slice(),
        [format!("Bearer {KEY}")],
        "the bound bearer credential was sent"
    );
    assert!(
        !out.stdout
            .windows(KEY.len())
            .any(|win| win == KEY.as_bytes()),
        "the secret is not in the result"
    );
    assert!(
        !out.stderr
            .windows(KEY.len())
            .any(|win| win == KEY.as_bytes()),
        "the secret is not in the logs"
    );
}

#[test]
fn an_invalid_request_mails_the_requester_the_validation_message() {
    let w = world(Fraud::LowRisk, true);
    let out = w.run(
        "acme-corp",
        json!({"requestId": "not-a-uuid", "amount": 0, "requesterEmail": "carol@acme.test"}),
    );
    let result = document(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the error port handled it: {result:#}"
    );
    assert_eq!(result["nodes"]["validate-request"]["status"], "error");
    assert_eq!(result["nodes"]["parallel-checks"]["status"], "skipped");
    let mails = w.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].to("carol@acme.test"));
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("Approval Request Failed Validation")
    );
    let body = mails[0].body();
    assert!(body.contains("requestId"), "{body}");
    assert!(
        body.contains("uuid"),
        "the validation message reaches the requester: {body}"
    );
    assert!(w.approvals().is_empty());
    assert_eq!(w.fraud_calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_refusing_remote_check_is_retried_then_stops_with_no_row_and_no_mail() {
    let w = world(Fraud::Refuses, true);
    let out = w.run("acme-corp", request());
    let result = document(&out);
    assert_eq!(out.status.code(), Some(1), "{result:#}");
    assert_eq!(result["status"], "error");
    assert_eq!(w.fraud_calls.load(Ordering::SeqCst), 2, "maxTries 2");
    assert_eq!(result["nodes"]["check-fraud-rules"]["status"], "error");
    assert_eq!(result["nodes"]["check-fraud-rules"]["retries"], 1);
    assert!(w.approvals().is_empty());
    assert!(w.mails().is_empty(), "{:?}", w.mails());
}

#[test]
fn another_tenant_is_refused_before_anything_runs() {
    let w = world(Fraud::LowRisk, true);
    let out = w.run("globex", request());
    let result = document(&out);
    assert_eq!(out.status.code(), Some(2), "{result:#}");
    assert_eq!(result["valid"], false);
    assert_eq!(result["problems"][0]["code"], "TENANT_MISMATCH");
    assert!(String::from_utf8_lossy(&out.stderr).contains("TENANT_MISMATCH"));
    assert_eq!(
        w.fraud_calls.load(Ordering::SeqCst),
        0,
        "no HTTP request was made"
    );
    assert!(w.approvals().is_empty());
    assert!(w.mails().is_empty());
}

#[test]
fn a_missing_credential_is_a_clear_error_before_the_run() {
    let w = world(Fraud::LowRisk, false);
    let out = w.run("acme-corp", request());
    let result = document(&out);
    assert_eq!(out.status.code(), Some(2), "{result:#}");
    let problem = &result["problems"][0];
    assert_eq!(problem["code"], "CREDENTIAL_MISSING");
    assert_eq!(problem["nodeId"], "check-fraud-rules");
    let message = problem["message"].as_str().unwrap();
    for needle in ["cred-fraud-api", "acme-corp", "[[credentials]]"] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    assert_eq!(w.fraud_calls.load(Ordering::SeqCst), 0);
}
