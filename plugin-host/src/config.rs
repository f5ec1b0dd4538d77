//! How plugin-host processes are started, limited and supervised.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The argument that puts a host binary into plugin-host mode.
pub const HOST_ARG: &str = "__plugin-host";

/// Settings of the process tier (`[plugins.plugin-host]` in plugflow's
/// configuration file).
///
/// ```
/// let config: plugin_host::HostConfig = toml_like(r#"{"max-crashes": 5, "max-memory-mb": 512}"#);
/// assert_eq!(config.max_crashes, 5);
/// assert_eq!(config.max_memory_mb, Some(512));
/// assert_eq!(config.threads, 8);
/// # fn toml_like(json: &str) -> plugin_host::HostConfig { serde_json::from_str(json).unwrap() }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct HostConfig {
    /// The plugin-host command: a program and its leading arguments; the
    /// child's settings (JSON) are appended. Default: this executable with
    /// [`HOST_ARG`], which the host binary must dispatch to the loader's
    /// plugin-host entry (the `plugflow` binary does).
    pub command: Option<Vec<String>>,
    /// Crashes within `crash-window-ms` after which a plugin is
    /// quarantined until an operator clears it.
    pub max_crashes: u32,
    /// The window crashes are counted in.
    #[serde(rename = "crash-window-ms", with = "millis")]
    pub crash_window: Duration,
    /// Wait before the first restart after a crash; doubled after each
    /// further crash in the window.
    #[serde(rename = "restart-backoff-ms", with = "millis")]
    pub restart_backoff: Duration,
    /// The longest wait before a restart.
    #[serde(rename = "max-restart-backoff-ms", with = "millis")]
    pub max_restart_backoff: Duration,
    /// A child that has not opened its library and said so within this
    /// time is killed (a crash).
    #[serde(rename = "start-timeout-ms", with = "millis")]
    pub start_timeout: Duration,
    /// Address-space limit of each child (`RLIMIT_AS`), in MiB: a plugin
    /// that leaks without bound fails to allocate and the child dies,
    /// not the host.
    pub max_memory_mb: Option<u64>,
    /// CPU time of each child over its life (`RLIMIT_CPU`), in seconds:
    /// past it the kernel ends the child, which restarts.
    pub max_cpu_seconds: Option<u64>,
    /// Open files of each child (`RLIMIT_NOFILE`).
    pub max_open_files: Option<u64>,
    /// Calls one child runs at once.
    pub threads: usize,
    /// Plugins (by name) whose children run under the sandbox: no new
    /// network sockets, no exec, no writes outside `scratch-dir` (see
    /// [`crate::sandbox`]).
    pub untrusted: Vec<String>,
    /// The one directory sandboxed children may write in. Default: a
    /// `plugflow-scratch` directory under the system's temporary one.
    pub scratch_dir: Option<PathBuf>,
    /// The longest frame a child may send, in bytes.
    pub max_frame_bytes: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            command: None,
            max_crashes: 5,
            crash_window: Duration::from_secs(60),
            restart_backoff: Duration::from_millis(50),
            max_restart_backoff: Duration::from_secs(5),
            start_timeout: Duration::from_secs(10),
            max_memory_mb: None,
            max_cpu_seconds: None,
            max_open_files: Some(1024),
            threads: 8,
            untrusted: Vec::new(),
            scratch_dir: None,
            max_frame_bytes: 256 * 1024 * 1024,
        }
    }
}

impl HostConfig {
    /// The command that starts a child, without its settings.
    pub(crate) fn command_parts(&self) -> Result<(PathBuf, Vec<String>), String> {
        match &self.command {
            Some(parts) if !parts.is_empty() => Ok((PathBuf::from(&parts[0]), parts[1..].to_vec())),
            _ => std::env::current_exe()
                .map(|exe| (exe, vec![HOST_ARG.to_owned()]))
                .map_err(|e| format!("cannot find this executable to start a plugin host: {e}")),
        }
    }

    /// The scratch directory of sandboxed children.
    pub fn scratch(&self) -> PathBuf {
        self.scratch_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("plugflow-scratch"))
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
