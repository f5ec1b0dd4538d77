//! A node type's parameter schema, compiled when it is first needed: a
//! host that registers hundreds of node types and runs a handful compiles
//! a handful of schemas.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::metadata::CompiledSchema;

/// A parameter schema and, once it was needed, its compiled validator.
#[derive(Clone, Default)]
pub(crate) struct LazySchema {
    compiled: Arc<OnceLock<Result<CompiledSchema, String>>>,
}

impl LazySchema {
    /// A schema compiled already (registration checked it).
    pub(crate) fn compiled(schema: CompiledSchema) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(schema));
        Self {
            compiled: Arc::new(cell),
        }
    }

    /// The validator of `schema` (the node type's own schema, the same
    /// value every call), compiling it on the first call.
    ///
    /// # Errors
    ///
    /// Why the schema does not compile, on every call.
    pub(crate) fn get(&self, schema: &Value) -> Result<&CompiledSchema, &str> {
        self.compiled
            .get_or_init(|| crate::schema_draft::compile(schema).map(Arc::new))
            .as_ref()
            .map_err(String::as_str)
    }

    /// Whether the schema has been compiled (or found not to compile).
    pub(crate) fn is_compiled(&self) -> bool {
        self.compiled.get().is_some()
    }
}
