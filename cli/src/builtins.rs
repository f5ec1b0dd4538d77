//! The built-in plugins linked into the binary: the same crates that are
//! also built as plugin libraries.

use plugin_abi::sdk::PluginDefinition;

/// Definitions of every built-in plugin (linked, sharing this SDK).
pub fn definitions() -> Vec<&'static PluginDefinition> {
    vec![
        plugflow_convert::plugflow_definition(),
        plugflow_core::plugflow_definition(),
        plugflow_dbal::plugflow_definition(),
        plugflow_dict::plugflow_definition(),
        plugflow_email::plugflow_definition(),
        plugflow_http::plugflow_definition(),
        plugflow_list::plugflow_definition(),
        plugflow_logic::plugflow_definition(),
        plugflow_math::plugflow_definition(),
        plugflow_string::plugflow_definition(),
        plugflow_var::plugflow_definition(),
    ]
}
