//! Why a candidate library was rejected: stable reason codes.

use serde::{Deserialize, Serialize};

/// The reason a candidate file was not loaded. The `SCREAMING_SNAKE_CASE`
/// names are stable and appear in reports and the CLI's JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    /// Not a regular file (a directory, a socket, a dangling link).
    NotAFile,
    /// Others may write the file or a directory above it, so they could
    /// replace its code.
    WorldWritable,
    /// The extension is not the platform's shared-library extension.
    WrongExtension,
    /// A trust list is configured and the file's SHA-256 is not on it.
    Untrusted,
    /// The file could not be read.
    ReadFailed,
    /// The file is not a shared library of a known object format.
    NotALibrary,
    /// A shared library that exports no plugflow root module.
    NotAPlugin,
    /// The dynamic linker refused the library (missing system dependency,
    /// wrong architecture, ...).
    OpenFailed,
    /// Built against an incompatible abi_stable or `plugin-abi`: the ABI
    /// header, version or type layout check failed.
    AbiIncompatible,
    /// Built for another plugflow ABI version.
    AbiVersionUnsupported,
    /// The plugin panicked while being loaded (contained).
    PluginPanicked,
    /// The plugin's `init` returned an error.
    InitFailed,
    /// The manifest is malformed or fails validation.
    InvalidManifest,
    /// The plugin could not create an executor for one of its node types.
    FactoryFailed,
    /// Opening and checking took longer than the configured maximum.
    LoadTimeout,
    /// A node type depends on a node type that is not loaded, or whose
    /// version does not match, or whose plugin was rejected.
    DependencyNotLoaded,
    /// Plugins depend on each other in a cycle.
    DependencyCycle,
    /// Every node type of the plugin is provided by another plugin that
    /// wins the conflict (higher version, or same version and earlier path).
    DuplicateNodeType,
    /// The registry refused a node type.
    RegistrationFailed,
    /// Opened in an isolated scanner process, the library killed it (a
    /// signal, an abort, an exit of its own): it is never opened in the host.
    PluginCrashed,
    /// Opened in an isolated scanner process, the library did not finish
    /// loading in time; the scanner was killed.
    PluginLoadTimeout,
    /// Built for another processor architecture than the host's.
    WrongArchitecture,
}

impl RejectReason {
    /// The stable code, such as `"NOT_A_PLUGIN"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotAFile => "NOT_A_FILE",
            RejectReason::WorldWritable => "WORLD_WRITABLE",
            RejectReason::WrongExtension => "WRONG_EXTENSION",
            RejectReason::Untrusted => "UNTRUSTED",
            RejectReason::ReadFailed => "READ_FAILED",
            RejectReason::NotALibrary => "NOT_A_LIBRARY",
            RejectReason::NotAPlugin => "NOT_A_PLUGIN",
            RejectReason::OpenFailed => "OPEN_FAILED",
            RejectReason::AbiIncompatible => "ABI_INCOMPATIBLE",
            RejectReason::AbiVersionUnsupported => "ABI_VERSION_UNSUPPORTED",
            RejectReason::PluginPanicked => "PLUGIN_PANICKED",
            RejectReason::InitFailed => "INIT_FAILED",
            RejectReason::InvalidManifest => "INVALID_MANIFEST",
            RejectReason::FactoryFailed => "FACTORY_FAILED",
            RejectReason::LoadTimeout => "LOAD_TIMEOUT",
            RejectReason::DependencyNotLoaded => "DEPENDENCY_NOT_LOADED",
            RejectReason::DependencyCycle => "DEPENDENCY_CYCLE",
            RejectReason::DuplicateNodeType => "DUPLICATE_NODE_TYPE",
            RejectReason::RegistrationFailed => "REGISTRATION_FAILED",
            RejectReason::PluginCrashed => "PLUGIN_CRASHED",
            RejectReason::PluginLoadTimeout => "PLUGIN_LOAD_TIMEOUT",
            RejectReason::WrongArchitecture => "WRONG_ARCHITECTURE",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejection: the reason code and a one-line message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The stable reason.
    pub reason: RejectReason,
    /// One line: what is wrong and what to do.
    pub message: String,
}

impl Rejection {
    /// A rejection for `reason`.
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}
