//! The entry points [`crate::export_plugin!`] generates call into. Each one
//! contains panics, so nothing unwinds across the boundary.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RStr, RString};

use super::panic::panic_message;
use super::PluginDefinition;
use crate::codes;
use crate::executor::NodeExecutorBox;
use crate::ffi::{HostServices, PluginError};
use crate::module::{PluginModule, PluginModuleRef};

fn contained<T>(what: &str, f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(PluginError::panicked(what, &panic_message(&*payload))),
    }
}

/// `PluginModule::manifest`.
pub fn manifest(definition: fn() -> &'static PluginDefinition) -> RResult<RString, PluginError> {
    contained("manifest", || {
        serde_json::to_string(&definition().manifest())
            .map(RString::from)
            .map_err(|e| PluginError::new(codes::EXECUTION_ERROR, e.to_string()))
    })
}

/// `PluginModule::init`.
pub fn init(
    host: HostServices,
    definition: fn() -> &'static PluginDefinition,
) -> RResult<(), PluginError> {
    contained("init", || {
        if host.abi_version != crate::ABI_VERSION {
            return Err(PluginError::new(
                codes::EXECUTION_ERROR,
                format!(
                    "host speaks plugin ABI {} but this plugin was built for ABI {}",
                    host.abi_version,
                    crate::ABI_VERSION
                ),
            ));
        }
        if host.forward_logs {
            super::log::install(definition().name(), host);
        }
        Ok(())
    })
}

/// `PluginModule::new_executor`.
pub fn new_executor(
    node_type: RStr<'_>,
    definition: fn() -> &'static PluginDefinition,
) -> RResult<NodeExecutorBox, PluginError> {
    contained("new_executor", || {
        let node_type = node_type.as_str();
        definition().create_executor(node_type).ok_or_else(|| {
            PluginError::new(
                codes::NODE_TYPE_NOT_FOUND,
                format!(
                    "plugin `{}` has no executor for node type `{node_type}`",
                    definition().name()
                ),
            )
        })
    })
}

/// Builds the root module from the generated entry points.
pub fn module(
    manifest: extern "C" fn() -> RResult<RString, PluginError>,
    init: extern "C" fn(HostServices) -> RResult<(), PluginError>,
    new_executor: extern "C" fn(RStr<'_>) -> RResult<NodeExecutorBox, PluginError>,
) -> PluginModuleRef {
    PluginModule {
        abi_version: crate::ABI_VERSION,
        manifest,
        init,
        new_executor,
        execute_wire: super::execute_wire,
    }
    .leak_into_prefix()
}
