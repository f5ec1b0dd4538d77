//! Writes `docs/PERFORMANCE.md` from the benchmark results: criterion's
//! `<target>/criterion/**/new/{benchmark,estimates,sample}.json` and the
//! load generator's and memory probe's `<target>/plugflow-bench/*.json`.
//!
//! Run after the benchmarks (`benches/run.sh` does both):
//! `cargo run --release -p plugflow-benches --bin perf-report > docs/PERFORMANCE.md`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One criterion benchmark: median and the fastest / slowest sample, in ns
/// per iteration.
#[derive(Debug, Clone, Copy)]
struct Measured {
    median: f64,
    min: f64,
    max: f64,
}

impl Measured {
    fn scaled(self, divisor: f64) -> Self {
        Self {
            median: self.median / divisor,
            min: self.min / divisor,
            max: self.max / divisor,
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn collect(dir: &Path, found: &mut BTreeMap<String, Measured>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(m) = measured(&path) {
                found.insert(m.0, m.1);
            }
        } else {
            collect(&path, found);
        }
    }
}

fn measured(new: &Path) -> Option<(String, Measured)> {
    let id = read_json(&new.join("benchmark.json"))?["full_id"]
        .as_str()?
        .to_owned();
    let median = read_json(&new.join("estimates.json"))?["median"]["point_estimate"].as_f64()?;
    let sample = read_json(&new.join("sample.json"))?;
    let per_iter: Vec<f64> = sample["iters"]
        .as_array()?
        .iter()
        .zip(sample["times"].as_array()?)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?))
        .collect();
    let min = per_iter.iter().copied().fold(f64::INFINITY, f64::min);
    let max = per_iter.iter().copied().fold(0.0, f64::max);
    Some((id, Measured { median, min, max }))
}

fn time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn range(m: Measured) -> String {
    format!("{} ({} – {})", time(m.median), time(m.min), time(m.max))
}

/// A table row: what, target, measured, ratio to target, met, command.
struct Row {
    what: String,
    target: String,
    measured: String,
    ratio: Option<f64>,
    command: String,
}

/// `plugflow serve` killed with SIGKILL under load and started again.
fn recovery_rows() -> Vec<Row> {
    let Some(r) = read_json(&plugflow_benches::results_dir().join("recovery.json")) else {
        return Vec::new();
    };
    let count = |key: &str| r[key].as_u64().unwrap_or(u64::MAX);
    let command = format!("`{BENCH} recovery`");
    let lost = count("lost");
    let rerun = count("completedNodesRerun");
    vec![
        Row {
            what: format!(
                "`plugflow serve` after `kill -9` under load ({} accepted, {} interrupted): time from restart to ready; to every interrupted execution ended (their 300 ms waits included)",
                count("accepted"),
                count("interrupted")
            ),
            target: "information".into(),
            measured: format!(
                "{:.0} ms; {:.0} ms",
                r["readyMs"].as_f64().unwrap_or(f64::NAN),
                r["allEndedMs"].as_f64().unwrap_or(f64::NAN)
            ),
            ratio: Some(0.0),
            command: command.clone(),
        },
        Row {
            what: format!(
                "… executions lost; nodes recorded as finished before the kill ({}) run again",
                count("nodesFinishedBeforeKill")
            ),
            target: "0; 0".into(),
            measured: format!("{lost}; {rerun}"),
            ratio: Some(if lost == 0 && rerun == 0 {
                f64::MIN_POSITIVE
            } else {
                f64::INFINITY
            }),
            command,
        },
    ]
}

fn verdict(ratio: Option<f64>) -> String {
    match ratio {
        Some(0.0) => "—".into(),
        Some(r) if r <= 1.0 => format!("{r:.2} ✅"),
        Some(r) => format!("{r:.2} ❌"),
        None => "not measured".into(),
    }
}

const BENCH: &str = "cargo bench -p plugflow-benches --bench";

fn rows(c: &BTreeMap<String, Measured>, load: Option<&Value>, memory: Option<&Value>) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut time_row =
        |what: &str, id: &str, divisor: f64, target_ns: f64, target: &str, bench: &str| {
            let m = c.get(id).map(|m| m.scaled(divisor));
            rows.push(Row {
                what: what.into(),
                target: target.into(),
                measured: m.map_or_else(|| "—".into(), range),
                ratio: m.map(|m| m.median / target_ns),
                command: format!("`{BENCH} {bench} -- '{id}'`"),
            });
        };
    time_row(
        "registry lookup, cache hit",
        "registry/lookup_hit",
        1.0,
        100.0,
        "≤ 100 ns",
        "registry",
    );
    time_row(
        "register one node type with metadata and a compiled schema",
        "registry/register_one_compiled_schema",
        1.0,
        50e3,
        "≤ 50 µs",
        "registry",
    );
    time_row(
        "one `execute` of a trivial pure node, whole pipeline (static)",
        "registry/execute_pipeline/static",
        1.0,
        500.0,
        "≤ 0.5 µs",
        "registry",
    );
    time_row(
        "one `execute` of a trivial pure node, whole pipeline (`.so`)",
        "registry/execute_pipeline/dynamic",
        1.0,
        500.0,
        "≤ 0.5 µs",
        "registry",
    );
    time_row(
        "engine per node, 1,000-node chain, `.so` plugin, templated",
        "engine/chain/1000/dynamic",
        1000.0,
        1e3,
        "≤ 1 µs",
        "engine",
    );
    time_row(
        "engine per node, 1,000-wide fan-out + join",
        "engine/fan_out_in/1000/static",
        1002.0,
        1e3,
        "≤ 1 µs",
        "engine",
    );
    time_row(
        "discover + load + register, per built-in library (9 libraries)",
        "load/discover_register/all",
        9.0,
        1e6,
        "≤ 1 ms",
        "plugins",
    );
    time_row(
        "`plugflow run`, 3-node workflow, whole process, cold",
        "cli/cold_run/3_nodes",
        1.0,
        5e6,
        "≤ 5 ms",
        "cold_start",
    );
    time_row(
        "start-up, 59 plugin files (9 built-ins + 50 copies of one plugin), warm plugin cache, unchanged size+mtime trusted: nothing opened",
        "startup/warm_trust_mtime",
        1.0,
        3e6,
        "≤ 3 ms",
        "plugins",
    );
    for (what, id) in [
        (
            "start-up, same files, no cache: every library opened",
            "startup/cold",
        ),
        (
            "start-up, same files, warm plugin cache, every file hashed, nothing opened",
            "startup/warm_hash",
        ),
    ] {
        time_row(what, id, 1.0, f64::INFINITY, "information", "plugins");
    }

    let ratio_row = |what: &str, a: &str, b: &str, target: f64, bench: &str| {
        let r = match (c.get(a), c.get(b)) {
            (Some(x), Some(y)) => Some(x.median / y.median),
            _ => None,
        };
        Row {
            what: what.into(),
            target: format!("≤ {target:.2}"),
            measured: r.map_or_else(
                || "—".into(),
                |r| format!("{r:.2} ({} / {})", time(c[a].median), time(c[b].median)),
            ),
            ratio: r.map(|r| r / target),
            command: format!("`{BENCH} {bench}`"),
        }
    };
    rows.push(ratio_row(
        "chain per node vs dagrs, same chain, same run",
        "engine/chain/1000/dynamic",
        "engine/chain/1000/dagrs",
        0.5,
        "engine",
    ));
    rows.push(ratio_row(
        "chain: plugin from `.so` vs linked statically",
        "engine/chain/1000/dynamic",
        "engine/chain/1000/static",
        1.10,
        "engine",
    ));
    rows.push(ratio_row(
        "fan-out + join vs dagrs (information)",
        "engine/fan_out_in/1000/static",
        "engine/fan_out_in/1000/dagrs",
        1.0,
        "engine",
    ));

    let load_row = |what: &str, key: &str, target: f64, at_least: bool, unit: &str| {
        let v = load.and_then(|l| l[key].as_f64());
        Row {
            what: what.into(),
            target: format!("{} {target} {unit}", if at_least { "≥" } else { "≤" }),
            measured: v.map_or_else(|| "—".into(), |v| format!("{v:.1} {unit}")),
            ratio: v.map(|v| if at_least { target / v } else { v / target }),
            command: format!("`{BENCH} load`"),
        }
    };
    rows.push(load_row(
        "1,000 concurrent executions of a 10-node workflow: throughput",
        "nodesPerSec",
        200_000.0,
        true,
        "nodes/s",
    ));
    rows.push(load_row(
        "… p95 per-node latency",
        "p95Us",
        1000.0,
        false,
        "µs",
    ));
    rows.push(load_row("… peak RSS", "peakRssMb", 100.0, false, "MB"));
    let serve = read_json(&plugflow_benches::results_dir().join("serve.json"));
    for (label, target, p99_target, what) in [
        ("memory", 10_000.0, Some(5.0), "`plugflow serve`, 10-node webhook workflow over HTTP, without durable recording (`store = \":memory:\"`): executions/s, p99"),
        ("volatile", 3_000.0, None, "… recorded in the SQLite file when each execution ends (saveExecutionProgress off; group commit): executions/s"),
        ("durable", 3_000.0, None, "… with durable recording (saveExecutionProgress on, SQLite WAL; the pure nodes of a run that succeeds are never written): executions/s"),
        ("postgres", 1_000.0, None, "… with executions in PostgreSQL on the same 2 cores (shared queue, one claim loop; enqueue, claim, end and NOTIFY per request): executions/s"),
    ] {
        let figures = serve.as_ref().map(|s| s[label].clone());
        let rate = figures.as_ref().and_then(|f| f["executionsPerSec"].as_f64());
        let p99 = figures.as_ref().and_then(|f| f["p99Ms"].as_f64());
        // Both must hold: the worse of the two ratios.
        let ratio = match (rate, p99_target, p99) {
            (Some(rate), Some(most), Some(p99)) => Some((target / rate).max(p99 / most)),
            (Some(rate), _, _) => Some(target / rate),
            _ => None,
        };
        rows.push(Row {
            what: what.into(),
            target: match p99_target {
                Some(most) => format!("≥ {target:.0}/s, p99 ≤ {most:.0} ms"),
                None => format!("≥ {target:.0}/s"),
            },
            measured: figures.as_ref().map_or_else(
                || "—".into(),
                |f| {
                    format!(
                        "{:.0}/s (p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms)",
                        f["executionsPerSec"].as_f64().unwrap_or(f64::NAN),
                        f["p50Ms"].as_f64().unwrap_or(f64::NAN),
                        f["p95Ms"].as_f64().unwrap_or(f64::NAN),
                        f["p99Ms"].as_f64().unwrap_or(f64::NAN)
                    )
                },
            ),
            ratio,
            command: format!("`{BENCH} serve`"),
        });
    }
    rows.extend(recovery_rows());
    rows.extend(scale_out_rows());
    rows.extend(process_tier_rows(c));
    rows.extend(dbal_rows(c));
    let own = memory.and_then(|m| m["registryMb"].as_f64());
    rows.push(Row {
        what: "registry holding 1,000 node types (RSS it adds; schemas compile on first use)"
            .into(),
        target: "≤ 8 MB".into(),
        measured: own.map_or_else(
            || "—".into(),
            |v| {
                let compiled = memory
                    .and_then(|m| m["registryCompiledMb"].as_f64())
                    .unwrap_or(f64::NAN);
                format!("{v:.1} MB ({compiled:.1} MB with every schema compiled)")
            },
        ),
        ratio: own.map(|v| v / 8.0),
        command: format!("`{BENCH} memory`"),
    });
    rows
}

/// The dbal at a million rows: declared entities against their targets,
/// the same operation on the undeclared entity beside each.
fn dbal_rows(c: &BTreeMap<String, Measured>) -> Vec<Row> {
    let command = format!("`{BENCH} dbal`");
    let mut rows = Vec::new();
    for (what, op, target_ns, target) in [
        (
            "dbal, 1,000,000 rows: point lookup by an indexed field",
            "point_lookup",
            1e6,
            "≤ 1 ms",
        ),
        (
            "dbal, 1,000,000 rows: filtered count on indexed fields",
            "count_filtered",
            20e6,
            "≤ 20 ms",
        ),
        (
            "dbal, 1,000,000 rows: read sorted on an indexed field, limit 50",
            "read_sorted_page",
            2e6,
            "≤ 2 ms",
        ),
    ] {
        let declared = c.get(&format!("dbal/{op}/declared")).copied();
        let undeclared = c.get(&format!("dbal/{op}/undeclared")).copied();
        rows.push(Row {
            what: what.into(),
            target: target.into(),
            measured: declared.map_or_else(
                || "—".into(),
                |m| {
                    format!(
                        "{} (undeclared: {})",
                        range(m),
                        undeclared.map_or_else(|| "—".into(), range)
                    )
                },
            ),
            ratio: declared.map(|m| m.median / target_ns),
            command: command.clone(),
        });
    }
    let rate = |label: &str| {
        c.get(&format!("dbal/bulk_create_10k/{label}"))
            .map(|m| 10_000.0 / (m.median / 1e9))
    };
    let size = read_json(&plugflow_benches::results_dir().join("dbal.json"))
        .and_then(|v| v["databaseMb"].as_f64());
    rows.push(Row {
        what: "dbal, 1,000,000 rows: bulk create (10,000 records in one node)".into(),
        target: "≥ 100000 rows/s".into(),
        measured: rate("declared").map_or_else(
            || "—".into(),
            |r| {
                format!(
                    "{r:.0} rows/s into the million-row tenant (undeclared: {:.0} rows/s; database file {:.0} MB)",
                    rate("undeclared").unwrap_or(f64::NAN),
                    size.unwrap_or(f64::NAN)
                )
            },
        ),
        ratio: rate("declared").map(|r| 100_000.0 / r),
        command,
    });
    rows
}

/// The process tier's rows: per-call cost beside the in-process call,
/// start-up and memory per plugin-host process.
fn process_tier_rows(c: &BTreeMap<String, Measured>) -> Vec<Row> {
    let command = format!("`{BENCH} process_tier`");
    let get = |id: &str, divisor: f64| c.get(id).map(|m| m.scaled(divisor));
    let inline = get("process_tier/invoke/in_process", 1.0);
    let mut rows = Vec::new();
    for (what, id, divisor) in [
        (
            "process tier: one call of a trivial node, sequential (in-process beside it)",
            "process_tier/invoke/process",
            1.0,
        ),
        (
            "process tier: one call's share with 8 callers on one plugin host",
            "process_tier/invoke_x8/process",
            400.0,
        ),
    ] {
        let m = get(id, divisor);
        rows.push(Row {
            what: what.into(),
            target: "≤ 15 µs".into(),
            measured: m.map_or_else(
                || "—".into(),
                |m| {
                    let beside = if divisor > 1.0 {
                        get("process_tier/invoke_x8/in_process", divisor)
                    } else {
                        inline
                    };
                    format!(
                        "{} (in-process: {})",
                        range(m),
                        beside.map_or_else(|| "—".into(), range)
                    )
                },
            ),
            ratio: m.map(|m| m.median / 15e3),
            command: command.clone(),
        });
    }
    let start = get("process_tier/start", 1.0);
    let rss = read_json(&plugflow_benches::results_dir().join("process_tier.json"))
        .and_then(|v| v["hostRssMb"].as_f64());
    rows.push(Row {
        what: "process tier: start a plugin-host process (spawn, open the library, first answer); its RSS after that".into(),
        target: "information".into(),
        measured: match (start, rss) {
            (Some(start), Some(rss)) => format!("{}; {rss:.1} MB", range(start)),
            (Some(start), None) => range(start),
            _ => "—".into(),
        },
        // Information only: shown as "—".
        ratio: start.map(|_| 0.0),
        command,
    });
    rows
}

/// Rows from `benches/instructions.sh` (callgrind, marginal instructions
/// per node): `what` → count.
fn instruction_rows(counts: &BTreeMap<String, f64>) -> Vec<Row> {
    let get = |k: &str| counts.get(k).copied();
    let sum = |keys: &[&str]| -> Option<f64> { keys.iter().map(|k| get(k)).sum() };
    let command = "`benches/instructions.sh`".to_owned();
    let mut rows = Vec::new();
    let mut row = |what: &str, measured: Option<f64>, target: f64| {
        rows.push(Row {
            what: what.into(),
            target: format!("≤ {target:.0}"),
            measured: measured.map_or_else(|| "—".into(), |v| format!("{v:.0}")),
            ratio: measured.map(|v| v / target),
            command: command.clone(),
        });
    };
    for kind in ["static", "dynamic"] {
        row(
            &format!("instructions per node: parse + validate + compile ({kind})"),
            sum(&[
                &format!("engine/parse/{kind}"),
                &format!("engine/validate/{kind}"),
                &format!("engine/compile/{kind}"),
            ]),
            4000.0,
        );
        row(
            &format!("instructions per node: JSON output of the result ({kind})"),
            get(&format!("engine/output/{kind}")),
            1500.0,
        );
        row(
            &format!("instructions per node: parse + validate + compile + run + output ({kind})"),
            sum(&[
                &format!("engine/parse/{kind}"),
                &format!("engine/validate/{kind}"),
                &format!("engine/compile/{kind}"),
                &format!("engine/run/{kind}"),
                &format!("engine/output/{kind}"),
            ]),
            10000.0,
        );
    }
    row(
        "instructions per node: whole `plugflow run --output json` process",
        get("process/run"),
        10000.0,
    );
    let ratio = get("process/run")
        .zip(get("process/dagrs"))
        .map(|(a, b)| a / b);
    rows.push(Row {
        what: "whole process per node vs dagrs whole process, same chain (instructions)".into(),
        target: "≤ 0.50".into(),
        measured: ratio.map_or_else(
            || "—".into(),
            |r| {
                format!(
                    "{r:.2} ({:.0} / {:.0})",
                    get("process/run").unwrap_or(f64::NAN),
                    get("process/dagrs").unwrap_or(f64::NAN)
                )
            },
        ),
        ratio: ratio.map(|r| r / 0.5),
        command,
    });
    rows
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {} {}, {rustc}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn target_dir() -> PathBuf {
    plugflow_benches::results_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn main() {
    let target = target_dir();
    let mut found = BTreeMap::new();
    collect(&target.join("criterion"), &mut found);
    let results = plugflow_benches::results_dir();
    let load = read_json(&results.join("load.json"));
    let memory = read_json(&results.join("memory.json"));
    let notes = std::fs::read_to_string("benches/PERFORMANCE-NOTES.md").unwrap_or_default();

    let mut out = String::new();
    let _ = writeln!(out, "# Performance\n");
    let _ = writeln!(out, "Generated by `benches/run.sh` (`perf-report`) from the benchmark output of one run; do not edit by hand — edit `benches/PERFORMANCE-NOTES.md`, which is appended.\n");
    let _ = writeln!(out, "Machine: {}.\n", machine());
    let _ = writeln!(out, "Times are criterion medians, with the fastest and slowest sample in brackets; per-node rows divide by the node count. Ratio = measured / target (for throughput: target / measured); ≤ 1 meets the target.\n");
    let _ = writeln!(
        out,
        "| what | target | measured | ratio | command |\n|---|---|---|---|---|"
    );
    let counts: BTreeMap<String, f64> = read_json(&results.join("instructions.json"))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some((
                r["what"].as_str()?.to_owned(),
                r["instructionsPerNode"].as_f64()?,
            ))
        })
        .collect();
    let mut all = rows(&found, load.as_ref(), memory.as_ref());
    all.extend(instruction_rows(&counts));
    for row in all {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.what,
            row.target,
            row.measured,
            verdict(row.ratio),
            row.command
        );
    }
    let _ = writeln!(
        out,
        "\n## Every benchmark of the run\n\n| benchmark | median (min – max) |\n|---|---|"
    );
    for (id, m) in &found {
        let _ = writeln!(out, "| `{id}` | {} |", range(*m));
    }
    if let Some(load) = &load {
        let _ = writeln!(out, "\nLoad generator: `{load}`");
    }
    if let Some(memory) = &memory {
        let _ = writeln!(out, "\nMemory probe: `{memory}`");
    }
    if !counts.is_empty() {
        let _ = writeln!(out, "\n## Instructions per node (callgrind, marginal between two chain lengths)\n\n| measure | instructions per node |\n|---|---|");
        for (what, n) in &counts {
            let _ = writeln!(out, "| `{what}` | {n:.0} |");
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\n{notes}");
    }
    print!("{out}");
}

/// The scale-out drain: executions/s by worker processes (no target on two
/// cores shared with PostgreSQL; the figures feed docs/SCALING.md).
fn scale_out_rows() -> Vec<Row> {
    let Some(document) = read_json(&plugflow_benches::results_dir().join("scale_out.json")) else {
        return Vec::new();
    };
    let runs = document["runs"].as_array().cloned().unwrap_or_default();
    runs.iter()
        .map(|run| {
            let workers = run["workers"].as_u64().unwrap_or(0);
            let rate = run["executionsPerSec"].as_f64().unwrap_or(f64::NAN);
            Row {
                what: format!("`plugflow worker` × {workers} draining 20,000 queued 10-node executions from PostgreSQL on the same 2 cores: executions/s"),
                target: "≥ 1000/s".into(),
                measured: format!(
                    "{rate:.0}/s ({:.2} DB calls, {:.2} ms worker CPU, {:.2} ms PostgreSQL CPU per execution; claim p50 {:.0} ms, p99 {:.0} ms)",
                    run["dbCallsPerExecution"].as_f64().unwrap_or(f64::NAN),
                    run["workerCpuMsPerExecution"].as_f64().unwrap_or(f64::NAN),
                    run["dbCpuMsPerExecution"].as_f64().unwrap_or(f64::NAN),
                    run["claimMsP50"].as_f64().unwrap_or(f64::NAN),
                    run["claimMsP99"].as_f64().unwrap_or(f64::NAN),
                ),
                ratio: Some(1000.0 / rate),
                command: format!("`{BENCH} scale_out`"),
            }
        })
        .collect()
}
