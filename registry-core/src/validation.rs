//! What the validation stage checks and caches: a node's parameters
//! against its node type's required fields and JSON Schema, and the cache
//! entries that remember the outcome per node type and parameters.

use std::hash::{Hash, Hasher};

use quick_cache::Equivalent;
use serde_json::{Map, Value};

use plugin_abi::manifest::NodeTypeManifest;

use crate::error::ValidationIssue;
use crate::metadata::CompiledSchema;

/// Parameters larger than this (bytes, roughly) are validated without being
/// cached: a cache entry keeps a copy of them.
pub(crate) const CACHED_PARAMETERS_BUDGET: usize = 64 * 1024;

/// A validation cache key: node type and a hash of the parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidationKey {
    pub(crate) node_type: String,
    pub(crate) hash: u64,
}

impl Hash for ValidationKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        ValidationKeyRef {
            node_type: &self.node_type,
            hash: self.hash,
        }
        .hash(state);
    }
}

/// The borrowed form, for lookups without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValidationKeyRef<'a> {
    pub(crate) node_type: &'a str,
    pub(crate) hash: u64,
}

impl Hash for ValidationKeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.node_type.hash(state);
        self.hash.hash(state);
    }
}

impl Equivalent<ValidationKey> for ValidationKeyRef<'_> {
    fn equivalent(&self, key: &ValidationKey) -> bool {
        self.hash == key.hash && self.node_type == key.node_type
    }
}

/// A cached validation outcome, with the parameters it is for (compared
/// on every hit, so a hash collision can never skip validation).
pub(crate) struct ValidationEntry {
    pub(crate) parameters: Value,
    pub(crate) issues: Issues,
}

/// Problems with a node's parameters: against its schema, or from the node
/// type's own `validate`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Issues {
    pub(crate) schema: Vec<ValidationIssue>,
    pub(crate) plugin: Vec<ValidationIssue>,
}

/// Whether `parameters` has every required field and passes the compiled
/// `schema`: the fast check, allocating nothing; [`parameter_issues`] says
/// what is wrong when it does not.
pub(crate) fn schema_accepts(
    manifest: &NodeTypeManifest,
    schema: &CompiledSchema,
    parameters: &Value,
) -> bool {
    let required = manifest
        .required_fields
        .iter()
        .all(|field| parameters.get(field).is_some_and(|v| !v.is_null()));
    required
        && match parameters {
            Value::Null => schema.is_valid(&Value::Object(Map::new())),
            parameters => schema.is_valid(parameters),
        }
}

/// Every problem with `parameters` against the node type's required fields
/// and compiled `schema`, each with its JSON Pointer.
pub(crate) fn parameter_issues(
    manifest: &NodeTypeManifest,
    schema: &CompiledSchema,
    parameters: &Value,
) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    for field in &manifest.required_fields {
        if parameters.get(field).is_none_or(Value::is_null) {
            issues.push(ValidationIssue {
                path: format!("/{field}"),
                message: "is required".to_owned(),
            });
        }
    }
    let empty = Value::Object(Map::new());
    let instance = if parameters.is_null() {
        &empty
    } else {
        parameters
    };
    issues.extend(schema.iter_errors(instance).map(|e| ValidationIssue {
        path: e.instance_path().as_str().to_owned(),
        message: match e.kind() {
            jsonschema::error::ValidationErrorKind::Enum { options } => {
                enum_message(e.instance(), options)
            }
            _ => e.to_string(),
        },
    }));
    issues
}

/// An enum violation naming every allowed value when there are few (the
/// validator's own message says "or 2 other candidates"), and the one
/// probably meant.
fn enum_message(given: &Value, options: &Value) -> String {
    let allowed: Vec<String> = options
        .as_array()
        .map(|o| o.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    let hint = given
        .as_str()
        .and_then(|g| {
            let strings = options.as_array()?.iter().filter_map(Value::as_str);
            plugin_abi::sdk::suggest::closest(g, strings)
        })
        .map(|c| format!("; did you mean \"{c}\"?"))
        .unwrap_or_default();
    if allowed.len() <= 12 {
        format!("{given} is not one of {}{hint}", allowed.join(", "))
    } else {
        format!(
            "{given} is not one of {}, … ({} values){hint}",
            allowed[..12].join(", "),
            allowed.len()
        )
    }
}
