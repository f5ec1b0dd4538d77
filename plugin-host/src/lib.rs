//! The process tier: plugin libraries whose node types run in supervised
//! plugin-host child processes instead of the host, so a plugin that
//! aborts, dereferences null, exits, leaks without bound or spins ends its
//! child only, and the node gets an error result.
//!
//! * [`PluginHosts`] supervises the children: one per library (or per
//!   library and tenant, for tenants whose policy says
//!   `pluginIsolation = "process"`), started on first use, restarted with
//!   backoff after a crash, quarantined after [`HostConfig::max_crashes`]
//!   crashes in [`HostConfig::crash_window`] until an operator clears it
//!   ([`PluginHosts::clear_quarantine`]). Its [`LibraryHandle`]s are the
//!   registry's [`registry_core::HostCall`]s.
//! * [`protocol`]: the frames over a child's stdin and stdout, carrying
//!   the same request and output frames as the in-process boundary.
//! * [`child`]: the child's side, run by a host binary started with
//!   [`HOST_ARG`] (the loader opens the library; see
//!   `loader::run_plugin_host_child`).
//! * [`Limits`] (address space, CPU time, open files) and the [`sandbox`]
//!   of untrusted plugins (Landlock and seccomp on Linux).
//!
//! Credentials cross with each call's request and are never kept by a
//! child; tenant rewriting, output checks, retries, metrics and audit stay
//! in the host's pipeline, identical on both tiers.
#![warn(missing_docs)]

pub mod child;
mod config;
mod limits;
mod process;
pub mod protocol;
pub mod sandbox;
mod status;
mod supervisor;
mod sys;

pub use config::{HostConfig, HOST_ARG};
pub use limits::Limits;
pub use status::{HostEvent, HostEventKind, HostState, HostStatus};
pub use supervisor::{LibraryHandle, LibrarySpec, PluginHosts};
pub use sys::reserve_stdout;
