//! The process tier at run time: plugins whose node types run in
//! supervised plugin-host processes. Every fault that would end the host
//! in-process (abort, segfault, exit, unbounded leak, a spinning call)
//! becomes the node's error; the host, other plugins and other tenants
//! carry on; the plugin host restarts with backoff and is quarantined
//! when it keeps crashing; untrusted plugins run in a sandbox.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loader::{DiscoveryConfig, Loader, PluginHosts};
use plugin_abi::request::ExecContext;
use plugin_host::{HostEventKind, HostState};
use registry_core::{
    AuditLog, Backoff, ErrorCode, ExecutionTier, NodeCall, NodeExecution, NodeStatus,
    RecoveryStrategy, Registry, TenantPolicy,
};
use serde_json::{json, Value};

/// A registry with the crash and echo fixtures loaded, their node types
/// on `tier`, plugin hosts set up by `configure`.
struct Host {
    registry: Registry,
    loader: Loader,
    _plugins: tempfile::TempDir,
}

impl Host {
    fn hosts(&self) -> &Arc<PluginHosts> {
        self.loader.plugin_hosts()
    }

    fn pid_of(&self, plugin: &str, tenant: Option<&str>) -> Option<u32> {
        self.hosts()
            .status()
            .into_iter()
            .find(|s| s.plugin == plugin && s.tenant.as_deref() == tenant)
            .and_then(|s| s.pid)
    }
}

fn host_on(tier: ExecutionTier, configure: impl FnOnce(&mut DiscoveryConfig)) -> Host {
    let plugins = tempfile::tempdir().unwrap();
    plugflow_tests::install(plugins.path(), &["fixture_runtime_crash", "fixture_echo"]);
    let program = env!("CARGO_BIN_EXE_test-plugin-host").to_owned();
    let mut config = DiscoveryConfig::with_directories([plugins.path()]);
    config.execution_isolation = tier;
    config.scanner = Some(vec![program.clone(), loader::SCANNER_ARG.to_owned()]);
    config.plugin_host.command = Some(vec![program, loader::PLUGIN_HOST_ARG.to_owned()]);
    config.plugin_host.restart_backoff = Duration::from_millis(10);
    configure(&mut config);
    let registry = Registry::new();
    let loader = Loader::new(config);
    let report = loader.discover(&registry);
    assert_eq!(report.totals.loaded, 2, "{report:#?}");
    Host {
        registry,
        loader,
        _plugins: plugins,
    }
}

fn process_host() -> Host {
    host_on(ExecutionTier::Process, |_| {})
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn run_as(
    registry: &Registry,
    tenant: &str,
    node_type: &str,
    parameters: Value,
    timeout: Option<Duration>,
) -> NodeExecution {
    let context = ExecContext {
        tenant_id: Some(tenant.into()),
        execution_id: "process-tier".into(),
        ..Default::default()
    };
    let call = NodeCall::new(node_type, "n", &parameters)
        .context(&context)
        .timeout(timeout);
    runtime().block_on(registry.execute(&call))
}

fn run(registry: &Registry, node_type: &str, parameters: Value) -> NodeExecution {
    run_as(registry, "acme", node_type, parameters, None)
}

fn code(done: &NodeExecution) -> Option<ErrorCode> {
    done.error.as_ref().map(|e| e.code)
}

fn message(done: &NodeExecution) -> String {
    done.error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

fn pid(done: &NodeExecution) -> u32 {
    assert_eq!(done.status, NodeStatus::Success, "{done:?}");
    u32::try_from(done.output["pid"].as_u64().unwrap()).unwrap()
}

#[test]
fn a_process_tier_node_runs_in_a_child_process() {
    let host = process_host();
    let child = pid(&run(&host.registry, "runtime.whoami", json!({})));
    assert_ne!(child, std::process::id());
    assert_eq!(host.pid_of("fixture-runtime-crash", None), Some(child));
}

#[test]
fn an_abort_is_plugin_crashed_naming_the_signal() {
    let host = process_host();
    let done = run(&host.registry, "runtime.abort", json!({}));
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
    assert!(message(&done).contains("SIGABRT"), "{}", message(&done));
}

#[test]
fn a_segfault_is_plugin_crashed_naming_the_signal() {
    let host = process_host();
    let done = run(&host.registry, "runtime.segv", json!({}));
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
    assert!(message(&done).contains("SIGSEGV"), "{}", message(&done));
}

#[test]
fn an_exit_is_plugin_crashed_with_its_code() {
    let host = process_host();
    let done = run(&host.registry, "runtime.exit", json!({}));
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
    assert!(
        message(&done).contains("exited with code 3"),
        "{}",
        message(&done)
    );
}

#[test]
fn a_spinning_call_is_a_timeout_and_its_host_is_killed() {
    let host = process_host();
    let before = pid(&run(&host.registry, "runtime.whoami", json!({})));
    let started = Instant::now();
    let done = run_as(
        &host.registry,
        "acme",
        "runtime.spin",
        json!({}),
        Some(Duration::from_millis(300)),
    );
    assert_eq!(code(&done), Some(ErrorCode::ExecutionTimeout), "{done:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The spinning process is gone: not merely abandoned.
    let alive = std::path::Path::new("/proc").join(before.to_string());
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!alive.exists(), "process {before} still runs");
}

#[test]
fn a_leak_past_the_memory_limit_is_plugin_crashed() {
    let host = host_on(ExecutionTier::Process, |c| {
        c.plugin_host.max_memory_mb = Some(512)
    });
    let rss_before = plugflow_tests::rss_bytes().unwrap();
    let done = run_as(
        &host.registry,
        "acme",
        "runtime.leak",
        json!({}),
        Some(Duration::from_secs(60)),
    );
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
    let grown = plugflow_tests::rss_bytes()
        .unwrap()
        .saturating_sub(rss_before);
    assert!(grown < 64 << 20, "the host grew by {} MiB", grown >> 20);
}

#[test]
fn a_call_past_the_cpu_time_limit_is_plugin_crashed() {
    let host = host_on(ExecutionTier::Process, |c| {
        c.plugin_host.max_cpu_seconds = Some(1)
    });
    let started = Instant::now();
    let done = run_as(
        &host.registry,
        "acme",
        "runtime.spin",
        json!({}),
        Some(Duration::from_secs(60)),
    );
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
    assert!(
        message(&done).contains("SIGXCPU") || message(&done).contains("SIGKILL"),
        "{}",
        message(&done)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn the_plugin_host_restarts_after_a_crash() {
    let host = process_host();
    let first = pid(&run(&host.registry, "runtime.whoami", json!({})));
    run(&host.registry, "runtime.abort", json!({}));
    let second = pid(&run(&host.registry, "runtime.whoami", json!({})));
    assert_ne!(first, second);
    let status = host.hosts().status();
    let crash = status
        .iter()
        .find(|s| s.plugin == "fixture-runtime-crash")
        .unwrap();
    assert_eq!((crash.starts, crash.crashes), (2, 1), "{crash:?}");
}

#[test]
fn calls_in_flight_fail_when_their_host_crashes() {
    let host = Arc::new(process_host());
    let spinning = {
        let host = Arc::clone(&host);
        std::thread::spawn(move || {
            let started = Instant::now();
            let done = run_as(
                &host.registry,
                "acme",
                "runtime.spin",
                json!({}),
                Some(Duration::from_secs(60)),
            );
            (done, started.elapsed())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.pid_of("fixture-runtime-crash", None).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    run(&host.registry, "runtime.abort", json!({}));
    let (done, took) = spinning.join().unwrap();
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn other_plugins_keep_their_host_when_one_crashes() {
    let host = process_host();
    let echo = run(&host.registry, "fixture.echo", json!({}));
    assert_eq!(echo.status, NodeStatus::Success);
    let echo_pid = host.pid_of("fixture-echo", None).unwrap();
    run(&host.registry, "runtime.abort", json!({}));
    let again = run(&host.registry, "fixture.echo", json!({}));
    assert_eq!(again.status, NodeStatus::Success);
    assert_eq!(host.pid_of("fixture-echo", None), Some(echo_pid));
}

#[test]
fn a_plugin_that_keeps_crashing_is_quarantined() {
    let host = host_on(ExecutionTier::Process, |c| c.plugin_host.max_crashes = 2);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    host.hosts()
        .set_event_sink(move |e| seen.lock().unwrap().push(e.kind));
    run(&host.registry, "runtime.abort", json!({}));
    run(&host.registry, "runtime.abort", json!({}));
    let done = run(&host.registry, "runtime.whoami", json!({}));
    assert_eq!(code(&done), Some(ErrorCode::PluginQuarantined), "{done:?}");
    let status = host.hosts().status();
    let crash = status
        .iter()
        .find(|s| s.plugin == "fixture-runtime-crash")
        .unwrap();
    assert_eq!(crash.state, HostState::Quarantined);
    assert_eq!(crash.starts, 2, "no process is started while quarantined");
    assert!(events.lock().unwrap().contains(&HostEventKind::Quarantined));
}

#[test]
fn clearing_a_quarantine_runs_the_plugin_again() {
    let host = host_on(ExecutionTier::Process, |c| c.plugin_host.max_crashes = 1);
    run(&host.registry, "runtime.abort", json!({}));
    let refused = run(&host.registry, "runtime.whoami", json!({}));
    assert_eq!(code(&refused), Some(ErrorCode::PluginQuarantined));
    assert_eq!(host.hosts().clear_quarantine("fixture-runtime-crash"), 1);
    pid(&run(&host.registry, "runtime.whoami", json!({})));
}

#[test]
fn a_retry_strategy_retries_a_crash_on_a_restarted_host() {
    let host = process_host();
    let strategy = RecoveryStrategy::Retry {
        max_retries: 2,
        backoff: Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            ..Backoff::default()
        },
        any_execution_error: false,
        retry_codes: Vec::new(),
    };
    let parameters = json!({});
    let context = ExecContext {
        tenant_id: Some("acme".into()),
        ..Default::default()
    };
    let call = NodeCall::new("runtime.abort", "n", &parameters)
        .context(&context)
        .strategy(&strategy);
    let done = runtime().block_on(host.registry.execute(&call));
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
    assert_eq!(done.retries, 2, "{done:?}");
    let status = host.hosts().status();
    let crash = status
        .iter()
        .find(|s| s.plugin == "fixture-runtime-crash")
        .unwrap();
    assert_eq!(crash.starts, 3, "each attempt ran on a fresh plugin host");
}

#[test]
fn a_call_during_the_restart_backoff_waits_for_the_restart() {
    let host = host_on(ExecutionTier::Process, |c| {
        c.plugin_host.restart_backoff = Duration::from_millis(400);
    });
    run(&host.registry, "runtime.abort", json!({}));
    let started = Instant::now();
    let done = run_as(
        &host.registry,
        "acme",
        "runtime.whoami",
        json!({}),
        Some(Duration::from_secs(5)),
    );
    pid(&done);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_call_whose_timeout_ends_before_the_restart_fails_at_once() {
    let host = host_on(ExecutionTier::Process, |c| {
        c.plugin_host.restart_backoff = Duration::from_secs(30);
    });
    run(&host.registry, "runtime.abort", json!({}));
    let started = Instant::now();
    let done = run_as(
        &host.registry,
        "acme",
        "runtime.whoami",
        json!({}),
        Some(Duration::from_secs(1)),
    );
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
    assert!(message(&done).contains("restarting"), "{}", message(&done));
    assert!(started.elapsed() < Duration::from_millis(500));
}

fn forcing_policy(tenant: &str) -> TenantPolicy {
    TenantPolicy {
        plugin_isolation: Some(ExecutionTier::Process),
        ..TenantPolicy::new(tenant)
    }
}

#[test]
fn a_tenant_policy_forces_the_process_tier_for_that_tenant_only() {
    let host = host_on(ExecutionTier::InProcess, |_| {});
    host.registry.set_tenant_policy(forcing_policy("untrusted"));
    let theirs = run_as(
        &host.registry,
        "untrusted",
        "runtime.whoami",
        json!({}),
        None,
    );
    let ours = run_as(&host.registry, "trusted", "runtime.whoami", json!({}), None);
    assert_ne!(pid(&theirs), std::process::id());
    assert_eq!(pid(&ours), std::process::id());
}

#[test]
fn a_forced_tenants_crash_is_contained() {
    let host = host_on(ExecutionTier::InProcess, |_| {});
    host.registry.set_tenant_policy(forcing_policy("untrusted"));
    let done = run_as(
        &host.registry,
        "untrusted",
        "runtime.abort",
        json!({}),
        None,
    );
    assert_eq!(code(&done), Some(ErrorCode::PluginCrashed), "{done:?}");
}

#[test]
fn each_forced_tenant_has_a_plugin_host_of_its_own() {
    let host = process_host();
    host.registry.set_tenant_policy(forcing_policy("a"));
    host.registry.set_tenant_policy(forcing_policy("b"));
    let a = pid(&run_as(
        &host.registry,
        "a",
        "runtime.whoami",
        json!({}),
        None,
    ));
    let b = pid(&run_as(
        &host.registry,
        "b",
        "runtime.whoami",
        json!({}),
        None,
    ));
    let shared = pid(&run_as(
        &host.registry,
        "c",
        "runtime.whoami",
        json!({}),
        None,
    ));
    assert!(a != b && a != shared && b != shared, "{a} {b} {shared}");
    // A crash in tenant a's host leaves b's running.
    run_as(&host.registry, "a", "runtime.abort", json!({}), None);
    assert_eq!(host.pid_of("fixture-runtime-crash", Some("b")), Some(b));
}

#[test]
fn plugin_log_records_and_prints_do_not_corrupt_the_protocol() {
    let host = process_host();
    let done = run(&host.registry, "runtime.chatty", json!({}));
    assert_eq!(done.status, NodeStatus::Success, "{done:?}");
    assert_eq!(done.output, json!({"said": "hello"}));
}

fn sandboxed_host(scratch: PathBuf) -> Host {
    host_on(ExecutionTier::Process, move |c| {
        c.plugin_host.untrusted = vec!["fixture-runtime-crash".into()];
        c.plugin_host.scratch_dir = Some(scratch);
    })
}

#[test]
fn the_sandbox_forbids_running_a_program() {
    let scratch = tempfile::tempdir().unwrap();
    let host = sandboxed_host(scratch.path().to_owned());
    let done = run(&host.registry, "runtime.exec", json!({}));
    assert_eq!(done.output["ran"], false, "{done:?}");
}

#[test]
fn the_sandbox_forbids_new_network_sockets() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let scratch = tempfile::tempdir().unwrap();
    let host = sandboxed_host(scratch.path().to_owned());
    let done = run(&host.registry, "runtime.connect", json!({"port": port}));
    assert_eq!(done.output["connected"], false, "{done:?}");
}

#[test]
fn without_the_sandbox_the_same_connection_succeeds() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let host = process_host();
    let done = run(&host.registry, "runtime.connect", json!({"port": port}));
    assert_eq!(done.output["connected"], true, "{done:?}");
}

#[test]
fn the_sandbox_forbids_writes_outside_the_scratch_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let host = sandboxed_host(scratch.path().to_owned());
    let target = elsewhere.path().join("escaped.txt");
    let done = run(&host.registry, "runtime.write", json!({"path": target}));
    assert_eq!(done.output["written"], false, "{done:?}");
    assert!(!target.exists());
}

#[test]
fn the_sandbox_allows_writes_in_the_scratch_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let host = sandboxed_host(scratch.path().to_owned());
    let target = scratch.path().join("allowed.txt");
    let done = run(&host.registry, "runtime.write", json!({"path": target}));
    assert_eq!(done.output["written"], true, "{done:?}");
    assert!(target.exists());
}

#[test]
fn a_thousand_executions_with_a_crashing_plugin_all_end_and_agree() {
    let host = host_on(ExecutionTier::Process, |c| {
        c.plugin_host.max_crashes = 10_000;
        c.plugin_host.restart_backoff = Duration::from_millis(1);
        c.plugin_host.max_restart_backoff = Duration::from_millis(20);
    });
    let state = tempfile::tempdir().unwrap();
    let audit = state.path().join("audit.jsonl");
    host.registry
        .set_audit_log(Some(AuditLog::open(&audit, false).unwrap()));
    host.registry.set_tenant_policy(TenantPolicy {
        audit_logging: true,
        ..TenantPolicy::new("acme")
    });
    let registry = Arc::new(host.registry);
    let results = runtime().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..1_000u32 {
            let registry = Arc::clone(&registry);
            tasks.push(tokio::spawn(async move {
                let (node_type, parameters) = if i % 10 == 0 {
                    ("runtime.maybe", json!({"crash": true}))
                } else if i % 2 == 0 {
                    ("runtime.maybe", json!({"crash": false, "item": i}))
                } else {
                    ("fixture.echo", json!({}))
                };
                let context = ExecContext {
                    tenant_id: Some("acme".into()),
                    execution_id: format!("load-{i}"),
                    ..Default::default()
                };
                let call = NodeCall::new(node_type, "n", &parameters)
                    .context(&context)
                    .timeout(Some(Duration::from_secs(30)));
                registry.execute(&call).await
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    assert_eq!(results.len(), 1_000);
    let failed = results
        .iter()
        .filter(|r| r.status == NodeStatus::Error)
        .count();
    for r in &results {
        assert!(
            matches!(r.status, NodeStatus::Success | NodeStatus::Error),
            "{r:?}"
        );
        if r.status == NodeStatus::Error {
            assert_eq!(code(r), Some(ErrorCode::PluginCrashed), "{r:?}");
        }
    }
    assert!(failed >= 100, "every crashing call fails: {failed}");
    let echoes_ok = results
        .iter()
        .filter(|r| r.status == NodeStatus::Success && r.output["plugin"] == "fixture-echo")
        .count();
    assert_eq!(echoes_ok, 500, "the echo plugin's host never crashed");
    let metrics = registry.stats().execution;
    assert_eq!(metrics.executions, 1_000);
    assert_eq!(metrics.failures, u64::try_from(failed).unwrap());
    let lines = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(lines.lines().count(), 1_000);
    assert!(registry_core::verify_audit_log(&audit).unwrap().is_valid());
}
