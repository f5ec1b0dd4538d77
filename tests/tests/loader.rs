//! The loader against real shared libraries: the built-in string plugin,
//! a second good plugin, and every kind of bad library side by side.

use std::collections::BTreeSet;
use std::path::Path;

use loader::{DiscoveryConfig, FileOutcome, Loader, RejectReason};
use plugflow_tests::{install, library, library_file_name};
use registry_core::{ErrorCode, NodeCall, NodeSource, Registry};
use serde_json::{json, Value};

const GOOD: [&str; 2] = ["plugflow_string", "fixture_echo"];
const BAD: [&str; 9] = [
    "fixture_panic_factory",
    "fixture_wrong_abi",
    "fixture_not_a_plugin",
    "fixture_missing_dep",
    "fixture_cycle_a",
    "fixture_cycle_b",
    "fixture_dup_v1",
    "fixture_dup_v2",
    "fixture_panic_execute",
];

fn call(
    registry: &Registry,
    node_type: &str,
    parameters: Value,
    input: Value,
) -> Result<Value, registry_core::NodeFailure> {
    let call = NodeCall::new(node_type, "n1", &parameters).input(&input);
    registry.invoke(&call).map(|r| r.output)
}

fn reason_of(report: &loader::DiscoveryReport, file: &str) -> Option<RejectReason> {
    report
        .file(file)
        .unwrap_or_else(|| panic!("{file} missing from the report: {report:#?}"))
        .reason()
}

fn discover(dir: &Path) -> (Registry, loader::DiscoveryReport) {
    let registry = Registry::new();
    let report = Loader::new(DiscoveryConfig::with_directories([dir])).discover(&registry);
    (registry, report)
}

/// One directory holding every good and every bad library, discovered
/// once: each reason below is checked against this shared report.
struct Mixed {
    registry: Registry,
    report: loader::DiscoveryReport,
    _dir: tempfile::TempDir,
}

fn mixed() -> &'static Mixed {
    static MIXED: std::sync::OnceLock<Mixed> = std::sync::OnceLock::new();
    MIXED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &GOOD);
        install(dir.path(), &BAD);
        std::fs::write(
            dir.path().join("garbage.so"),
            b"\x7fELF but not really, just garbage bytes \x00\x01\x02",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not matched by the pattern").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let ww = dir.path().join("libworld_writable.so");
            std::fs::copy(library("fixture_echo"), &ww).unwrap();
            std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let (registry, report) = discover(dir.path());
        Mixed {
            registry,
            report,
            _dir: dir,
        }
    })
}

fn mixed_reason(library: &str) -> Option<RejectReason> {
    reason_of(&mixed().report, &library_file_name(library))
}

fn mixed_message(file: &str) -> String {
    match &mixed().report.file(file).unwrap().outcome {
        FileOutcome::Rejected { message, .. } => message.clone(),
        other => panic!("{file} was not rejected: {other:?}"),
    }
}

#[test]
fn a_plugin_panicking_in_its_factory_is_rejected_as_panicked() {
    assert_eq!(
        mixed_reason("fixture_panic_factory"),
        Some(RejectReason::PluginPanicked)
    );
}

#[test]
fn a_plugin_built_against_another_abi_is_rejected_with_rebuild_advice() {
    assert_eq!(
        mixed_reason("fixture_wrong_abi"),
        Some(RejectReason::AbiIncompatible)
    );
    let message = mixed_message(&library_file_name("fixture_wrong_abi"));
    assert!(message.contains("rebuild"), "{message}");
}

#[test]
fn a_library_without_a_plugflow_module_is_not_a_plugin() {
    assert_eq!(
        mixed_reason("fixture_not_a_plugin"),
        Some(RejectReason::NotAPlugin)
    );
}

#[test]
fn a_file_that_is_not_a_library_is_rejected_as_such() {
    assert_eq!(
        reason_of(&mixed().report, "garbage.so"),
        Some(RejectReason::NotALibrary)
    );
}

#[test]
fn a_missing_dependency_is_named() {
    assert_eq!(
        mixed_reason("fixture_missing_dep"),
        Some(RejectReason::DependencyNotLoaded)
    );
    let message = mixed_message(&library_file_name("fixture_missing_dep"));
    assert!(message.contains("nowhere.missing"), "{message}");
    assert!(!mixed().registry.has("fixture.needsMissing"));
}

#[test]
fn both_plugins_of_a_dependency_cycle_are_rejected() {
    assert_eq!(
        mixed_reason("fixture_cycle_a"),
        Some(RejectReason::DependencyCycle)
    );
    assert_eq!(
        mixed_reason("fixture_cycle_b"),
        Some(RejectReason::DependencyCycle)
    );
    assert!(!mixed().registry.has("cycleA.node"));
    assert!(!mixed().registry.has("cycleB.node"));
}

#[test]
fn of_two_versions_of_a_node_type_the_higher_wins() {
    assert_eq!(
        mixed_reason("fixture_dup_v1"),
        Some(RejectReason::DuplicateNodeType)
    );
    assert_eq!(mixed_reason("fixture_dup_v2"), None);
    assert_eq!(
        call(&mixed().registry, "fixture.dup", json!({}), Value::Null).unwrap(),
        json!({"version": 2})
    );
}

#[test]
fn a_world_writable_library_is_rejected() {
    assert_eq!(
        reason_of(&mixed().report, "libworld_writable.so"),
        Some(RejectReason::WorldWritable)
    );
}

#[test]
fn files_not_matching_the_pattern_are_not_candidates() {
    assert!(mixed().report.file("notes.txt").is_none());
}

#[test]
fn every_rejection_message_is_one_nonempty_line() {
    for file in &mixed().report.files {
        if let FileOutcome::Rejected { message, .. } = &file.outcome {
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{}: {message:?}",
                file.path.display()
            );
        }
    }
}

#[test]
fn the_good_plugins_load_and_run_beside_the_bad_ones() {
    let registry = &mixed().registry;
    for good in ["plugflow_string", "fixture_echo", "fixture_panic_execute"] {
        assert_eq!(mixed_reason(good), None, "{good}");
    }
    assert_eq!(
        call(
            registry,
            "string.upper",
            json!({"value": "abc"}),
            Value::Null
        )
        .unwrap(),
        json!({"result": "ABC"})
    );
    assert_eq!(
        call(registry, "fixture.echo", json!({}), json!(7)).unwrap(),
        json!({"plugin": "fixture-echo", "input": 7})
    );
    assert!(!registry.has("fixture.panicFactory"));
}

#[test]
fn the_report_totals_and_timings_add_up() {
    let report = &mixed().report;
    assert_eq!(report.totals.candidates, report.files.len());
    assert_eq!(report.totals.loaded, 4);
    assert_eq!(
        report.totals.loaded + report.totals.rejected,
        report.totals.candidates
    );
    assert!(report
        .files
        .iter()
        .all(|f| f.timings.precheck_us > 0 || f.reason().is_some()));
    let string = report.file(&library_file_name("plugflow_string")).unwrap();
    assert!(string.timings.open_us > 0 && string.timings.manifest_us > 0);
    match &string.outcome {
        FileOutcome::Loaded {
            node_types, plugin, ..
        } => {
            assert_eq!(plugin, "plugflow-string");
            assert_eq!(node_types.len(), 15);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_loaded_node_type_names_the_library_it_came_from() {
    let metadata = mixed()
        .registry
        .get("string.upper")
        .unwrap()
        .metadata()
        .clone();
    assert!(
        matches!(&metadata.source, NodeSource::Library { path, .. } if path.ends_with(library_file_name("plugflow_string")))
    );
}

#[test]
fn a_panicking_plugin_returns_an_error_every_time_and_the_host_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &["fixture_panic_execute"]);
    let (registry, report) = discover(dir.path());
    assert_eq!(report.totals.loaded, 1, "{report:#?}");
    for i in 0..2_000u32 {
        let failure = call(&registry, "fixture.panic", json!({}), json!(i)).unwrap_err();
        assert_eq!(failure.code, ErrorCode::ExecutionError);
        assert!(
            failure.message.contains(&format!("deliberate panic #{i}")),
            "{}",
            failure.message
        );
    }
    let failure = call(&registry, "fixture.threadPanic", json!({}), Value::Null).unwrap_err();
    assert_eq!(failure.code, ErrorCode::ExecutionError);
    assert!(failure.message.contains("worker thread panicked"));
}

#[test]
fn two_plugin_files_load_side_by_side_and_each_runs_its_own_code() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &["fixture_dup_v1"]);
    let other = tempfile::tempdir().unwrap();
    install(other.path(), &["fixture_echo", "plugflow_string"]);
    let registry = Registry::new();
    let config = DiscoveryConfig::with_directories([dir.path(), other.path()]);
    let report = Loader::new(config).discover(&registry);
    assert_eq!(report.totals.loaded, 3, "{report:#?}");
    assert_eq!(
        call(&registry, "fixture.dup", json!({}), Value::Null).unwrap(),
        json!({"version": 1})
    );
    assert_eq!(
        call(&registry, "fixture.echo", json!({}), json!("x")).unwrap()["plugin"],
        "fixture-echo"
    );
    assert_eq!(
        call(
            &registry,
            "string.length",
            json!({"value": "héllo"}),
            Value::Null
        )
        .unwrap(),
        json!({"result": 5})
    );
}

#[test]
fn a_trust_list_rejects_unlisted_libraries_before_opening_them() {
    use sha2_digest::hex_sha256;
    let dir = tempfile::tempdir().unwrap();
    let paths = install(dir.path(), &["plugflow_string", "fixture_echo"]);
    let mut config = DiscoveryConfig::with_directories([dir.path()]);
    config.trusted_digests = Some(BTreeSet::from([hex_sha256(
        &std::fs::read(&paths[0]).unwrap(),
    )]));
    let registry = Registry::new();
    let report = Loader::new(config).discover(&registry);
    assert_eq!(
        reason_of(&report, &library_file_name("plugflow_string")),
        None
    );
    assert_eq!(
        reason_of(&report, &library_file_name("fixture_echo")),
        Some(RejectReason::Untrusted)
    );
    assert!(!registry.has("fixture.echo"));
}

#[test]
fn duplicates_by_canonical_path_are_scanned_once_and_noise_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let paths = install(dir.path(), &["fixture_echo"]);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&paths[0], dir.path().join("libalias.so")).unwrap();
    std::fs::create_dir_all(dir.path().join("target/debug/deps")).unwrap();
    std::fs::copy(
        &paths[0],
        dir.path().join("target/debug/deps/libfixture_echo.so"),
    )
    .unwrap();
    let (_registry, report) = discover(dir.path());
    assert_eq!(report.files.len(), 1, "{report:#?}");
    assert!(report.files[0].is_loaded());
}

#[test]
fn a_missing_directory_is_reported_and_discovery_can_be_disabled() {
    let (registry, report) = discover(Path::new("/definitely/not/here"));
    assert!(registry.is_empty());
    assert_eq!(report.issues.len(), 1);
    assert!(report.issues[0].message.contains("does not exist"));

    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &["fixture_echo"]);
    let config = DiscoveryConfig::with_directories([dir.path()])
        .with_env_from(|name| (name == loader::ENV_ENABLE_DISCOVERY).then(|| "off".into()))
        .unwrap();
    let registry = Registry::new();
    let report = Loader::new(config).discover(&registry);
    assert!(report.files.is_empty() && registry.is_empty());
}

#[test]
fn a_library_over_the_load_time_budget_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &["fixture_echo"]);
    let mut config = DiscoveryConfig::with_directories([dir.path()]);
    config.max_load_time = std::time::Duration::ZERO;
    let report = Loader::new(config).discover(&Registry::new());
    assert_eq!(
        reason_of(&report, &library_file_name("fixture_echo")),
        Some(RejectReason::LoadTimeout)
    );
}

#[test]
fn the_statically_linked_plugin_gives_the_same_results_as_its_library() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &["plugflow_string"]);
    let (dynamic, report) = discover(dir.path());
    assert_eq!(report.totals.loaded, 1);
    let static_registry = Registry::new();
    let registered =
        loader::register_static_plugin(&static_registry, plugflow_string::plugflow_module())
            .unwrap();
    assert_eq!(registered.len(), 15);
    assert!(matches!(
        static_registry
            .get("string.trim")
            .unwrap()
            .metadata()
            .source,
        NodeSource::Static { .. }
    ));

    let cases = [
        (
            "string.concat",
            json!({"values": ["a", 1, {"k": [1]}], "separator": "|"}),
        ),
        (
            "string.format",
            json!({"template": "{a}-{b}", "values": {"a": 1}}),
        ),
        ("string.length", json!({"value": "👋🏽"})),
        ("string.lower", json!({"value": "ÀÉÎ"})),
        ("string.upper", json!({"value": "straße"})),
        ("string.trim", json!({"value": "\t x \n", "mode": "end"})),
        (
            "string.replace",
            json!({"value": "aaa", "search": "a", "replace": "b", "all": false}),
        ),
        ("string.split", json!({"value": "1,2,3", "limit": 2})),
        ("string.join", json!({"values": [1, null, true]})),
        (
            "string.substring",
            json!({"value": "héllo", "start": -3, "end": 2}),
        ),
        (
            "string.includes",
            json!({"value": "haystack", "search": "st"}),
        ),
        (
            "string.startsWith",
            json!({"value": "haystack", "search": "hay"}),
        ),
        (
            "string.endsWith",
            json!({"value": "haystack", "search": "hay"}),
        ),
        (
            "string.padStart",
            json!({"value": "5", "length": 3, "padChar": "0"}),
        ),
        ("string.padEnd", json!({"value": "5", "length": 0})),
        ("string.concat", json!({"values": 5})),
        ("string.padStart", json!({"value": "5"})),
    ];
    for (node_type, parameters) in cases {
        let a = call(&dynamic, node_type, parameters.clone(), Value::Null);
        let b = call(&static_registry, node_type, parameters.clone(), Value::Null);
        assert_eq!(a, b, "{node_type} {parameters}");
    }
    // Schema validation happens in the host for both.
    let failure = call(
        &dynamic,
        "string.padStart",
        json!({"value": "5"}),
        Value::Null,
    )
    .unwrap_err();
    assert_eq!(failure.code, ErrorCode::ValidationFailed);
    assert_eq!(failure.validation_errors[0].path, "/length");
}

#[test]
fn plugin_log_events_reach_the_host_subscriber_tagged_with_the_plugin_name() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &["fixture_echo"]);
    tracing::subscriber::with_default(subscriber, || {
        let (registry, report) = discover(dir.path());
        assert_eq!(report.totals.loaded, 1);
        call(&registry, "fixture.echo", json!({}), json!(1)).unwrap();
    });
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("echo executed"))
        .unwrap_or_else(|| panic!("plugin event not forwarded; host log was:\n{logs}"));
    assert!(line.contains("plugin=\"fixture-echo\""), "{line}");
    assert!(line.contains("node=n1"), "{line}");
    assert!(line.contains("plugflow::plugin"), "{line}");
}

mod sha2_digest {
    /// SHA-256 as lower-case hex, computed independently of the loader.
    pub fn hex_sha256(bytes: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    }
}

#[test]
fn a_library_loaded_from_a_file_is_called_through_the_abi_and_a_linked_one_directly() {
    let from_file = mixed().registry.get("string.upper").unwrap();
    assert!(plugin_abi::sdk::linked_node(from_file.executor()).is_none());
    let linked = Registry::new();
    loader::register_static_plugin(&linked, plugflow_string::plugflow_module()).unwrap();
    let node = linked.get("string.upper").unwrap();
    assert!(plugin_abi::sdk::linked_node(node.executor()).is_some());
}

#[test]
fn a_library_built_with_this_sdk_is_called_with_binary_frames() {
    let from_file = mixed().registry.get("fixture.echo").unwrap();
    assert!(from_file.wire().is_some());
}

#[test]
fn the_binary_and_the_json_call_of_a_library_give_the_same_output() {
    let node = mixed().registry.get("fixture.echo").unwrap();
    let input = json!({
        "text": "héllo \"quoted\" \u{1F600}",
        "numbers": [0, -1, 2.5, 1.0, u64::MAX, i64::MIN],
        "nested": {"z": [true, false, null], "a": {}},
    });
    let parameters = json!({});
    let through_frames = call(
        &mixed().registry,
        "fixture.echo",
        parameters.clone(),
        input.clone(),
    )
    .expect("binary call");
    let request = json!({"nodeType": "fixture.echo", "nodeId": "n1", "parameters": parameters, "input": input});
    let text = node
        .executor()
        .execute(request.to_string().as_str().into())
        .unwrap();
    let through_json: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(through_frames, through_json["output"]);
    assert_eq!(
        serde_json::to_string(&through_frames).unwrap(),
        serde_json::to_string(&through_json["output"]).unwrap(),
        "numbers and key order survive both encodings alike"
    );
}

#[test]
fn a_linked_plugin_registers_the_same_node_types_from_its_definition_as_from_its_module() {
    let from_module = Registry::new();
    let mut a =
        loader::register_static_plugin(&from_module, plugflow_string::plugflow_module()).unwrap();
    let from_definition = Registry::new();
    let mut b =
        loader::register_linked_plugin(&from_definition, plugflow_string::plugflow_definition())
            .unwrap();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let node = from_definition.get("string.upper").unwrap();
    assert!(plugin_abi::sdk::linked_node(node.executor()).is_some());
    assert!(!node.schema_is_compiled(), "compiled on first use");
}
