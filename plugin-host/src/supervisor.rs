//! The supervisor: one plugin-host process per library (or per library and
//! tenant), started on first use, restarted with backoff after a crash,
//! quarantined after too many, and the [`HostCall`] the registry routes
//! process-tier calls through.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use registry_core::{ErrorCode, HostCall, NodeFailure};

use crate::child::ChildSettings;
use crate::config::HostConfig;
use crate::limits::Limits;
use crate::process::{forward_log, Process, Reply};
use crate::protocol::{self, kind, CallError, Validated};
use crate::status::{HostEvent, HostEventKind, HostState, HostStatus};

/// A library the supervisor can run: what its children open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibrarySpec {
    /// The plugin's name (from its manifest).
    pub plugin: String,
    /// The library file.
    pub path: PathBuf,
    /// Its root-module symbol.
    pub root_symbol: String,
    /// Its content's SHA-256 when it was checked.
    pub sha256: String,
}

type EventSink = Arc<dyn Fn(&HostEvent) + Send + Sync>;

/// The plugin hosts of one host process: create it once, hand
/// [`PluginHosts::library`] handles to the registry, ask it for
/// [`PluginHosts::status`], clear quarantines with
/// [`PluginHosts::clear_quarantine`].
pub struct PluginHosts {
    config: HostConfig,
    libraries: Mutex<HashMap<PathBuf, LibrarySlots>>,
    sink: RwLock<Option<EventSink>>,
}

#[derive(Default)]
struct LibrarySlots {
    shared: Option<Arc<Slot>>,
    tenants: HashMap<String, Arc<Slot>>,
}

/// One host: a library, or a library for one tenant.
struct Slot {
    spec: Arc<LibrarySpec>,
    tenant: Option<String>,
    sandboxed: bool,
    state: Mutex<SlotState>,
    hosts: Weak<PluginHosts>,
}

#[derive(Default)]
struct SlotState {
    process: Option<Arc<Process>>,
    recent: VecDeque<Instant>,
    starts: u64,
    crashes: u64,
    backoff: Duration,
    not_before: Option<Instant>,
    last_crash: Option<String>,
    quarantined: Option<String>,
}

impl PluginHosts {
    /// A supervisor with `config`; no process starts until a call needs one.
    pub fn new(config: HostConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            libraries: Mutex::new(HashMap::new()),
            sink: RwLock::new(None),
        })
    }

    /// Its settings.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The handle the registry calls for `library`'s node types.
    pub fn library(self: &Arc<Self>, library: LibrarySpec) -> Arc<LibraryHandle> {
        Arc::new(LibraryHandle {
            hosts: Arc::clone(self),
            spec: Arc::new(library),
        })
    }

    /// Receives every [`HostEvent`] (for metrics and the audit log).
    pub fn set_event_sink(&self, sink: impl Fn(&HostEvent) + Send + Sync + 'static) {
        *self.sink.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(sink));
    }

    /// Every host known so far, by library then tenant.
    pub fn status(&self) -> Vec<HostStatus> {
        let mut all: Vec<HostStatus> = self.slots().iter().map(|slot| slot.status()).collect();
        all.sort_by(|a, b| (&a.library, &a.tenant).cmp(&(&b.library, &b.tenant)));
        all
    }

    /// Lifts the quarantine of `plugin`'s hosts; returns how many were
    /// quarantined. The next call starts a fresh child.
    pub fn clear_quarantine(&self, plugin: &str) -> usize {
        let mut cleared = 0;
        for slot in self.slots() {
            if slot.spec.plugin != plugin {
                continue;
            }
            let was = {
                let mut state = slot.lock();
                let was = state.quarantined.take();
                state.recent.clear();
                state.not_before = None;
                state.backoff = Duration::ZERO;
                was
            };
            if let Some(why) = was {
                cleared += 1;
                self.emit(&HostEvent {
                    kind: HostEventKind::Cleared,
                    plugin: plugin.to_owned(),
                    tenant: slot.tenant.clone(),
                    pid: None,
                    detail: format!("quarantine cleared by an operator (it was: {why})"),
                });
            }
        }
        cleared
    }

    /// Stops every child (they would also end when this process does).
    pub fn shutdown(&self) {
        for slot in self.slots() {
            let process = slot.lock().process.take();
            if let Some(process) = process {
                // Retired, not crashed.
                process.claim_end();
                process.kill("the host is shutting down");
            }
        }
    }

    fn slots(&self) -> Vec<Arc<Slot>> {
        let libraries = self
            .libraries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        libraries
            .values()
            .flat_map(|l| l.shared.iter().chain(l.tenants.values()))
            .cloned()
            .collect()
    }

    fn slot(self: &Arc<Self>, spec: &Arc<LibrarySpec>, tenant: Option<&str>) -> Arc<Slot> {
        let mut libraries = self
            .libraries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let library = match libraries.get_mut(spec.path.as_path()) {
            Some(library) => library,
            None => libraries.entry(spec.path.clone()).or_default(),
        };
        let existing = match tenant {
            None => library.shared.as_ref(),
            Some(tenant) => library.tenants.get(tenant),
        };
        if let Some(slot) = existing.filter(|s| s.spec == *spec) {
            return Arc::clone(slot);
        }
        let slot = Arc::new(Slot {
            spec: Arc::clone(spec),
            tenant: tenant.map(str::to_owned),
            sandboxed: self.config.untrusted.iter().any(|p| *p == spec.plugin),
            state: Mutex::new(SlotState::default()),
            hosts: Arc::downgrade(self),
        });
        match tenant {
            None => library.shared = Some(Arc::clone(&slot)),
            Some(tenant) => {
                library.tenants.insert(tenant.to_owned(), Arc::clone(&slot));
            }
        }
        slot
    }

    fn emit(&self, event: &HostEvent) {
        let tenant = event.tenant.as_deref().unwrap_or("");
        match event.kind {
            HostEventKind::Started => {
                tracing::debug!(component = "plugin-host", event = "started", plugin = %event.plugin, tenant, pid = event.pid, "{}", event.detail)
            }
            HostEventKind::Crashed => {
                tracing::warn!(component = "plugin-host", event = "crashed", plugin = %event.plugin, tenant, pid = event.pid, "{}", event.detail)
            }
            HostEventKind::Quarantined => {
                tracing::error!(component = "plugin-host", event = "quarantined", plugin = %event.plugin, tenant, "{}", event.detail)
            }
            HostEventKind::Cleared => {
                tracing::info!(component = "plugin-host", event = "cleared", plugin = %event.plugin, tenant, "{}", event.detail)
            }
        }
        let sink = self
            .sink
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(sink) = sink {
            sink(event);
        }
    }
}

impl Drop for PluginHosts {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for PluginHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHosts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn status(&self) -> HostStatus {
        let state = self.lock();
        let running = state.process.as_ref().filter(|p| !p.has_ended());
        HostStatus {
            plugin: self.spec.plugin.clone(),
            library: self.spec.path.clone(),
            tenant: self.tenant.clone(),
            state: if state.quarantined.is_some() {
                HostState::Quarantined
            } else if running.is_some() {
                HostState::Running
            } else if state.not_before.is_some_and(|t| t > Instant::now()) {
                HostState::Restarting
            } else {
                HostState::Idle
            },
            pid: running.map(|p| p.pid),
            starts: state.starts,
            crashes: state.crashes,
            recent_crashes: u32::try_from(state.recent.len()).unwrap_or(u32::MAX),
            last_crash: state.last_crash.clone(),
            quarantined: state.quarantined.clone(),
            sandboxed: self.sandboxed,
        }
    }

    /// A running child, starting one if needed (after the backoff, if it
    /// fits before `deadline`).
    fn process(
        self: &Arc<Self>,
        node_type: &str,
        deadline: Instant,
    ) -> Result<Arc<Process>, NodeFailure> {
        let hosts = self
            .hosts
            .upgrade()
            .ok_or_else(|| self.crashed(node_type, "the plugin hosts were shut down"))?;
        loop {
            let mut state = self.lock();
            if let Some(why) = &state.quarantined {
                return Err(self.quarantined(node_type, why));
            }
            if let Some(process) = state.process.clone() {
                if !process.has_ended() {
                    return Ok(process);
                }
                // It ended and its reader has not accounted for it yet:
                // count the crash now, so the backoff applies to this call.
                state.process = None;
                if process.claim_end() {
                    let why = process.end_reason().unwrap_or("ended").to_owned();
                    let events = self.record_crash(&mut state, &why, Some(process.pid));
                    drop(state);
                    for event in &events {
                        hosts.emit(event);
                    }
                    continue;
                }
            }
            let now = Instant::now();
            if let Some(at) = state.not_before.filter(|at| *at > now) {
                if at > deadline {
                    return Err(self.crashed(
                        node_type,
                        &format!(
                            "its plugin host is restarting after a crash ({}); the next start is in {} ms, after this call's timeout",
                            state.last_crash.as_deref().unwrap_or("unknown cause"),
                            (at - now).as_millis()
                        ),
                    ));
                }
                drop(state);
                std::thread::sleep(at - now);
                continue;
            }
            // Started under the lock: concurrent callers wait for this
            // start instead of racing their own.
            let started = self.start(&hosts);
            return match started {
                Ok((process, detail)) => {
                    state.starts += 1;
                    state.process = Some(Arc::clone(&process));
                    drop(state);
                    hosts.emit(&HostEvent {
                        kind: HostEventKind::Started,
                        plugin: self.spec.plugin.clone(),
                        tenant: self.tenant.clone(),
                        pid: Some(process.pid),
                        detail,
                    });
                    Ok(process)
                }
                Err(why) => {
                    let why = format!("its plugin host failed to start: {why}");
                    let events = self.record_crash(&mut state, &why, None);
                    drop(state);
                    for event in &events {
                        hosts.emit(event);
                    }
                    Err(self.crashed(node_type, &why))
                }
            };
        }
    }

    fn start(self: &Arc<Self>, hosts: &Arc<PluginHosts>) -> Result<(Arc<Process>, String), String> {
        let config = &hosts.config;
        let (program, args) = config.command_parts()?;
        let mut command = Command::new(program);
        command.args(args);
        let settings = ChildSettings {
            protocol: protocol::PROTOCOL,
            path: self.spec.path.clone(),
            root_symbol: self.spec.root_symbol.clone(),
            sha256: self.spec.sha256.clone(),
            limits: Limits {
                memory_bytes: config
                    .max_memory_mb
                    .map(|mb| mb.saturating_mul(1024 * 1024)),
                cpu_seconds: config.max_cpu_seconds,
                open_files: config.max_open_files,
            },
            sandbox: self.sandboxed.then(|| config.scratch()),
            threads: config.threads,
            max_log_level: max_log_level().to_owned(),
            max_frame_bytes: config.max_frame_bytes,
        };
        let slot = Arc::downgrade(self);
        let (process, ready) = Process::start(
            &mut command,
            &settings,
            config.start_timeout,
            config.max_frame_bytes,
            move |process, why| {
                if let Some(slot) = slot.upgrade() {
                    slot.ended(process, &why);
                }
            },
        )?;
        Ok((
            process,
            format!(
                "plugin host started for {} ({} node types{})",
                self.spec.path.display(),
                ready.node_types.len(),
                ready
                    .sandbox
                    .map(|s| format!("; sandbox: {s}"))
                    .unwrap_or_default()
            ),
        ))
    }

    /// The reader thread saw `process` end. A crash when it was the
    /// current child (a retired one was taken out first).
    fn ended(&self, process: &Process, why: &str) {
        let mut state = self.lock();
        if !state
            .process
            .as_ref()
            .is_some_and(|p| std::ptr::eq(Arc::as_ptr(p), process))
        {
            return;
        }
        state.process = None;
        let events = self.record_crash(&mut state, why, Some(process.pid));
        drop(state);
        if let Some(hosts) = self.hosts.upgrade() {
            for event in &events {
                hosts.emit(event);
            }
        }
    }

    fn record_crash(&self, state: &mut SlotState, why: &str, pid: Option<u32>) -> Vec<HostEvent> {
        let Some(hosts) = self.hosts.upgrade() else {
            return Vec::new();
        };
        let config = &hosts.config;
        let now = Instant::now();
        state.crashes += 1;
        state.recent.push_back(now);
        while state
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > config.crash_window)
        {
            state.recent.pop_front();
        }
        state.backoff = if state.recent.len() > 1 && !state.backoff.is_zero() {
            (state.backoff * 2).min(config.max_restart_backoff)
        } else {
            config.restart_backoff
        };
        state.not_before = Some(now + state.backoff);
        state.last_crash = Some(why.to_owned());
        let mut events = vec![HostEvent {
            kind: HostEventKind::Crashed,
            plugin: self.spec.plugin.clone(),
            tenant: self.tenant.clone(),
            pid,
            detail: format!(
                "plugin host {why}; crash {} of {} allowed within {} s, restart in {} ms",
                state.recent.len(),
                config.max_crashes,
                config.crash_window.as_secs(),
                state.backoff.as_millis()
            ),
        }];
        if state.quarantined.is_none()
            && u32::try_from(state.recent.len()).unwrap_or(u32::MAX) >= config.max_crashes.max(1)
        {
            let reason = format!(
                "{} crashes within {} s (last: plugin host {why})",
                state.recent.len(),
                config.crash_window.as_secs()
            );
            state.quarantined = Some(reason.clone());
            events.push(HostEvent {
                kind: HostEventKind::Quarantined,
                plugin: self.spec.plugin.clone(),
                tenant: self.tenant.clone(),
                pid,
                detail: reason,
            });
        }
        events
    }

    fn crashed(&self, node_type: &str, why: &str) -> NodeFailure {
        NodeFailure::new(
            ErrorCode::PluginCrashed,
            format!(
                "`{node_type}` (plugin `{}`{}) did not complete: {why}; its plugin host is restarted on the next call",
                self.spec.plugin,
                self.tenant.as_deref().map(|t| format!(", tenant `{t}`")).unwrap_or_default()
            ),
        )
        .retryable(true)
    }

    fn quarantined(&self, node_type: &str, why: &str) -> NodeFailure {
        NodeFailure::new(
            ErrorCode::PluginQuarantined,
            format!(
                "`{node_type}` is not run: plugin `{}` is quarantined after {why}; fix or replace the plugin, then clear it (`POST /v1/admin/plugin-hosts/{}/clear` on `plugflow serve`, or restart plugflow)",
                self.spec.plugin, self.spec.plugin
            ),
        )
    }
}

/// The most verbose level the host's subscriber wants, for the child.
fn max_log_level() -> &'static str {
    match registry_core::plugin_host::current_max_level() {
        plugin_abi::LogLevel::Error => "error",
        plugin_abi::LogLevel::Warn => "warn",
        plugin_abi::LogLevel::Info => "info",
        plugin_abi::LogLevel::Debug => "debug",
        plugin_abi::LogLevel::Trace => "trace",
    }
}

/// The registry's way into one library's plugin hosts.
pub struct LibraryHandle {
    hosts: Arc<PluginHosts>,
    spec: Arc<LibrarySpec>,
}

impl LibraryHandle {
    /// The library.
    pub fn spec(&self) -> &LibrarySpec {
        &self.spec
    }

    /// The library file.
    pub fn path(&self) -> &Path {
        &self.spec.path
    }

    /// A node type's own parameter check, in the library's shared host.
    ///
    /// # Errors
    ///
    /// As [`HostCall::call`].
    pub fn validate(
        &self,
        node_type: &str,
        node: &str,
        timeout: Duration,
    ) -> Result<Validated, NodeFailure> {
        match self.round_trip(None, node_type, kind::VALIDATE, node.as_bytes(), timeout)? {
            Reply::Validated(body) => serde_json::from_slice(&body).map_err(|e| {
                NodeFailure::new(
                    ErrorCode::ExecutionError,
                    format!(
                        "the plugin host of `{node_type}` sent a malformed validation report ({e})"
                    ),
                )
            }),
            _ => Err(NodeFailure::new(
                ErrorCode::ExecutionError,
                format!(
                    "the plugin host of `{node_type}` answered a validation with something else"
                ),
            )),
        }
    }

    fn round_trip(
        &self,
        tenant: Option<&str>,
        node_type: &str,
        kind: u8,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Reply, NodeFailure> {
        let deadline = Instant::now() + timeout;
        let slot = self.hosts.slot(&self.spec, tenant);
        let process = slot.process(node_type, deadline)?;
        let (id, replies) = process
            .send(kind, node_type, body)
            .map_err(|why| slot.crashed(node_type, &format!("its plugin host {why}")))?;
        loop {
            match replies.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Reply::Log(line)) => forward_log(&line),
                Ok(Reply::Died(why)) => {
                    return Err(slot.crashed(node_type, &format!("its plugin host {why}")))
                }
                Ok(Reply::Error(error)) => return Err(from_call_error(node_type, error)),
                Ok(reply) => return Ok(reply),
                Err(_) => return Err(self.hung(&process, id, node_type, timeout)),
            }
        }
    }

    /// A call past its timeout: its child is killed (a thread that never
    /// returns cannot be stopped otherwise) and restarts on the next call.
    fn hung(&self, process: &Process, id: u64, node_type: &str, timeout: Duration) -> NodeFailure {
        process.forget(id);
        process.kill(&format!(
            "a call of `{node_type}` did not answer within {} ms",
            timeout.as_millis()
        ));
        NodeFailure::new(
            ErrorCode::ExecutionTimeout,
            format!(
                "`{node_type}` did not finish within {} ms; its plugin host (plugin `{}`) was killed and restarts on the next call; raise the node's `timeout` if it legitimately needs longer",
                timeout.as_millis(),
                self.spec.plugin
            ),
        )
        .retryable(true)
    }
}

impl HostCall for LibraryHandle {
    fn call(
        &self,
        tenant: Option<&str>,
        node_type: &str,
        request: &[u8],
        output: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<(), NodeFailure> {
        match self.round_trip(tenant, node_type, kind::EXECUTE, request, timeout)? {
            Reply::Output(frame) => {
                *output = frame;
                Ok(())
            }
            _ => Err(NodeFailure::new(
                ErrorCode::ExecutionError,
                format!("the plugin host of `{node_type}` answered a call with something else"),
            )),
        }
    }
}

/// A plugin's error as the registry reports it.
fn from_call_error(node_type: &str, error: CallError) -> NodeFailure {
    NodeFailure::from_plugin(
        node_type,
        &error.code,
        error.message,
        error.retryable,
        &error.details,
    )
}
