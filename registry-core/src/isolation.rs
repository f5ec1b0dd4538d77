//! Tenant layers 2 and 3: rewriting the parameters of tenant-scoped nodes
//! so no filter can reach another tenant and no written record can claim
//! one, and checking that their outputs hold only the tenant's records.

use serde_json::{Map, Value};

use crate::error::{ErrorCode, NodeFailure};

/// Parameter keys holding a data filter.
const FILTER_KEYS: [&str; 2] = ["filter", "where"];
/// Parameter keys holding records to write.
const DATA_KEYS: [&str; 3] = ["data", "record", "records"];
/// Output keys holding returned records.
const RECORD_KEYS: [&str; 5] = ["records", "items", "rows", "data", "result"];

/// Rewrites `parameters` for `tenant`:
///
/// * every filter becomes `{"$and": [{<field>: tenant}, <original>]}`, a
///   separate conjunct, so no `$or`, nested group or explicit `tenantId` in
///   the original can widen it;
/// * every record to write gets `<field> = tenant`, overwriting whatever
///   the parameters said.
///
/// Returns `None` when nothing needed rewriting.
pub fn scope_parameters(
    parameters: &Value,
    tenant: &str,
    field: &str,
) -> Result<Option<Value>, NodeFailure> {
    let Some(object) = parameters.as_object() else {
        return Ok(None);
    };
    if !FILTER_KEYS
        .iter()
        .chain(DATA_KEYS.iter())
        .any(|k| object.contains_key(*k))
    {
        // Reads without a filter still get one when the node is scoped.
        let mut scoped = object.clone();
        scoped.insert("filter".to_owned(), tenant_predicate(tenant, field));
        return Ok(Some(Value::Object(scoped)));
    }
    let mut scoped = Map::with_capacity(object.len() + 1);
    for (key, value) in object {
        let value = if FILTER_KEYS.contains(&key.as_str()) {
            and_tenant(value.clone(), tenant, field)
        } else if DATA_KEYS.contains(&key.as_str()) {
            forced_copy(value, tenant, field, key)?
        } else {
            value.clone()
        };
        scoped.insert(key.clone(), value);
    }
    if !FILTER_KEYS.iter().any(|k| scoped.contains_key(*k)) {
        scoped.insert("filter".to_owned(), tenant_predicate(tenant, field));
    }
    Ok(Some(Value::Object(scoped)))
}

/// A copy of `data` (records to write) with every record's tenant field
/// set to `tenant`. Each record is cloned whole, which copies its key
/// index instead of hashing every key again (bulk writes carry
/// thousands), then given the tenant.
fn forced_copy(data: &Value, tenant: &str, field: &str, key: &str) -> Result<Value, NodeFailure> {
    let copy = |record: &Map<String, Value>| {
        let mut owned = record.clone();
        owned_by(&mut owned, tenant, field);
        Value::Object(owned)
    };
    match data {
        Value::Object(record) => Ok(copy(record)),
        Value::Array(records) => records
            .iter()
            .enumerate()
            .map(|(i, record)| match record {
                Value::Object(record) => Ok(copy(record)),
                _ => Err(NodeFailure::new(
                    ErrorCode::InvalidParameters,
                    format!("parameter `{key}/{i}` must be an object (a record to write)"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Null => Ok(Value::Null),
        _ => Err(NodeFailure::new(
            ErrorCode::InvalidParameters,
            format!("parameter `{key}` must be an object or an array of objects"),
        )),
    }
}

fn tenant_predicate(tenant: &str, field: &str) -> Value {
    let mut predicate = Map::with_capacity(1);
    predicate.insert(field.to_owned(), Value::String(tenant.to_owned()));
    Value::Object(predicate)
}

fn and_tenant(filter: Value, tenant: &str, field: &str) -> Value {
    let is_empty = match &filter {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if is_empty {
        return tenant_predicate(tenant, field);
    }
    let mut and = Map::with_capacity(1);
    and.insert(
        "$and".to_owned(),
        Value::Array(vec![tenant_predicate(tenant, field), filter]),
    );
    Value::Object(and)
}

/// Sets `record`'s tenant field to `tenant`, in place when it has one.
fn owned_by(record: &mut Map<String, Value>, tenant: &str, field: &str) {
    match record.get_mut(field) {
        Some(Value::String(owner)) if owner == tenant => {}
        Some(owner) => *owner = Value::String(tenant.to_owned()),
        None => {
            record.insert(field.to_owned(), Value::String(tenant.to_owned()));
        }
    }
}

/// Checks that every record in `output` belongs to `tenant`: records are the
/// output itself when it is an array (its elements) or carries the tenant
/// field, and the elements of arrays under `records`, `items`, `rows`,
/// `data`, `result`. Any object anywhere with a different tenant field is a
/// violation too. Returns the JSON Pointer of the first offending record.
pub fn foreign_record(output: &Value, tenant: &str, field: &str) -> Option<String> {
    let mut trail = Vec::new();
    if any_foreign(output, tenant, field, &mut trail) {
        return Some(pointer(&trail));
    }
    let unowned = |record: &Value| match record {
        Value::Object(o) => o.get(field).and_then(Value::as_str) != Some(tenant),
        _ => false,
    };
    match output {
        Value::Array(items) => items.iter().position(unowned).map(|i| format!("/{i}")),
        Value::Object(object) => RECORD_KEYS.iter().find_map(|key| match object.get(*key) {
            Some(Value::Array(items)) => items
                .iter()
                .position(unowned)
                .map(|i| format!("/{key}/{i}")),
            _ => None,
        }),
        _ => None,
    }
}

/// A step into a JSON value: a key or an index.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Whether any object in `value` names another tenant; `trail` then leads
/// to it (paths are built only for the one found: outputs can hold
/// thousands of records).
fn any_foreign<'a>(value: &'a Value, tenant: &str, field: &str, trail: &mut Vec<Step<'a>>) -> bool {
    match value {
        Value::Object(object) => {
            if object
                .get(field)
                .is_some_and(|owner| owner.as_str() != Some(tenant))
            {
                return true;
            }
            for (key, v) in object {
                trail.push(Step::Key(key));
                if any_foreign(v, tenant, field, trail) {
                    return true;
                }
                trail.pop();
            }
            false
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                trail.push(Step::Index(i));
                if any_foreign(v, tenant, field, trail) {
                    return true;
                }
                trail.pop();
            }
            false
        }
        _ => false,
    }
}

fn pointer(trail: &[Step<'_>]) -> String {
    use std::fmt::Write;
    let mut path = String::new();
    for step in trail {
        let _ = match step {
            Step::Key(key) => write!(path, "/{key}"),
            Step::Index(i) => write!(path, "/{i}"),
        };
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_get_a_separate_tenant_conjunct() {
        let p = json!({"filter": {"$or": [{"tenantId": "b"}, {"x": 1}]}, "entity": "T"});
        let scoped = scope_parameters(&p, "a", "tenantId").unwrap().unwrap();
        assert_eq!(
            scoped["filter"],
            json!({"$and": [{"tenantId": "a"}, {"$or": [{"tenantId": "b"}, {"x": 1}]}]})
        );
        assert_eq!(scoped["entity"], "T");
    }

    #[test]
    fn written_records_are_forced_to_the_tenant() {
        let p = json!({"data": [{"tenantId": "b", "v": 1}, {"v": 2}]});
        let scoped = scope_parameters(&p, "a", "tenantId").unwrap().unwrap();
        assert_eq!(
            scoped["data"],
            json!([{"tenantId": "a", "v": 1}, {"tenantId": "a", "v": 2}])
        );
        assert_eq!(scoped["filter"], json!({"tenantId": "a"}));
        let bad = scope_parameters(&json!({"data": [1]}), "a", "tenantId").unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidParameters);
    }

    #[test]
    fn foreign_records_are_found() {
        assert_eq!(
            foreign_record(
                &json!([{"tenantId": "a"}, {"tenantId": "b"}]),
                "a",
                "tenantId"
            )
            .as_deref(),
            Some("/1")
        );
        assert_eq!(
            foreign_record(
                &json!({"records": [{"tenantId": "a"}, {"id": 3}]}),
                "a",
                "tenantId"
            )
            .as_deref(),
            Some("/records/1")
        );
        assert_eq!(
            foreign_record(
                &json!({"nested": {"deep": {"tenantId": "z"}}}),
                "a",
                "tenantId"
            )
            .as_deref(),
            Some("/nested/deep")
        );
        assert_eq!(
            foreign_record(
                &json!({"count": 3, "records": [{"tenantId": "a"}]}),
                "a",
                "tenantId"
            ),
            None
        );
    }
}
