//! Control and utility nodes.
//!
//! | node type | output |
//! |---|---|
//! | `condition` | `{result: bool}`; output index 0 when true, 1 when false |
//! | `transform` | the mapped value (optionally flattened, grouped, or as CSV text) |
//! | `wait` | its input, after the delay |
//! | `set-variable` | `{name, value}`; sets the execution variable |
//! | `validate` | its input, when every rule passes |
//! | `webhook-response` | `{statusCode, headers, body}` (terminal) |
//! | `webhook-trigger`, `manual-trigger` | the trigger data |
//!
//! MetaBuilder's own types are provided too, so its workflows run as
//! written: `metabuilder.transform`, `metabuilder.condition`,
//! `metabuilder.validate`, `metabuilder.action`, `metabuilder.trigger`.

use plugin_abi::sdk::rules;
use plugin_abi::sdk::value::{to_display_string, truthy};
use plugin_abi::sdk::{
    kind, Node, NodeDescription, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition,
    Validation,
};
use serde_json::{json, Map, Value};

type NodeResult = Result<NodeOutput, NodeError>;

/// Longest `wait`, so a typo cannot park a worker for days.
const MAX_WAIT_MS: u64 = 60 * 60 * 1000;

fn condition_spec(node_type: &str) -> NodeSpec {
    NodeSpec::new(node_type, "1.0.0", "logic", "Evaluates `condition` (usually a template such as `{{ $json.total > 100 }}`) with JavaScript truthiness. Output: {result: boolean}; follows output 0 when true, 1 when false.")
        .schema(json!({"type": "object", "properties": {
            "condition": {"description": "The value or expression to test."},
            "operation": {"description": "MetaBuilder's workflows write `\"operation\": \"condition\"`; accepted and not used."}
        }}))
        .required(["condition"])
        .tags(["control", "branch"])
        .icon("git-branch")
        .handler(condition)
}

fn transform_spec(node_type: &str) -> NodeSpec {
    NodeSpec::new(node_type, "1.0.0", "transform", "Shapes data: the output is `output` (or `mapping`, or else the input); `flatten` flattens one level of nested arrays; `groupBy` groups an array of objects by a field; `format: csv` renders an array of objects as CSV text (columns in `columns` order, else in the order the fields are first written). Output: the shaped value.")
        .schema(json!({"type": "object", "properties": {
            "input": {"description": "The value to shape; defaults to the node's input."},
            "output": {"description": "The result (usually templates over the input)."},
            "mapping": {"type": "object", "description": "An object of templates; an alias of `output`."},
            "flatten": {"type": "boolean", "default": false},
            "groupBy": {"type": "string"},
            "format": {"enum": ["json", "csv"], "default": "json"},
            "columns": {"type": "array", "items": {"type": "string"}, "description": "CSV column order (default: the fields in the order first seen)"},
            "operation": {"type": "string"}}}))
        .tags(["transform", "data"])
        .icon("shuffle")
        .handler(transform)
}

fn validate_spec(node_type: &str) -> NodeSpec {
    NodeSpec::new(node_type, "1.0.0", "data", "Checks `input` (default: the node's input) against `rules`, MetaBuilder style: {\"amount\": \"required|number|min:1|max:1000000\"}. Rules: required, string, number, integer, boolean, array, object, email, uuid, url, min:N, max:N, minLength:N, maxLength:N, in:a,b, regex:PATTERN. Every failing field is reported at once (VALIDATION_FAILED, details list them). With `validator` instead of `rules`, the whole input is checked against that rule string. Output: the input.")
        .schema(json!({"type": "object", "properties": {
            "input": {},
            "rules": {"type": "object", "additionalProperties": {"type": "string"}},
            "validator": {"type": "string"},
            "operation": {"type": "string"}}}))
        .tags(["validation", "data"])
        .icon("check-square")
        .executor(|| Rules)
}

/// `validate`: rules are checked for well-formedness before the run.
struct Rules;

impl Node for Rules {
    fn validate(&self, node: &NodeDescription) -> Validation {
        rules_validation(&node.parameters)
    }

    fn execute(&self, request: &NodeRequest) -> NodeResult {
        validate(request)
    }
}

/// Problems with `rules` / `validator` as written (unknown rules, bad
/// arguments, patterns that do not compile).
pub fn rules_validation(parameters: &Value) -> Validation {
    let mut validation = Validation::valid();
    if let Some(Value::Object(rules)) = parameters.get("rules") {
        for problem in rules::check_rules(rules) {
            validation = validation.error(problem);
        }
    }
    if let Some(Value::String(rule)) = parameters.get("validator") {
        let mut one = Map::new();
        one.insert("input".into(), Value::String(rule.clone()));
        for problem in rules::check_rules(&one) {
            let problem = rules::moved_to(&problem, "validator");
            validation = validation.error(problem);
        }
    }
    validation
}

fn trigger_spec(node_type: &str, description: &str) -> NodeSpec {
    NodeSpec::new(node_type, "1.0.0", "trigger", description)
        .schema(json!({"type": "object"}))
        .tags(["trigger"])
        .icon("zap")
        .handler(|r| Ok(NodeOutput::new(r.input.clone())))
}

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    PluginDefinition::new("plugflow-core", env!("CARGO_PKG_VERSION"))
        .description("Control and utility nodes, and MetaBuilder compatibility types.")
        .node(condition_spec("condition"))
        .node(condition_spec("metabuilder.condition"))
        .node(transform_spec("transform"))
        .node(transform_spec("metabuilder.transform"))
        .node(validate_spec("validate"))
        .node(validate_spec("metabuilder.validate"))
        .node(
            NodeSpec::new("wait", "1.0.0", "control", "Waits `duration` `unit`s (ms, seconds, minutes, hours; at most one hour), then passes its input on. Cancelled with the execution. Output: the input.")
                .schema(json!({"type": "object", "properties": {
                    "duration": {"type": "number", "minimum": 0},
                    "unit": {"enum": ["ms", "milliseconds", "seconds", "minutes", "hours"], "default": "ms"}}}))
                .required(["duration"])
                .tags(["control", "time"])
                .icon("clock")
                .blocking()
                .idempotent()
                .handler(wait),
        )
        .node(
            NodeSpec::new("set-variable", "1.0.0", "control", "Sets execution variable `name` to `value`: `mode` replace (default), merge (objects are merged) or append (the value is appended to an array). Several at once with `variables: {name: value}`. Output: {name, value} (or the variables set).")
                .schema(json!({"type": "object", "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "value": {},
                    "mode": {"enum": ["replace", "merge", "append"], "default": "replace"},
                    "variables": {"type": "object"}}}))
                .tags(["control", "variables"])
                .icon("edit")
                .handler(set_variable),
        )
        .node(
            NodeSpec::new("webhook-response", "1.0.0", "output", "The response to send to the caller of a webhook-triggered workflow: `statusCode` (default 200), `headers`, `body`. Terminal. Output: {statusCode, headers, body}.")
                .schema(json!({"type": "object", "properties": {
                    "statusCode": {"type": "integer", "minimum": 100, "maximum": 599, "default": 200},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "body": {}}}))
                .tags(["output", "http"])
                .icon("send")
                .handler(webhook_response),
        )
        .node(trigger_spec("webhook-trigger", "Start node for webhook-triggered workflows. Output: the request data the workflow was triggered with."))
        .node(trigger_spec("manual-trigger", "Start node for manually run workflows. Output: the trigger data."))
        .node(trigger_spec("metabuilder.trigger", "MetaBuilder's trigger node. Output: the trigger data."))
        .node(
            NodeSpec::new("metabuilder.action", "1.0.0", "output", "MetaBuilder's action node: `action` emit_event → {event, channel, data}; http_response → {statusCode, body, headers}; anything else → its parameters. Output as listed.")
                // Every other parameter is part of the answer.
                .schema(json!({"type": "object", "properties": {"action": {"type": "string"}}, "additionalProperties": true}))
                .required(["action"])
                .tags(["output", "metabuilder"])
                .icon("activity")
                .handler(action),
        )
}

plugin_abi::export_plugin!(definition);

fn condition(request: &NodeRequest) -> NodeResult {
    let value = truthy(request.required_param("condition")?);
    Ok(NodeOutput::result(json!(value)).with_output_index(u32::from(!value)))
}

fn transform(request: &NodeRequest) -> NodeResult {
    let p = &request.parameters;
    let mut value = p
        .get("output")
        .or_else(|| p.get("mapping"))
        .or_else(|| p.get("input"))
        .cloned()
        .unwrap_or_else(|| request.input.clone());
    if p.get("flatten")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
    {
        if let Value::Array(items) = value {
            value = Value::Array(
                items
                    .into_iter()
                    .flat_map(|v| match v {
                        Value::Array(inner) => inner,
                        other => vec![other],
                    })
                    .collect(),
            );
        }
    }
    if let Some(field) = request.param("groupBy") {
        let field = field
            .as_str()
            .ok_or_else(|| NodeError::invalid_parameter("groupBy", "expected a field name"))?;
        let items = value.as_array().ok_or_else(|| {
            NodeError::invalid_parameter(
                "groupBy",
                format!("needs an array to group, got {}", kind(&value)),
            )
        })?;
        let mut groups = Map::new();
        for item in items {
            let key = to_display_string(item.get(field).unwrap_or(&Value::Null));
            if let Value::Array(group) = groups
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                group.push(item.clone());
            }
        }
        value = Value::Object(groups);
    }
    match request
        .param("format")
        .and_then(Value::as_str)
        .unwrap_or("json")
    {
        "json" => Ok(NodeOutput::new(value)),
        "csv" => Ok(NodeOutput::new(Value::String(to_csv(request, &value)?))),
        other => Err(NodeError::invalid_parameter(
            "format",
            format!("`{other}` is not json or csv"),
        )),
    }
}

/// Renders an array of objects as CSV: the columns in `columns` order when
/// given, else every field seen (each object's fields in the order written,
/// new ones appended), then one row per object. Refused before it is built
/// when the table would be over the output limit; the deadline is checked
/// as rows are written.
fn to_csv(request: &NodeRequest, value: &Value) -> Result<String, NodeError> {
    let rows = value.as_array().ok_or_else(|| {
        NodeError::invalid_parameter(
            "format",
            format!("csv needs an array of objects, got {}", kind(value)),
        )
    })?;
    let header: Vec<String> = match request.param("columns") {
        Some(Value::Array(columns)) => columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.as_str().map(str::to_owned).ok_or_else(|| {
                    NodeError::invalid_parameter(&format!("columns/{i}"), "expected a field name")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(NodeError::invalid_parameter(
                "columns",
                format!("expected a list of field names, got {}", kind(other)),
            ))
        }
        None => {
            let mut seen = std::collections::HashSet::new();
            let mut header = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                let object = row.as_object().ok_or_else(|| {
                    NodeError::invalid_parameter(
                        "format",
                        format!("csv needs an array of objects, found {} at {i}", kind(row)),
                    )
                })?;
                for key in object.keys() {
                    if seen.insert(key.as_str()) {
                        header.push(key.clone());
                    }
                }
            }
            header
        }
    };
    // Every cell is at least its separator: a lower bound on the size.
    let cells = rows
        .len()
        .saturating_add(1)
        .saturating_mul(header.len().max(1));
    request.check_output_size(cells, "the CSV table")?;
    let limit = request.output_limit();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| NodeError::execution(format!("cannot write CSV: {e}"));
    writer.write_record(&header).map_err(csv_error)?;
    for (i, row) in rows.iter().enumerate() {
        if i % 256 == 0 {
            request.check_deadline()?;
            writer
                .flush()
                .map_err(|e| NodeError::execution(e.to_string()))?;
            request.check_output_size(writer.get_ref().len(), "the CSV table")?;
        }
        let record = header
            .iter()
            .map(|k| to_display_string(row.get(k).unwrap_or(&Value::Null)));
        writer.write_record(record).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| NodeError::execution(format!("cannot write CSV: {e}")))?;
    if bytes.len() > limit {
        request.check_output_size(bytes.len(), "the CSV table")?;
    }
    String::from_utf8(bytes).map_err(|e| NodeError::execution(format!("CSV is not UTF-8: {e}")))
}

fn validate(request: &NodeRequest) -> NodeResult {
    let input = request.param("input").unwrap_or(&request.input);
    let problems = if let Some(rules) = request.param("rules") {
        let rules = rules.as_object().ok_or_else(|| {
            NodeError::invalid_parameter("rules", "expected an object of field → rule string")
        })?;
        rules::check_object(input, rules)?
    } else if let Some(rule) = request.param("validator") {
        let rule = rule
            .as_str()
            .ok_or_else(|| NodeError::invalid_parameter("validator", "expected a rule string"))?;
        rules::check_value("input", Some(input).filter(|v| !v.is_null()), rule)?
    } else {
        return Err(NodeError::invalid_parameter(
            "rules",
            "give `rules` (per field) or `validator` (one rule string)",
        ));
    };
    if problems.is_empty() {
        return Ok(NodeOutput::new(input.clone()));
    }
    Err(rules::failure(&problems))
}

fn wait(request: &NodeRequest) -> NodeResult {
    let duration = request.f64_param("duration")?;
    if !(0.0..=1e12).contains(&duration) {
        return Err(NodeError::invalid_parameter(
            "duration",
            "must be a non-negative number",
        ));
    }
    let unit_ms = match request
        .param("unit")
        .and_then(Value::as_str)
        .unwrap_or("ms")
    {
        "ms" | "milliseconds" => 1.0,
        "seconds" => 1000.0,
        "minutes" => 60_000.0,
        "hours" => 3_600_000.0,
        other => {
            return Err(NodeError::invalid_parameter(
                "unit",
                format!("`{other}` is not ms, seconds, minutes or hours"),
            ))
        }
    };
    let ms = (duration * unit_ms).round() as u64;
    if ms > MAX_WAIT_MS {
        return Err(NodeError::invalid_parameter(
            "duration",
            format!("{ms} ms is longer than the one-hour maximum"),
        ));
    }
    // A host with a durable queue (plugflow serve on PostgreSQL) turns a
    // long wait into a due time: the node answers at once, and the host
    // suspends the execution until then instead of holding a worker.
    let suspend_after = request
        .config
        .get(plugin_abi::suspend::AFTER_MS)
        .and_then(Value::as_u64);
    if suspend_after.is_some_and(|after| ms > after)
        && request.context.resumable
        && !request.context.execution_id.is_empty()
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut answer = Map::new();
        answer.insert(
            plugin_abi::suspend::UNTIL_MS.into(),
            json!(now.saturating_add(ms)),
        );
        answer.insert(plugin_abi::suspend::OUTPUT.into(), request.input.clone());
        return Ok(NodeOutput::new(Value::Object(answer)));
    }
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(NodeOutput::new(request.input.clone()))
}

fn set_variable(request: &NodeRequest) -> NodeResult {
    let mut output = NodeOutput::default();
    if let Some(many) = request.param("variables") {
        let many = many.as_object().ok_or_else(|| {
            NodeError::invalid_parameter("variables", "expected an object of name → value")
        })?;
        output.variables.set.extend(many.clone());
        output.output = Value::Object(many.clone());
        return Ok(output);
    }
    let name = request.str_param("name")?.to_owned();
    let value = request.param("value").cloned().unwrap_or(Value::Null);
    let current = request.variables.get(&name).cloned().unwrap_or(Value::Null);
    let new_value = match request
        .param("mode")
        .and_then(Value::as_str)
        .unwrap_or("replace")
    {
        "replace" => value,
        "merge" => match (current, value) {
            (Value::Object(mut a), Value::Object(b)) => {
                a.extend(b);
                Value::Object(a)
            }
            (Value::Null, Value::Object(b)) => Value::Object(b),
            (a, b) => {
                return Err(NodeError::invalid_parameter(
                    "mode",
                    format!(
                        "merge needs objects, the variable holds {} and the value is {}",
                        kind(&a),
                        kind(&b)
                    ),
                ))
            }
        },
        "append" => match current {
            Value::Array(mut items) => {
                items.push(value);
                Value::Array(items)
            }
            Value::Null => Value::Array(vec![value]),
            other => {
                return Err(NodeError::invalid_parameter(
                    "mode",
                    format!(
                        "append needs an array variable, `{name}` holds {}",
                        kind(&other)
                    ),
                ))
            }
        },
        other => {
            return Err(NodeError::invalid_parameter(
                "mode",
                format!("`{other}` is not replace, merge or append"),
            ))
        }
    };
    output.variables.set.insert(name.clone(), new_value.clone());
    output.output = json!({"name": name, "value": new_value});
    Ok(output)
}

fn webhook_response(request: &NodeRequest) -> NodeResult {
    let status = request
        .param("statusCode")
        .and_then(Value::as_u64)
        .unwrap_or(200);
    Ok(NodeOutput::new(json!({
        "statusCode": status,
        "headers": request.param("headers").cloned().unwrap_or_else(|| json!({})),
        "body": request.param("body").cloned().unwrap_or(Value::Null),
    })))
}

fn action(request: &NodeRequest) -> NodeResult {
    let p = &request.parameters;
    let out = match request.str_param("action")? {
        "emit_event" => {
            json!({"event": p.get("event"), "channel": p.get("channel"), "data": p.get("data")})
        }
        "http_response" => json!({
            "statusCode": p.get("status").or_else(|| p.get("statusCode")).cloned().unwrap_or(json!(200)),
            "headers": p.get("headers").cloned().unwrap_or_else(|| json!({})),
            "body": p.get("body"),
        }),
        _ => p.clone(),
    };
    Ok(NodeOutput::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(node_type: &str, parameters: Value, input: Value) -> Result<NodeOutput, NodeError> {
        let definition = definition();
        let node = definition.create(node_type).expect("node type exists");
        node.execute(&NodeRequest {
            node_type: node_type.into(),
            parameters,
            input,
            ..NodeRequest::default()
        })
    }

    #[test]
    fn condition_chooses_the_output_index() {
        let yes = run("condition", json!({"condition": "non-empty"}), Value::Null).unwrap();
        assert_eq!(
            (yes.output, yes.output_index),
            (json!({"result": true}), Some(0))
        );
        let no = run(
            "metabuilder.condition",
            json!({"condition": 0}),
            Value::Null,
        )
        .unwrap();
        assert_eq!(
            (no.output, no.output_index),
            (json!({"result": false}), Some(1))
        );
    }

    #[test]
    fn transform_maps_flattens_groups_and_writes_csv() {
        assert_eq!(
            run("transform", json!({}), json!([1])).unwrap().output,
            json!([1])
        );
        assert_eq!(
            run(
                "transform",
                json!({"output": [[1, 2], [3], 4], "flatten": true}),
                Value::Null
            )
            .unwrap()
            .output,
            json!([1, 2, 3, 4])
        );
        let grouped = run(
            "transform",
            json!({"input": [{"k": "a", "v": 1}, {"k": "b"}, {"k": "a", "v": 2}], "groupBy": "k"}),
            Value::Null,
        )
        .unwrap();
        assert_eq!(grouped.output["a"].as_array().unwrap().len(), 2);
        let csv = run("transform", json!({"output": [{"name": "Ada, L.", "n": 1}, {"name": "Bob", "extra": true}], "format": "csv"}), Value::Null).unwrap();
        assert_eq!(
            csv.output,
            json!("name,n,extra\n\"Ada, L.\",1,\nBob,,true\n")
        );
        assert!(run(
            "transform",
            json!({"output": 3, "format": "csv"}),
            Value::Null
        )
        .is_err());
    }

    #[test]
    fn validate_reports_every_failing_field() {
        let rules = json!({"amount": "required|number|min:1|max:1000", "email": "required|email", "title": "string|minLength:3"});
        let ok = run(
            "validate",
            json!({"rules": rules}),
            json!({"amount": 5, "email": "a@b.co", "title": "Hello"}),
        );
        assert!(ok.is_ok());
        let err = run(
            "validate",
            json!({"rules": rules}),
            json!({"amount": 0, "title": "Hi"}),
        )
        .unwrap_err();
        assert_eq!(err.code, plugin_abi::codes::VALIDATION_FAILED);
        assert_eq!(
            err.details.unwrap()["errors"].as_array().unwrap().len(),
            3,
            "{}",
            err.message
        );
    }

    #[test]
    fn set_variable_modes() {
        let out = run(
            "set-variable",
            json!({"name": "x", "value": 1}),
            Value::Null,
        )
        .unwrap();
        assert_eq!(out.variables.set["x"], json!(1));
        let definition = definition();
        let node = definition.create("set-variable").unwrap();
        let mut request = NodeRequest {
            parameters: json!({"name": "l", "value": 2, "mode": "append"}),
            ..NodeRequest::default()
        };
        request.variables.insert("l".into(), json!([1]));
        assert_eq!(
            node.execute(&request).unwrap().variables.set["l"],
            json!([1, 2])
        );
        request.parameters = json!({"name": "l", "value": {"a": 1}, "mode": "merge"});
        assert!(node.execute(&request).is_err());
    }

    #[test]
    fn action_and_webhook_response_shapes() {
        let out = run(
            "metabuilder.action",
            json!({"action": "emit_event", "event": "e", "data": {"x": 1}}),
            Value::Null,
        )
        .unwrap();
        assert_eq!(
            out.output,
            json!({"event": "e", "channel": null, "data": {"x": 1}})
        );
        let out = run("webhook-response", json!({"body": "ok"}), Value::Null).unwrap();
        assert_eq!(out.output["statusCode"], 200);
    }
}
