//! Generated hostile input for the hardening families: expression text
//! that tries to close its wrapper, deep and odd paths, output sizes around
//! the limit, entity names that try to collide, plugin directory trees with
//! symlink loops, and concurrent audit appends. Every case ends in a value
//! or a clear error, within its time limit.
//!
//! 200 cases per family by default; `PROPTEST_CASES` raises it.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use plugin_abi::request::ExecContext;
use proptest::prelude::*;
use registry_core::{verify_audit_log as verify, AuditLog, AuditRecord};
use registry_core::{NodeCall, NodeStatus, Registry};
use serde_json::{json, Value};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200)
}

fn registry() -> &'static (Arc<Registry>, tempfile::TempDir) {
    static REGISTRY: OnceLock<(Arc<Registry>, tempfile::TempDir)> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let registry = Registry::new();
        for module in [
            plugflow_dict::plugflow_module(),
            plugflow_string::plugflow_module(),
            plugflow_dbal::plugflow_module(),
        ] {
            loader::register_static_plugin(&registry, module).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        plugflow_tests::set_database(&registry, &dir.path().join("props.db"));
        (Arc::new(registry), dir)
    })
}

fn execute(node_type: &str, params: Value, tenant: &str) -> registry_core::NodeExecution {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let context = ExecContext {
        tenant_id: Some(tenant.into()),
        ..Default::default()
    };
    runtime.block_on(
        registry()
            .0
            .execute(&NodeCall::new(node_type, "n", &params).context(&context)),
    )
}

const BREAKOUT_TOKENS: [&str; 22] = [
    ")",
    "(",
    "}",
    "{",
    ";",
    "]",
    "[",
    "/*",
    "*/",
    "'",
    "\"",
    "`",
    "//",
    "\n",
    "while(true)",
    "return",
    "function(){",
    "1",
    "$json",
    "<!--",
    "-->",
    "${",
];

fn breakout() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&BREAKOUT_TOKENS[..]), 0..24)
        .prop_map(|t| t.join(" "))
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just(String::new()),
        "[a-z0-9_$]{1,4}",
        "\\PC{0,3}"
    ]
}

fn entity() -> impl Strategy<Value = String> {
    let base = prop::sample::select(&["Invoice", "Payroll", "x", "_", "A1"][..]);
    let suffix = prop::sample::select(&["", "_tenant", "__tenant", "_1", "tenant"][..]);
    (prefix(), base, suffix).prop_map(|(p, b, s)| format!("{p}{b}{s}"))
}

fn prefix() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["", "e_", "t_", "x_", "_"][..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Whatever the text, it is refused or evaluated within its limit:
    /// nothing runs outside the deadline.
    #[test]
    fn expression_text_never_escapes_its_wrapper_or_deadline(text in breakout()) {
        let started = Instant::now();
        let _ = js_sandbox::eval(&text, "$json", &mut |_| Ok(Some("{}".to_owned())));
        prop_assert!(started.elapsed() < js_sandbox::TIME_LIMIT + Duration::from_millis(400), "{text:?} took {:?}", started.elapsed());
    }

    /// A path is followed or refused; a refused one is INVALID_PARAMETERS,
    /// and nothing deeper than the limit is ever built.
    #[test]
    fn dict_paths_are_results_or_clear_errors(segments in prop::collection::vec(segment(), 0..120)) {
        let path = segments.join(".");
        let done = execute("dict.set", json!({"object": {}, "path": path, "value": 1}), "a");
        match done.status {
            NodeStatus::Success => prop_assert!(segments.len() <= plugflow_dict::MAX_PATH_SEGMENTS),
            _ => prop_assert_eq!(done.error_code(), Some(registry_core::ErrorCode::InvalidParameters)),
        }
    }

    /// string.replace either fits the output limit or is refused before it
    /// is built.
    #[test]
    fn replace_outputs_fit_the_limit_or_are_refused(len in 0usize..50_000, every in 1usize..50, grow in 0usize..4_000) {
        let value: String = (0..len).map(|i| if i % every == 0 { 'a' } else { 'b' }).collect();
        let replacement = "c".repeat(grow);
        let done = execute("string.replace", json!({"value": value, "search": "a", "replace": replacement}), "a");
        let predicted = len + value.matches('a').count() * grow.saturating_sub(1);
        if predicted > plugin_abi::sdk::DEFAULT_OUTPUT_LIMIT {
            prop_assert!(done.error.unwrap().message.contains("output limit"));
        } else {
            prop_assert_eq!(done.status, NodeStatus::Success);
        }
    }

    /// No entity name produces another's table or index name.
    #[test]
    fn entity_names_never_collide(a in entity(), b in entity()) {
        prop_assume!(a != b && plugflow_dbal::valid_entity(&a) && plugflow_dbal::valid_entity(&b));
        let (ta, ia) = plugflow_dbal::table_names(&a);
        let (tb, ib) = plugflow_dbal::table_names(&b);
        let names = [ta, ia, tb, ib];
        for i in 0..names.len() {
            for j in i + 1..names.len() {
                prop_assert_ne!(&names[i], &names[j]);
            }
        }
    }

    /// One tenant's entity never changes what another observes.
    #[test]
    fn one_tenants_entity_never_breaks_anothers(a in entity(), b in entity()) {
        prop_assume!(plugflow_dbal::valid_entity(&a) && plugflow_dbal::valid_entity(&b));
        let first = execute("dbal-write", json!({"entity": a, "data": {"v": 1}}), "t1");
        prop_assert_eq!(first.status, NodeStatus::Success, "{:?}", first.error);
        let second = execute("dbal-write", json!({"entity": b, "data": {"v": 2}}), "t2");
        prop_assert_eq!(second.status, NodeStatus::Success, "{:?}", second.error);
        let read = execute("dbal-read", json!({"entity": a, "operation": "count"}), "t1");
        prop_assert_eq!(read.status, NodeStatus::Success, "{:?}", read.error);
    }

    /// Plugin directory trees with symlinks anywhere (loops included) are
    /// scanned to the end, within the entry budget.
    #[cfg(unix)]
    #[test]
    fn plugin_directory_trees_with_symlinks_are_scanned_to_the_end(
        dirs in prop::collection::vec("[a-c]{1,2}(/[a-c]{1,2}){0,2}", 0..6),
        links in prop::collection::vec((0usize..8, 0usize..8), 0..6),
    ) {
        let root = tempfile::tempdir().unwrap();
        let mut all = vec![root.path().to_owned()];
        for d in &dirs {
            let path = root.path().join(d);
            std::fs::create_dir_all(&path).unwrap();
            all.push(path);
        }
        for (n, (from, to)) in links.iter().enumerate() {
            let from = &all[from % all.len()];
            let to = &all[to % all.len()];
            let _ = std::os::unix::fs::symlink(to, from.join(format!("link{n}")));
        }
        let config = loader::DiscoveryConfig {
            directories: vec![root.path().to_owned()],
            max_entries: 10_000,
            ..loader::DiscoveryConfig::default()
        };
        let started = Instant::now();
        let _ = loader::Loader::new(config).discover(&registry_core::Registry::new());
        prop_assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// Several handles appending from several threads keep one chain.
    #[test]
    fn concurrent_audit_appends_keep_one_chain(handles in 2usize..5, appends in 1usize..20) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let threads: Vec<_> = (0..handles)
            .map(|h| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let log = AuditLog::open(&path, false).unwrap();
                    for i in 0..appends {
                        log.append(record(&format!("h{h}-{i}"))).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let report = verify(&path).unwrap();
        prop_assert!(report.is_valid(), "{report:?}");
        prop_assert_eq!(report.verified_lines, (handles * appends) as u64);
    }
}

fn record(node: &str) -> AuditRecord {
    AuditRecord {
        seq: 0,
        time: "2026-01-01T00:00:00Z".into(),
        tenant_id: Some("t".into()),
        execution_id: "e".into(),
        node_id: node.into(),
        node_type: "x".into(),
        status: "success".into(),
        duration_ms: 0.0,
        error_code: None,
        retries: 0,
        recovery_applied: false,
        prev_hash: String::new(),
        fenced: None,
    }
}
