//! Every example of docs/WORKFLOWS.md validates without a problem or a
//! warning, runs with the input it is shown with, and answers what the
//! text says.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// The doc's `json file=NAME input=JSON` blocks: (name, input, workflow).
fn examples() -> Vec<(String, String, String)> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/WORKFLOWS.md"))
            .unwrap();
    let mut found = Vec::new();
    let mut current: Option<(String, String, String)> = None;
    for line in doc.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) if info.starts_with("json file=") => {
                let mut words = info.split_whitespace().skip(1);
                let name = words.next().unwrap().trim_start_matches("file=").to_owned();
                let input = words
                    .next()
                    .map_or("{}", |w| w.trim_start_matches("input="))
                    .to_owned();
                current = Some((name, input, String::new()));
            }
            (Some(_), Some(_)) => found.extend(current.take()),
            (Some((_, _, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    found
}

fn plugflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args(args)
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_CONFIG")
        .output()
        .unwrap()
}

/// Runs the doc's example `name`; returns its result.
fn run(name: &str) -> Value {
    let (_, input, body) = examples()
        .into_iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("the doc has no example {name}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    let out = plugflow(&[
        "run",
        path.to_str().unwrap(),
        "--input",
        &input,
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_example_validates_without_problems_or_warnings() {
    let examples = examples();
    assert!(examples.len() >= 5, "{} examples", examples.len());
    for (name, _, body) in examples {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&name);
        std::fs::write(&path, body).unwrap();
        let out = plugflow(&["validate", path.to_str().unwrap(), "--output", "json"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["valid"], true, "{name}: {report:#}");
        assert_eq!(report["warnings"], json!([]), "{name}: {report:#}");
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
