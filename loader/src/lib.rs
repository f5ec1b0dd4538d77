//! Discovers plugflow plugin libraries, checks them, loads them and
//! registers their node types into a [`registry_core::Registry`].
//!
//! [`Loader::discover`] runs the pipeline, one step a module:
//!
//! 1. configuration ([`DiscoveryConfig`]): directories, glob patterns,
//!    limits, trust list;
//! 2. scan: expand the patterns, deterministic order, deduplicate, bounded
//!    depth and entries, symlink loops reported ([`ScanIssue`]);
//! 3. precheck: regular file, not world-writable, platform extension,
//!    trust list, and an export table naming a plugflow root module, all
//!    before any of the library's code runs;
//! 4. open: abi_stable checks the library's ABI header, version and type
//!    layout; the manifest is read and validated
//!    ([`validate_plugin_manifest`]); executors are created;
//! 5. and 6. resolve: conflicts (higher version wins) and dependencies
//!    (missing, mismatched, cyclic, transitively rejected);
//! 7. registration in dependency order, and a [`DiscoveryReport`] with a
//!    reason code ([`RejectReason`]) and timings for every file. One bad
//!    file never stops the others.
//!
//! Between steps 2 and 3 the persistent cache ([`CacheFile`]) answers for
//! files whose content it knows: they register executors that open the
//! library on first use. With [`Isolation::Process`] each new file is
//! opened in a scanner child first: the host binary must call
//! [`run_scanner_child`] when started with [`SCANNER_ARG`].
//!
//! Libraries are never unloaded.
//!
//! ```
//! use loader::{DiscoveryConfig, Loader, RejectReason};
//! use registry_core::Registry;
//!
//! // A plugin directory holding one file that is not a library at all.
//! let dir = std::env::temp_dir().join(format!("plugflow-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("libjunk.so"), b"not an ELF file")?;
//!
//! let registry = Registry::new();
//! // Directories from code; `with_env` adds PLUGFLOW_PLUGIN_DIRS.
//! let config = DiscoveryConfig::with_directories([&dir]);
//! let report = Loader::new(config).discover(&registry);
//! assert_eq!(report.totals.rejected, 1);
//! assert_eq!(report.files[0].reason(), Some(RejectReason::NotALibrary));
//! // Rejected before any of its code could run; the registry is untouched.
//! assert!(registry.is_empty());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs)]

mod cache;
mod cached;
mod child_mode;
mod config;
mod digest;
mod discover;
mod hosted;
mod inspect;
mod isolate;
mod lazy;
mod load;
mod open;
mod pending;
mod precheck;
mod reason;
mod register;
mod report;
mod resolve;
mod scan;

pub use cache::{
    default_path as default_cache_path, CacheEntry, CacheFile, CachedOutcome, HostFingerprint,
};
pub use child_mode::child_mode;
pub use config::{
    ConfigError, DiscoveryConfig, Isolation, WritablePolicy, ENV_ENABLE_DISCOVERY, ENV_PLUGIN_DIRS,
    PLATFORM_EXTENSION,
};
pub use discover::Loader;
pub use hosted::child_main as run_plugin_host_child;
pub use inspect::{inspect_library, InspectedLibrary};
pub use isolate::{child_main as run_scanner_child, SCAN_ARG as SCANNER_ARG};
pub use open::validate_plugin_manifest;
pub use plugin_host::{HostConfig, PluginHosts, HOST_ARG as PLUGIN_HOST_ARG};
pub use reason::{RejectReason, Rejection};
pub use register::{register_linked_plugin, register_static_plugin};
pub use report::{DiscoveryReport, FileOutcome, FileReport, StepTimings, Totals};
pub use scan::ScanIssue;
