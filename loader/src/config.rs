//! Discovery configuration: from code, a TOML file, or the environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use plugin_host::HostConfig;
use registry_core::ExecutionTier;
use serde::{Deserialize, Serialize};

/// Environment variable listing plugin directories (platform path-list
/// syntax: `:`-separated on Unix, `;` on Windows).
pub const ENV_PLUGIN_DIRS: &str = "PLUGFLOW_PLUGIN_DIRS";
/// Environment variable switching discovery on or off (`1`/`true`/`yes`/`on`
/// or `0`/`false`/`no`/`off`).
pub const ENV_ENABLE_DISCOVERY: &str = "PLUGFLOW_ENABLE_DISCOVERY";

/// The platform's shared-library extension without the dot.
pub const PLATFORM_EXTENSION: &str = std::env::consts::DLL_EXTENSION;

/// How plugins are discovered and which ones are acceptable.
///
/// ```
/// use loader::DiscoveryConfig;
/// let config = DiscoveryConfig::from_toml_str(r#"
///     directories = ["/opt/plugflow/plugins"]
///     patterns = ["**/*.so"]
///     max-load-time-ms = 500
/// "#).unwrap();
/// assert_eq!(config.directories.len(), 1);
/// assert!(config.validate_on_load);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Whether discovery runs at all.
    pub enabled: bool,
    /// Directories to scan.
    pub directories: Vec<PathBuf>,
    /// Glob patterns, relative to each directory. Default: every file with
    /// the platform's shared-library extension, recursively.
    pub patterns: Vec<String>,
    /// A library whose opening and checks take longer is rejected with
    /// `LOAD_TIMEOUT` (in-process loading cannot be interrupted, so the time
    /// is measured, not enforced mid-way).
    #[serde(rename = "max-load-time-ms", with = "millis")]
    pub max_load_time: Duration,
    /// Probe every executor once at load time, so a plugin whose `validate`
    /// panics is rejected before it is registered.
    pub validate_on_load: bool,
    /// The host's version, recorded in reports.
    pub host_version: String,
    /// When set, only libraries whose SHA-256 (lower-case hex) is listed are
    /// opened; anything else is rejected before any of its code runs.
    pub trusted_digests: Option<BTreeSet<String>>,
    /// Where candidates are first opened: `in-process` (default), or
    /// `process`: in a scanner child process, so a library that crashes,
    /// aborts, exits or hangs while loading is quarantined instead of
    /// taking the host down (see [`crate::run_scanner_child`]).
    pub isolation: Isolation,
    /// The scanner command for `isolation = "process"`: a program and its
    /// leading arguments; the files to scan are appended. Default: this
    /// executable with the argument `__scan-plugins`, which the host must
    /// dispatch to [`crate::isolate::child_main`] (the `plugflow` binary does).
    pub scanner: Option<Vec<String>>,
    /// The persistent plugin cache file (see [`crate::CacheFile`]); `None`: no
    /// cache, every library is opened at every start.
    pub cache_file: Option<PathBuf>,
    /// Trust a cached file whose size and modification time are unchanged
    /// without hashing it again. Off by default: the content hash decides.
    pub trust_size_mtime: bool,
    /// What to do with a library that others could replace: the file, its
    /// directory or a directory above it writable by others (a sticky
    /// directory owned by root, such as `/tmp`, does not count). `refuse`
    /// (default) rejects it with `WORLD_WRITABLE`; `warn` loads it with a
    /// warning.
    pub world_writable: WritablePolicy,
    /// Deepest directory level the scan descends to (symlinked directories
    /// are followed; loops are detected and reported).
    pub max_depth: usize,
    /// Most directory entries the scan visits in all; the rest is reported
    /// as skipped.
    pub max_entries: usize,
    /// Where plugins' node types execute: `in-process` (default) or
    /// `process`, in supervised plugin-host child processes (see the
    /// `plugin-host` crate), so a plugin that crashes or hangs at run time
    /// fails its node instead of ending the host. Plugins linked into the
    /// host binary always run in-process.
    pub execution_isolation: ExecutionTier,
    /// Per-plugin tiers (plugin name → tier) overriding
    /// `execution-isolation`.
    pub execution_isolation_overrides: BTreeMap<String, ExecutionTier>,
    /// How plugin-host processes are started, limited and supervised.
    pub plugin_host: HostConfig,
}

/// What the pre-load checks do with a library others could replace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WritablePolicy {
    /// Reject it (`WORLD_WRITABLE`).
    #[default]
    Refuse,
    /// Load it, with a warning.
    Warn,
}

/// Where plugin candidates are first opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// In the host process (fast; a crashing library takes the host down).
    #[default]
    InProcess,
    /// In a scanner child process first; only libraries that passed there
    /// are opened in the host.
    Process,
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

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            directories: Vec::new(),
            patterns: vec![default_pattern()],
            max_load_time: Duration::from_secs(5),
            validate_on_load: true,
            host_version: env!("CARGO_PKG_VERSION").to_owned(),
            trusted_digests: None,
            isolation: Isolation::InProcess,
            scanner: None,
            cache_file: None,
            trust_size_mtime: false,
            world_writable: WritablePolicy::Refuse,
            max_depth: 16,
            max_entries: 100_000,
            execution_isolation: ExecutionTier::InProcess,
            execution_isolation_overrides: BTreeMap::new(),
            plugin_host: HostConfig::default(),
        }
    }
}

/// `**/*.<platform extension>`.
pub fn default_pattern() -> String {
    format!("**/*.{PLATFORM_EXTENSION}")
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read discovery config `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("discovery config{}: {message}", path.as_ref().map(|p| format!(" `{}`", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// What is wrong and where.
        message: String,
    },
    /// An environment variable has an unusable value.
    #[error("environment variable {name}={value:?} is not valid: {expected}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

impl DiscoveryConfig {
    /// The tier `plugin`'s node types execute on: its override, else
    /// `execution-isolation`.
    pub fn tier_of(&self, plugin: &str) -> ExecutionTier {
        self.execution_isolation_overrides
            .get(plugin)
            .copied()
            .unwrap_or(self.execution_isolation)
    }

    /// Whether some plugin may execute on the process tier: then new files
    /// are first read in a scanner child, so a process-tier plugin is never
    /// opened in the host.
    pub fn may_use_process_tier(&self) -> bool {
        self.execution_isolation == ExecutionTier::Process
            || self
                .execution_isolation_overrides
                .values()
                .any(|t| *t == ExecutionTier::Process)
    }

    /// A default configuration scanning `directories`.
    pub fn with_directories<I, P>(directories: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        Self {
            directories: directories.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Parses TOML (kebab-case keys; unknown keys are an error).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: None,
            message: e.to_string(),
        })
    }

    /// Reads a TOML file. Relative directories are taken relative to the
    /// file's own directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml_str(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: Some(path.to_owned()),
                message,
            },
            other => other,
        })?;
        if let Some(base) = path.parent() {
            for dir in &mut config.directories {
                if dir.is_relative() {
                    *dir = base.join(&*dir);
                }
            }
        }
        Ok(config)
    }

    /// Applies `PLUGFLOW_PLUGIN_DIRS` (appended to the directories) and
    /// `PLUGFLOW_ENABLE_DISCOVERY` from the process environment.
    pub fn with_env(self) -> Result<Self, ConfigError> {
        self.with_env_from(|name| std::env::var_os(name))
    }

    /// Like [`Self::with_env`], reading variables through `var` (for tests
    /// and hosts with their own environment).
    pub fn with_env_from(
        mut self,
        var: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, ConfigError> {
        if let Some(dirs) = var(ENV_PLUGIN_DIRS) {
            self.directories
                .extend(std::env::split_paths(&dirs).filter(|p| !p.as_os_str().is_empty()));
        }
        if let Some(flag) = var(ENV_ENABLE_DISCOVERY) {
            let text = flag.to_string_lossy().trim().to_ascii_lowercase();
            self.enabled = match text.as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: ENV_ENABLE_DISCOVERY,
                        value: text,
                        expected: "one of 1/true/yes/on or 0/false/no/off",
                    })
                }
            };
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_file_relative_dirs_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugflow.toml");
        std::fs::write(&path, "directories = [\"plugins\", \"/abs\"]\nmax-load-time-ms = 250\ntrusted-digests = [\"ab\"]\n").unwrap();
        let config = DiscoveryConfig::from_file(&path).unwrap();
        assert_eq!(
            config.directories,
            vec![dir.path().join("plugins"), PathBuf::from("/abs")]
        );
        assert_eq!(config.max_load_time, Duration::from_millis(250));
        assert!(config.trusted_digests.unwrap().contains("ab"));
        assert_eq!(config.patterns, vec![default_pattern()]);

        std::fs::write(&path, "directoriez = []\n").unwrap();
        let err = DiscoveryConfig::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("plugflow.toml") && err.contains("directoriez"),
            "{err}"
        );
        assert!(DiscoveryConfig::from_file(&dir.path().join("missing.toml")).is_err());
    }

    #[test]
    fn environment_adds_directories_and_switches_discovery() {
        let env = |name: &str| match name {
            ENV_PLUGIN_DIRS => Some(std::env::join_paths(["/a", "/b"]).unwrap()),
            ENV_ENABLE_DISCOVERY => Some("No".into()),
            _ => None,
        };
        let config = DiscoveryConfig::with_directories(["/first"])
            .with_env_from(env)
            .unwrap();
        assert_eq!(
            config.directories,
            vec![PathBuf::from("/first"), "/a".into(), "/b".into()]
        );
        assert!(!config.enabled);
        let bad = DiscoveryConfig::default()
            .with_env_from(|n| (n == ENV_ENABLE_DISCOVERY).then(|| "maybe".into()));
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("PLUGFLOW_ENABLE_DISCOVERY"));
    }
}
