//! Durability: a `plugflow run` writing dbal batches and audit records is
//! killed with SIGKILL at seeded random points, 50 times. Every time, the
//! audit log verifies up to its last complete line (a torn last line is
//! reported, never accepted), and every multi-record write is in the
//! database whole or not at all.

#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

const KILLS: usize = 50;
const BATCHES: usize = 60;
const PER_BATCH: usize = 40;

fn plugflow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plugflow"));
    command
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("RUST_LOG");
    command
}

fn node(id: &str, node_type: &str, parameters: Value) -> Value {
    json!({"id": id, "name": id, "type": "operation", "nodeType": node_type, "typeVersion": 1,
           "position": [0, 0], "parameters": parameters})
}

/// A chain of `BATCHES` dbal-write nodes, each creating one batch.
fn writer(dir: &Path) -> (String, String) {
    let nodes: Vec<Value> = (0..BATCHES)
        .map(|b| {
            node(
                &format!("w{b}"),
                "dbal-write",
                json!({"entity": "Item", "data": format!("{{{{ $trigger.batches[{b}] }}}}")}),
            )
        })
        .collect();
    let mut connections = serde_json::Map::new();
    for b in 1..BATCHES {
        connections.insert(
            format!("w{}", b - 1),
            json!({"main": [[{"node": format!("w{b}"), "type": "main", "index": 0}]]}),
        );
    }
    let workflow = dir.join("writer.json");
    std::fs::write(
        &workflow,
        json!({"id": "writer", "name": "writer", "nodes": nodes, "connections": connections})
            .to_string(),
    )
    .unwrap();
    let batches: Vec<Value> = (0..BATCHES)
        .map(|b| {
            Value::Array(
                (0..PER_BATCH)
                    .map(|i| json!({"batch": b, "i": i, "payload": "x".repeat(64)}))
                    .collect(),
            )
        })
        .collect();
    let input = dir.join("writer.input.json");
    std::fs::write(&input, json!({"batches": batches}).to_string()).unwrap();
    (
        workflow.display().to_string(),
        format!("@{}", input.display()),
    )
}

/// Records per batch, as the tenant reads them back.
fn batch_counts(dir: &Path, db: &Path) -> Vec<(i64, i64)> {
    let reader = dir.join("reader.json");
    std::fs::write(
        &reader,
        json!({"id": "reader", "name": "reader", "nodes": [node("count", "dbal-read",
            json!({"entity": "Item", "operation": "aggregate", "function": "count", "groupBy": "batch"}))]})
        .to_string(),
    )
    .unwrap();
    let out = plugflow()
        .args([
            "run",
            reader.to_str().unwrap(),
            "--tenant",
            "acme",
            "--output",
            "json",
            "--db",
        ])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = result["nodes"]["count"]["output"]["groups"]
        .as_array()
        .cloned();
    groups
        .unwrap_or_default()
        .iter()
        .map(|g| {
            (
                g["key"].as_i64().unwrap_or(-1),
                g["value"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[test]
fn sigkill_at_random_points_loses_no_verified_record_and_tears_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, input) = writer(dir.path());
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({"tenantId": "acme", "auditLogging": true}).to_string(),
    )
    .unwrap();
    // splitmix64 of a fixed seed: the kill points are reproducible.
    let mut state: u64 = 0xdead_beef;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let run = |audit: &Path, db: &Path| {
        let mut command = plugflow();
        command
            .args([
                "run", &workflow, "--input", &input, "--tenant", "acme", "--quiet",
            ])
            .arg("--policy")
            .arg(&policy)
            .arg("--audit-log")
            .arg(audit)
            .arg("--db")
            .arg(db)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    // Kill points are spread over one uninterrupted run's length, measured
    // here, so how many land mid-run does not depend on the machine's speed.
    let full = {
        let started = Instant::now();
        let status = run(
            &dir.path().join("audit-full.jsonl"),
            &dir.path().join("data-full.db"),
        )
        .status()
        .unwrap();
        assert!(status.success());
        started.elapsed()
    };
    let (mut torn, mut partial_runs, mut complete_runs, mut mid_write) = (0, 0, 0, 0);
    for round in 0..KILLS {
        let audit = dir.path().join(format!("audit-{round}.jsonl"));
        let db = dir.path().join(format!("data-{round}.db"));
        let mut child = run(&audit, &db).spawn().unwrap();
        let fraction = u32::try_from(5 + next() % 90).unwrap_or(50);
        std::thread::sleep(full * fraction / 100);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            complete_runs += 1;
        } else {
            partial_runs += 1;
        }

        // The audit log verifies up to its last complete line; a torn last
        // line is reported as such, on exactly that line.
        if audit.exists() {
            let text = std::fs::read(&audit).unwrap();
            let report = registry_core::verify_audit_log(&audit).unwrap();
            let complete_lines = text.iter().filter(|b| **b == b'\n').count() as u64;
            assert_eq!(report.verified_lines, complete_lines, "round {round}");
            if text.last().is_some_and(|b| *b != b'\n') {
                torn += 1;
                let broken = report.first_broken.expect("a torn line is reported");
                assert_eq!(broken.line, complete_lines + 1);
                assert!(broken.reason.contains("torn"), "{}", broken.reason);
                let cli = plugflow()
                    .args(["audit", "verify"])
                    .arg(&audit)
                    .output()
                    .unwrap();
                assert_eq!(cli.status.code(), Some(1), "round {round}");
            } else {
                assert!(report.is_valid(), "round {round}: {report:?}");
            }
        }

        // Every batch is there whole or not at all.
        if db.exists() {
            let counts = batch_counts(dir.path(), &db);
            if !counts.is_empty() && counts.len() < BATCHES {
                mid_write += 1;
            }
            for (batch, count) in counts {
                assert_eq!(
                    count, PER_BATCH as i64,
                    "round {round}: batch {batch} is partly written"
                );
            }
        }
    }
    // A record is appended with one write, so a kill rarely tears one; cut
    // a log mid-record by hand to check that a torn tail is never accepted.
    let audit = dir.path().join(format!("audit-{}.jsonl", KILLS - 1));
    let text = std::fs::read(&audit).unwrap();
    assert!(text.len() > 40, "the last run audited something");
    std::fs::write(&audit, &text[..text.len() - 20]).unwrap();
    let report = registry_core::verify_audit_log(&audit).unwrap();
    assert!(report
        .first_broken
        .is_some_and(|b| b.reason.contains("torn")));
    let cli = plugflow()
        .args(["audit", "verify"])
        .arg(&audit)
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&cli.stderr).contains("torn"));

    eprintln!("durability: {KILLS} kills, {partial_runs} interrupted runs ({mid_write} after some batches were written), {complete_runs} finished before the kill, {torn} torn audit lines");
    assert!(
        partial_runs >= KILLS / 2,
        "most kills land mid-run: {partial_runs}"
    );
    assert!(
        mid_write >= KILLS / 5,
        "kills land between writes, not only before the first: {mid_write}"
    );
}
