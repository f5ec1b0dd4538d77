//! Every workflow under `examples/` run through the `plugflow` binary, its
//! output checked: what the README and the guides show really works.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use plugflow_tests::http_server::{self, Response};
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example(name: &str) -> String {
    root().join("examples").join(name).display().to_string()
}

/// `plugflow run EXAMPLE --input INPUT --output json [extra...]`, which
/// must succeed; its JSON result.
fn run(workflow: &str, input: &str, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args([
            "run",
            &example(workflow),
            "--input",
            input,
            "--output",
            "json",
        ])
        .args(extra)
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("RUST_LOG")
        .output()
        .expect("plugflow runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{workflow}: {stderr}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(result["status"], "success", "{result:#}");
    result
}

fn body(result: &Value, node: &str) -> Value {
    result["nodes"][node]["output"]["body"].clone()
}

fn statuses(result: &Value) -> Value {
    let nodes = result["nodes"].as_object().cloned().unwrap_or_default();
    nodes
        .into_iter()
        .map(|(id, node)| (id, node["status"].clone()))
        .collect()
}

#[test]
fn expense_approval_takes_each_branch_and_the_error_port() {
    let small = run(
        "expense-approval.json",
        r#"{"employee": "Ada", "amount": 42, "category": "office"}"#,
        &[],
    );
    assert_eq!(
        body(&small, "respond"),
        json!({"decision": "approved", "by": "policy: under 100", "amount": 42})
    );
    assert_eq!(statuses(&small)["policy_check"], "skipped");

    let large = run(
        "expense-approval.json",
        r#"{"employee": "Ada", "amount": 900, "category": "travel"}"#,
        &[],
    );
    assert_eq!(
        body(&large, "respond"),
        json!({"decision": "pending", "by": "manager", "note": "Ada: 900 for travel awaits a manager"})
    );
    assert_eq!(statuses(&large)["auto_approve"], "skipped");
    assert_eq!(statuses(&large)["reject"], "skipped");

    let refused = run(
        "expense-approval.json",
        r#"{"employee": "Ada", "amount": 9000, "category": "yachts"}"#,
        &[],
    );
    let answer = body(&refused, "respond");
    assert_eq!(answer["decision"], "rejected");
    assert_eq!(answer["code"], "VALIDATION_FAILED");
    let reason = answer["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("amount") && reason.contains("category"),
        "{reason}"
    );
    let s = statuses(&refused);
    assert_eq!(
        s["policy_check"], "error",
        "the failure is recorded on its node"
    );
    assert_eq!(s["to_manager"], "skipped", "the main port was not taken");
    assert_eq!(refused["metrics"]["nodesFailed"], 1);
}

#[test]
fn data_cleaning_normalises_filters_dedupes_sorts_and_sums() {
    let result = run(
        "data-cleaning.json",
        &format!("@{}", example("data-cleaning.input.json")),
        &[],
    );
    let report = body(&result, "report");
    assert_eq!(report["count"], 3);
    assert_eq!(report["dropped"], 2, "one unpriced row, one duplicate SKU");
    assert_eq!(report["total"], 35.6);
    assert_eq!(report["average"], 11.87);
    assert_eq!(report["names"], "Tea towel, Tea cup, Steel kettle");
    assert_eq!(
        report["products"][2],
        json!({"sku": "AB-1", "name": "Steel kettle", "price": 24.9}),
        "trimmed, upper-cased, whitespace collapsed, price parsed from `24,90 EUR`"
    );
}

#[test]
fn sensor_summary_fans_out_to_five_and_joins_once() {
    let result = run(
        "sensor-summary.json",
        r#"{"sensor": "boiler-2", "readings": [61.5, 63, 58.25, 70, 65.25]}"#,
        &[],
    );
    assert_eq!(
        body(&result, "summary"),
        json!({"sensor": "boiler-2", "count": 5, "sum": 318, "mean": 63.6, "range": [58.25, 70],
               "joined": ["count", "highest", "lowest", "mean", "sum"]})
    );
    assert_eq!(result["metrics"]["nodesRun"], 7);
}

#[test]
fn resilient_fetch_retries_a_flaky_service_and_falls_back_for_a_dead_one() {
    let rate_calls = Arc::new(AtomicUsize::new(0));
    let promo_calls = Arc::new(AtomicUsize::new(0));
    let (rates, promos) = (rate_calls.clone(), promo_calls.clone());
    let port = http_server::serve(move |request, _| match request.path.as_str() {
        // Busy twice, then answers: two retries.
        "/rates" if rates.fetch_add(1, Ordering::SeqCst) < 2 => {
            Response::new(503, "text/plain", "busy")
        }
        "/rates" => Response::json(200, &json!({"EUR": 0.92, "GBP": 0.79})),
        _ => {
            promos.fetch_add(1, Ordering::SeqCst);
            Response::new(503, "text/plain", "down")
        }
    });
    let input =
        json!({"baseUrl": format!("http://127.0.0.1:{port}"), "amountUsd": 100}).to_string();
    let config = example("local-services.toml");
    let result = run("resilient-fetch.json", &input, &["--config", &config]);
    let rates = &result["nodes"]["fetch_rates"];
    assert_eq!(rates["retries"], 2, "{rates:#}");
    assert_eq!(rate_calls.load(Ordering::SeqCst), 3);
    let promo = &result["nodes"]["fetch_promo"];
    assert_eq!(promo["status"], "success");
    assert_eq!(promo["recoveryApplied"], true);
    assert_eq!(promo["fallbackNodeType"], "transform");
    assert_eq!(
        promo["errorCode"], "EXECUTION_ERROR",
        "what it recovered from"
    );
    assert_eq!(
        promo_calls.load(Ordering::SeqCst),
        1,
        "no retry without a retry policy"
    );
    let answer = body(&result, "respond");
    assert_eq!(answer["eur"], 92.0);
    assert_eq!(answer["promotion"]["discount"], 0);
    assert_eq!(result["metrics"]["retries"], 2);
}

#[test]
fn the_order_pipeline_and_customer_greeting_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.db");
    let result = run(
        "order-pipeline.json",
        r#"{"orders": [{"item": "tea", "qty": 2}, {"item": "cake", "qty": 1}, {"item": "tea", "qty": 3}]}"#,
        &["--tenant", "acme", "--db", db.to_str().unwrap()],
    );
    assert_eq!(body(&result, "respond")["stored"], 3);
    let greeting = run(
        "customer-greeting.json",
        &format!("@{}", example("customer-greeting.input.json")),
        &[],
    );
    assert!(body(&greeting, "respond")["greeting"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Dear Ada Lovelace"));
}

/// Builds the example third-party plugin the way its author would: its own
/// crate, its own lock file, its own target directory (never this
/// workspace's: the outer cargo holds that directory's lock while tests
/// run, so sharing it would deadlock).
fn build_third_party_plugin() -> PathBuf {
    let crate_dir = root().join("examples/third-party-plugin");
    let target = crate_dir.join("target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["build", "--locked", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building the example plugin failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug")
}

#[test]
fn a_third_party_plugin_builds_loads_and_runs_a_workflow() {
    let built = build_third_party_plugin();
    // Only the plugin library goes into the plugin directory.
    let plugins = tempfile::tempdir().unwrap();
    let name = format!(
        "{}acme_geo{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    std::fs::copy(built.join(&name), plugins.path().join(&name)).unwrap();
    let dir = plugins.path().to_str().unwrap();

    let check = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .args(["plugins", "check", dir, "--output", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["files"][0]["status"], "loaded", "{report:#}");
    assert_eq!(
        report["files"][0]["nodeTypes"],
        json!(["geo.distance", "geo.nearest"])
    );

    let result = run(
        "third-party-plugin/nearest-store.json",
        &format!(
            "@{}",
            example("third-party-plugin/nearest-store.input.json")
        ),
        &["--plugins", dir],
    );
    let answer = body(&result, "respond");
    assert_eq!(answer["store"], "Paris Opera");
    assert_eq!(answer["km"], 1.341);
    assert_eq!(
        answer["message"],
        "Your nearest store is Paris Opera, 1.341 km away."
    );

    // Without --plugins the workflow names the node type it cannot find.
    let out = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args([
            "validate",
            &example("third-party-plugin/nearest-store.json"),
        ])
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("geo.nearest")
            || String::from_utf8_lossy(&out.stderr).contains("geo.nearest")
    );
}
