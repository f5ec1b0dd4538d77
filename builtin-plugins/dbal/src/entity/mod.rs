//! Entity schemas in MetaBuilder's DBAL format (`entity`, `fields`,
//! `indexes`, `acl`): what a declared entity's records look like, read
//! from a directory at start-up and checked with errors naming the file,
//! the entity and the field. The store turns a schema into typed columns,
//! constraints and tenant-leading indexes ([`ddl`]), and checks every
//! record written against it ([`check`]).

pub mod check;
pub mod ddl;
mod field;
pub mod load;

use serde::Deserialize;
use serde_json::{Map, Value};

pub use field::{FieldSpec, FieldType};
pub use load::{describe, load_dir, Catalog, SchemaError};

/// Columns the store keeps itself for every declared entity: a schema may
/// declare them (MetaBuilder's do), but their values come from the store.
pub const STORE_COLUMNS: [&str; 2] = ["id", "tenantId"];

/// One entity's schema.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct EntitySchema {
    /// The entity's name, as `dbal-read` / `dbal-write` name it.
    pub entity: String,
    /// Schema version (informational).
    #[serde(default)]
    pub version: Option<String>,
    /// What the entity is.
    #[serde(default)]
    pub description: Option<String>,
    /// Its fields, in declaration order.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Indexes beyond the fields' own `index` / `unique` hints.
    #[serde(default)]
    pub indexes: Vec<IndexSpec>,
    /// Who may do what (kept for the access layer).
    #[serde(default)]
    pub acl: Option<Value>,
    /// Relations (kept; not enforced by the store).
    #[serde(default)]
    pub relations: Option<Value>,
}

/// A declared index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IndexSpec {
    /// Its fields, in order (the tenant column is put first).
    pub fields: Vec<String>,
    /// Unique per tenant.
    #[serde(default)]
    pub unique: bool,
    /// Its name, when the schema gives one.
    #[serde(default)]
    pub name: Option<String>,
    /// `fulltext`, `spatial`: not supported by the SQLite store (a plain
    /// index is made, with a warning).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A checked entity: its fields parsed and validated.
#[derive(Debug, Clone)]
pub struct Entity {
    /// The schema's entity name.
    pub name: String,
    /// The file it was read from.
    pub file: std::path::PathBuf,
    /// Typed fields, in declaration order (`id`, the tenant field and the
    /// timestamps the store keeps are not among them).
    pub fields: Vec<(String, FieldSpec)>,
    /// Indexes, each unique one per tenant.
    pub indexes: Vec<IndexSpec>,
    /// The access rules, as written.
    pub acl: Option<Value>,
    /// The compiled `pattern` of each field that has one.
    pub patterns: Vec<(String, regex::Regex)>,
}

impl Entity {
    /// The field named `name`, if declared.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    /// Each field with its value in `record`, in schema order: the record
    /// is walked in step (records are usually written, and checked ones
    /// always kept, in schema order), a field out of place looked up.
    pub fn in_schema_order<'a>(
        &'a self,
        record: &'a Map<String, Value>,
    ) -> impl Iterator<Item = (&'a String, &'a FieldSpec, Option<&'a Value>)> + 'a {
        let mut given = record.iter().peekable();
        self.fields.iter().map(move |(name, spec)| {
            let value = match given.next_if(|(k, _)| *k == name) {
                Some((_, v)) => Some(v),
                None => record.get(name),
            };
            (name, spec, value)
        })
    }

    /// The compiled pattern of `field`, if it has one.
    pub fn pattern(&self, field: &str) -> Option<&regex::Regex> {
        self.patterns
            .iter()
            .find(|(n, _)| n == field)
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn entity() -> super::Entity {
        let schema = json!({"entity": "item", "fields": {
            "a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "string"}}});
        super::load::parse(std::path::Path::new("item.json"), &schema).expect("schema")
    }

    fn values(record: serde_json::Value) -> Vec<Option<serde_json::Value>> {
        let entity = entity();
        let record = record.as_object().unwrap().clone();
        entity
            .in_schema_order(&record)
            .map(|(_, _, v)| v.cloned())
            .collect()
    }

    #[test]
    fn a_record_in_schema_order_gives_each_fields_value() {
        assert_eq!(
            values(json!({"a": "x", "b": 1, "c": "z"})),
            vec![Some(json!("x")), Some(json!(1)), Some(json!("z"))]
        );
    }

    #[test]
    fn a_record_out_of_order_or_with_gaps_gives_the_same_values() {
        assert_eq!(
            values(json!({"c": "z", "id": "i", "a": "x"})),
            vec![Some(json!("x")), None, Some(json!("z"))]
        );
    }
}
