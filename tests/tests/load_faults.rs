//! Load with faults: 1,000 concurrent executions of a 10-node workflow of
//! `fault.chaos` nodes (loaded from the `.so`) in which a seeded 10 % of
//! node runs misbehave: 6 % fail transiently (retried, then succeed), 2 %
//! panic, 2 % hang past their timeout (retried, then fail). Every execution
//! ends with a final status for every node, retries and failures are
//! exactly what the seed planned, the metrics totals equal the sum over the
//! results, and the audit log has exactly one verified line per node run.

use std::collections::BTreeMap;
use std::sync::Arc;

use plugflow_engine::{CompiledWorkflow, Engine, RunOptions, RunStatus, Workflow};
use plugin_abi::request::ExecContext;
use registry_core::{AuditLog, AuditRecord, NodeStatus, Registry, TenantPolicy};
use serde_json::{json, Value};

const EXECUTIONS: usize = 1_000;
const NODES: usize = 10;
const SEED: u64 = 0x5eed_2026;

/// splitmix64: a seeded, reproducible plan.
struct Plan(u64);

impl Plan {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// (plan, failures) for one node run.
    fn node(&mut self) -> (&'static str, u64) {
        match self.next() % 100 {
            0..=5 => ("transient", 1 + self.next() % 2),
            6..=7 => ("panic", 0),
            8..=9 => ("timeout", 0),
            _ => ("ok", 0),
        }
    }
}

/// What the plan says a node ends with: (status, retries, error code).
fn expected(plan: &str, failures: u64) -> (NodeStatus, u32, Option<&'static str>) {
    match plan {
        "transient" => (NodeStatus::Success, failures as u32, None),
        "panic" => (NodeStatus::Error, 0, Some("EXECUTION_ERROR")),
        // Timeouts are retryable: three attempts, all time out.
        "timeout" => (NodeStatus::Error, 2, Some("EXECUTION_TIMEOUT")),
        _ => (NodeStatus::Success, 0, None),
    }
}

fn workflow() -> CompiledWorkflow {
    let nodes: Vec<Value> = (0..NODES)
        .map(|i| {
            json!({"id": format!("n{i}"), "name": format!("n{i}"), "type": "operation", "nodeType": "fault.chaos",
                   "typeVersion": 1, "position": [i, 0], "timeout": 0.05, "onError": "continueRegularOutput",
                   "retryPolicy": {"enabled": true, "maxAttempts": 3, "backoffType": "fixed", "initialDelay": 1, "maxDelay": 1},
                   "parameters": {"plan": format!("{{{{ $trigger.plan.n{i} }}}}"),
                                  "failures": format!("{{{{ $trigger.failures.n{i} }}}}"), "sleepMs": 3000}})
        })
        .collect();
    let mut connections = serde_json::Map::new();
    for i in 1..NODES {
        connections.insert(
            format!("n{}", i - 1),
            json!({"main": [[{"node": format!("n{i}"), "type": "main", "index": 0}]]}),
        );
    }
    let workflow = json!({"id": "chaos", "name": "chaos", "nodes": nodes, "connections": connections,
                          "settings": {"maxConcurrency": 1}});
    CompiledWorkflow::compile(Workflow::from_json_str(&workflow.to_string(), "chaos.json").unwrap())
}

#[test]
fn a_thousand_concurrent_executions_with_seeded_faults_lose_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1024)
        .enable_all()
        .build()
        .unwrap();
    let registry = Registry::new();
    let _plugins = plugflow_tests::load_libraries(&registry, &["fixture_faults"]);
    let state = tempfile::tempdir().unwrap();
    let audit = state.path().join("audit.jsonl");
    registry.set_audit_log(Some(AuditLog::open(&audit, false).unwrap()));
    let tenants: Vec<String> = (0..8).map(|t| format!("tenant-{t}")).collect();
    for t in &tenants {
        registry.set_tenant_policy(TenantPolicy {
            audit_logging: true,
            ..TenantPolicy::new(t)
        });
    }
    let engine = Engine::new(Arc::new(registry));
    let compiled = Arc::new(workflow());

    // The plan, from the seed.
    let mut rng = Plan(SEED);
    let plans: Vec<Vec<(&'static str, u64)>> = (0..EXECUTIONS)
        .map(|_| (0..NODES).map(|_| rng.node()).collect())
        .collect();
    let faults: usize = plans.iter().flatten().filter(|(p, _)| *p != "ok").count();
    assert!(
        (700..=1300).contains(&faults),
        "about 10 % of 10,000 node runs are faulty: {faults}"
    );

    let results = runtime.block_on(async {
        let mut tasks = Vec::with_capacity(EXECUTIONS);
        for (e, plan) in plans.iter().enumerate() {
            let mut plan_of = serde_json::Map::new();
            let mut failures_of = serde_json::Map::new();
            for (i, (p, f)) in plan.iter().enumerate() {
                plan_of.insert(format!("n{i}"), json!(p));
                failures_of.insert(format!("n{i}"), json!(f));
            }
            let options = RunOptions {
                trigger: json!({"plan": plan_of, "failures": failures_of}),
                context: ExecContext {
                    tenant_id: Some(tenants[e % tenants.len()].clone()),
                    execution_id: format!("exec-{e}"),
                    ..Default::default()
                },
                ..Default::default()
            };
            let (engine, compiled) = (engine.clone(), compiled.clone());
            tasks.push(tokio::spawn(async move {
                engine.run(&compiled, options).await.expect("valid")
            }));
        }
        let mut results = Vec::with_capacity(EXECUTIONS);
        for task in tasks {
            results.push(task.await.expect("no execution task panicked"));
        }
        results
    });
    // Calls abandoned at their timeout still sleep; do not wait for them.
    runtime.shutdown_background();

    let (mut retries, mut failed, mut succeeded) = (0u64, 0u64, 0u64);
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    for (e, result) in results.iter().enumerate() {
        assert_eq!(result.nodes.len(), NODES, "exec-{e}: every node reported");
        assert_eq!(
            result.status,
            RunStatus::Success,
            "exec-{e}: onError continues"
        );
        for (i, (plan, failures)) in plans[e].iter().enumerate() {
            let node = &result.nodes[&format!("n{i}")];
            let (status, node_retries, code) = expected(plan, *failures);
            assert_eq!(node.status, status, "exec-{e} n{i} ({plan})");
            assert_eq!(node.retries, node_retries, "exec-{e} n{i} ({plan})");
            assert_eq!(
                node.error_code.map(|c| c.as_str()),
                code,
                "exec-{e} n{i} ({plan}): {:?}",
                node.error
            );
            retries += u64::from(node.retries);
            match node.status {
                NodeStatus::Success => succeeded += 1,
                NodeStatus::Error => failed += 1,
                other => panic!("exec-{e} n{i}: final status {other:?}"),
            }
            if let Some(c) = node.error_code {
                if node.status == NodeStatus::Error {
                    *by_code.entry(c.as_str().to_owned()).or_default() += 1;
                }
            }
        }
    }

    // Metrics totals equal the sums over the results.
    let stats = engine.registry().stats().execution;
    assert_eq!(stats.executions, (EXECUTIONS * NODES) as u64);
    assert_eq!(stats.successes, succeeded);
    assert_eq!(stats.failures, failed);
    assert_eq!(stats.retries, retries);
    assert_eq!(stats.errors.by_code, by_code);

    // Exactly one verified audit line per node run, matching its result.
    let verified = registry_core::verify_audit_log(&audit).unwrap();
    assert!(verified.is_valid(), "{verified:?}");
    assert_eq!(verified.verified_lines, (EXECUTIONS * NODES) as u64);
    let text = std::fs::read_to_string(&audit).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let record: AuditRecord = serde_json::from_str(line).unwrap();
        let e: usize = record.execution_id["exec-".len()..].parse().unwrap();
        let i: usize = record.node_id[1..].parse().unwrap();
        assert!(
            seen.insert((e, i)),
            "one line per node run: exec-{e} n{i} twice"
        );
        let (plan, failures) = plans[e][i];
        let (_, node_retries, code) = expected(plan, failures);
        assert_eq!(record.retries, node_retries, "exec-{e} n{i}");
        assert_eq!(record.error_code.as_deref(), code, "exec-{e} n{i}");
        assert_eq!(
            record.tenant_id.as_deref(),
            Some(tenants[e % tenants.len()].as_str())
        );
    }
}
