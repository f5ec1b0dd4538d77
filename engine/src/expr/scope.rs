//! What expressions can see: `$json`, `$input`, `$steps`, `$node`,
//! `$context`, `$workflow`, `$vars`, `$trigger`, `$now`, `$env`, `$item`,
//! `$index`.

use std::time::Instant;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// A finished node as expressions see it (`$steps.<id>`).
#[derive(Debug, Clone, Copy)]
pub struct StepView<'a> {
    /// Its output (`null` when skipped).
    pub output: &'a Value,
    /// `success`, `error` or `skipped`.
    pub status: &'a str,
    /// Message and code of its error, if it failed.
    pub error: Option<(&'a str, &'a str)>,
}

impl StepView<'_> {
    /// One field of `{output, status, success, error: {message, code}}`.
    pub fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "output" => self.output.clone(),
            "status" => Value::String(self.status.to_owned()),
            "success" => Value::Bool(self.status == "success"),
            "error" => self.error_value(),
            _ => return None,
        })
    }

    fn error_value(&self) -> Value {
        match self.error {
            Some((message, code)) => serde_json::json!({"message": message, "code": code}),
            None => Value::Null,
        }
    }
}

impl Serialize for StepView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("output", self.output)?;
        map.serialize_entry("status", self.status)?;
        map.serialize_entry("success", &(self.status == "success"))?;
        map.serialize_entry("error", &self.error_value())?;
        map.end()
    }
}

/// Where finished nodes are looked up.
pub trait StepSource {
    /// A finished node by id.
    fn step(&self, id: &str) -> Option<StepView<'_>>;
    /// A finished node by name.
    fn step_by_name(&self, name: &str) -> Option<StepView<'_>>;
    /// Every finished node: (id, name, view).
    fn all_steps(&self) -> Vec<(&str, &str, StepView<'_>)>;
}

/// No finished nodes (for tests and single-node evaluation).
pub struct NoSteps;

impl StepSource for NoSteps {
    fn step(&self, _: &str) -> Option<StepView<'_>> {
        None
    }
    fn step_by_name(&self, _: &str) -> Option<StepView<'_>> {
        None
    }
    fn all_steps(&self) -> Vec<(&str, &str, StepView<'_>)> {
        Vec::new()
    }
}

/// Everything an expression can refer to.
pub struct Scope<'a> {
    /// `$json`: the execution's trigger data (MetaBuilder's meaning: its
    /// executor builds every node's template context with `json:
    /// context.triggerData`).
    pub json: &'a Value,
    /// `$input`: the node's input from its predecessors — the single
    /// predecessor's output, or an object keyed by predecessor id when the
    /// node has several incoming connections.
    pub input: &'a Value,
    /// `$steps` and `$node`.
    pub steps: &'a dyn StepSource,
    /// `$context`: tenantId, user, executionId (and `request` for webhooks).
    pub context: &'a Value,
    /// `$workflow`: id, name, version, variables.
    pub workflow: &'a Value,
    /// `$vars`: the execution's variables.
    pub vars: &'a Map<String, Value>,
    /// `$trigger`: the trigger data.
    pub trigger: &'a Value,
    /// `$env`: only allow-listed variables.
    pub env: &'a Map<String, Value>,
    /// `$item` in list predicates.
    pub item: Option<&'a Value>,
    /// `$index` in list predicates.
    pub index: Option<usize>,
    /// No JavaScript runs past this instant (the execution's deadline).
    pub deadline: Option<Instant>,
}

/// `$steps` serialised for the JavaScript engine.
pub(crate) struct StepsObject<'a>(pub &'a dyn StepSource);

impl Serialize for StepsObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let steps = self.0.all_steps();
        let mut map = s.serialize_map(Some(steps.len()))?;
        for (id, _, view) in steps {
            map.serialize_entry(id, &view)?;
        }
        map.end()
    }
}

/// `$node` serialised for the JavaScript engine: name → `{json: output}`.
pub(crate) struct NodesObject<'a>(pub &'a dyn StepSource);

impl Serialize for NodesObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let steps = self.0.all_steps();
        let mut map = s.serialize_map(Some(steps.len()))?;
        for (_, name, view) in steps {
            map.serialize_entry(name, &serde_json::json!({"json": view.output}))?;
        }
        map.end()
    }
}

/// The current time, ISO-8601 UTC with milliseconds (`$now`).
pub fn now_iso() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
