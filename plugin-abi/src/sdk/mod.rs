//! The plugin-author SDK: implement [`Node`], describe it with a
//! [`NodeSpec`], collect specs in a [`PluginDefinition`], call
//! [`crate::export_plugin!`]. Nothing `unsafe` is required.

mod adapter;
pub mod expression;
mod log;
mod macros;
pub mod output_size;
mod panic;
#[cfg(feature = "rules")]
pub mod rules;
#[doc(hidden)]
pub mod runtime;
pub mod suggest;
pub mod value;
mod wire_entry;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::codes;
use crate::ffi::PluginError;
use crate::manifest::{ExecutionClass, NodeDependency, NodeTypeManifest, PluginManifest};

pub use adapter::{executor_box, linked_node};
pub use wire_entry::{execute_via_json, execute_wire};

pub use crate::request::{ExecContext, NodeOutput, NodeRequest};

/// A node as its plugin's `validate` sees it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDescription {
    /// The node's id in its workflow.
    #[serde(default)]
    pub id: String,
    /// The node's display name.
    #[serde(default)]
    pub name: String,
    /// The node type.
    #[serde(default)]
    pub node_type: String,
    /// The node's parameters. When `plugflow validate` (or the check
    /// before a run) asks, they are the parameters as written in the
    /// workflow file, **without** the values that hold templates (an object
    /// member holding `{{ … }}` is absent, such an array item is `null`):
    /// those are only known at run time. Before each run of the node they
    /// are the resolved values, templates and all.
    #[serde(default)]
    pub parameters: Value,
}

/// The result of a plugin's own validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Problems that stop the node from running.
    pub errors: Vec<String>,
    /// Problems worth reporting that do not stop it.
    pub warnings: Vec<String>,
}

impl Validation {
    /// No problems.
    pub fn valid() -> Self {
        Self::default()
    }

    /// Adds an error.
    pub fn error(mut self, message: impl Into<String>) -> Self {
        self.errors.push(message.into());
        self
    }

    /// Adds a warning.
    pub fn warning(mut self, message: impl Into<String>) -> Self {
        self.warnings.push(message.into());
        self
    }
}

/// An error an executor returns.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeError {
    /// A stable code from [`crate::codes`].
    pub code: &'static str,
    /// One line: what went wrong, where, what to do.
    pub message: String,
    /// Whether running the node again may succeed.
    pub retryable: bool,
    /// Structured details (an HTTP response, a list of field errors, ...).
    pub details: Option<Value>,
}

impl NodeError {
    /// An error with `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// `INVALID_PARAMETERS` naming the parameter path.
    pub fn invalid_parameter(path: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            codes::INVALID_PARAMETERS,
            format!("parameter `{path}`: {message}"),
        )
    }

    /// The parameter path and the rest of a message written by
    /// [`NodeError::invalid_parameter`] (hosts read a validation error's
    /// place from it), or `None` for any other message.
    ///
    /// ```
    /// use plugin_abi::sdk::NodeError;
    /// let e = NodeError::invalid_parameter("rules/email", "unknown rule");
    /// assert_eq!(NodeError::parameter_of(&e.message), Some(("rules/email", "unknown rule")));
    /// assert_eq!(NodeError::parameter_of("boom"), None);
    /// ```
    pub fn parameter_of(message: &str) -> Option<(&str, &str)> {
        message
            .strip_prefix("parameter `")
            .and_then(|rest| rest.split_once("`: "))
            .filter(|(path, _)| !path.is_empty() && !path.contains(char::is_whitespace))
    }

    /// `EXECUTION_ERROR`.
    pub fn execution(message: impl Into<String>) -> Self {
        Self::new(codes::EXECUTION_ERROR, message)
    }

    /// Marks the error retryable.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for NodeError {}

impl From<NodeError> for PluginError {
    fn from(error: NodeError) -> Self {
        PluginError {
            code: error.code.into(),
            message: error.message.into(),
            retryable: error.retryable,
            details: error
                .details
                .map(|d| d.to_string().into())
                .unwrap_or_default(),
        }
    }
}

/// One node type's implementation.
///
/// Implementations must be `Send + Sync`: the host may call one executor
/// from several threads at once. A panic is caught by the SDK and reported
/// as `EXECUTION_ERROR`, but returning a [`NodeError`] is always better.
pub trait Node: Send + Sync + 'static {
    /// Checks a node's parameters beyond its JSON Schema (which the host
    /// checks first). The host asks twice: when a workflow is validated
    /// (`plugflow validate`, and before every run), with the parameters as
    /// written minus the templated values (see
    /// [`NodeDescription::parameters`]); and before each run of the node,
    /// with the resolved parameters (answered from a cache when they were
    /// checked before). Errors refuse the node with `INVALID_PARAMETERS`
    /// (at validation: one problem each, pointing at `/parameters`);
    /// warnings are reported and the node runs. The default accepts every
    /// node; node types written as plain functions
    /// ([`NodeSpec::handler`]) are never asked.
    fn validate(&self, node: &NodeDescription) -> Validation {
        let _ = node;
        Validation::valid()
    }

    /// Runs the node once.
    fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError>;
}

impl NodeOutput {
    /// An output of `value`, following every main connection.
    pub fn new(value: Value) -> Self {
        Self {
            output: value,
            ..Self::default()
        }
    }

    /// `{"result": value}`: the function-family output convention.
    pub fn result(value: Value) -> Self {
        let mut object = Map::with_capacity(1);
        object.insert("result".to_owned(), value);
        Self::new(Value::Object(object))
    }

    /// Follows only the connections of output `index` (0 = true, 1 = false).
    pub fn with_output_index(mut self, index: u32) -> Self {
        self.output_index = Some(index);
        self
    }
}

/// Typed access to parameters, with errors that name the parameter.
impl NodeRequest {
    /// The parameter `name`, if present and not null.
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.parameters.get(name).filter(|v| !v.is_null())
    }

    /// The parameter `name`, which must be present.
    pub fn required_param(&self, name: &str) -> Result<&Value, NodeError> {
        self.param(name)
            .ok_or_else(|| NodeError::invalid_parameter(name, "is required"))
    }

    /// The string parameter `name`.
    pub fn str_param(&self, name: &str) -> Result<&str, NodeError> {
        let value = self.required_param(name)?;
        value.as_str().ok_or_else(|| {
            NodeError::invalid_parameter(name, format!("expected a string, got {}", kind(value)))
        })
    }

    /// The numeric parameter `name`.
    pub fn f64_param(&self, name: &str) -> Result<f64, NodeError> {
        let value = self.required_param(name)?;
        value.as_f64().ok_or_else(|| {
            NodeError::invalid_parameter(name, format!("expected a number, got {}", kind(value)))
        })
    }

    /// The array parameter `name`.
    pub fn array_param(&self, name: &str) -> Result<&Vec<Value>, NodeError> {
        let value = self.required_param(name)?;
        value.as_array().ok_or_else(|| {
            NodeError::invalid_parameter(name, format!("expected an array, got {}", kind(value)))
        })
    }

    /// The expression in parameter `name`: written bare (`$item.age > 18`)
    /// or as one template (`{{ $item.age > 18 }}`), whose braces are
    /// removed. Evaluate it with the `js-sandbox` crate.
    pub fn expression_param(&self, name: &str) -> Result<String, NodeError> {
        let text = self.str_param(name)?.trim();
        let inner = text
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
            .filter(|t| !t.contains("{{"))
            .unwrap_or(text)
            .trim();
        if inner.is_empty() {
            return Err(NodeError::invalid_parameter(
                name,
                "the expression is empty",
            ));
        }
        Ok(inner.to_owned())
    }

    /// The largest output in JSON bytes the host accepts.
    pub fn output_limit(&self) -> usize {
        self.max_output_bytes
            .and_then(|b| usize::try_from(b).ok())
            .unwrap_or(DEFAULT_OUTPUT_LIMIT)
    }

    /// An error when an output of `predicted` bytes would be over the
    /// host's limit: call it before building a large value (`what` names
    /// it in the message).
    pub fn check_output_size(&self, predicted: usize, what: &str) -> Result<(), NodeError> {
        let limit = self.output_limit();
        if predicted > limit {
            return Err(NodeError::new(
                codes::EXECUTION_ERROR,
                format!(
                    "{what} would be about {predicted} bytes, over the {limit}-byte output limit; it was not built"
                ),
            ));
        }
        Ok(())
    }

    /// The execution's deadline as an instant on this machine's clock, if
    /// the host set one.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.deadline_ms?);
        let now = std::time::SystemTime::now();
        let left = deadline.duration_since(now).unwrap_or_default();
        Some(std::time::Instant::now() + left)
    }

    /// `EXECUTION_TIMEOUT` once the execution's deadline has passed: call
    /// it between items of a long loop.
    pub fn check_deadline(&self) -> Result<(), NodeError> {
        match self.deadline() {
            Some(deadline) if std::time::Instant::now() >= deadline => Err(NodeError::new(
                codes::EXECUTION_TIMEOUT,
                "the execution's deadline passed while this node was running",
            )),
            _ => Ok(()),
        }
    }
}

/// The output limit when the host does not say: the registry's default.
pub const DEFAULT_OUTPUT_LIMIT: usize = 16 * 1024 * 1024;

/// The JSON kind of a value, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A stateless node type implemented by a function.
struct FnNode(fn(&NodeRequest) -> Result<NodeOutput, NodeError>);

impl Node for FnNode {
    fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
        (self.0)(request)
    }
}

type Factory = Arc<dyn Fn() -> Box<dyn Node> + Send + Sync>;

/// One node type of a plugin: its manifest entry and its factory.
#[derive(Clone)]
pub struct NodeSpec {
    manifest: NodeTypeManifest,
    factory: Option<Factory>,
    raw: Option<fn() -> crate::NodeExecutorBox>,
}

impl NodeSpec {
    /// A node type with its identity and documentation.
    pub fn new(node_type: &str, version: &str, category: &str, description: &str) -> Self {
        let mut manifest = NodeTypeManifest::new(node_type, version);
        manifest.category = category.to_owned();
        manifest.description = description.to_owned();
        Self {
            manifest,
            factory: None,
            raw: None,
        }
    }

    /// An executor implementing the ABI trait [`crate::NodeExecutor`]
    /// itself, bypassing the SDK's adapter: no JSON parsing, no panic
    /// containment but the ABI's. For adapters of other runtimes and for
    /// test fixtures that must misbehave at the byte level; use
    /// [`NodeSpec::executor`] otherwise.
    pub fn raw_executor(mut self, factory: fn() -> crate::NodeExecutorBox) -> Self {
        self.raw = Some(factory);
        self
    }

    /// A node type of a function family (`dict.get`, `logic.and`, ...):
    /// version 1.0.0, category `family`, tags `[family, "function"]`, an
    /// object schema of `properties` with the `required` ones.
    pub fn function(
        family: &str,
        node_type: &str,
        description: &str,
        properties: Value,
        required: &[&str],
    ) -> Self {
        Self::new(node_type, "1.0.0", family, description)
            .schema(serde_json::json!({"type": "object", "properties": properties}))
            .required(required.iter().copied())
            .tags([family, "function"])
    }

    /// The JSON Schema of the node's parameters.
    pub fn schema(mut self, schema: Value) -> Self {
        self.manifest.parameter_schema = schema;
        self
    }

    /// Parameters that must be present.
    pub fn required<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.manifest.required_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Tags for search.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.manifest.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// An icon name.
    pub fn icon(mut self, icon: &str) -> Self {
        self.manifest.icon = Some(icon.to_owned());
        self
    }

    /// Marks the node type experimental.
    pub fn experimental(mut self) -> Self {
        self.manifest.experimental = true;
        self
    }

    /// Declares that this node type needs `node_type` at a version matching
    /// the semver requirement `version`.
    pub fn depends_on(mut self, node_type: &str, version: &str) -> Self {
        self.manifest.dependencies.push(NodeDependency {
            node_type: node_type.to_owned(),
            version: version.to_owned(),
        });
        self
    }

    /// Runs on the host's blocking pool (I/O, slow work).
    pub fn blocking(mut self) -> Self {
        self.manifest.execution = ExecutionClass::Blocking;
        self
    }

    /// Running it twice has the effect of running it once: a durable host
    /// may run it again after a crash interrupted it.
    pub fn idempotent(mut self) -> Self {
        self.manifest.idempotent = true;
        self
    }

    /// Reads or writes tenant data: the host scopes filters and records.
    pub fn tenant_scoped(mut self) -> Self {
        self.manifest.tenant_scoped = true;
        self
    }

    /// The factory creating the executor.
    pub fn executor<N, F>(mut self, factory: F) -> Self
    where
        N: Node,
        F: Fn() -> N + Send + Sync + 'static,
    {
        self.factory = Some(Arc::new(move || Box::new(factory()) as Box<dyn Node>));
        self
    }

    /// The executor as a plain function: for stateless node types. A
    /// function has no `validate`, so the host is told not to call it.
    pub fn handler(self, handler: fn(&NodeRequest) -> Result<NodeOutput, NodeError>) -> Self {
        let mut spec = self.executor(move || FnNode(handler));
        spec.manifest.validates = false;
        spec
    }

    /// The manifest entry.
    pub fn manifest(&self) -> &NodeTypeManifest {
        &self.manifest
    }

    pub(crate) fn create(&self) -> Option<Box<dyn Node>> {
        self.factory.as_ref().map(|factory| factory())
    }

    /// A new executor of this node type in the ABI's form: its raw one, or
    /// its [`Node`] behind the SDK's adapter. `None` without either. Hosts
    /// use it to register a node type written in-process.
    pub fn executor_box(&self) -> Option<crate::NodeExecutorBox> {
        match self.raw {
            Some(raw) => Some(raw()),
            None => self.create().map(adapter::boxed),
        }
    }
}

/// A plugin: its name, version and node types.
#[derive(Clone)]
pub struct PluginDefinition {
    name: String,
    version: String,
    description: Option<String>,
    nodes: Vec<NodeSpec>,
}

impl PluginDefinition {
    /// A plugin named `name` at `version` (semver).
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            description: None,
            nodes: Vec::new(),
        }
    }

    /// A one-line description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = Some(description.to_owned());
        self
    }

    /// Adds a node type.
    pub fn node(mut self, spec: NodeSpec) -> Self {
        self.nodes.push(spec);
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node types.
    pub fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    /// The manifest the host reads.
    pub fn manifest(&self) -> PluginManifest {
        PluginManifest {
            name: self.name.clone(),
            version: self.version.clone(),
            abi_version: crate::ABI_VERSION,
            description: self.description.clone(),
            node_types: self.nodes.iter().map(|n| n.manifest.clone()).collect(),
        }
    }

    /// Creates the executor for `node_type`.
    pub fn create(&self, node_type: &str) -> Option<Box<dyn Node>> {
        self.nodes
            .iter()
            .find(|n| n.manifest.node_type == node_type)
            .and_then(NodeSpec::create)
    }

    /// Creates the ABI executor for `node_type`: a raw one when the node
    /// type has [`NodeSpec::raw_executor`], else its [`Node`] behind the
    /// SDK's adapter.
    pub fn create_executor(&self, node_type: &str) -> Option<crate::NodeExecutorBox> {
        self.nodes
            .iter()
            .find(|n| n.manifest.node_type == node_type)?
            .executor_box()
    }
}
