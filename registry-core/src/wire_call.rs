//! The binary call of a node type loaded from a plugin library: how the
//! registry reaches [`plugin_abi::PluginModule::execute_wire`] (or a
//! loader's stand-in for it) instead of the JSON text of
//! [`plugin_abi::NodeExecutor::execute`].

use abi_stable::std_types::{RResult, RSlice, RVec};
use plugin_abi::{NodeExecutorBox, PluginError, WireExecute};

/// Runs a node type's executor on a request frame of [`plugin_abi::wire`],
/// appending the output frame to `output`.
///
/// The loader gives one to every node type whose library exports
/// `execute_wire`; the registry then prefers it to the JSON call.
pub trait WireCall: Send + Sync {
    /// One call: `executor` is the node type's registered executor.
    fn call(
        &self,
        executor: &NodeExecutorBox,
        request: &[u8],
        output: &mut RVec<u8>,
    ) -> Result<(), PluginError>;
}

impl WireCall for WireExecute {
    fn call(
        &self,
        executor: &NodeExecutorBox,
        request: &[u8],
        output: &mut RVec<u8>,
    ) -> Result<(), PluginError> {
        match self(executor, RSlice::from_slice(request), output) {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(e) => Err(e),
        }
    }
}
