//! Parameters that hold an expression the node type evaluates itself (per
//! item, per entry), unlike templates, which the engine renders before the
//! call. Marking one in the parameter schema lets `plugflow plugins
//! inspect` tell authors its language and the names in scope.
//!
//! ```
//! use plugin_abi::sdk::expression::{expression_parameter, EXPRESSION_KEYWORD};
//!
//! let schema = expression_parameter("Kept when truthy.", &["$item", "$index"]);
//! assert_eq!(schema["type"], "string");
//! assert_eq!(schema[EXPRESSION_KEYWORD]["scope"][0], "$item");
//! ```

use serde_json::{json, Value};

/// The schema keyword marking an expression parameter; validators ignore
/// it (an `x-` annotation), `plugins inspect` reads it.
pub const EXPRESSION_KEYWORD: &str = "x-plugflow-expression";

/// The language of the expressions the SDK evaluates
/// ([`crate::sdk::NodeRequest::expression_param`] plus the host's sandbox).
pub const LANGUAGE: &str = "javascript";

/// The schema of a string parameter holding one expression, written bare
/// (`$item.age >= 18`) or as one template (`{{ $item.age >= 18 }}`),
/// evaluated by the node type with `scope` (e.g. `$item`, `$index`) in
/// scope.
pub fn expression_parameter(description: &str, scope: &[&str]) -> Value {
    json!({
        "type": "string",
        "description": description,
        EXPRESSION_KEYWORD: {
            "language": LANGUAGE,
            "written": "bare, or as one {{ }} template",
            "scope": scope,
        }
    })
}
