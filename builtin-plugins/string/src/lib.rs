//! The `string.*` node family: 15 Unicode-correct string functions.
//!
//! Every node returns `{ "result": <value> }`. Lengths and positions count
//! Unicode characters (scalar values), not bytes: `"héllo"` has length 5.
//! Values that are not strings are converted as JavaScript's `String()`
//! does (`3.0` → `"3"`, objects → JSON text, `null` → `""`).
//!
//! Built as a `cdylib` (a plugin library) and an `rlib` (linked statically
//! into the `plugflow` CLI); both run this same code.

use plugin_abi::sdk::value::to_display_string;
use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Value};

type NodeResult = Result<NodeOutput, NodeError>;

const CHARS_NOTE: &str = "Counts Unicode characters, not bytes.";

/// The plugin's definition: every `string.*` node type.
pub fn definition() -> PluginDefinition {
    let value_schema = |extra: Value| {
        let mut schema = json!({
            "type": "object",
            "properties": {"value": {"description": "The input; non-strings are converted as JavaScript's String() does."}},
        });
        if let (Some(props), Some(extra)) =
            (schema["properties"].as_object_mut(), extra.as_object())
        {
            props.extend(extra.clone());
        }
        schema
    };
    let spec = |name: &str, description: &str| {
        NodeSpec::new(name, "1.0.0", "string", description).tags(["string", "function"])
    };
    PluginDefinition::new("plugflow-string", env!("CARGO_PKG_VERSION"))
        .description("String functions: concat, format, length, case, trim, replace, split, join, substring, search, padding.")
        .node(
            spec("string.concat", "Concatenates `values` with `separator` between them. Output: {result: string}.")
                .schema(json!({"type": "object", "properties": {
                    "values": {"type": "array"},
                    "separator": {"type": "string", "default": ""}}}))
                .required(["values"])
                .icon("link")
                .handler(concat),
        )
        .node(
            spec("string.format", "Replaces `{key}` placeholders in `template` with `values[key]`; unknown keys stay as written. Output: {result: string}.")
                .schema(json!({"type": "object", "properties": {
                    "template": {"type": "string"},
                    "values": {"type": "object", "default": {}}}}))
                .required(["template"])
                .icon("file-text")
                .handler(format),
        )
        .node(
            spec("string.length", &format!("Length of `value` in characters. {CHARS_NOTE} Output: {{result: integer}}."))
                .schema(value_schema(json!({})))
                .required(["value"])
                .icon("hash")
                .handler(length),
        )
        .node(
            spec("string.lower", "Lower-cases `value` (Unicode-aware). Output: {result: string}.")
                .schema(value_schema(json!({})))
                .required(["value"])
                .icon("type")
                .handler(|r| map_value(r, |s| s.to_lowercase())),
        )
        .node(
            spec("string.upper", "Upper-cases `value` (Unicode-aware). Output: {result: string}.")
                .schema(value_schema(json!({})))
                .required(["value"])
                .icon("type")
                .handler(|r| map_value(r, |s| s.to_uppercase())),
        )
        .node(
            spec("string.trim", "Removes whitespace from `value` at `mode`: both (default), start or end. Output: {result: string}.")
                .schema(value_schema(json!({"mode": {"enum": ["both", "start", "end"], "default": "both"}})))
                .required(["value"])
                .icon("scissors")
                .handler(trim),
        )
        .node(
            spec("string.replace", "Replaces `search` with `replace` in `value`: every occurrence when `all` (default true), else the first. Output: {result: string}.")
                .schema(value_schema(json!({
                    "search": {"type": "string"},
                    "replace": {"type": "string", "default": ""},
                    "all": {"type": "boolean", "default": true}})))
                .required(["value", "search"])
                .icon("replace")
                .handler(replace),
        )
        .node(
            spec("string.split", "Splits `value` at `separator` (default \",\"; \"\" splits into characters), keeping at most `limit` parts. Output: {result: string[]}.")
                .schema(value_schema(json!({
                    "separator": {"type": "string", "default": ","},
                    "limit": {"type": "integer", "minimum": 0}})))
                .required(["value"])
                .icon("split")
                .handler(split),
        )
        .node(
            spec("string.join", "Joins `values` with `separator` (default \",\"). Output: {result: string}.")
                .schema(json!({"type": "object", "properties": {
                    "values": {"type": "array"},
                    "separator": {"type": "string", "default": ","}}}))
                .required(["values"])
                .icon("merge")
                .handler(join),
        )
        .node(
            spec("string.substring", &format!("Characters of `value` from `start` (default 0) up to, not including, `end` (default: the end); negative positions count as 0 and swapped bounds are reordered, as JavaScript's substring does. {CHARS_NOTE} Output: {{result: string}}."))
                .schema(value_schema(json!({
                    "start": {"type": "integer", "default": 0},
                    "end": {"type": ["integer", "null"]}})))
                .required(["value"])
                .icon("crop")
                .handler(substring),
        )
        .node(
            spec("string.includes", "Whether `value` contains `search`. Output: {result: boolean}.")
                .schema(value_schema(json!({"search": {"type": "string"}})))
                .required(["value", "search"])
                .icon("search")
                .handler(|r| search(r, |v, s| v.contains(s))),
        )
        .node(
            spec("string.startsWith", "Whether `value` starts with `search`. Output: {result: boolean}.")
                .schema(value_schema(json!({"search": {"type": "string"}})))
                .required(["value", "search"])
                .icon("search")
                .handler(|r| search(r, |v, s| v.starts_with(s))),
        )
        .node(
            spec("string.endsWith", "Whether `value` ends with `search`. Output: {result: boolean}.")
                .schema(value_schema(json!({"search": {"type": "string"}})))
                .required(["value", "search"])
                .icon("search")
                .handler(|r| search(r, |v, s| v.ends_with(s))),
        )
        .node(
            spec("string.padStart", &format!("Pads `value` at the start with `padChar` (default \" \") to `length` characters. {CHARS_NOTE} Output: {{result: string}}."))
                .schema(value_schema(json!({
                    "length": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                    "padChar": {"type": "string", "default": " "}})))
                .required(["value", "length"])
                .icon("align-right")
                .handler(|r| pad(r, true)),
        )
        .node(
            spec("string.padEnd", &format!("Pads `value` at the end with `padChar` (default \" \") to `length` characters. {CHARS_NOTE} Output: {{result: string}}."))
                .schema(value_schema(json!({
                    "length": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                    "padChar": {"type": "string", "default": " "}})))
                .required(["value", "length"])
                .icon("align-left")
                .handler(|r| pad(r, false)),
        )
}

plugin_abi::export_plugin!(definition);

fn value_string(request: &NodeRequest) -> Result<String, NodeError> {
    Ok(to_display_string(request.required_param("value")?))
}

fn opt_str<'a>(
    request: &'a NodeRequest,
    name: &str,
    default: &'a str,
) -> Result<&'a str, NodeError> {
    match request.param(name) {
        None => Ok(default),
        Some(_) => request.str_param(name),
    }
}

fn opt_int(request: &NodeRequest, name: &str) -> Result<Option<i64>, NodeError> {
    match request.param(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| {
                NodeError::invalid_parameter(name, format!("expected an integer, got {v}"))
            }),
    }
}

/// `values` as text joined by `separator`, refused before it is built when
/// it would be over the output limit.
fn joined(request: &NodeRequest, separator: &str) -> NodeResult {
    let values = request.array_param("values")?;
    let parts: Vec<String> = values.iter().map(to_display_string).collect();
    let predicted = parts.iter().map(String::len).sum::<usize>()
        + separator
            .len()
            .saturating_mul(parts.len().saturating_sub(1));
    request.check_output_size(predicted, "the joined text")?;
    Ok(NodeOutput::result(json!(parts.join(separator))))
}

fn concat(request: &NodeRequest) -> NodeResult {
    joined(request, opt_str(request, "separator", "")?)
}

fn join(request: &NodeRequest) -> NodeResult {
    joined(request, opt_str(request, "separator", ",")?)
}

fn format(request: &NodeRequest) -> NodeResult {
    let template = request.str_param("template")?;
    let empty = serde_json::Map::new();
    let values = match request.param("values") {
        None => &empty,
        Some(v) => v
            .as_object()
            .ok_or_else(|| NodeError::invalid_parameter("values", "expected an object"))?,
    };
    let limit = request.output_limit();
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if out.len() > limit {
            request.check_output_size(out.len(), "the formatted text")?;
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if values.contains_key(&after[..close]) => {
                out.push_str(&to_display_string(&values[&after[..close]]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(NodeOutput::result(json!(out)))
}

fn length(request: &NodeRequest) -> NodeResult {
    Ok(NodeOutput::result(json!(value_string(request)?
        .chars()
        .count())))
}

fn map_value(request: &NodeRequest, f: fn(&str) -> String) -> NodeResult {
    Ok(NodeOutput::result(json!(f(&value_string(request)?))))
}

fn trim(request: &NodeRequest) -> NodeResult {
    let value = value_string(request)?;
    let trimmed = match opt_str(request, "mode", "both")? {
        "both" => value.trim(),
        "start" => value.trim_start(),
        "end" => value.trim_end(),
        other => {
            return Err(NodeError::invalid_parameter(
                "mode",
                format!("`{other}` is not one of both, start, end"),
            ))
        }
    };
    Ok(NodeOutput::result(json!(trimmed)))
}

fn replace(request: &NodeRequest) -> NodeResult {
    let value = value_string(request)?;
    let search = request.str_param("search")?;
    let replacement = opt_str(request, "replace", "")?;
    let all = request
        .param("all")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if all && !search.is_empty() && replacement.len() > search.len() {
        let count = value.matches(search).count();
        let predicted = value.len() + count.saturating_mul(replacement.len() - search.len());
        request.check_output_size(predicted, "the replaced text")?;
    }
    let result = if all {
        if search.is_empty() {
            value
        } else {
            value.replace(search, replacement)
        }
    } else {
        value.replacen(search, replacement, 1)
    };
    Ok(NodeOutput::result(json!(result)))
}

fn split(request: &NodeRequest) -> NodeResult {
    let value = value_string(request)?;
    let separator = opt_str(request, "separator", ",")?;
    let limit = opt_int(request, "limit")?;
    if limit.is_some_and(|l| l < 0) {
        return Err(NodeError::invalid_parameter(
            "limit",
            "must not be negative",
        ));
    }
    let parts: Vec<String> = if separator.is_empty() {
        value.chars().map(String::from).collect()
    } else {
        value.split(separator).map(str::to_owned).collect()
    };
    let parts = match limit {
        Some(limit) => parts
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect(),
        None => parts,
    };
    Ok(NodeOutput::result(json!(parts)))
}

fn substring(request: &NodeRequest) -> NodeResult {
    let value = value_string(request)?;
    let count = value.chars().count() as i64;
    let clamp = |i: i64| i.clamp(0, count) as usize;
    let start = clamp(opt_int(request, "start")?.unwrap_or(0));
    let end = clamp(opt_int(request, "end")?.unwrap_or(count));
    let (from, to) = if start <= end {
        (start, end)
    } else {
        (end, start)
    };
    let result: String = value.chars().skip(from).take(to - from).collect();
    Ok(NodeOutput::result(json!(result)))
}

fn search(request: &NodeRequest, test: fn(&str, &str) -> bool) -> NodeResult {
    let value = value_string(request)?;
    let needle = to_display_string(request.required_param("search")?);
    Ok(NodeOutput::result(json!(test(&value, &needle))))
}

fn pad(request: &NodeRequest, at_start: bool) -> NodeResult {
    let value = value_string(request)?;
    let target = opt_int(request, "length")?.unwrap_or(0);
    if !(0..=1_000_000).contains(&target) {
        return Err(NodeError::invalid_parameter(
            "length",
            "must be between 0 and 1000000",
        ));
    }
    let pad_with = opt_str(request, "padChar", " ")?;
    let current = value.chars().count();
    let target = target as usize;
    if pad_with.is_empty() || current >= target {
        return Ok(NodeOutput::result(json!(value)));
    }
    let padding: String = pad_with.chars().cycle().take(target - current).collect();
    let result = if at_start {
        padding + &value
    } else {
        value + &padding
    };
    Ok(NodeOutput::result(json!(result)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(node_type: &str, parameters: Value) -> Result<Value, NodeError> {
        let definition = definition();
        let node = definition.create(node_type).expect("node type exists");
        let request = NodeRequest {
            node_type: node_type.into(),
            parameters,
            ..NodeRequest::default()
        };
        node.execute(&request).map(|o| o.output["result"].clone())
    }

    #[test]
    fn length_and_substring_count_characters() {
        assert_eq!(
            run("string.length", json!({"value": "héllo👋"})).unwrap(),
            json!(6)
        );
        assert_eq!(
            run(
                "string.substring",
                json!({"value": "héllo👋", "start": 1, "end": 6})
            )
            .unwrap(),
            json!("éllo👋")
        );
        assert_eq!(
            run(
                "string.substring",
                json!({"value": "abc", "start": 2, "end": 0})
            )
            .unwrap(),
            json!("ab")
        );
    }

    #[test]
    fn concat_converts_like_javascript() {
        assert_eq!(
            run(
                "string.concat",
                json!({"values": ["a", 1, 2.0, true, null, {"k": 1}], "separator": "-"})
            )
            .unwrap(),
            json!("a-1-2-true--{\"k\":1}")
        );
    }

    #[test]
    fn format_replaces_known_placeholders_only() {
        assert_eq!(
            run(
                "string.format",
                json!({"template": "Hi {name}, {unknown} {", "values": {"name": "Ada"}})
            )
            .unwrap(),
            json!("Hi Ada, {unknown} {")
        );
    }

    #[test]
    fn trim_replace_split_pad() {
        assert_eq!(
            run("string.trim", json!({"value": "  x  ", "mode": "start"})).unwrap(),
            json!("x  ")
        );
        assert_eq!(
            run(
                "string.replace",
                json!({"value": "a-a-a", "search": "-", "replace": "+"})
            )
            .unwrap(),
            json!("a+a+a")
        );
        assert_eq!(
            run(
                "string.replace",
                json!({"value": "a-a-a", "search": "-", "replace": "+", "all": false})
            )
            .unwrap(),
            json!("a+a-a")
        );
        assert_eq!(
            run("string.split", json!({"value": "a,b,c", "limit": 2})).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            run("string.split", json!({"value": "hé", "separator": ""})).unwrap(),
            json!(["h", "é"])
        );
        assert_eq!(
            run(
                "string.padStart",
                json!({"value": "7", "length": 3, "padChar": "0"})
            )
            .unwrap(),
            json!("007")
        );
        assert_eq!(
            run(
                "string.padEnd",
                json!({"value": "é", "length": 3, "padChar": "ab"})
            )
            .unwrap(),
            json!("éab")
        );
    }

    #[test]
    fn wrong_types_name_the_parameter() {
        let err = run("string.concat", json!({"values": "nope"})).unwrap_err();
        assert_eq!(err.code, plugin_abi::codes::INVALID_PARAMETERS);
        assert!(err.message.contains("values"), "{}", err.message);
        let err = run("string.trim", json!({"value": "x", "mode": "middle"})).unwrap_err();
        assert!(err.message.contains("mode"));
    }

    #[test]
    fn every_node_type_has_a_schema_and_description() {
        let manifest = definition().manifest();
        assert_eq!(manifest.node_types.len(), 15);
        for node in &manifest.node_types {
            assert!(!node.description.is_empty(), "{}", node.node_type);
            assert_eq!(
                node.parameter_schema["type"], "object",
                "{}",
                node.node_type
            );
        }
    }
}
