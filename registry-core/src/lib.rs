//! Everything a host application links to run plugflow node types: the
//! registry of node types with their metadata and executors, parameter
//! validation against each node type's JSON Schema, and the call through the
//! plugin boundary.
//!
//! `registry-core` never opens a shared library: executors come from the
//! `loader` crate (plugins in shared libraries), from statically linked
//! plugin crates, or from [`plugin_abi::sdk::executor_box`] in-process.
#![warn(missing_docs)]

mod error;
mod invoke;
mod metadata;
mod registry;

pub use error::{ErrorCode, NodeFailure, RegistryError, ValidationIssue};
pub use invoke::{call_executor, check_parameters, from_plugin_error, parameter_issues, NodeCall};
pub use metadata::{is_valid_node_type, validate_manifest, CompiledSchema, NodeMetadata, NodeSource};
pub use registry::{ListFilter, RegisteredNode, Registry, Replaced};

pub use plugin_abi;
