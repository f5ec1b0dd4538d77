//! Which JSON Schema draft a parameter schema is compiled under.
//!
//! A schema without `$schema` is a draft 2020-12 schema. Compiling one
//! first checks it against the draft's meta-schema, and building that
//! check costs about 3 million instructions once per process — a third of
//! a cold `plugflow run` of a small workflow. A schema that uses only
//! keywords meaning the same under draft 7, whose meta-schema check is
//! built in about a fifth of that, is compiled under draft 7 with formats
//! as annotations (as 2020-12 has them): it accepts and refuses the same
//! values. Any keyword whose meaning differs between the drafts, or that
//! only one of them has, anywhere in the schema, keeps it on 2020-12.

use serde_json::Value;

/// Keywords whose meaning differs between draft 7 and 2020-12 (or that
/// one of them lacks), and `$schema`, which picks the draft itself.
const DRAFT_SENSITIVE: &[&str] = &[
    "$schema",
    "$ref",
    "$id",
    "$anchor",
    "$defs",
    "definitions",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$vocabulary",
    "additionalItems",
    "prefixItems",
    "unevaluatedItems",
    "unevaluatedProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "minContains",
    "maxContains",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
];

/// Compiles `schema` under draft 7 when that means the same (see the
/// module), else under the draft it declares or 2020-12.
pub(crate) fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    let compiled = if means_the_same_under_draft7(schema) {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(false)
            .build(schema)
    } else {
        jsonschema::validator_for(schema)
    };
    compiled.map_err(|e| e.to_string())
}

/// Whether no draft-sensitive keyword appears anywhere in `schema` (a
/// property or a value that merely spells one counts too: the check errs
/// towards 2020-12), and `items` is never a list (a tuple under draft 7, an
/// error under 2020-12).
fn means_the_same_under_draft7(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => map.iter().all(|(key, value)| {
            let sensitive =
                DRAFT_SENSITIVE.contains(&key.as_str()) || (key == "items" && value.is_array());
            !sensitive && means_the_same_under_draft7(value)
        }),
        Value::Array(values) => values.iter().all(means_the_same_under_draft7),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accepts(schema: &Value, value: &Value) -> bool {
        compile(schema).unwrap().is_valid(value)
    }

    #[test]
    fn a_plain_schema_is_compiled_under_draft7() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}, "required": ["n"]});
        assert!(means_the_same_under_draft7(&schema));
        assert!(accepts(&schema, &json!({"n": 1})));
        assert!(!accepts(&schema, &json!({"n": -1})));
    }

    #[test]
    fn a_ref_with_siblings_keeps_its_2020_12_meaning() {
        // Under draft 7 the siblings of `$ref` are ignored.
        let schema = json!({"$defs": {"n": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/n", "minimum": 5}}});
        assert!(!means_the_same_under_draft7(&schema));
        assert!(!accepts(&schema, &json!({"x": 1})));
    }

    #[test]
    fn formats_stay_annotations() {
        let schema = json!({"type": "string", "format": "email"});
        assert!(means_the_same_under_draft7(&schema));
        assert!(accepts(&schema, &json!("not an address")));
    }

    #[test]
    fn a_list_of_items_stays_a_2020_12_error() {
        let schema = json!({"type": "array", "items": [{"type": "string"}]});
        assert!(!means_the_same_under_draft7(&schema));
        assert!(compile(&schema).is_err());
    }

    #[test]
    fn a_schema_that_is_invalid_is_refused_under_draft7_too() {
        assert!(compile(&json!({"type": "strng"})).is_err());
    }

    #[test]
    fn prefix_items_keep_their_2020_12_meaning() {
        let schema = json!({"type": "array", "prefixItems": [{"type": "string"}]});
        assert!(!means_the_same_under_draft7(&schema));
        assert!(!accepts(&schema, &json!([1])));
    }
}
