//! Crash-isolated scanning. A shared library runs code the moment it is
//! opened; in `isolation = "process"` mode every candidate is first opened
//! and fully checked (pre-checks, abi_stable checks, manifest, executors)
//! in a scanner child process. The child reports one JSON line per file
//! ([`ScanMessage`], versioned by [`PROTOCOL`]). If the child dies (signal,
//! abort, non-zero exit) or runs out of time, the files it did not report
//! are rescanned one child each, so the culprit is found; it is quarantined
//! as `PLUGIN_CRASHED` or `PLUGIN_LOAD_TIMEOUT` and never opened in the host.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugin_abi::manifest::PluginManifest;

use registry_core::Registry;
use serde::{Deserialize, Serialize};

use crate::config::DiscoveryConfig;
use crate::reason::{RejectReason, Rejection};
use crate::{open, precheck};

/// Version of the scanner's message format.
pub const PROTOCOL: u32 = 1;

/// The argument that puts a host binary into scanner mode.
pub const SCAN_ARG: &str = "__scan-plugins";

/// One line the scanner writes per file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanMessage {
    /// [`PROTOCOL`].
    pub v: u32,
    /// The file, as given.
    pub path: PathBuf,
    /// The outcome.
    pub outcome: ScanOutcome,
}

/// What the scanner found.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum ScanOutcome {
    /// Every check passed; the manifest as read.
    Passed {
        /// The plugin's manifest.
        manifest: PluginManifest,
    },
    /// Rejected by a check (the host would have rejected it too).
    Rejected {
        /// Why.
        rejection: Rejection,
    },
}

/// Scanner mode: checks each of `paths` as the host would load it and
/// writes one JSON line per file to stdout, read back by the host. `config_json` is
/// the host's [`DiscoveryConfig`] as JSON. Returns the exit code.
pub fn child_main(config_json: &str, paths: &[PathBuf]) -> i32 {
    let Ok(config) = serde_json::from_str::<DiscoveryConfig>(config_json) else {
        return 2;
    };
    let stdout = std::io::stdout();
    for path in paths {
        let outcome = match check_in_this_process(path, &config) {
            Ok(manifest) => ScanOutcome::Passed { manifest },
            Err(rejection) => ScanOutcome::Rejected { rejection },
        };
        let message = ScanMessage {
            v: PROTOCOL,
            path: path.clone(),
            outcome,
        };
        let mut out = stdout.lock();
        let line = serde_json::to_string(&message).unwrap_or_default();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return 3;
        }
    }
    0
}

pub(crate) fn check_in_this_process(
    path: &Path,
    config: &DiscoveryConfig,
) -> Result<PluginManifest, Rejection> {
    let checked = precheck::precheck(path, config)?;
    let module = open::open_library(path, &checked.root_symbol)?;
    let scratch = Registry::new();
    let opened = open::read_manifest(
        module,
        registry_core::plugin_host::dynamic_plugin_services(),
        &scratch,
        open::Schemas::Compile,
    )?;
    open::create_executors(&opened, config.validate_on_load)?;
    Ok(opened.manifest)
}

/// The scanner command: the configured one, or this executable in
/// scanner mode.
fn scanner_command(config: &DiscoveryConfig) -> Result<Command, String> {
    let (program, args) = match &config.scanner {
        Some(parts) if !parts.is_empty() => (PathBuf::from(&parts[0]), parts[1..].to_vec()),
        _ => (
            std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?,
            vec![SCAN_ARG.to_owned()],
        ),
    };
    let mut command = Command::new(program);
    command.args(args);
    Ok(command)
}

/// What one scanner child reported, and how it ended.
struct ChildRun {
    reported: HashMap<PathBuf, ScanOutcome>,
    /// `None` when it exited cleanly; else why it did not.
    died: Option<(RejectReason, String)>,
}

fn run_child(config: &DiscoveryConfig, paths: &[PathBuf]) -> ChildRun {
    let mut reported = HashMap::new();
    let config_json = serde_json::to_string(config).unwrap_or_default();
    let mut command = match scanner_command(config) {
        Ok(c) => c,
        Err(e) => {
            return ChildRun {
                reported,
                died: Some((RejectReason::PluginCrashed, e)),
            }
        }
    };
    command
        .arg(config_json)
        .args(paths)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return ChildRun {
                reported,
                died: Some((
                    RejectReason::PluginCrashed,
                    format!("cannot start the plugin scanner: {e}"),
                )),
            }
        }
    };
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let budget = config
        .max_load_time
        .saturating_mul(u32::try_from(paths.len()).unwrap_or(u32::MAX))
        + Duration::from_secs(1);
    let deadline = Instant::now() + budget;
    let mut timed_out = false;
    while reported.len() < paths.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(line) => {
                if let Ok(message) = serde_json::from_str::<ScanMessage>(&line) {
                    if message.v == PROTOCOL {
                        reported.insert(message.path, message.outcome);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if timed_out {
        let _ = child.kill();
        let _ = child.wait();
        return ChildRun {
            reported,
            died: Some((
                RejectReason::PluginLoadTimeout,
                format!("did not finish loading within {} ms in the isolated scanner; it was killed and the library is quarantined", budget.as_millis()),
            )),
        };
    }
    let died = match child.wait() {
        Ok(status) if status.success() && reported.len() == paths.len() => None,
        Ok(status) => Some((RejectReason::PluginCrashed, describe_exit(status))),
        Err(e) => Some((
            RejectReason::PluginCrashed,
            format!("the scanner could not be waited for: {e}"),
        )),
    };
    ChildRun { reported, died }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed the isolated scanner with signal {signal} while loading; the library is quarantined and never opened in the host");
        }
    }
    match status.code() {
        Some(code) => format!("ended the isolated scanner with exit code {code} while loading; the library is quarantined and never opened in the host"),
        None => "ended the isolated scanner abnormally; the library is quarantined".to_owned(),
    }
}

/// Scans `paths` in scanner children: one child for all, then, if it died,
/// one child per unreported file to find the culprit. Every path gets an
/// outcome: the manifest, or a rejection (including `PLUGIN_CRASHED` and
/// `PLUGIN_LOAD_TIMEOUT`).
pub fn scan_isolated(
    config: &DiscoveryConfig,
    paths: &[PathBuf],
) -> HashMap<PathBuf, Result<PluginManifest, Rejection>> {
    let mut outcomes = HashMap::new();
    if paths.is_empty() {
        return outcomes;
    }
    let first = run_child(config, paths);
    let mut pending = Vec::new();
    for path in paths {
        match first.reported.get(path) {
            Some(outcome) => {
                outcomes.insert(path.clone(), into_result(outcome.clone()));
            }
            None => pending.push(path.clone()),
        }
    }
    if first.died.is_some() || !pending.is_empty() {
        if pending.len() == 1 {
            let (reason, message) = first.died.unwrap_or((
                RejectReason::PluginCrashed,
                "the scanner ended without a report".to_owned(),
            ));
            outcomes.insert(pending[0].clone(), Err(Rejection::new(reason, message)));
            return outcomes;
        }
        tracing::warn!(
            component = "loader",
            event = "scanner_died",
            pending = pending.len(),
            "the plugin scanner died; rescanning the unreported files one at a time"
        );
        for path in pending {
            let alone = run_child(config, std::slice::from_ref(&path));
            let outcome = match (alone.reported.get(&path), alone.died) {
                (Some(outcome), None) => into_result(outcome.clone()),
                (_, Some((reason, message))) => Err(Rejection::new(reason, message)),
                (None, None) => Err(Rejection::new(
                    RejectReason::PluginCrashed,
                    "the scanner ended without a report".to_owned(),
                )),
            };
            outcomes.insert(path, outcome);
        }
    }
    outcomes
}

fn into_result(outcome: ScanOutcome) -> Result<PluginManifest, Rejection> {
    match outcome {
        ScanOutcome::Passed { manifest } => Ok(manifest),
        ScanOutcome::Rejected { rejection } => Err(rejection),
    }
}
