//! The plugin-host child: the process a library runs in on the process
//! tier. It takes its stdin and stdout for the protocol (a plugin that
//! prints cannot corrupt it: fd 1 then points at stderr, fd 0 at
//! `/dev/null`), opens the library (the loader does that part), says
//! [`Ready`], then answers calls on a pool of threads until its stdin
//! closes — which is also how it ends when the host dies.

use std::fs::File;
use std::io::BufReader;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, OnceLock, PoisonError};

use abi_stable::std_types::RVec;
use plugin_abi::{codes, HostServices, LogLevel, LogRecord, PluginError};
use serde::{Deserialize, Serialize};

use crate::protocol::{self, kind, CallError, Frame, LogLine, Ready, Validated};

/// What a child is told when it starts (the last argument, as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildSettings {
    /// [`protocol::PROTOCOL`].
    pub protocol: u32,
    /// The library file.
    pub path: PathBuf,
    /// Its root-module symbol.
    pub root_symbol: String,
    /// Its content's SHA-256 when it was checked; the child refuses a file
    /// that changed since.
    pub sha256: String,
    /// Resource limits.
    pub limits: crate::Limits,
    /// The sandbox's scratch directory, when the plugin is untrusted.
    pub sandbox: Option<PathBuf>,
    /// Calls run at once.
    pub threads: usize,
    /// The most verbose log level the host wants.
    pub max_log_level: String,
    /// The longest frame the host sends.
    pub max_frame_bytes: usize,
}

/// A library opened in the child: what the protocol's calls reach.
pub trait HostedLibrary: Send + Sync {
    /// Runs `node_type` on a request frame, appending its output frame.
    fn execute(
        &self,
        node_type: &str,
        request: &[u8],
        output: &mut RVec<u8>,
    ) -> Result<(), PluginError>;

    /// The node type's own check of `node` (JSON text).
    fn validate(&self, node_type: &str, node: &str) -> Result<Validated, PluginError>;
}

/// The protocol's two ends in the child.
pub struct Channel {
    input: File,
    output: Arc<Mutex<File>>,
}

/// The protocol writer, for the log sink (an `extern "C"` function).
static WRITER: OnceLock<Arc<Mutex<File>>> = OnceLock::new();

thread_local! {
    /// The call this thread runs: its log records are tagged with it, so
    /// the host emits them where the call was made (its span, its
    /// subscriber), as for a plugin in-process.
    static CURRENT_CALL: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Channel {
    /// Takes fds 0 and 1 for the protocol and points them elsewhere.
    ///
    /// # Errors
    ///
    /// When the descriptors cannot be duplicated.
    pub fn take_stdio() -> std::io::Result<Self> {
        let input = crate::sys::reserve_stdin()?;
        let output = crate::sys::reserve_stdout()?;
        let output = Arc::new(Mutex::new(output));
        let _ = WRITER.set(Arc::clone(&output));
        Ok(Self { input, output })
    }

    /// Says the library is open.
    pub fn ready(&self, ready: &Ready) -> std::io::Result<()> {
        let body = serde_json::to_vec(ready).map_err(std::io::Error::other)?;
        self.send(kind::READY, 0, &[&body])
    }

    /// Says why the library could not be opened (the child exits next).
    pub fn failed(&self, code: &str, message: impl Into<String>) {
        let error = CallError {
            code: code.to_owned(),
            message: message.into(),
            retryable: false,
            details: String::new(),
        };
        if let Ok(body) = serde_json::to_vec(&error) {
            let _ = self.send(kind::FAILED, 0, &[&body]);
        }
    }

    fn send(&self, kind: u8, id: u64, parts: &[&[u8]]) -> std::io::Result<()> {
        send(&self.output, kind, id, parts)
    }
}

fn send(output: &Mutex<File>, kind: u8, id: u64, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
    protocol::write_frame(&mut *out, kind, id, parts)
}

/// Host services for the library: its log records become `LOG` frames.
pub fn services(max_log_level: &str) -> HostServices {
    HostServices {
        abi_version: plugin_abi::ABI_VERSION,
        max_log_level: match max_log_level {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            _ => LogLevel::Trace,
        },
        log: log_sink,
        forward_logs: true,
    }
}

extern "C" fn log_sink(record: LogRecord<'_>) {
    // An `extern "C"` function must not unwind.
    let _ = catch_unwind(|| {
        let Some(output) = WRITER.get() else { return };
        let line = LogLine {
            level: match record.level {
                LogLevel::Error => "error",
                LogLevel::Warn => "warn",
                LogLevel::Info => "info",
                LogLevel::Debug => "debug",
                LogLevel::Trace => "trace",
            }
            .to_owned(),
            plugin: record.plugin.as_str().to_owned(),
            target: record.target.as_str().to_owned(),
            message: record.message.as_str().to_owned(),
        };
        if let Ok(body) = serde_json::to_vec(&line) {
            let _ = send(output, kind::LOG, CURRENT_CALL.get(), &[&body]);
        }
    });
}

/// Answers calls until stdin closes; returns the exit code. Calls run on
/// `threads` threads, each reading its next call itself (no hand-off
/// between threads on the way in); a call that never returns holds one of
/// them until the host, past the call's timeout, kills this process.
pub fn serve(
    channel: Channel,
    library: Arc<dyn HostedLibrary>,
    threads: usize,
    max_frame_bytes: usize,
) -> i32 {
    let input = Arc::new(Mutex::new(BufReader::new(channel.input)));
    let (ended, end) = mpsc::channel::<i32>();
    for n in 0..threads.max(1) {
        let input = Arc::clone(&input);
        let library = Arc::clone(&library);
        let output = Arc::clone(&channel.output);
        let ended = ended.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("plugin-host-{n}"))
            .spawn(move || loop {
                let next = {
                    let mut input = input.lock().unwrap_or_else(PoisonError::into_inner);
                    protocol::read_frame(&mut *input, max_frame_bytes)
                };
                match next {
                    Ok(Some(frame)) => answer(&*library, &output, &frame),
                    // The host closed the pipe (it is done, or it died):
                    // end now, whatever calls are still running.
                    Ok(None) => {
                        let _ = ended.send(0);
                        return;
                    }
                    Err(_) => {
                        let _ = ended.send(6);
                        return;
                    }
                }
            });
        if spawned.is_err() {
            return 4;
        }
    }
    end.recv().unwrap_or(5)
}

fn answer(library: &dyn HostedLibrary, output: &Mutex<File>, frame: &Frame) {
    CURRENT_CALL.set(frame.id);
    answer_call(library, output, frame);
    CURRENT_CALL.set(0);
}

fn answer_call(library: &dyn HostedLibrary, output: &Mutex<File>, frame: &Frame) {
    let Some((node_type, rest)) = protocol::split_node_type(&frame.body) else {
        reply_error(
            output,
            frame.id,
            &PluginError::new(
                codes::EXECUTION_ERROR,
                "malformed request frame from the host",
            ),
        );
        return;
    };
    match frame.kind {
        kind::EXECUTE => {
            let mut out = RVec::new();
            let ran = catch_unwind(AssertUnwindSafe(|| {
                library.execute(node_type, rest, &mut out)
            }));
            match ran {
                Ok(Ok(())) => {
                    let _ = send(output, kind::OUTPUT, frame.id, &[out.as_slice()]);
                }
                Ok(Err(error)) => reply_error(output, frame.id, &error),
                Err(_) => reply_error(output, frame.id, &panicked(node_type)),
            }
        }
        kind::VALIDATE => {
            let node = String::from_utf8_lossy(rest);
            let ran = catch_unwind(AssertUnwindSafe(|| library.validate(node_type, &node)));
            match ran {
                Ok(Ok(report)) => match serde_json::to_vec(&report) {
                    Ok(body) => {
                        let _ = send(output, kind::VALIDATED, frame.id, &[&body]);
                    }
                    Err(e) => reply_error(
                        output,
                        frame.id,
                        &PluginError::new(codes::EXECUTION_ERROR, e.to_string()),
                    ),
                },
                Ok(Err(error)) => reply_error(output, frame.id, &error),
                Err(_) => reply_error(output, frame.id, &panicked(node_type)),
            }
        }
        other => reply_error(
            output,
            frame.id,
            &PluginError::new(
                codes::EXECUTION_ERROR,
                format!("unknown frame kind {other} from the host"),
            ),
        ),
    }
}

fn panicked(node_type: &str) -> PluginError {
    PluginError::new(
        codes::EXECUTION_ERROR,
        format!("executor of `{node_type}` panicked in the plugin host"),
    )
}

fn reply_error(output: &Mutex<File>, id: u64, error: &PluginError) {
    let body = CallError {
        code: error.code.to_string(),
        message: error.message.to_string(),
        retryable: error.retryable,
        details: error.details.to_string(),
    };
    if let Ok(body) = serde_json::to_vec(&body) {
        let _ = send(output, kind::ERROR, id, &[&body]);
    }
}
