//! The built-in plugins linked into the binary: the same crates that are
//! also built as plugin libraries.

use plugin_abi::PluginModuleRef;

/// Root modules of every built-in plugin.
pub fn modules() -> Vec<PluginModuleRef> {
    vec![
        plugflow_convert::plugflow_module(),
        plugflow_core::plugflow_module(),
        plugflow_dbal::plugflow_module(),
        plugflow_dict::plugflow_module(),
        plugflow_email::plugflow_module(),
        plugflow_http::plugflow_module(),
        plugflow_list::plugflow_module(),
        plugflow_logic::plugflow_module(),
        plugflow_math::plugflow_module(),
        plugflow_string::plugflow_module(),
        plugflow_var::plugflow_module(),
    ]
}
