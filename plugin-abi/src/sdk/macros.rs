//! The export macro.

/// Exports a plugin from a `cdylib` crate.
///
/// Takes the path of a function `fn() -> PluginDefinition`. Generates:
///
/// * the library's root module, exported under
///   [`EXPORT_SYMBOL_PREFIX`](crate::EXPORT_SYMBOL_PREFIX) + the crate name,
///   with abi_stable's ABI header and type layout so the host can check it;
/// * `pub fn plugflow_module() -> PluginModuleRef`, the same module for
///   hosts that link the crate statically, and
///   `pub fn plugflow_definition() -> &'static PluginDefinition` for hosts
///   that also share this SDK;
/// * entry points that contain every panic (it becomes an
///   `EXECUTION_ERROR`), so a bug in the plugin never ends the host.
///
/// Invoke it once, at the crate root. See the [crate docs](crate) for an
/// example.
#[macro_export]
macro_rules! export_plugin {
    ($definition:path) => {
        #[doc(hidden)]
        fn __plugflow_definition() -> &'static $crate::sdk::PluginDefinition {
            static DEFINITION: ::std::sync::OnceLock<$crate::sdk::PluginDefinition> =
                ::std::sync::OnceLock::new();
            DEFINITION.get_or_init($definition)
        }

        #[doc(hidden)]
        extern "C" fn __plugflow_manifest() -> $crate::__private::abi_stable::std_types::RResult<
            $crate::__private::abi_stable::std_types::RString,
            $crate::PluginError,
        > {
            $crate::sdk::runtime::manifest(__plugflow_definition)
        }

        #[doc(hidden)]
        extern "C" fn __plugflow_init(
            host: $crate::HostServices,
        ) -> $crate::__private::abi_stable::std_types::RResult<(), $crate::PluginError> {
            $crate::sdk::runtime::init(host, __plugflow_definition)
        }

        #[doc(hidden)]
        extern "C" fn __plugflow_new_executor(
            node_type: $crate::__private::abi_stable::std_types::RStr<'_>,
        ) -> $crate::__private::abi_stable::std_types::RResult<
            $crate::NodeExecutorBox,
            $crate::PluginError,
        > {
            $crate::sdk::runtime::new_executor(node_type, __plugflow_definition)
        }

        /// This plugin's definition, for hosts that link the crate and
        /// share this SDK: they register its node types directly, without
        /// reading the manifest as JSON.
        pub fn plugflow_definition() -> &'static $crate::sdk::PluginDefinition {
            __plugflow_definition()
        }

        /// This plugin's root module, for hosts that link the crate
        /// statically instead of loading its shared library.
        pub fn plugflow_module() -> $crate::PluginModuleRef {
            static MODULE: ::std::sync::OnceLock<$crate::PluginModuleRef> =
                ::std::sync::OnceLock::new();
            *MODULE.get_or_init(|| {
                $crate::sdk::runtime::module(
                    __plugflow_manifest,
                    __plugflow_init,
                    __plugflow_new_executor,
                )
            })
        }

        #[doc(hidden)]
        #[export_name = concat!("plugflow_plugin_root_v1__", env!("CARGO_CRATE_NAME"))]
        pub static __PLUGFLOW_PLUGIN_ROOT: $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn __plugflow_root_module(
            ) -> $crate::__private::abi_stable::library::RootModuleResult {
                $crate::__private::abi_stable::library::__call_root_module_loader(plugflow_module)
            }
            // SAFETY: the constructor returns a `PluginModuleRef` erased by
            // abi_stable's own loader shim, as `#[export_root_module]` does.
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                    $crate::PluginModuleRef,
                >(
                    __plugflow_root_module,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
