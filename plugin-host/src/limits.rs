//! Resource limits a plugin-host child sets on itself before it opens the
//! library.

use serde::{Deserialize, Serialize};

/// Limits of one child.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Address space (`RLIMIT_AS`), bytes.
    pub memory_bytes: Option<u64>,
    /// CPU time over the child's life (`RLIMIT_CPU`), seconds.
    pub cpu_seconds: Option<u64>,
    /// Open files (`RLIMIT_NOFILE`).
    pub open_files: Option<u64>,
}

impl Limits {
    /// Applies the limits to this process, and switches core dumps off (a
    /// crashing plugin is expected on this tier; a dump would only take
    /// time and disk).
    ///
    /// # Errors
    ///
    /// When the operating system refuses one (the message names it).
    #[cfg(unix)]
    pub fn apply(&self) -> Result<(), String> {
        use rlimit::Resource;
        let set = |resource: Resource, name: &str, value: u64| {
            resource
                .set(value, value)
                .map_err(|e| format!("cannot set {name} to {value}: {e}"))
        };
        set(Resource::CORE, "RLIMIT_CORE", 0)?;
        if let Some(bytes) = self.memory_bytes {
            set(Resource::AS, "RLIMIT_AS", bytes)?;
        }
        if let Some(seconds) = self.cpu_seconds {
            set(Resource::CPU, "RLIMIT_CPU", seconds)?;
        }
        if let Some(files) = self.open_files {
            set(Resource::NOFILE, "RLIMIT_NOFILE", files)?;
        }
        Ok(())
    }

    /// Without rlimits, nothing is limited.
    #[cfg(not(unix))]
    pub fn apply(&self) -> Result<(), String> {
        Ok(())
    }
}
