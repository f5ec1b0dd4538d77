//! Crash-isolated scanning: libraries whose static initialiser segfaults,
//! aborts, exits with code 3 or never returns are opened in a scanner child
//! process (`plugflow __scan-plugins`), reported as `PLUGIN_CRASHED` or
//! `PLUGIN_LOAD_TIMEOUT`, and never opened in the host, which loads the
//! good plugin beside them and runs it.

#![cfg(target_os = "linux")]

use std::process::{Command, Output};

use plugflow_tests::install;
use serde_json::Value;

const CRASHERS: [&str; 4] = [
    "fixture_crash_segv",
    "fixture_crash_abort",
    "fixture_crash_exit",
    "fixture_crash_sleep",
];

fn plugflow(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args(args)
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("PLUGFLOW_ISOLATION")
        // Arms the crash fixtures' initialisers, in this process's children.
        .env("PLUGFLOW_FIXTURE_ARMED", "1")
        .env("PLUGFLOW_CONFIG", dir.join("plugflow.toml"))
        .output()
        .expect("plugflow runs")
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let mut libraries = CRASHERS.to_vec();
    libraries.push("fixture_echo");
    install(&plugins, &libraries);
    // A short load budget, so the one that never returns costs little.
    std::fs::write(
        dir.path().join("plugflow.toml"),
        "[plugins]\nmax-load-time-ms = 1500\n",
    )
    .unwrap();
    dir
}

/// `plugins check --isolation process` over every crasher and the good
/// plugin, run once: (directory, exit code, JSON report).
fn checked() -> &'static (tempfile::TempDir, Option<i32>, Value) {
    static CHECKED: std::sync::OnceLock<(tempfile::TempDir, Option<i32>, Value)> =
        std::sync::OnceLock::new();
    CHECKED.get_or_init(|| {
        let dir = setup();
        let plugins = dir.path().join("plugins");
        let out = plugflow(
            &[
                "plugins",
                "check",
                plugins.to_str().unwrap(),
                "--isolation",
                "process",
                "--output",
                "json",
            ],
            dir.path(),
        );
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (dir, out.status.code(), report)
    })
}

/// (status, reason, message) of the file whose path contains `name`.
fn outcome(name: &str) -> (Value, Value, String) {
    let report = &checked().2;
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap_or("").contains(name))
        .unwrap_or_else(|| panic!("{name} not reported: {report:#}"));
    (
        file["status"].clone(),
        file["reason"].clone(),
        file["message"].as_str().unwrap_or("").to_owned(),
    )
}

fn assert_quarantined(name: &str, reason: &str, says: &str) {
    let (status, got, message) = outcome(name);
    assert_eq!(status, "rejected", "{message}");
    assert_eq!(got, reason, "{message}");
    assert!(message.contains(says), "{message}");
}

#[test]
fn a_check_with_a_rejected_file_exits_1_and_reports_every_file() {
    let (_, code, report) = checked();
    assert_eq!(*code, Some(1));
    assert_eq!(report["files"].as_array().unwrap().len(), 5, "{report:#}");
}

#[test]
fn a_library_segfaulting_on_load_is_quarantined() {
    assert_quarantined("crash_segv", "PLUGIN_CRASHED", "signal 11");
}

#[test]
fn a_library_aborting_on_load_is_quarantined() {
    assert_quarantined("crash_abort", "PLUGIN_CRASHED", "signal 6");
}

#[test]
fn a_library_exiting_on_load_is_quarantined() {
    assert_quarantined("crash_exit", "PLUGIN_CRASHED", "exit code 3");
}

#[test]
fn a_library_never_returning_from_load_is_killed_at_the_budget() {
    assert_quarantined("crash_sleep", "PLUGIN_LOAD_TIMEOUT", "killed");
}

#[test]
fn the_good_library_loads_beside_the_crashers() {
    let (status, _, message) = outcome("fixture_echo");
    assert_eq!(status, "loaded", "{message}");
}

#[test]
fn a_run_with_process_isolation_executes_the_good_plugin() {
    // plugflow itself never opens a crasher.
    let dir = setup();
    let plugins = dir.path().join("plugins");
    let workflow = dir.path().join("echo.json");
    std::fs::write(
        &workflow,
        r#"{"nodes": [{"id": "e", "name": "e", "type": "fixture.echo", "parameters": {}}]}"#,
    )
    .unwrap();
    let out = plugflow(
        &[
            "run",
            workflow.to_str().unwrap(),
            "--plugins",
            plugins.to_str().unwrap(),
            "--isolation",
            "process",
            "--input",
            "{\"hello\": 1}",
            "--output",
            "json",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["nodes"]["e"]["output"]["input"]["hello"], 1);
}

#[test]
fn without_isolation_the_same_library_takes_the_host_down() {
    // The fixtures are real: opened in-process, the host dies by signal.
    let dir = setup();
    let only = dir.path().join("segv");
    std::fs::create_dir(&only).unwrap();
    install(&only, &["fixture_crash_segv"]);
    let out = plugflow(
        &[
            "plugins",
            "check",
            only.to_str().unwrap(),
            "--isolation",
            "in-process",
        ],
        dir.path(),
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(11), "{:?}", out.status);
}
