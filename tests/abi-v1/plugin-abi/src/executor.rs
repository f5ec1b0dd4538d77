//! The executor trait object every node type is run through.

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, RResult, RStr, RString};

use crate::ffi::{PluginError, ValidationReport};

/// An executor for one node type, created by a plugin's factory.
///
/// Both methods take JSON text and never unwind: plugins built with the SDK
/// turn a panic into an `EXECUTION_ERROR`.
///
/// * `validate` receives the node (`{"id", "name", "nodeType", "parameters"}`)
///   and answers whether it can run.
/// * `execute` receives a [`crate::request::ExecRequest`] and returns a
///   [`crate::request::ExecResponse`] as JSON text, or an error.
#[sabi_trait]
pub trait NodeExecutor: Send + Sync {
    /// Checks a node before it runs.
    fn validate(&self, node: RStr<'_>) -> RResult<ValidationReport, PluginError>;

    /// Runs the node once.
    #[sabi(last_prefix_field)]
    fn execute(&self, request: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned, type-erased executor as handed out by a plugin.
pub type NodeExecutorBox = NodeExecutor_TO<'static, RBox<()>>;
