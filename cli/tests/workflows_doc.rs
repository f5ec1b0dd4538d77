//! Every example of docs/WORKFLOWS.md validates without a problem or a
//! warning, runs with the input it is shown with, and answers what the
//! text says.

use std::path::Path;

use std::sync::{Arc, Mutex};

use plugflow_tests::http_server::{self, Response};
use plugflow_tests::plugflow_command;
use serde_json::{json, Value};

/// One `json file=NAME input=JSON [config=FILE] [tenant=ID]` block.
struct Example {
    name: String,
    input: String,
    config: Option<String>,
    tenant: Option<String>,
    body: String,
}

/// The address the doc's examples call; the tests serve it on a free port.
const DOC_ADDRESS: &str = "127.0.0.1:8080";

/// The doc's examples, and its other files (`toml file=NAME` blocks).
fn doc() -> (Vec<Example>, Vec<(String, String)>) {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/WORKFLOWS.md"))
            .unwrap();
    let (mut examples, mut files) = (Vec::new(), Vec::new());
    // An open block: its language, its `key=value` words, its text so far.
    type Block = (String, Vec<(String, String)>, String);
    let mut current: Option<Block> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) if info.contains(" file=") => {
                let mut words = info.split_whitespace();
                let lang = words.next().unwrap_or_default().to_owned();
                let attrs = words
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                current = Some((lang, attrs, String::new()));
            }
            (Some(_), Some(_)) => {
                let (lang, attrs, body) = current.take().unwrap();
                let attr = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                let name = attr("file").unwrap();
                if lang == "json" {
                    examples.push(Example {
                        name,
                        input: attr("input").unwrap_or_else(|| "{}".to_owned()),
                        config: attr("config"),
                        tenant: attr("tenant"),
                        body,
                    });
                } else {
                    files.push((name, body));
                }
            }
            (Some((_, _, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    (examples, files)
}

fn plugflow(args: &[&str]) -> std::process::Output {
    plugflow_command(env!("CARGO_BIN_EXE_plugflow"))
        .args(args)
        .env("ORDERS_API_KEY", ORDERS_API_KEY)
        .output()
        .unwrap()
}

const ORDERS_API_KEY: &str = "doc-example-key-4711";

/// `command` (`run` or `validate`) on the doc's example `example`, its
/// files written beside it with `address` for the doc's address; the
/// command's arguments.
fn invoke(
    command: &str,
    example: &Example,
    files: &[(String, String)],
    address: &str,
) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body.replace(DOC_ADDRESS, address)).unwrap();
    }
    let path = dir.path().join(&example.name);
    std::fs::write(&path, example.body.replace(DOC_ADDRESS, address)).unwrap();
    let mut args = vec![command.to_owned(), path.to_str().unwrap().to_owned()];
    if command == "run" {
        args.extend(["--input".to_owned(), example.input.clone()]);
    }
    if let Some(config) = &example.config {
        args.extend([
            "--config".to_owned(),
            dir.path().join(config).to_str().unwrap().to_owned(),
        ]);
    }
    if let Some(tenant) = &example.tenant {
        args.extend(["--tenant".to_owned(), tenant.clone()]);
    }
    args.extend(["--output".to_owned(), "json".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    plugflow(&args)
}

/// Runs the doc's example `name` with the doc's address served at
/// `address`; returns its result.
fn run_at(name: &str, address: &str) -> Value {
    let (examples, files) = doc();
    let example = examples
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("the doc has no example {name}"));
    let out = invoke("run", example, &files, address);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run(name: &str) -> Value {
    run_at(name, DOC_ADDRESS)
}

#[test]
fn every_example_validates_without_problems_or_warnings() {
    let (examples, files) = doc();
    assert!(examples.len() >= 7, "{} examples", examples.len());
    for example in &examples {
        let out = invoke("validate", example, &files, DOC_ADDRESS);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["valid"], true, "{}: {report:#}", example.name);
        assert_eq!(
            report["warnings"],
            json!([]),
            "{}: {report:#}",
            example.name
        );
    }
}

#[test]
fn the_branch_example_takes_the_true_output() {
    let result = run("branch.json");
    assert_eq!(result["nodes"]["vip"]["output"], json!({"result": "VIP"}));
    assert_eq!(result["nodes"]["normal"]["status"], "skipped");
}

#[test]
fn the_names_example_reads_json_input_and_variables() {
    let result = run("names.json");
    assert_eq!(
        result["nodes"]["say"]["output"],
        json!({"result": "Ada owes 12"})
    );
}

#[test]
fn the_join_example_reads_each_predecessor_by_id() {
    assert_eq!(
        run("join.json")["nodes"]["sum"]["output"],
        json!({"result": 33})
    );
}

#[test]
fn the_error_example_takes_the_error_port() {
    let result = run("errors.json");
    assert_eq!(
        result["nodes"]["rejected"]["output"],
        json!({"result": "rejected: VALIDATION_FAILED"})
    );
    assert_eq!(result["nodes"]["ok"]["status"], "skipped");
}

#[test]
fn the_retry_example_succeeds_at_once() {
    let result = run("retry.json");
    assert_eq!(result["nodes"]["sum"]["output"], json!({"result": 5}));
    assert_eq!(result["nodes"]["sum"]["retries"], 0);
}

#[test]
fn the_parallel_example_collects_both_tasks() {
    let result = run("parallel.json");
    assert_eq!(
        result["nodes"]["report"]["output"],
        json!({"result": "12 each, 7 left"})
    );
    assert_eq!(
        result["nodes"]["both"]["output"]["price"]["output"],
        json!({"result": 12})
    );
}

#[test]
fn the_credentials_example_sends_the_key_and_masks_it_in_the_result() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let port = http_server::serve(move |request, _| {
        let key = request
            .headers
            .get("x-api-key")
            .cloned()
            .unwrap_or(Value::Null);
        record.lock().unwrap().push(key.clone());
        Response::json(200, &json!({"key": key}))
    });
    let result = run_at("credentials.json", &format!("127.0.0.1:{port}"));
    assert_eq!(*seen.lock().unwrap(), vec![json!(ORDERS_API_KEY)]);
    assert_eq!(
        result["nodes"]["call"]["output"]["body"],
        json!({"key": "***"})
    );
}
