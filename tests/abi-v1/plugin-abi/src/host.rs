//! Host-side helpers: the log sink handed to plugins.

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

use crate::ffi::{HostServices, LogLevel, LogRecord};

/// Values no forwarded plugin log line may show (credential secrets).
static LOG_SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds `secret` to the values masked as `***` in every log line a plugin
/// loaded from a shared library forwards to the host. Strings shorter than
/// four bytes are ignored: they would mask unrelated text.
///
/// ```
/// plugin_abi::host::redact_in_plugin_logs("sk-live-42");
/// assert_eq!(plugin_abi::host::redacted("key sk-live-42 used"), "key *** used");
/// ```
pub fn redact_in_plugin_logs(secret: &str) {
    if secret.len() < 4 {
        return;
    }
    let mut secrets = LOG_SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_owned());
    }
}

/// `message` with every registered secret masked.
pub fn redacted(message: &str) -> Cow<'_, str> {
    let secrets = LOG_SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = Cow::Borrowed(message);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
    out
}

/// Re-emits a plugin's log record as a host `tracing` event with target
/// `plugflow::plugin`, tagged with the plugin's name and inner target.
pub extern "C" fn tracing_log_sink(record: LogRecord<'_>) {
    // An `extern "C"` function must not unwind; a subscriber bug must not
    // take the host down either.
    let _ = std::panic::catch_unwind(|| {
        let plugin = record.plugin.as_str();
        let target = record.target.as_str();
        let message = redacted(record.message.as_str());
        match record.level {
            LogLevel::Error => {
                tracing::error!(target: "plugflow::plugin", plugin, plugin_target = target, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "plugflow::plugin", plugin, plugin_target = target, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "plugflow::plugin", plugin, plugin_target = target, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "plugflow::plugin", plugin, plugin_target = target, "{message}")
            }
            LogLevel::Trace => {
                tracing::trace!(target: "plugflow::plugin", plugin, plugin_target = target, "{message}")
            }
        }
    });
}

/// The most verbose level the host's current subscriber wants.
pub fn current_max_level() -> LogLevel {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::OFF | LevelFilter::ERROR => LogLevel::Error,
        LevelFilter::WARN => LogLevel::Warn,
        LevelFilter::INFO => LogLevel::Info,
        LevelFilter::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

impl HostServices {
    /// Services for a plugin loaded from its own shared library: its events
    /// are forwarded into the host's `tracing` subscriber.
    pub fn for_dynamic_plugin() -> Self {
        Self {
            abi_version: crate::ABI_VERSION,
            max_log_level: current_max_level(),
            log: tracing_log_sink,
            forward_logs: true,
        }
    }

    /// Services for a plugin linked statically into the host: it already
    /// shares the host's dispatcher, so nothing is forwarded.
    pub fn for_static_plugin() -> Self {
        Self {
            forward_logs: false,
            ..Self::for_dynamic_plugin()
        }
    }
}
