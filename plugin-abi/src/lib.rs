//! The stable plugin ABI of plugflow, and the SDK plugin authors build against.
//!
//! A plugin is a shared library (`cdylib`) that exports one [`PluginModule`]
//! root module. The host (the `loader` crate) opens the library, lets
//! abi_stable check the ABI header, the abi_stable version and the full type
//! layout of the module, reads the plugin's [`manifest::PluginManifest`], and
//! creates one [`NodeExecutorBox`] per node type through the module's factory.
//!
//! Values cross the boundary in one of two encodings. [`NodeExecutor`]
//! takes JSON text ([`RStr`](abi_stable::std_types::RStr) in,
//! [`RString`](abi_stable::std_types::RString) out): language-neutral and
//! tolerant of new optional fields. Plugins built with this SDK also export
//! [`PluginModule::execute_wire`], the same call on the compact binary
//! frames of [`wire`], which a host prefers: no JSON text is written or
//! parsed on either side. Errors cross as [`PluginError`], carrying one of
//! the stable [`codes`].
//!
//! # The ABI promise
//!
//! * [`PluginModule`] is an abi_stable *prefix type*: fields are only ever
//!   appended after the last one, so a plugin built against an older
//!   `plugin-abi` keeps loading in a newer host. (abi_stable alone refuses
//!   a library whose root module has fewer fields than the host's type;
//!   [`init_root_module`] checks such a library against the layout of the
//!   first release instead, and its appended fields read as `None`.)
//! * Every other type that crosses the boundary is frozen. Changing one means
//!   bumping [`ABI_VERSION`]; a host refuses plugins built for another
//!   version with `ABI_VERSION_UNSUPPORTED`.
//! * Panics never cross the boundary: the SDK wraps every entry point in
//!   `catch_unwind` and turns a panic into an `EXECUTION_ERROR`.
//! * Libraries are never unloaded: `dlclose` of a Rust library with
//!   thread-local destructors is unsound, so a loaded plugin stays mapped for
//!   the life of the process.
//!
//! # Writing a plugin
//!
//! Implement [`sdk::Node`] for each node type, describe them in a
//! [`sdk::PluginDefinition`], and call [`export_plugin!`] once:
//!
//! ```
//! use plugin_abi::sdk::{Node, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
//! use serde_json::json;
//!
//! struct Upper;
//!
//! impl Node for Upper {
//!     fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
//!         let value = request.str_param("value")?;
//!         Ok(NodeOutput::result(json!(value.to_uppercase())))
//!     }
//! }
//!
//! fn definition() -> PluginDefinition {
//!     PluginDefinition::new("example-upper", env!("CARGO_PKG_VERSION")).node(
//!         NodeSpec::new("example.upper", "1.0.0", "string", "Upper-case `value`.")
//!             .schema(json!({"type": "object", "properties": {"value": {"type": "string"}}}))
//!             .required(["value"])
//!             .executor(|| Upper),
//!     )
//! }
//!
//! plugin_abi::export_plugin!(definition);
//! # fn main() {
//! #     let module = plugflow_module();
//! #     assert_eq!(module.abi_version(), plugin_abi::ABI_VERSION);
//! # }
//! ```
#![allow(non_local_definitions)]
#![warn(missing_docs)]

pub mod codes;
mod executor;
mod ffi;
pub mod manifest;
mod module;
pub mod request;
pub mod sdk;
pub mod suspend;
pub mod wire;

pub use executor::{NodeExecutor, NodeExecutorBox, NodeExecutor_TO};
pub use ffi::{HostServices, LogLevel, LogRecord, PluginError, ValidationReport};
pub use module::{
    init_root_module, PluginModule, PluginModuleRef, WireExecute, EXPORT_SYMBOL_PREFIX,
};

/// The version of the plugflow plugin ABI this crate defines.
///
/// Bumped whenever a type that crosses the boundary changes in a way that is
/// not an append to a prefix type. A host loads only plugins whose module
/// reports the same number.
pub const ABI_VERSION: u32 = 1;

/// Re-exports used by [`export_plugin!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
    pub use serde_json;
}
