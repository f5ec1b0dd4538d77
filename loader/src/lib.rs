//! Discovers plugflow plugin libraries, checks them, loads them and
//! registers their node types into a [`registry_core::Registry`].
//!
//! The pipeline, one step a module:
//!
//! 1. [`config`]: directories, glob patterns, limits, trust list.
//! 2. [`scan`]: expand the patterns, deterministic order, deduplicate.
//! 3. [`precheck`]: regular file, not world-writable, platform extension,
//!    trust list, and an export table naming a plugflow root module, all
//!    before any of the library's code runs.
//! 4. [`open`]: open the library; abi_stable checks its ABI header, version
//!    and type layout; read and validate the manifest; create executors.
//! 5. and 6. [`resolve`]: conflicts (higher version wins) and dependencies
//!    (missing, mismatched, cyclic, transitively rejected).
//! 7. registration in dependency order, and a [`DiscoveryReport`] with a
//!    reason code and timings for every file. One bad file never stops the
//!    others.
//!
//! Between steps 2 and 3 the persistent [`cache`] answers for files whose
//! content it knows: they register [`lazy`] executors that open the
//! library on first use. With [`Isolation::Process`] each new file is
//! opened in a scanner child first ([`isolate`]).
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

pub mod cache;
mod cached;
pub mod config;
mod digest;
mod discover;
pub mod isolate;
pub mod lazy;
mod load;
pub mod open;
mod pending;
pub mod precheck;
mod reason;
mod register;
pub mod report;
pub mod resolve;
pub mod scan;

pub use config::{ConfigError, DiscoveryConfig, Isolation};
pub use discover::Loader;
pub use reason::{RejectReason, Rejection};
pub use register::register_static_plugin;
pub use report::{DiscoveryReport, FileOutcome, FileReport, StepTimings, Totals};
