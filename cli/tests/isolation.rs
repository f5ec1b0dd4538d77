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

#[test]
fn crashing_libraries_are_quarantined_and_the_good_one_loads_beside_them() {
    let dir = setup();
    let plugins = dir.path().join("plugins");
    let out = plugflow(
        &[
            "plugins",
            "check",
            plugins.to_str().unwrap(),
            "--output",
            "json",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a file was rejected: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 5, "{report:#}");
    let reason_of = |name: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap_or("").contains(name))
            .map(|f| {
                (
                    f["status"].clone(),
                    f["reason"].clone(),
                    f["message"].clone(),
                )
            })
            .unwrap_or_else(|| panic!("{name} not reported: {report:#}"))
    };
    for (name, reason, says) in [
        ("crash_segv", "PLUGIN_CRASHED", "signal 11"),
        ("crash_abort", "PLUGIN_CRASHED", "signal 6"),
        ("crash_exit", "PLUGIN_CRASHED", "exit code 3"),
        ("crash_sleep", "PLUGIN_LOAD_TIMEOUT", "killed"),
    ] {
        let (status, got, message) = reason_of(name);
        assert_eq!(status, "rejected", "{name}");
        assert_eq!(got, reason, "{name}: {message}");
        assert!(
            message.as_str().unwrap_or("").contains(says),
            "{name}: {message}"
        );
    }
    let (status, _, _) = reason_of("fixture_echo");
    assert_eq!(status, "loaded");

    // A run with process isolation loads the good plugin and executes it;
    // plugflow itself never opened a crasher.
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
