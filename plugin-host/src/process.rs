//! One running plugin-host child: starting it, sending calls, the thread
//! that reads its answers and logs, and noticing its end.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::child::ChildSettings;
use crate::protocol::{self, kind, CallError, Frame, LogLine, Ready};
use crate::sys::describe_exit;

/// What a call gets back.
pub(crate) enum Reply {
    /// The output frame.
    Output(Vec<u8>),
    /// The node type's validation report (JSON).
    Validated(Vec<u8>),
    /// The plugin's error.
    Error(CallError),
    /// The child ended before answering; why.
    Died(String),
    /// A log record of the call, before its answer.
    Log(LogLine),
}

/// A started child.
pub(crate) struct Process {
    pub pid: u32,
    child: Mutex<Child>,
    input: Mutex<ChildStdin>,
    pending: Mutex<HashMap<u64, Sender<Reply>>>,
    next_id: AtomicU64,
    /// Why it was killed on purpose, when it was.
    killed_for: OnceLock<String>,
    /// Why it ended, once it has.
    ended: OnceLock<String>,
    /// Set by whoever accounts for its end first (a crash is counted
    /// once), or when it is retired on purpose (not a crash).
    accounted: AtomicBool,
}

impl Process {
    /// Starts a child and waits for it to open its library. `on_end` runs
    /// once, on the reader thread, when the child has ended, with why.
    pub(crate) fn start(
        command: &mut Command,
        settings: &ChildSettings,
        start_timeout: Duration,
        max_frame_bytes: usize,
        on_end: impl FnOnce(&Process, String) + Send + 'static,
    ) -> Result<(Arc<Self>, Ready), String> {
        let settings_json =
            serde_json::to_string(settings).map_err(|e| format!("cannot write settings: {e}"))?;
        let mut child = command
            .arg(settings_json)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the plugin host: {e}"))?;
        let (Some(input), Some(output), Some(errors)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the plugin host's pipes could not be opened".to_owned());
        };
        let process = Arc::new(Self {
            pid: child.id(),
            child: Mutex::new(child),
            input: Mutex::new(input),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            killed_for: OnceLock::new(),
            ended: OnceLock::new(),
            accounted: AtomicBool::new(false),
        });
        forward_stderr(errors, settings.path.display().to_string());
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let reader = Arc::clone(&process);
        let spawned = std::thread::Builder::new()
            .name(format!("plugin-host-reader-{}", process.pid))
            .spawn(move || {
                let why = reader.read_answers(output, max_frame_bytes, ready_tx);
                let why = reader.reap(why);
                // The crash is counted (and audited) before any caller
                // learns of it, so nobody can finish ahead of the record.
                on_end(&reader, why.clone());
                reader.fail_pending(&why);
            });
        // A child that fails to start is counted by the caller, once.
        if let Err(e) = spawned {
            process.claim_end();
            process.kill("its reader thread could not start");
            return Err(format!("cannot start a reader thread: {e}"));
        }
        match ready_rx.recv_timeout(start_timeout) {
            Ok(Ok(ready)) => Ok((process, ready)),
            Ok(Err(why)) => {
                process.claim_end();
                process.kill(&why);
                Err(why)
            }
            Err(_) => {
                process.claim_end();
                let why = format!(
                    "did not open its library within {} ms",
                    start_timeout.as_millis()
                );
                process.kill(&why);
                Err(process.ended.get().cloned().unwrap_or(why))
            }
        }
    }

    /// Sends a call; its reply arrives on the receiver.
    pub(crate) fn send(
        &self,
        kind: u8,
        node_type: &str,
        body: &[u8],
    ) -> Result<(u64, Receiver<Reply>), String> {
        let prefix = protocol::node_type_prefix(node_type)
            .ok_or_else(|| format!("node type name of {} bytes is too long", node_type.len()))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(why) = self.ended.get() {
                return Err(why.clone());
            }
            pending.insert(id, sender);
        }
        let mut input = self.input.lock().unwrap_or_else(PoisonError::into_inner);
        let written = protocol::write_frame(
            &mut *input,
            kind,
            id,
            &[&prefix, node_type.as_bytes(), body],
        );
        drop(input);
        if let Err(e) = written {
            self.forget(id);
            return Err(self
                .ended
                .get()
                .cloned()
                .unwrap_or_else(|| format!("the plugin host stopped reading ({e})")));
        }
        Ok((id, receiver))
    }

    /// Drops a call nobody waits for any more.
    pub(crate) fn forget(&self, id: u64) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Whether it has ended.
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.get().is_some()
    }

    /// Why it ended, once it has.
    pub(crate) fn end_reason(&self) -> Option<&str> {
        self.ended.get().map(String::as_str)
    }

    /// Claims the accounting of its end: `true` the first time only.
    pub(crate) fn claim_end(&self) -> bool {
        !self.accounted.swap(true, Ordering::AcqRel)
    }

    /// Kills it (SIGKILL); `why` goes into the error of every call still
    /// in flight.
    pub(crate) fn kill(&self, why: &str) {
        let _ = self.killed_for.set(why.to_owned());
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
    }

    /// Reads frames until the child's stdout ends; returns why it ended
    /// from the reader's side.
    fn read_answers(
        &self,
        output: impl Read,
        max_frame_bytes: usize,
        ready: SyncSender<Result<Ready, String>>,
    ) -> Option<String> {
        let mut output = BufReader::new(output);
        let mut ready = Some(ready);
        loop {
            let frame = match protocol::read_frame(&mut output, max_frame_bytes) {
                Ok(Some(frame)) => frame,
                Ok(None) => return None,
                Err(e) => return Some(format!("sent a malformed frame ({e})")),
            };
            match frame.kind {
                kind::READY | kind::FAILED => {
                    let said = if frame.kind == kind::READY {
                        serde_json::from_slice::<Ready>(&frame.body)
                            .map_err(|e| format!("sent a malformed ready frame ({e})"))
                            .and_then(|r| {
                                if r.protocol == protocol::PROTOCOL {
                                    Ok(r)
                                } else {
                                    Err(format!(
                                        "speaks protocol {} (this host speaks {})",
                                        r.protocol,
                                        protocol::PROTOCOL
                                    ))
                                }
                            })
                    } else {
                        Err(serde_json::from_slice::<CallError>(&frame.body)
                            .map_or_else(|e| format!("failed to start ({e})"), |e| e.message))
                    };
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(said);
                    }
                }
                kind::LOG => self.log(frame),
                _ => self.deliver(frame),
            }
        }
    }

    /// A log record goes to the call that logged it, to be emitted where
    /// that call was made; records of no call (or of one no longer
    /// waited for) are emitted here.
    fn log(&self, frame: Frame) {
        let Ok(line) = serde_json::from_slice::<LogLine>(&frame.body) else {
            return;
        };
        let line = match self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&frame.id)
        {
            Some(caller) => match caller.send(Reply::Log(line)) {
                Ok(()) => return,
                Err(mpsc::SendError(Reply::Log(line))) => line,
                Err(_) => return,
            },
            None => line,
        };
        forward_log(&line);
    }

    fn deliver(&self, frame: Frame) {
        let reply = match frame.kind {
            kind::OUTPUT => Reply::Output(frame.body),
            kind::VALIDATED => Reply::Validated(frame.body),
            kind::ERROR => match serde_json::from_slice::<CallError>(&frame.body) {
                Ok(error) => Reply::Error(error),
                Err(e) => Reply::Died(format!("sent a malformed error ({e})")),
            },
            other => Reply::Died(format!("sent an unknown frame kind {other}")),
        };
        let sender = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&frame.id);
        if let Some(sender) = sender {
            let _ = sender.send(reply);
        }
    }

    /// Waits for the child (killing it if it closed its output but lives
    /// on) and returns why it ended; calls sent from now on fail.
    fn reap(&self, reader_says: Option<String>) -> String {
        let status = {
            let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            child.wait()
        };
        let how = match status {
            Ok(status) => describe_exit(status),
            Err(e) => format!("could not be waited for ({e})"),
        };
        let why = match (self.killed_for.get(), reader_says) {
            (Some(killed_for), _) => format!("was killed because {killed_for}"),
            (None, Some(said)) => format!("{said}; it was killed"),
            (None, None) => how,
        };
        let _pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self.ended.set(why.clone());
        why
    }

    /// Fails every call still in flight with `why`.
    fn fail_pending(&self, why: &str) {
        let pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        for (_, sender) in pending {
            let _ = sender.send(Reply::Died(why.to_owned()));
        }
    }
}

/// Re-emits a plugin's log record in the host, secrets masked as for
/// plugins loaded in-process.
pub(crate) fn forward_log(line: &LogLine) {
    let message = registry_core::plugin_host::redacted(&line.message);
    let (plugin, target) = (line.plugin.as_str(), line.target.as_str());
    match line.level.as_str() {
        "error" => {
            tracing::error!(target: "plugflow::plugin", plugin, plugin_target = target, tier = "process", "{message}")
        }
        "warn" => {
            tracing::warn!(target: "plugflow::plugin", plugin, plugin_target = target, tier = "process", "{message}")
        }
        "info" => {
            tracing::info!(target: "plugflow::plugin", plugin, plugin_target = target, tier = "process", "{message}")
        }
        "debug" => {
            tracing::debug!(target: "plugflow::plugin", plugin, plugin_target = target, tier = "process", "{message}")
        }
        _ => {
            tracing::trace!(target: "plugflow::plugin", plugin, plugin_target = target, tier = "process", "{message}")
        }
    }
}

/// The longest stderr line forwarded; the rest is cut.
const STDERR_LINE_BYTES: usize = 4096;

/// Forwards what the child writes to stderr (a plugin's own prints, a
/// panic message) as warnings, masked and cut to a sane length.
fn forward_stderr(errors: impl Read + Send + 'static, library: String) {
    let _ = std::thread::Builder::new()
        .name("plugin-host-stderr".to_owned())
        .spawn(move || {
            let started = Instant::now();
            let mut errors = BufReader::new(errors);
            let mut line = Vec::with_capacity(256);
            loop {
                line.clear();
                // At most a line's worth at a time: a child that writes
                // without newlines cannot make this buffer grow.
                match (&mut errors).take(STDERR_LINE_BYTES as u64).read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line);
                let text = registry_core::plugin_host::redacted(text.trim_end());
                if !text.is_empty() {
                    tracing::warn!(target: "plugflow::plugin", library = %library, tier = "process", uptime_ms = started.elapsed().as_millis() as u64, "stderr: {text}");
                }
            }
        });
}
