//! Property: whatever filter a tenant writes (nested `$and`/`$or`/`$not`,
//! explicit `tenantId` values, odd field names), the rewritten filter never
//! matches another tenant's record, and matches the tenant's own records
//! exactly as the original did.

use proptest::prelude::*;
use registry_core::scope_parameters;
use serde_json::{json, Map, Value};

const TENANTS: [&str; 3] = ["a", "b", "c"];
const FIELDS: [&str; 4] = ["tenantId", "x", "we'ird\"field", "$where"];

/// A reference evaluator of the filter language (Mongo-style).
fn matches(filter: &Value, record: &Value) -> bool {
    match filter {
        Value::Object(o) => o.iter().all(|(k, v)| match k.as_str() {
            "$and" => v
                .as_array()
                .is_some_and(|fs| fs.iter().all(|f| matches(f, record))),
            "$or" => v
                .as_array()
                .is_some_and(|fs| fs.iter().any(|f| matches(f, record))),
            "$not" => !matches(v, record),
            field => field_matches(record.get(field).unwrap_or(&Value::Null), v),
        }),
        _ => false,
    }
}

fn field_matches(actual: &Value, condition: &Value) -> bool {
    match condition {
        Value::Object(ops) if ops.keys().all(|k| k.starts_with('$')) && !ops.is_empty() => {
            ops.iter().all(|(op, v)| match op.as_str() {
                "$eq" => actual == v,
                "$ne" => actual != v,
                "$in" => v.as_array().is_some_and(|a| a.contains(actual)),
                "$nin" => v.as_array().is_some_and(|a| !a.contains(actual)),
                _ => false,
            })
        }
        other => actual == other,
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        prop::sample::select(TENANTS.to_vec()).prop_map(Value::from),
        (0i64..3).prop_map(Value::from),
    ];
    (
        prop::sample::select(FIELDS.to_vec()),
        value.clone(),
        prop::collection::vec(value, 0..3),
        0..4u8,
    )
        .prop_map(|(field, v, vs, op)| {
            let condition = match op {
                0 => v,
                1 => json!({"$ne": v}),
                2 => json!({"$in": vs}),
                _ => json!({"$nin": vs}),
            };
            let mut m = Map::new();
            m.insert(field.to_owned(), condition);
            Value::Object(m)
        })
}

fn filter() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|fs| json!({"$and": fs})),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|fs| json!({"$or": fs})),
            inner.clone().prop_map(|f| json!({"$not": f})),
            (inner.clone(), inner).prop_map(|(a, b)| {
                let mut m = a.as_object().cloned().unwrap_or_default();
                m.extend(b.as_object().cloned().unwrap_or_default());
                Value::Object(m)
            }),
        ]
    })
}

fn record() -> impl Strategy<Value = Value> {
    (prop::sample::select(TENANTS.to_vec()), 0i64..3, 0i64..3)
        .prop_map(|(t, x, w)| json!({"tenantId": t, "x": x, "we'ird\"field": w}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_rewritten_filter_never_reaches_another_tenant(f in filter(), records in prop::collection::vec(record(), 1..12)) {
        let scoped = scope_parameters(&json!({"filter": f.clone()}), "a", "tenantId").unwrap().unwrap();
        let scoped = &scoped["filter"];
        for r in &records {
            if matches(scoped, r) {
                prop_assert_eq!(&r["tenantId"], "a", "filter {} matched {}", scoped, r);
            }
            if r["tenantId"] == "a" {
                prop_assert_eq!(matches(scoped, r), matches(&f, r), "own records keep the original meaning");
            }
        }
    }

    #[test]
    fn written_records_always_carry_the_tenant(data in prop::collection::vec(record(), 0..6)) {
        let scoped = scope_parameters(&json!({"data": data}), "a", "tenantId").unwrap().unwrap();
        for r in scoped["data"].as_array().unwrap() {
            prop_assert_eq!(&r["tenantId"], "a");
        }
    }
}
