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
    let mut scoped = object.clone();
    for key in FILTER_KEYS {
        if let Some(filter) = scoped.get_mut(key) {
            *filter = and_tenant(filter.take(), tenant, field);
        }
    }
    if !FILTER_KEYS.iter().any(|k| scoped.contains_key(*k)) {
        scoped.insert("filter".to_owned(), tenant_predicate(tenant, field));
    }
    for key in DATA_KEYS {
        if let Some(data) = scoped.get_mut(key) {
            force_tenant(data, tenant, field, key)?;
        }
    }
    Ok(Some(Value::Object(scoped)))
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

fn force_tenant(data: &mut Value, tenant: &str, field: &str, key: &str) -> Result<(), NodeFailure> {
    match data {
        Value::Object(record) => {
            record.insert(field.to_owned(), Value::String(tenant.to_owned()));
            Ok(())
        }
        Value::Array(records) => {
            for (i, record) in records.iter_mut().enumerate() {
                match record {
                    Value::Object(record) => {
                        record.insert(field.to_owned(), Value::String(tenant.to_owned()));
                    }
                    _ => {
                        return Err(NodeFailure::new(
                            ErrorCode::InvalidParameters,
                            format!("parameter `{key}/{i}` must be an object (a record to write)"),
                        ))
                    }
                }
            }
            Ok(())
        }
        Value::Null => Ok(()),
        _ => Err(NodeFailure::new(
            ErrorCode::InvalidParameters,
            format!("parameter `{key}` must be an object or an array of objects"),
        )),
    }
}

/// Checks that every record in `output` belongs to `tenant`: records are the
/// output itself when it is an array (its elements) or carries the tenant
/// field, and the elements of arrays under `records`, `items`, `rows`,
/// `data`, `result`. Any object anywhere with a different tenant field is a
/// violation too. Returns the JSON Pointer of the first offending record.
pub fn foreign_record(output: &Value, tenant: &str, field: &str) -> Option<String> {
    fn records<'a>(output: &'a Value, path: String, found: &mut Vec<(String, &'a Value)>) {
        match output {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    found.push((format!("{path}/{i}"), item));
                }
            }
            Value::Object(object) => {
                for key in RECORD_KEYS {
                    if let Some(Value::Array(items)) = object.get(key) {
                        for (i, item) in items.iter().enumerate() {
                            found.push((format!("{path}/{key}/{i}"), item));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    fn any_foreign(value: &Value, path: &str, tenant: &str, field: &str) -> Option<String> {
        match value {
            Value::Object(object) => {
                if let Some(owner) = object.get(field) {
                    if owner.as_str() != Some(tenant) {
                        return Some(path.to_owned());
                    }
                }
                object
                    .iter()
                    .find_map(|(k, v)| any_foreign(v, &format!("{path}/{k}"), tenant, field))
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| any_foreign(v, &format!("{path}/{i}"), tenant, field)),
            _ => None,
        }
    }
    if let Some(path) = any_foreign(output, "", tenant, field) {
        return Some(path);
    }
    let mut found = Vec::new();
    records(output, String::new(), &mut found);
    found
        .into_iter()
        .find(|(_, record)| match record {
            Value::Object(o) => o.get(field).and_then(Value::as_str) != Some(tenant),
            _ => false,
        })
        .map(|(path, _)| path)
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
