//! The `dict.*` node family: 16 object functions. Paths are dot-separated
//! (`address.city`). Objects are never changed in place: every node returns
//! a new value as `{ "result": <value> }`. `mapValues` and `filterEntries`
//! take an expression (bare or `{{ }}`) over `$key`, `$value`, `$input`
//! (the node's input) and `$json` (the trigger data).

use plugin_abi::sdk::expression::expression_parameter;
use plugin_abi::sdk::value::{to_display_string, truthy};
use plugin_abi::sdk::{kind, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Map, Value};

type NodeResult = Result<NodeOutput, NodeError>;

fn ok(value: Value) -> NodeResult {
    Ok(NodeOutput::result(value))
}

fn object<'a>(request: &'a NodeRequest, name: &str) -> Result<&'a Map<String, Value>, NodeError> {
    let value = request.required_param(name)?;
    value.as_object().ok_or_else(|| {
        NodeError::invalid_parameter(name, format!("expected an object, got {}", kind(value)))
    })
}

/// Deepest path a node follows or builds: deeper values could not be
/// written as JSON or freed without exhausting the stack.
pub const MAX_PATH_SEGMENTS: usize = 64;

fn path(request: &NodeRequest) -> Result<Vec<String>, NodeError> {
    let text = request.str_param("path")?;
    let segments = text.split('.').count();
    if segments > MAX_PATH_SEGMENTS {
        return Err(NodeError::invalid_parameter(
            "path",
            format!("has {segments} segments; at most {MAX_PATH_SEGMENTS} are allowed"),
        ));
    }
    let parts: Vec<String> = text.split('.').map(str::to_owned).collect();
    if parts.iter().any(String::is_empty) {
        return Err(NodeError::invalid_parameter(
            "path",
            format!("`{text}` has an empty segment"),
        ));
    }
    Ok(parts)
}

fn get<'a>(object: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(object.get(first)?, |v, k| v.get(k))
}

fn set(object: &mut Map<String, Value>, path: &[String], value: Value) -> Result<(), NodeError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut current = object;
    for (depth, key) in parents.iter().enumerate() {
        let slot = current
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        current = slot.as_object_mut().ok_or_else(|| {
            NodeError::invalid_parameter(
                "path",
                format!(
                    "`{}` holds {}, not an object",
                    parents[..=depth].join("."),
                    "a non-object value"
                ),
            )
        })?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

fn remove(object: &mut Map<String, Value>, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = object;
    for key in parents {
        match current.get_mut(key).and_then(Value::as_object_mut) {
            Some(next) => current = next,
            None => return false,
        }
    }
    current.shift_remove(last).is_some()
}

fn deep_merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => deep_merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn objects(request: &NodeRequest) -> Result<Vec<&Map<String, Value>>, NodeError> {
    request
        .array_param("objects")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_object().ok_or_else(|| {
                NodeError::invalid_parameter(
                    &format!("objects/{i}"),
                    format!("expected an object, got {}", kind(v)),
                )
            })
        })
        .collect()
}

fn keys(request: &NodeRequest) -> Result<Vec<String>, NodeError> {
    request
        .array_param("keys")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().map(str::to_owned).ok_or_else(|| {
                NodeError::invalid_parameter(&format!("keys/{i}"), "expected a string")
            })
        })
        .collect()
}

fn eval(request: &NodeRequest, expr: &str, key: &str, value: &Value) -> Result<Value, NodeError> {
    request.check_deadline()?;
    js_sandbox::eval_until(
        expr,
        "$key,$value,$input,$json",
        &mut |i| {
            let text = match i {
                0 => serde_json::to_string(key),
                1 => serde_json::to_string(value),
                2 if expr.contains("$input") => serde_json::to_string(&request.input),
                3 if expr.contains("$json") => serde_json::to_string(&request.trigger),
                _ => return Ok(None),
            };
            text.map(Some).map_err(|e| e.to_string())
        },
        request.deadline(),
    )
    .map(Option::unwrap_or_default)
    .map_err(|e| {
        let code = match e {
            js_sandbox::EvalError::Timeout { .. } => plugin_abi::codes::EXECUTION_TIMEOUT,
            _ => plugin_abi::codes::EXPRESSION_ERROR,
        };
        NodeError::new(
            code,
            format!("expression `{expr}` failed on key `{key}`: {e}"),
        )
    })
}

fn spec(
    node_type: &str,
    description: &str,
    properties: Value,
    required: &[&str],
    handler: fn(&NodeRequest) -> NodeResult,
) -> NodeSpec {
    NodeSpec::function("dict", node_type, description, properties, required).handler(handler)
}

/// The names an entry expression sees.
const ENTRY_SCOPE: [&str; 4] = ["$key", "$value", "$input", "$json"];

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    let obj = json!({"object": {"type": "object"}});
    let obj_path =
        json!({"object": {"type": "object"}, "path": {"type": "string", "minLength": 1}});
    PluginDefinition::new("plugflow-dict", env!("CARGO_PKG_VERSION"))
        .description("Object functions: paths, keys, merging, picking, mapping.")
        .node(spec("dict.get", "The value at `path` in `object`, or `default`. Output: {result: any}.", json!({"object": {"type": "object"}, "path": {"type": "string"}, "default": {}}), &["object", "path"], |r| {
            ok(get(object(r, "object")?, &path(r)?).cloned().or_else(|| r.param("default").cloned()).unwrap_or(Value::Null))
        }))
        .node(spec("dict.set", "`object` with `value` at `path` (intermediate objects created). Output: {result: object}.", json!({"object": {"type": "object"}, "path": {"type": "string"}, "value": {}}), &["object", "path"], |r| {
            let mut out = object(r, "object")?.clone();
            set(&mut out, &path(r)?, r.param("value").cloned().unwrap_or(Value::Null))?;
            ok(Value::Object(out))
        }))
        .node(spec("dict.delete", "`object` without `path`. Output: {result: object}.", obj_path.clone(), &["object", "path"], |r| {
            let mut out = object(r, "object")?.clone();
            remove(&mut out, &path(r)?);
            ok(Value::Object(out))
        }))
        .node(spec("dict.has", "Whether `path` exists in `object`. Output: {result: boolean}.", obj_path, &["object", "path"], |r| ok(json!(get(object(r, "object")?, &path(r)?).is_some()))))
        .node(spec("dict.keys", "The keys, sorted. Output: {result: string[]}.", obj.clone(), &["object"], |r| ok(json!(object(r, "object")?.keys().collect::<Vec<_>>()))))
        .node(spec("dict.values", "The values, in key order. Output: {result: array}.", obj.clone(), &["object"], |r| ok(Value::Array(object(r, "object")?.values().cloned().collect()))))
        .node(spec("dict.entries", "[key, value] pairs, in key order. Output: {result: array}.", obj.clone(), &["object"], |r| {
            ok(Value::Array(object(r, "object")?.iter().map(|(k, v)| json!([k, v])).collect()))
        }))
        .node(spec("dict.size", "The number of keys. Output: {result: integer}.", obj.clone(), &["object"], |r| ok(json!(object(r, "object")?.len()))))
        .node(spec("dict.invert", "Values become keys (as text) and keys values; a later key wins on a clash. Output: {result: object}.", obj.clone(), &["object"], |r| {
            ok(Value::Object(object(r, "object")?.iter().map(|(k, v)| (to_display_string(v), Value::String(k.clone()))).collect()))
        }))
        .node(spec("dict.fromEntries", "An object from `entries`: [key, value] pairs or {key, value} objects. Output: {result: object}.", json!({"entries": {"type": "array"}}), &["entries"], |r| {
            let mut out = Map::new();
            for (i, entry) in r.array_param("entries")?.iter().enumerate() {
                let (k, v) = match entry {
                    Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                    Value::Object(o) if o.contains_key("key") => (&o["key"], o.get("value").unwrap_or(&Value::Null)),
                    _ => return Err(NodeError::invalid_parameter(&format!("entries/{i}"), "expected [key, value] or {key, value}")),
                };
                out.insert(to_display_string(k), v.clone());
            }
            ok(Value::Object(out))
        }))
        .node(spec("dict.merge", "The objects in `objects` merged left to right (shallow: later keys win). Output: {result: object}.", json!({"objects": {"type": "array", "items": {"type": "object"}}}), &["objects"], |r| {
            let mut out = Map::new();
            for o in objects(r)? {
                out.extend(o.clone());
            }
            ok(Value::Object(out))
        }))
        .node(spec("dict.deepMerge", "The objects in `objects` merged recursively left to right (nested objects merge; other values, arrays included, are replaced). Output: {result: object}.", json!({"objects": {"type": "array", "items": {"type": "object"}}}), &["objects"], |r| {
            let mut out = Map::new();
            for o in objects(r)? {
                deep_merge(&mut out, o);
            }
            ok(Value::Object(out))
        }))
        .node(spec("dict.pick", "Only the top-level `keys` of `object`. Output: {result: object}.", json!({"object": {"type": "object"}, "keys": {"type": "array", "items": {"type": "string"}}}), &["object", "keys"], |r| {
            let o = object(r, "object")?;
            ok(Value::Object(keys(r)?.into_iter().filter_map(|k| o.get(&k).map(|v| (k, v.clone()))).collect()))
        }))
        .node(spec("dict.omit", "`object` without the top-level `keys`. Output: {result: object}.", json!({"object": {"type": "object"}, "keys": {"type": "array", "items": {"type": "string"}}}), &["object", "keys"], |r| {
            let drop = keys(r)?;
            ok(Value::Object(object(r, "object")?.iter().filter(|(k, _)| !drop.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()))
        }))
        .node(spec("dict.mapValues", "Each value replaced by `expression` over `$key` and `$value`. Output: {result: object}.", json!({"object": {"type": "object"}, "expression": expression_parameter("The new value of each entry.", &ENTRY_SCOPE)}), &["object", "expression"], |r| {
            let expr = r.expression_param("expression")?;
            let mut out = Map::new();
            for (k, v) in object(r, "object")? {
                out.insert(k.clone(), eval(r, &expr, k, v)?);
            }
            ok(Value::Object(out))
        }))
        .node(spec("dict.filterEntries", "Only the entries for which `condition` over `$key` and `$value` is truthy. Output: {result: object}.", json!({"object": {"type": "object"}, "condition": expression_parameter("Tested for each entry; truthy keeps it.", &ENTRY_SCOPE)}), &["object", "condition"], |r| {
            let expr = r.expression_param("condition")?;
            let mut out = Map::new();
            for (k, v) in object(r, "object")? {
                if truthy(&eval(r, &expr, k, v)?) {
                    out.insert(k.clone(), v.clone());
                }
            }
            ok(Value::Object(out))
        }))
}

plugin_abi::export_plugin!(definition);
