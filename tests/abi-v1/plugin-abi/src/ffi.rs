//! Plain FFI-safe value types that cross the plugin boundary.

use abi_stable::std_types::{RStr, RString, RVec};
use abi_stable::StableAbi;

use crate::codes;

/// An error returned by a plugin across the boundary.
///
/// `code` is one of the stable strings in [`crate::codes`]; `details` is
/// JSON text (possibly empty) with structured extra data, such as an HTTP
/// response or a list of validation errors.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// A stable error code, see [`crate::codes`].
    pub code: RString,
    /// A one-line, human-readable description.
    pub message: RString,
    /// Whether running the node again may succeed.
    pub retryable: bool,
    /// JSON text with structured details, or empty.
    pub details: RString,
}

impl PluginError {
    /// An error with `code` and `message`, not retryable, no details.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: RString::from(message.into()),
            retryable: false,
            details: RString::new(),
        }
    }

    /// The `EXECUTION_ERROR` a caught panic turns into.
    pub fn panicked(what: &str, panic_message: &str) -> Self {
        Self::new(
            codes::EXECUTION_ERROR,
            format!("plugin panicked in {what}: {panic_message}"),
        )
    }
}

/// The outcome of a plugin's own validation of a node.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationReport {
    /// `true` when the node can run.
    pub valid: bool,
    /// Problems that stop the node from running.
    pub errors: RVec<RString>,
    /// Problems worth reporting that do not stop it.
    pub warnings: RVec<RString>,
}

/// Severity of a forwarded log record, most severe first.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `tracing::Level::ERROR`.
    Error = 1,
    /// `tracing::Level::WARN`.
    Warn = 2,
    /// `tracing::Level::INFO`.
    Info = 3,
    /// `tracing::Level::DEBUG`.
    Debug = 4,
    /// `tracing::Level::TRACE`.
    Trace = 5,
}

/// One log event a plugin forwards to its host.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct LogRecord<'a> {
    /// Severity.
    pub level: LogLevel,
    /// The plugin's name, from its manifest.
    pub plugin: RStr<'a>,
    /// The `tracing` target inside the plugin (usually its module path).
    pub target: RStr<'a>,
    /// The formatted message and fields.
    pub message: RStr<'a>,
}

/// What the host hands a plugin when it initialises it.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct HostServices {
    /// The ABI version the host was built for.
    pub abi_version: u32,
    /// The most verbose level the host wants forwarded.
    pub max_log_level: LogLevel,
    /// Where the plugin's `tracing` events go.
    pub log: extern "C" fn(LogRecord<'_>),
    /// `false` when the plugin is linked statically into the host, which
    /// then shares the host's `tracing` dispatcher and panic hook: the SDK
    /// must not install its own.
    pub forward_logs: bool,
}
