//! The `var.*` node family: read and change the execution's variables
//! (`$vars`). Variables come in with the request and changes go back in the
//! response; nothing is global, so concurrent executions never share them.
//!
//! Every node returns `{ "result": <value> }`.

use plugin_abi::sdk::value::{number, to_display_string, to_number, truthy};
use plugin_abi::sdk::{kind, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Map, Value};

type NodeResult = Result<NodeOutput, NodeError>;

fn name(request: &NodeRequest) -> Result<&str, NodeError> {
    let name = request.str_param("name")?;
    if name.is_empty() {
        return Err(NodeError::invalid_parameter("name", "must not be empty"));
    }
    Ok(name)
}

fn current<'a>(request: &'a NodeRequest, name: &str) -> &'a Value {
    request.variables.get(name).unwrap_or(&Value::Null)
}

/// Sets `name` to `value` and returns `{result: value}`.
fn set(name: &str, value: Value) -> NodeResult {
    let mut out = NodeOutput::result(value.clone());
    out.variables.set.insert(name.to_owned(), value);
    Ok(out)
}

fn spec(
    node_type: &str,
    description: &str,
    properties: Value,
    required: &[&str],
    handler: fn(&NodeRequest) -> NodeResult,
) -> NodeSpec {
    NodeSpec::function("variables", node_type, description, properties, required).handler(handler)
}

fn add(request: &NodeRequest, sign: f64) -> NodeResult {
    let name = name(request)?;
    let by = match request.param("by") {
        None => 1.0,
        Some(v) => to_number(v).ok_or_else(|| {
            NodeError::invalid_parameter("by", format!("expected a number, got {}", kind(v)))
        })?,
    };
    let base = match current(request, name) {
        Value::Null => 0.0,
        v => to_number(v).ok_or_else(|| {
            NodeError::invalid_parameter(
                "name",
                format!("variable `{name}` holds {}, not a number", kind(v)),
            )
        })?,
    };
    let value = number(base + sign * by)
        .ok_or_else(|| NodeError::invalid_parameter("by", "the result is not a finite number"))?;
    set(name, value)
}

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    let named = json!({"name": {"type": "string", "minLength": 1}});
    let named_value = json!({"name": {"type": "string", "minLength": 1}, "value": {}});
    PluginDefinition::new("plugflow-var", env!("CARGO_PKG_VERSION"))
        .description("Read and change the execution's variables.")
        .node(spec("var.get", "The value of variable `name`, or `default` when it is unset. Output: {result: any}.", json!({"name": {"type": "string"}, "default": {}}), &["name"], |r| {
            let value = r.variables.get(name(r)?).cloned().or_else(|| r.param("default").cloned()).unwrap_or(Value::Null);
            Ok(NodeOutput::result(value))
        }))
        .node(spec("var.set", "Sets variable `name` to `value`. Output: {result: value}.", named_value.clone(), &["name"], |r| {
            set(name(r)?, r.param("value").cloned().unwrap_or(Value::Null))
        }))
        .node(spec("var.append", "Appends `value` to the array in variable `name` (created when unset). Output: {result: array}.", named_value.clone(), &["name"], |r| {
            let name = name(r)?;
            let mut items = match current(r, name) {
                Value::Null => Vec::new(),
                Value::Array(items) => items.clone(),
                other => return Err(NodeError::invalid_parameter("name", format!("variable `{name}` holds {}, not an array", kind(other)))),
            };
            items.push(r.param("value").cloned().unwrap_or(Value::Null));
            set(name, Value::Array(items))
        }))
        .node(spec("var.merge", "Merges the object `value` into the object in variable `name` (created when unset). Output: {result: object}.", json!({"name": {"type": "string", "minLength": 1}, "value": {"type": "object"}}), &["name", "value"], |r| {
            let name = name(r)?;
            let mut object = match current(r, name) {
                Value::Null => Map::new(),
                Value::Object(o) => o.clone(),
                other => return Err(NodeError::invalid_parameter("name", format!("variable `{name}` holds {}, not an object", kind(other)))),
            };
            let patch = r.required_param("value")?.as_object().ok_or_else(|| NodeError::invalid_parameter("value", "expected an object"))?;
            object.extend(patch.clone());
            set(name, Value::Object(object))
        }))
        .node(spec("var.setMultiple", "Sets every variable in the object `variables`. Output: {result: variables}.", json!({"variables": {"type": "object"}}), &["variables"], |r| {
            let all = r.required_param("variables")?.as_object().ok_or_else(|| NodeError::invalid_parameter("variables", "expected an object"))?;
            let mut out = NodeOutput::result(Value::Object(all.clone()));
            out.variables.set.extend(all.clone());
            Ok(out)
        }))
        .node(spec("var.delete", "Removes variable `name`. Output: {result: whether it existed}.", named.clone(), &["name"], |r| {
            let name = name(r)?;
            let mut out = NodeOutput::result(json!(r.variables.contains_key(name)));
            out.variables.delete.push(name.to_owned());
            Ok(out)
        }))
        .node(spec("var.exists", "Whether variable `name` is set. Output: {result: boolean}.", named.clone(), &["name"], |r| {
            Ok(NodeOutput::result(json!(r.variables.contains_key(name(r)?))))
        }))
        .node(spec("var.toggle", "Sets variable `name` to the negation of its truthiness. Output: {result: boolean}.", named.clone(), &["name"], |r| {
            let name = name(r)?;
            set(name, json!(!truthy(current(r, name))))
        }))
        .node(spec("var.increment", "Adds `by` (default 1) to the number in variable `name` (0 when unset). Output: {result: number}.", json!({"name": {"type": "string", "minLength": 1}, "by": {"type": ["number", "string"]}}), &["name"], |r| add(r, 1.0)))
        .node(spec("var.decrement", "Subtracts `by` (default 1) from the number in variable `name` (0 when unset). Output: {result: number}.", json!({"name": {"type": "string", "minLength": 1}, "by": {"type": ["number", "string"]}}), &["name"], |r| add(r, -1.0)))
        .node(spec("var.concat", "Appends the text of `value` to the string in variable `name` (\"\" when unset). Output: {result: string}.", named_value, &["name"], |r| {
            let name = name(r)?;
            let text = to_display_string(current(r, name)) + &to_display_string(r.param("value").unwrap_or(&Value::Null));
            set(name, Value::String(text))
        }))
        .node(spec("var.list", "The names of every variable, sorted. Output: {result: string[]}.", json!({}), &[], |r| {
            Ok(NodeOutput::result(json!(r.variables.keys().collect::<Vec<_>>())))
        }))
        .node(spec("var.getAll", "Every variable as an object. Output: {result: object}.", json!({}), &[], |r| {
            Ok(NodeOutput::result(Value::Object(r.variables.clone())))
        }))
        .node(spec("var.clear", "Removes every variable. Output: {result: how many there were}.", json!({}), &[], |r| {
            let mut out = NodeOutput::result(json!(r.variables.len()));
            out.variables.clear = true;
            Ok(out)
        }))
}

plugin_abi::export_plugin!(definition);
