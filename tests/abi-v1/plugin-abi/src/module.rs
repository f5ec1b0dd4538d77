//! The root module every plugin library exports.

use abi_stable::library::RootModule;
use abi_stable::package_version_strings;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RStr, RString};
use abi_stable::StableAbi;

use crate::executor::NodeExecutorBox;
use crate::ffi::{HostServices, PluginError};

/// Every plugin library exports its [`PluginModule`] under a symbol whose
/// name starts with this prefix (followed by the plugin crate's name).
///
/// A name unique to the crate lets several plugin crates be linked
/// statically into one host binary as well as loaded from their own
/// libraries; the loader finds the symbol by reading the library's export
/// table before it runs any of the library's code.
pub const EXPORT_SYMBOL_PREFIX: &str = "plugflow_plugin_root_v1__";

/// The root module of a plugin: an abi_stable prefix type.
///
/// New fields are only ever appended after `new_executor`; an older plugin
/// then reports them as missing (`None`) instead of failing to load.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(option))]
pub struct PluginModule {
    /// The plugflow ABI version the plugin was built for ([`crate::ABI_VERSION`]).
    pub abi_version: u32,
    /// The plugin's manifest as JSON text ([`crate::manifest::PluginManifest`]).
    pub manifest: extern "C" fn() -> RResult<RString, PluginError>,
    /// Called once by the host before any executor is created.
    pub init: extern "C" fn(HostServices) -> RResult<(), PluginError>,
    /// Creates an executor for one of the manifest's node types.
    #[sabi(last_prefix_field)]
    pub new_executor: extern "C" fn(RStr<'_>) -> RResult<NodeExecutorBox, PluginError>,
}

impl RootModule for PluginModuleRef {
    abi_stable::declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "plugflow_plugin";
    const NAME: &'static str = "plugflow_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
