//! The persistent plugin cache through the CLI: the first start checks
//! every library (new ones in a scanner process) and records the outcomes
//! by content hash; the next start opens nothing (a quarantined crasher is
//! skipped, a good plugin is opened only when its node type first runs); a
//! changed file is checked again; a corrupt cache is discarded and rebuilt;
//! `plugins cache show|clear`.

#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Output};

use plugflow_tests::install;
use serde_json::Value;

fn plugflow(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args(args)
        .arg("--plugin-cache")
        .arg(cache)
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_ISOLATION")
        .env_remove("PLUGFLOW_CONFIG")
        // Arms the crash fixture: opened in this process's children, it
        // segfaults. The host must never open it.
        .env("PLUGFLOW_FIXTURE_ARMED", "1")
        .output()
        .expect("plugflow runs")
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn entries(cache: &Path) -> Vec<Value> {
    let out = plugflow(cache, &["plugins", "cache", "show", "--output", "json"]);
    ok(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["entries"].as_array().cloned().unwrap_or_default()
}

fn status_of(entries: &[Value], name: &str) -> (String, Value) {
    let e = entries
        .iter()
        .find(|e| e["path"].as_str().unwrap_or("").contains(name))
        .unwrap_or_else(|| panic!("{name} not cached: {entries:?}"));
    (
        e["status"].as_str().unwrap_or("").to_owned(),
        e["reason"].clone(),
    )
}

#[test]
fn the_cache_remembers_by_content_and_the_next_start_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    install(&plugins, &["fixture_echo", "fixture_crash_segv"]);
    std::fs::write(plugins.join("libjunk.so"), b"not a library").unwrap();
    let cache = dir.path().join("cache").join("plugins.json");
    let plugins_arg = plugins.to_str().unwrap();
    let echo = dir.path().join("echo.json");
    std::fs::write(
        &echo,
        r#"{"nodes": [{"id": "e", "name": "e", "type": "fixture.echo", "parameters": {}}]}"#,
    )
    .unwrap();
    let upper = dir.path().join("upper.json");
    std::fs::write(&upper, r#"{"nodes": [{"id": "u", "name": "u", "type": "string.upper", "parameters": {"value": "a"}}]}"#).unwrap();
    let run = |workflow: &Path| {
        plugflow(
            &cache,
            &[
                "run",
                workflow.to_str().unwrap(),
                "--plugins",
                plugins_arg,
                "--log-level",
                "info",
                "--output",
                "json",
            ],
        )
    };

    // Cold: every file checked (new files in the scanner process), recorded.
    let cold = run(&echo);
    ok(&cold);
    let cached = entries(&cache);
    assert_eq!(cached.len(), 3, "{cached:?}");
    assert_eq!(status_of(&cached, "fixture_echo").0, "loaded");
    assert_eq!(
        status_of(&cached, "crash_segv"),
        ("rejected".into(), "PLUGIN_CRASHED".into())
    );
    assert_eq!(
        status_of(&cached, "libjunk"),
        ("rejected".into(), "NOT_A_LIBRARY".into())
    );

    // Warm, a workflow not using the plugin: nothing is opened, the crasher
    // is skipped without a scanner (or the host would have died).
    let warm = run(&upper);
    let log = ok(&warm);
    assert!(!log.contains("opening a cached plugin"), "{log}");
    assert!(!log.contains("rescanning"), "{log}");
    // Warm, the plugin's node type runs: its library opens on first use.
    let used = run(&echo);
    let log = ok(&used);
    assert!(log.contains("opening a cached plugin"), "{log}");
    let result: Value = serde_json::from_slice(&used.stdout).unwrap();
    assert_eq!(result["status"], "success");
    assert_eq!(result["nodes"]["e"]["output"]["plugin"], "fixture-echo");

    // A changed file is checked again; its old verdict is not reused.
    let before = status_of(&entries(&cache), "libjunk");
    std::fs::write(plugins.join("libjunk.so"), b"\x7fELF but not really").unwrap();
    ok(&run(&upper));
    let after = entries(&cache);
    let junk = after
        .iter()
        .find(|e| e["path"].as_str().unwrap_or("").contains("libjunk"))
        .unwrap();
    assert_eq!(before.0, "rejected");
    assert_eq!(junk["size"], 19, "the entry describes the new content");

    // A corrupt cache is discarded with a warning and rebuilt.
    std::fs::write(&cache, b"{\"format\": 1, \"entries\": {").unwrap();
    let rebuilt = run(&upper);
    let log = ok(&rebuilt);
    assert!(log.contains("discarded"), "{log}");
    assert_eq!(entries(&cache).len(), 3);

    // Clear.
    let cleared = plugflow(&cache, &["plugins", "cache", "clear", "--output", "json"]);
    ok(&cleared);
    assert!(!cache.exists());
}
