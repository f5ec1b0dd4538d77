//! The `logic.*` node family: 17 boolean and comparison functions with
//! JavaScript semantics (truthiness, strict or loose equality).
//!
//! Every node returns `{ "result": <value> }`.

use std::cmp::Ordering;

use plugin_abi::sdk::value::{to_display_string, to_number, truthy};
use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Value};

type NodeResult = Result<NodeOutput, NodeError>;

fn param<'a>(request: &'a NodeRequest, name: &str) -> &'a Value {
    request.parameters.get(name).unwrap_or(&Value::Null)
}

fn ok(value: Value) -> NodeResult {
    Ok(NodeOutput::result(value))
}

/// JavaScript's loose equality, for JSON values.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => a == b,
        (Value::String(x), Value::String(y)) => x == y,
        _ => match (to_number(a), to_number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => to_display_string(a) == to_display_string(b),
        },
    }
}

/// Orders two values as JavaScript's relational operators do for numbers
/// and strings; anything else is incomparable (`None`).
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => to_number(a)?.partial_cmp(&to_number(b)?),
    }
}

fn comparison(name: &str, description: &str, test: fn(Ordering) -> bool) -> NodeSpec {
    spec(name, description, json!({"a": {}, "b": {}}), &["a", "b"]).executor(move || Compare(test))
}

struct Compare(fn(Ordering) -> bool);

impl plugin_abi::sdk::Node for Compare {
    fn execute(&self, request: &NodeRequest) -> NodeResult {
        let (a, b) = (request.required_param("a")?, request.required_param("b")?);
        ok(json!(compare(a, b).is_some_and(self.0)))
    }
}

fn spec(name: &str, description: &str, properties: Value, required: &[&str]) -> NodeSpec {
    NodeSpec::function("logic", name, description, properties, required)
}

fn values(request: &NodeRequest) -> Result<&Vec<Value>, NodeError> {
    request.array_param("values")
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    let values_schema = json!({"values": {"type": "array"}});
    PluginDefinition::new("plugflow-logic", env!("CARGO_PKG_VERSION"))
        .description("Boolean logic and comparisons with JavaScript semantics.")
        .node(spec("logic.and", "True when every value in `values` is truthy (true for none). Output: {result: boolean}.", values_schema.clone(), &["values"]).handler(|r| ok(json!(values(r)?.iter().all(truthy)))))
        .node(spec("logic.or", "True when any value in `values` is truthy. Output: {result: boolean}.", values_schema.clone(), &["values"]).handler(|r| ok(json!(values(r)?.iter().any(truthy)))))
        .node(spec("logic.coalesce", "The first value in `values` that is not null (null when none). Output: {result: any}.", values_schema, &["values"]).handler(|r| ok(values(r)?.iter().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null))))
        .node(spec("logic.not", "The negation of `value`'s truthiness. Output: {result: boolean}.", json!({"value": {}}), &[]).handler(|r| ok(json!(!truthy(param(r, "value"))))))
        .node(spec("logic.xor", "True when exactly one of `a`, `b` is truthy. Output: {result: boolean}.", json!({"a": {}, "b": {}}), &[]).handler(|r| ok(json!(truthy(param(r, "a")) != truthy(param(r, "b"))))))
        .node(
            spec("logic.equals", "`a === b` (strict, default: same JSON value) or `a == b` (loose: 1 equals \"1\"). Output: {result: boolean}.", json!({"a": {}, "b": {}, "strict": {"type": "boolean", "default": true}}), &[])
                .handler(|r| ok(json!(equal(r)))),
        )
        .node(
            spec("logic.notEquals", "The negation of logic.equals (strict by default). Output: {result: boolean}.", json!({"a": {}, "b": {}, "strict": {"type": "boolean", "default": true}}), &[])
                .handler(|r| ok(json!(!equal(r)))),
        )
        .node(comparison("logic.gt", "`a > b` for numbers (numeric strings count) or strings; false when incomparable. Output: {result: boolean}.", Ordering::is_gt))
        .node(comparison("logic.gte", "`a >= b`. Output: {result: boolean}.", Ordering::is_ge))
        .node(comparison("logic.lt", "`a < b`. Output: {result: boolean}.", Ordering::is_lt))
        .node(comparison("logic.lte", "`a <= b`. Output: {result: boolean}.", Ordering::is_le))
        .node(spec("logic.in", "Whether `array` contains `value` (strict equality). Output: {result: boolean}.", json!({"value": {}, "array": {"type": "array"}}), &["array"]).handler(|r| {
            let array = r.array_param("array")?;
            ok(json!(array.contains(param(r, "value"))))
        }))
        .node(spec("logic.between", "Whether `min` <= `value` <= `max` (inclusive). Output: {result: boolean}.", json!({"value": {}, "min": {}, "max": {}}), &["value", "min", "max"]).handler(|r| {
            let (v, min, max) = (r.required_param("value")?, r.required_param("min")?, r.required_param("max")?);
            ok(json!(compare(v, min).is_some_and(Ordering::is_ge) && compare(v, max).is_some_and(Ordering::is_le)))
        }))
        .node(spec("logic.isNull", "Whether `value` is null or absent. Output: {result: boolean}.", json!({"value": {}}), &[]).handler(|r| ok(json!(param(r, "value").is_null()))))
        .node(spec("logic.isEmpty", "Whether `value` is null, \"\", [] or {}. Output: {result: boolean}.", json!({"value": {}}), &[]).handler(|r| {
            let empty = match param(r, "value") {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
            ok(json!(empty))
        }))
        .node(spec("logic.typeOf", "The JSON type of `value`: null, boolean, number, string, array or object. Output: {result: string}.", json!({"value": {}}), &[]).handler(|r| ok(json!(type_of(param(r, "value"))))))
        .node(spec("logic.ternary", "`ifTrue` when `condition` is truthy, else `ifFalse`. Output: {result: any}.", json!({"condition": {}, "ifTrue": {}, "ifFalse": {}}), &[]).handler(|r| {
            ok(if truthy(param(r, "condition")) { param(r, "ifTrue").clone() } else { param(r, "ifFalse").clone() })
        }))
}

fn equal(request: &NodeRequest) -> bool {
    let (a, b) = (param(request, "a"), param(request, "b"));
    if request
        .param("strict")
        .and_then(Value::as_bool)
        .unwrap_or(true)
    {
        a == b
    } else {
        loose_eq(a, b)
    }
}

plugin_abi::export_plugin!(definition);
