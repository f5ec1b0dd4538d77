//! MetaBuilder's own database node types, `metabuilder.database` and
//! `metabuilder.operation` with `operation: "database_*"`, run on the dbal
//! with the output shapes MetaBuilder's package workflows read:
//!
//! | operation | output |
//! |---|---|
//! | `database_read` | the list of records; one record (or `null`) when the filter pins an `id` or `limit` is 1 |
//! | `database_get` | the record with `id`, or `null` |
//! | `database_count` | the number |
//! | `database_aggregate` | `{<name>: value}` for `aggregations` such as `{"total": "sum(likes)", "n": "count"}`; with `groupBy`, a list of `{<groupBy>: key, tenantId, <name>: value}` |
//! | `database_create` | the stored record (a list for a list of records) |
//! | `database_update` | the updated record when the filter pins an `id`, else `{count}` |
//! | `database_update_many`, `database_delete`, `database_delete_many` | `{count}` |
//! | `database_upsert` | the stored record |
//!
//! `where` is accepted for `filter`; `output` (a result name in MetaBuilder's
//! files) is accepted and ignored.

use plugin_abi::sdk::{
    kind, Node, NodeDescription, NodeError, NodeOutput, NodeRequest, NodeSpec, Validation,
};
use serde_json::{json, Map, Value};

use crate::{read, write};

type NodeResult = Result<NodeOutput, NodeError>;

/// The node type `node_type`, running MetaBuilder's database operations.
pub fn spec(node_type: &str) -> NodeSpec {
    NodeSpec::new(node_type, "1.0.0", "data", "MetaBuilder's database node: `operation` database_read, database_get, database_count, database_aggregate, database_create, database_update, database_update_many, database_delete, database_delete_many or database_upsert on `entity`, for the execution's tenant, with `filter` (or `where`), `data`, `id`, `sort`, `limit`, `offset`, `aggregations`, `groupBy`. Output: database_read → the list of records, or one record (or null) when the filter pins an `id` or `limit` is 1; database_get → the record or null; database_count → the number; database_aggregate → {name: value} (a list of {groupBy: key, name: value} with `groupBy`); database_create → the stored record (a list for a list); database_update → the updated record when the filter pins an `id`, else {count}; the *_many and delete operations → {count}; database_upsert → the stored record.")
        .schema(json!({"type": "object", "properties": {
            "operation": {"type": "string"},
            "entity": {"type": "string"},
            "filter": {}, "where": {}, "data": {"type": ["object", "array"]},
            "id": {"type": ["string", "integer"]},
            "sort": {"type": ["string", "array", "object"]},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
            "aggregations": {"type": "object", "additionalProperties": {"type": "string"}},
            "groupBy": {"type": "string"},
            "output": {"type": "string"}}}))
        .required(["operation"])
        .tags(["data", "database", "metabuilder"])
        .icon("database")
        .blocking()
        .tenant_scoped()
        .executor(|| Database)
}

/// The operations this node type runs.
const OPERATIONS: [&str; 10] = [
    "database_read",
    "database_get",
    "database_count",
    "database_aggregate",
    "database_create",
    "database_update",
    "database_update_many",
    "database_delete",
    "database_delete_many",
    "database_upsert",
];

struct Database;

impl Node for Database {
    /// Unsupported operations and a missing entity are found before the
    /// run (on parameters written without templates).
    fn validate(&self, node: &NodeDescription) -> Validation {
        let p = &node.parameters;
        match p.get("operation").and_then(Value::as_str) {
            Some(op) if !OPERATIONS.contains(&op) => Validation::valid().error(unsupported(op)),
            Some(_)
                if p.get("entity")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty) =>
            {
                Validation::valid().error("`entity` is required: the entity (table) to work on")
            }
            _ => Validation::valid(),
        }
    }

    fn execute(&self, request: &NodeRequest) -> NodeResult {
        run(request)
    }
}

fn unsupported(operation: &str) -> String {
    format!(
        "operation `{operation}` is not a database operation plugflow runs ({}); other MetaBuilder operations need a plugin that provides them",
        OPERATIONS.join(", ")
    )
}

/// `request` with `parameters` changed by `edit`.
fn with_params(request: &NodeRequest, edit: impl FnOnce(&mut Map<String, Value>)) -> NodeRequest {
    let mut parameters = request.parameters.as_object().cloned().unwrap_or_default();
    if let Some(filter) = parameters.remove("where") {
        parameters.entry("filter").or_insert(filter);
    }
    parameters.remove("output");
    edit(&mut parameters);
    NodeRequest {
        parameters: Value::Object(parameters),
        ..request.clone()
    }
}

/// Whether `filter` pins one record by `id` (also inside the `$and` the
/// host's tenant scoping wraps filters in).
fn pins_id(filter: Option<&Value>) -> bool {
    match filter {
        Some(Value::Object(o)) => {
            o.get("id").is_some_and(|v| v.is_string() || v.is_number())
                || o.get("$and")
                    .and_then(Value::as_array)
                    .is_some_and(|items| items.iter().any(|f| pins_id(Some(f))))
        }
        _ => false,
    }
}

fn records(output: Value) -> Vec<Value> {
    match output.get("records") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

fn run(request: &NodeRequest) -> NodeResult {
    let operation = request.str_param("operation")?.to_owned();
    if OPERATIONS.contains(&operation.as_str()) {
        request.str_param("entity")?;
    }
    let filter = request.param("filter").or_else(|| request.param("where"));
    let single = pins_id(filter) || request.param("limit").and_then(Value::as_i64) == Some(1);
    let output = match operation.as_str() {
        "database_read" => {
            let found = records(
                read(&with_params(request, |p| {
                    p.insert("operation".into(), json!("read"));
                }))?
                .output,
            );
            if single {
                found.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(found)
            }
        }
        "database_get" => read(&with_params(request, |p| {
            p.insert("operation".into(), json!("get"));
        }))?
        .output
        .get("record")
        .cloned()
        .unwrap_or(Value::Null),
        "database_count" => read(&with_params(request, |p| {
            p.insert("operation".into(), json!("count"));
        }))?
        .output
        .get("count")
        .cloned()
        .unwrap_or(json!(0)),
        "database_aggregate" => aggregate(request)?,
        "database_create" => {
            let created = records(
                write(&with_params(request, |p| {
                    p.insert("operation".into(), json!("create"));
                }))?
                .output,
            );
            match request.param("data") {
                Some(Value::Array(_)) => Value::Array(created),
                _ => created.into_iter().next().unwrap_or(Value::Null),
            }
        }
        "database_update" | "database_update_many" => {
            let done = write(&with_params(request, |p| {
                p.insert("operation".into(), json!("update"));
            }))?;
            if operation == "database_update" && single {
                let found = records(
                    read(&with_params(request, |p| {
                        p.insert("operation".into(), json!("read"));
                        p.remove("data");
                        p.insert("limit".into(), json!(1));
                    }))?
                    .output,
                );
                found.into_iter().next().unwrap_or(Value::Null)
            } else {
                done.output
            }
        }
        "database_delete" | "database_delete_many" => {
            write(&with_params(request, |p| {
                p.insert("operation".into(), json!("delete"));
            }))?
            .output
        }
        "database_upsert" => write(&with_params(request, |p| {
            p.insert("operation".into(), json!("upsert"));
        }))?
        .output
        .get("record")
        .cloned()
        .unwrap_or(Value::Null),
        other => {
            return Err(NodeError::invalid_parameter(
                "operation",
                unsupported(other),
            ))
        }
    };
    Ok(NodeOutput::new(output))
}

/// `count` → (count, none); `sum(likes)` → (sum, likes).
fn parse_aggregation(name: &str, text: &str) -> Result<(String, Option<String>), NodeError> {
    let text = text.trim();
    let (function, field) = match text.split_once('(') {
        Some((f, rest)) => {
            let field = rest
                .strip_suffix(')')
                .map(str::trim)
                .filter(|f| !f.is_empty() && *f != "*");
            (f.trim(), field.map(str::to_owned))
        }
        None => (text, None),
    };
    let function = function.to_ascii_lowercase();
    if !matches!(function.as_str(), "count" | "sum" | "avg" | "min" | "max") {
        return Err(NodeError::invalid_parameter(
            &format!("aggregations/{name}"),
            format!("`{text}` is not count, sum(field), avg(field), min(field) or max(field)"),
        ));
    }
    if function != "count" && field.is_none() {
        return Err(NodeError::invalid_parameter(
            &format!("aggregations/{name}"),
            format!("`{text}` needs a field, as in {function}(amount)"),
        ));
    }
    Ok((function, field))
}

fn aggregate(request: &NodeRequest) -> Result<Value, NodeError> {
    let default = {
        let mut m = Map::new();
        m.insert("count".into(), json!("count"));
        m
    };
    let aggregations = match request.param("aggregations") {
        None => &default,
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(NodeError::invalid_parameter(
                "aggregations",
                format!(
                    "expected an object of name → \"sum(field)\", got {}",
                    kind(other)
                ),
            ))
        }
    };
    let group_by = request
        .param("groupBy")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut totals = Map::new();
    let mut groups: Vec<(Value, Map<String, Value>)> = Vec::new();
    for (name, text) in aggregations {
        let text = text.as_str().ok_or_else(|| {
            NodeError::invalid_parameter(&format!("aggregations/{name}"), "expected a string")
        })?;
        let (function, field) = parse_aggregation(name, text)?;
        let answer = read(&with_params(request, |p| {
            p.insert("operation".into(), json!("aggregate"));
            p.insert("function".into(), json!(function));
            p.remove("aggregations");
            match &field {
                Some(f) => p.insert("field".into(), json!(f)),
                None => p.remove("field"),
            };
        }))?
        .output;
        match &group_by {
            None => {
                totals.insert(
                    name.clone(),
                    answer.get("value").cloned().unwrap_or(Value::Null),
                );
            }
            Some(key_name) => {
                for group in answer
                    .get("groups")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let key = group.get("key").cloned().unwrap_or(Value::Null);
                    let value = group.get("value").cloned().unwrap_or(Value::Null);
                    match groups.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, row)) => {
                            row.insert(name.clone(), value);
                        }
                        None => {
                            let mut row = Map::new();
                            row.insert(key_name.clone(), key.clone());
                            // Rows summarise the tenant's own records: they
                            // say so, as records do (the host checks it).
                            row.insert(
                                "tenantId".into(),
                                json!(request.context.tenant_id.clone().unwrap_or_default()),
                            );
                            row.insert(name.clone(), value);
                            groups.push((key, row));
                        }
                    }
                }
            }
        }
    }
    Ok(match group_by {
        None => Value::Object(totals),
        Some(_) => Value::Array(
            groups
                .into_iter()
                .map(|(_, row)| Value::Object(row))
                .collect(),
        ),
    })
}
