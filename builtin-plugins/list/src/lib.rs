//! The `list.*` node family: 22 array functions.
//!
//! Every node returns `{ "result": <value> }` (`pop` and `shift` add
//! `rest`). Predicates and mappers (`find`, `findIndex`, `filter`, `every`,
//! `some`, `map`, `reduce`) take an expression of the workflow expression
//! language, written bare (`$item.age >= 18`) or as a template
//! (`{{ $item.age >= 18 }}`), evaluated per item in the sandboxed engine
//! with `$item`, `$index`, `$input` (the node's input), `$json` (the
//! execution's trigger data) and, for `reduce`, `$acc`. A failing
//! expression is `EXPRESSION_ERROR` naming it and the item; the execution's
//! deadline is checked between items.

use std::cmp::Ordering;

use plugin_abi::sdk::expression::expression_parameter;
use plugin_abi::sdk::value::{to_display_string, truthy};
use plugin_abi::sdk::{kind, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Map, Value};

type NodeResult = Result<NodeOutput, NodeError>;

fn array<'a>(request: &'a NodeRequest, name: &str) -> Result<&'a Vec<Value>, NodeError> {
    request.array_param(name)
}

fn ok(value: Value) -> NodeResult {
    Ok(NodeOutput::result(value))
}

/// Evaluates `expr` for one item, before the execution's deadline.
fn eval(
    request: &NodeRequest,
    expr: &str,
    item: &Value,
    index: usize,
    acc: Option<&Value>,
) -> Result<Value, NodeError> {
    request.check_deadline()?;
    js_sandbox::eval_until(
        expr,
        "$item,$index,$input,$json,$acc",
        &mut |i| {
            let text = match i {
                0 => serde_json::to_string(item),
                1 => Ok(index.to_string()),
                2 if expr.contains("$input") => serde_json::to_string(&request.input),
                3 if expr.contains("$json") => serde_json::to_string(&request.trigger),
                4 if expr.contains("$acc") => serde_json::to_string(acc.unwrap_or(&Value::Null)),
                _ => return Ok(None),
            };
            text.map(Some).map_err(|e| e.to_string())
        },
        request.deadline(),
    )
    .map(Option::unwrap_or_default)
    .map_err(|e| expression_failed(expr, &format!("item {index}"), &e))
}

/// A per-item expression that failed: `EXECUTION_TIMEOUT` when the deadline
/// stopped it, else `EXPRESSION_ERROR`.
fn expression_failed(expr: &str, at: &str, error: &js_sandbox::EvalError) -> NodeError {
    let code = match error {
        js_sandbox::EvalError::Timeout { .. } => plugin_abi::codes::EXECUTION_TIMEOUT,
        _ => plugin_abi::codes::EXPRESSION_ERROR,
    };
    NodeError::new(code, format!("expression `{expr}` failed on {at}: {error}"))
}

fn predicate(request: &NodeRequest) -> Result<(String, &Vec<Value>), NodeError> {
    Ok((
        request.expression_param("condition")?,
        array(request, "array")?,
    ))
}

/// The value at dot-path `key` inside `item` (`""`: the item itself).
fn field<'a>(item: &'a Value, key: &str) -> &'a Value {
    if key.is_empty() {
        return item;
    }
    key.split('.')
        .try_fold(item, |v, k| v.get(k))
        .unwrap_or(&Value::Null)
}

/// Orders values: numbers numerically, then strings, then everything else
/// by its JSON text; null last.
fn order(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) | Value::Object(_) => 3,
        Value::Null => 4,
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => rank(a)
            .cmp(&rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string())),
    }
}

/// A JavaScript-style position: negative counts from the end, clamped.
fn position(index: i64, len: usize) -> usize {
    let len = len as i64;
    (if index < 0 { len + index } else { index }).clamp(0, len) as usize
}

fn int(request: &NodeRequest, name: &str, default: i64) -> Result<i64, NodeError> {
    match request.param(name) {
        None => Ok(default),
        Some(v) => v.as_i64().ok_or_else(|| {
            NodeError::invalid_parameter(name, format!("expected an integer, got {}", kind(v)))
        }),
    }
}

fn flatten(items: &[Value], depth: u32, out: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::Array(inner) if depth > 0 => flatten(inner, depth - 1, out),
            other => out.push(other.clone()),
        }
    }
}

fn spec(
    node_type: &str,
    description: &str,
    properties: Value,
    required: &[&str],
    handler: fn(&NodeRequest) -> NodeResult,
) -> NodeSpec {
    NodeSpec::function("list", node_type, description, properties, required).handler(handler)
}

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    let arr = json!({"array": {"type": "array"}});
    const ITEM_SCOPE: [&str; 4] = ["$item", "$index", "$input", "$json"];
    let arr_cond = json!({"array": {"type": "array"}, "condition": expression_parameter("Tested for each item; truthy keeps or finds it.", &ITEM_SCOPE)});
    let arr_value = json!({"array": {"type": "array"}, "value": {}});
    PluginDefinition::new("plugflow-list", env!("CARGO_PKG_VERSION"))
        .description("Array functions; predicates and mappers use the expression language with $item and $index.")
        .node(spec("list.concat", "Concatenates the arrays in `arrays`. Output: {result: array}.", json!({"arrays": {"type": "array", "items": {"type": "array"}}}), &["arrays"], |r| {
            let mut out = Vec::new();
            for (i, a) in array(r, "arrays")?.iter().enumerate() {
                out.extend(a.as_array().ok_or_else(|| NodeError::invalid_parameter(&format!("arrays/{i}"), format!("expected an array, got {}", kind(a))))?.iter().cloned());
            }
            ok(Value::Array(out))
        }))
        .node(spec("list.length", "The number of items. Output: {result: integer}.", arr.clone(), &["array"], |r| ok(json!(array(r, "array")?.len()))))
        .node(spec("list.reverse", "The items in reverse order. Output: {result: array}.", arr.clone(), &["array"], |r| ok(Value::Array(array(r, "array")?.iter().rev().cloned().collect()))))
        .node(spec("list.pop", "The last item (null when empty). Output: {result: item, rest: the other items}.", arr.clone(), &["array"], |r| {
            let mut items = array(r, "array")?.clone();
            let last = items.pop().unwrap_or(Value::Null);
            Ok(NodeOutput::new(json!({"result": last, "rest": items})))
        }))
        .node(spec("list.shift", "The first item (null when empty). Output: {result: item, rest: the other items}.", arr.clone(), &["array"], |r| {
            let items = array(r, "array")?;
            Ok(NodeOutput::new(json!({"result": items.first(), "rest": items.get(1..).unwrap_or_default()})))
        }))
        .node(spec("list.slice", "Items from `start` (default 0) up to, not including, `end` (default: the end); negative positions count from the end. Output: {result: array}.", json!({"array": {"type": "array"}, "start": {"type": "integer"}, "end": {"type": ["integer", "null"]}}), &["array"], |r| {
            let items = array(r, "array")?;
            let start = position(int(r, "start", 0)?, items.len());
            let end = position(int(r, "end", items.len() as i64)?, items.len());
            ok(Value::Array(items.get(start..end.max(start)).unwrap_or_default().to_vec()))
        }))
        .node(spec("list.find", "The first item for which `condition` is truthy, or null. Output: {result: item}.", arr_cond.clone(), &["array", "condition"], |r| {
            let (expr, items) = predicate(r)?;
            for (i, item) in items.iter().enumerate() {
                if truthy(&eval(r, &expr, item, i, None)?) {
                    return ok(item.clone());
                }
            }
            ok(Value::Null)
        }))
        .node(spec("list.findIndex", "The index of the first item for which `condition` is truthy, or -1. Output: {result: integer}.", arr_cond.clone(), &["array", "condition"], |r| {
            let (expr, items) = predicate(r)?;
            for (i, item) in items.iter().enumerate() {
                if truthy(&eval(r, &expr, item, i, None)?) {
                    return ok(json!(i));
                }
            }
            ok(json!(-1))
        }))
        .node(spec("list.filter", "The items for which `condition` is truthy. Output: {result: array}.", arr_cond.clone(), &["array", "condition"], |r| {
            let (expr, items) = predicate(r)?;
            let mut kept = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if truthy(&eval(r, &expr, item, i, None)?) {
                    kept.push(item.clone());
                }
            }
            ok(Value::Array(kept))
        }))
        .node(spec("list.every", "Whether `condition` is truthy for every item (true when empty). Output: {result: boolean}.", arr_cond.clone(), &["array", "condition"], |r| {
            let (expr, items) = predicate(r)?;
            for (i, item) in items.iter().enumerate() {
                if !truthy(&eval(r, &expr, item, i, None)?) {
                    return ok(json!(false));
                }
            }
            ok(json!(true))
        }))
        .node(spec("list.some", "Whether `condition` is truthy for any item. Output: {result: boolean}.", arr_cond, &["array", "condition"], |r| {
            let (expr, items) = predicate(r)?;
            for (i, item) in items.iter().enumerate() {
                if truthy(&eval(r, &expr, item, i, None)?) {
                    return ok(json!(true));
                }
            }
            ok(json!(false))
        }))
        .node(spec("list.map", "`expression` evaluated for every item. Output: {result: array}.", json!({"array": {"type": "array"}, "expression": expression_parameter("The new value of each item.", &ITEM_SCOPE)}), &["array", "expression"], |r| {
            let expr = r.expression_param("expression")?;
            let items = array(r, "array")?;
            let mapped = items.iter().enumerate().map(|(i, item)| eval(r, &expr, item, i, None)).collect::<Result<Vec<_>, _>>()?;
            ok(Value::Array(mapped))
        }))
        .node(spec("list.reduce", "Folds the items with `expression` over `$acc` (starting at `initial`), `$item` and `$index`. Output: {result: any}.", json!({"array": {"type": "array"}, "expression": expression_parameter("The next accumulator, from the last one ($acc) and the item.", &["$acc", "$item", "$index", "$input", "$json"]), "initial": {}}), &["array", "expression"], |r| {
            let expr = r.expression_param("expression")?;
            let mut acc = r.param("initial").cloned().unwrap_or(Value::Null);
            for (i, item) in array(r, "array")?.iter().enumerate() {
                acc = eval(r, &expr, item, i, Some(&acc))?;
            }
            ok(acc)
        }))
        .node(spec("list.sort", "The items sorted (stable) by `key` (a dot path into objects; default the item), `order` asc (default) or desc: numbers numerically, then strings, then other values; null last. Output: {result: array}.", json!({"array": {"type": "array"}, "key": {"type": "string", "default": ""}, "order": {"enum": ["asc", "desc"], "default": "asc"}}), &["array"], |r| {
            let key = r.param("key").and_then(Value::as_str).unwrap_or("");
            let descending = match r.param("order").and_then(Value::as_str).unwrap_or("asc") {
                "asc" => false,
                "desc" => true,
                other => return Err(NodeError::invalid_parameter("order", format!("`{other}` is not asc or desc"))),
            };
            let mut items = array(r, "array")?.clone();
            items.sort_by(|a, b| {
                let o = order(field(a, key), field(b, key));
                if descending { o.reverse() } else { o }
            });
            ok(Value::Array(items))
        }))
        .node(spec("list.unique", "The items without duplicates (the first is kept), compared whole or by `key`. Output: {result: array}.", json!({"array": {"type": "array"}, "key": {"type": "string", "default": ""}}), &["array"], |r| {
            let key = r.param("key").and_then(Value::as_str).unwrap_or("");
            let mut seen: Vec<&Value> = Vec::new();
            let mut kept = Vec::new();
            for item in array(r, "array")? {
                let k = field(item, key);
                if !seen.contains(&k) {
                    seen.push(k);
                    kept.push(item.clone());
                }
            }
            ok(Value::Array(kept))
        }))
        .node(spec("list.flatten", "Nested arrays flattened `depth` levels (default 1). Output: {result: array}.", json!({"array": {"type": "array"}, "depth": {"type": "integer", "minimum": 0, "maximum": 64, "default": 1}}), &["array"], |r| {
            let depth = u32::try_from(int(r, "depth", 1)?.clamp(0, 64)).unwrap_or(1);
            let mut out = Vec::new();
            flatten(array(r, "array")?, depth, &mut out);
            ok(Value::Array(out))
        }))
        .node(spec("list.push", "The items with `value` appended. Output: {result: array}.", arr_value.clone(), &["array"], |r| {
            let mut items = array(r, "array")?.clone();
            items.push(r.param("value").cloned().unwrap_or(Value::Null));
            ok(Value::Array(items))
        }))
        .node(spec("list.unshift", "The items with `value` prepended. Output: {result: array}.", arr_value.clone(), &["array"], |r| {
            let mut items = vec![r.param("value").cloned().unwrap_or(Value::Null)];
            items.extend(array(r, "array")?.iter().cloned());
            ok(Value::Array(items))
        }))
        .node(spec("list.includes", "Whether an item equals `value` (same JSON value). Output: {result: boolean}.", arr_value.clone(), &["array"], |r| {
            ok(json!(array(r, "array")?.contains(r.parameters.get("value").unwrap_or(&Value::Null))))
        }))
        .node(spec("list.indexOf", "The index of the first item equal to `value`, or -1. Output: {result: integer}.", arr_value, &["array"], |r| {
            let needle = r.parameters.get("value").unwrap_or(&Value::Null);
            ok(json!(array(r, "array")?.iter().position(|v| v == needle).map_or(-1, |i| i as i64)))
        }))
        .node(spec("list.at", "The item at `index` (negative counts from the end), or null. Output: {result: item}.", json!({"array": {"type": "array"}, "index": {"type": "integer"}}), &["array", "index"], |r| {
            let items = array(r, "array")?;
            let index = int(r, "index", 0)?;
            let i = if index < 0 { items.len() as i64 + index } else { index };
            ok(usize::try_from(i).ok().and_then(|i| items.get(i)).cloned().unwrap_or(Value::Null))
        }))
        .node(spec("list.groupBy", "The items grouped by the text of `key` (a dot path). Output: {result: {group: items}}.", json!({"array": {"type": "array"}, "key": {"type": "string"}}), &["array", "key"], |r| {
            let key = r.str_param("key")?;
            let mut groups = Map::new();
            for item in array(r, "array")? {
                let group = to_display_string(field(item, key));
                if let Value::Array(members) = groups.entry(group).or_insert_with(|| Value::Array(Vec::new())) {
                    members.push(item.clone());
                }
            }
            ok(Value::Object(groups))
        }))
}

plugin_abi::export_plugin!(definition);
