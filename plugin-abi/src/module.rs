//! The root module every plugin library exports.

use abi_stable::library::{LibHeader, LibraryError, RootModule};
use abi_stable::package_version_strings;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RSlice, RStr, RString, RVec};
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
/// then reports them as missing (`None`) instead of failing to load
/// (`execute_wire` is the first such field).
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
    /// Runs one of this plugin's executors on a binary request
    /// ([`crate::wire`]) and appends the binary output to the host's
    /// buffer: the same call as [`crate::NodeExecutor::execute`] without
    /// JSON text. Appended after the first release: `None` for plugins
    /// built before it, which the host calls through `execute`.
    pub execute_wire:
        extern "C" fn(&NodeExecutorBox, RSlice<'_, u8>, &mut RVec<u8>) -> RResult<(), PluginError>,
}

/// [`PluginModule::execute_wire`]: `(executor, request frame, output buffer)`.
/// The executor must be one this plugin's `new_executor` created; any other
/// is answered with an `EXECUTION_ERROR`, never read.
pub type WireExecute =
    extern "C" fn(&NodeExecutorBox, RSlice<'_, u8>, &mut RVec<u8>) -> RResult<(), PluginError>;

/// The root module's layout as first released: the fields up to and
/// including `new_executor`. abi_stable refuses a library whose root module
/// has *fewer* fields than the host's type, so a plugin built before a field
/// was appended is checked against this layout instead.
#[allow(dead_code)]
mod first_release {
    use super::*;

    /// [`super::PluginModule`] as first released. Never changes; only its
    /// layout is used.
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
    #[sabi(missing_field(option))]
    pub struct PluginModule {
        pub abi_version: u32,
        pub manifest: extern "C" fn() -> RResult<RString, PluginError>,
        pub init: extern "C" fn(HostServices) -> RResult<(), PluginError>,
        #[sabi(last_prefix_field)]
        pub new_executor: extern "C" fn(RStr<'_>) -> RResult<NodeExecutorBox, PluginError>,
    }

    impl RootModule for PluginModuleRef {
        abi_stable::declare_root_module_statics! {PluginModuleRef}
        const BASE_NAME: &'static str = "plugflow_plugin";
        const NAME: &'static str = "plugflow_plugin";
        const VERSION_STRINGS: VersionStrings = package_version_strings!();
    }
}

/// Checks a plugin library's root module and returns it.
///
/// A root module with this host's layout (or a newer one, with more fields
/// appended) is taken as it is. One built before the last fields were
/// appended is checked against the first release's layout; its appended
/// fields then read as `None`.
///
/// # Errors
///
/// abi_stable's error when the library's version or layout fits neither,
/// or its root module could not be built; for a layout that fits neither,
/// the error against this host's layout.
pub fn init_root_module(header: &LibHeader) -> Result<PluginModuleRef, LibraryError> {
    match header.init_root_module::<PluginModuleRef>() {
        Err(full @ LibraryError::AbiInstability(_)) => {
            if header
                .init_root_module::<first_release::PluginModuleRef>()
                .is_err()
            {
                return Err(full);
            }
            // SAFETY: the library's root module has the first release's
            // layout, which is this type's prefix field for field; the
            // fields appended since are read through accessors that check
            // the library's own field count, so they read as `None`.
            unsafe { header.unchecked_layout::<PluginModuleRef>() }
                .map_err(|e| e.into_library_error::<PluginModuleRef>())
        }
        other => other,
    }
}

impl RootModule for PluginModuleRef {
    abi_stable::declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "plugflow_plugin";
    const NAME: &'static str = "plugflow_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
