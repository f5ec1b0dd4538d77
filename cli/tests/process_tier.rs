//! `plugflow run` on the process tier: a plugin that aborts at run time
//! fails its node and the run ends with plugflow's own exit code and one
//! JSON document, where in-process it ends plugflow by SIGABRT. The tier
//! is chosen by flag, environment, configuration, per-plugin override or
//! tenant policy; quarantines are audited.

#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Output};

use plugflow_tests::install;
use serde_json::Value;

const WORKFLOW: &str = r#"{"nodes": [
    {"id": "boom", "name": "boom", "type": "runtime.abort", "parameters": {}}
]}"#;

/// A directory with the crash fixture in `plugins/`, `wf.json` and
/// `plugflow.toml` holding `config`.
fn setup(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    install(&plugins, &["fixture_runtime_crash"]);
    std::fs::write(dir.path().join("wf.json"), WORKFLOW).unwrap();
    std::fs::write(dir.path().join("plugflow.toml"), config).unwrap();
    dir
}

fn plugflow(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plugflow"));
    command
        .current_dir(dir)
        .args(["run", "wf.json", "--plugins", "plugins", "--output", "json"])
        .args(args)
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_EXECUTION_ISOLATION")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env("PLUGFLOW_CONFIG", dir.join("plugflow.toml"));
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("plugflow runs")
}

/// The node's error code from the single JSON document on stdout.
fn node_code(out: &Output) -> Value {
    let result: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    result["nodes"]["boom"]["errorCode"].clone()
}

#[test]
fn in_process_an_abort_ends_plugflow_by_signal() {
    use std::os::unix::process::ExitStatusExt;
    let dir = setup("");
    let out = plugflow(dir.path(), &[], &[]);
    assert_eq!(out.status.signal(), Some(SIGABRT), "{out:?}");
}

/// The signal `abort()` raises on Linux.
const SIGABRT: i32 = 6;

#[test]
fn the_flag_runs_the_plugin_in_a_plugin_host_and_the_node_fails() {
    let dir = setup("");
    let out = plugflow(dir.path(), &["--execution-isolation", "process"], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(node_code(&out), "PLUGIN_CRASHED");
}

#[test]
fn the_environment_variable_chooses_the_tier() {
    let dir = setup("");
    let out = plugflow(
        dir.path(),
        &[],
        &[("PLUGFLOW_EXECUTION_ISOLATION", "process")],
    );
    assert_eq!(node_code(&out), "PLUGIN_CRASHED", "{out:?}");
}

#[test]
fn the_configuration_chooses_the_tier() {
    let dir = setup("[plugins]\nexecution-isolation = \"process\"\n");
    let out = plugflow(dir.path(), &[], &[]);
    assert_eq!(node_code(&out), "PLUGIN_CRASHED", "{out:?}");
}

#[test]
fn a_per_plugin_override_chooses_the_tier() {
    let dir = setup(
        "[plugins]\nexecution-isolation = \"in-process\"\n\n[plugins.execution-isolation-overrides]\nfixture-runtime-crash = \"process\"\n",
    );
    let out = plugflow(dir.path(), &[], &[]);
    assert_eq!(node_code(&out), "PLUGIN_CRASHED", "{out:?}");
}

#[test]
fn a_tenant_policy_chooses_the_tier_for_its_tenant() {
    let dir = setup("[[policies]]\ntenantId = \"untrusted\"\npluginIsolation = \"process\"\n");
    let out = plugflow(dir.path(), &["--tenant", "untrusted"], &[]);
    assert_eq!(node_code(&out), "PLUGIN_CRASHED", "{out:?}");
}

#[test]
fn a_quarantine_is_audited() {
    let dir = setup(
        "audit-log = \"audit.jsonl\"\n\n[plugins]\nexecution-isolation = \"process\"\n\n[plugins.plugin-host]\nmax-crashes = 1\n",
    );
    let out = plugflow(dir.path(), &[], &[]);
    assert_eq!(node_code(&out), "PLUGIN_CRASHED", "{out:?}");
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let quarantined: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["status"] == "plugin-quarantined")
        .collect();
    assert_eq!(quarantined.len(), 1, "{audit}");
    assert_eq!(quarantined[0]["nodeType"], "plugin:fixture-runtime-crash");
    assert_eq!(quarantined[0]["errorCode"], "PLUGIN_QUARANTINED");
}

#[test]
fn an_unknown_tier_in_the_configuration_is_a_clear_error() {
    let dir = setup("[plugins]\nexecution-isolation = \"sandbox\"\n");
    let out = plugflow(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("execution-isolation"), "{stderr}");
}

#[test]
fn in_process_a_plugins_prints_stay_out_of_the_json_document() {
    let dir = setup("");
    std::fs::write(
        dir.path().join("chatty.json"),
        r#"{"nodes": [{"id": "c", "name": "c", "type": "runtime.chatty", "parameters": {}}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .current_dir(dir.path())
        .args([
            "run",
            "chatty.json",
            "--plugins",
            "plugins",
            "--output",
            "json",
        ])
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_EXECUTION_ISOLATION")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env("PLUGFLOW_CONFIG", dir.path().join("plugflow.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(result["nodes"]["c"]["output"]["said"], "hello");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("this line on stdout must not reach the protocol"),
        "{stderr}"
    );
}
