//! A declared entity as SQLite tables and indexes: one typed column per
//! field with its constraints, the tenant and id as the primary key, and
//! every index led by the tenant column, so isolation and speed go
//! together (a unique field is unique per tenant: two tenants may hold the
//! same username).

use super::{Entity, FieldSpec, FieldType, IndexSpec};

/// The table of a declared entity (its own prefix: a declared and an
/// undeclared entity of one name never share a table).
pub fn table_name(entity: &str) -> String {
    format!("d_{entity}")
}

/// `CREATE TABLE` and `CREATE INDEX` statements for `entity`, each safe to
/// run again (`IF NOT EXISTS`).
pub fn create_statements(entity: &Entity) -> Vec<String> {
    let table = table_name(&entity.name);
    let mut columns = vec![
        "\"tenantId\" TEXT NOT NULL".to_owned(),
        "\"id\" TEXT NOT NULL".to_owned(),
    ];
    for (name, spec) in &entity.fields {
        columns.push(column(name, spec));
    }
    columns.push("PRIMARY KEY (\"tenantId\", \"id\")".to_owned());
    let mut statements = vec![format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" (\n    {}\n)",
        columns.join(",\n    ")
    )];
    for index in &entity.indexes {
        statements.push(index_statement(&entity.name, &table, index));
    }
    statements
}

/// One column: its affinity, NOT NULL unless nullable, and the CHECKs
/// SQLite can hold (enum values, lengths, ranges, booleans).
pub fn column(name: &str, spec: &FieldSpec) -> String {
    let quoted = format!("\"{name}\"");
    let mut column = format!("{quoted} {}", spec.kind.column_type());
    if !spec.is_nullable() {
        column.push_str(" NOT NULL");
    }
    let mut checks = Vec::new();
    if let (FieldType::Enum, Some(values)) = (spec.kind, &spec.values) {
        // Equalities, not `IN (...)`: SQLite builds an `IN` list of more
        // than two values as a temporary B-tree, and a CHECK in a
        // multi-row INSERT rebuilds it for every row.
        let list: Vec<String> = values
            .iter()
            .map(|v| format!("{quoted} = {}", literal(v)))
            .collect();
        checks.push(format!("({})", list.join(" OR ")));
    }
    if spec.kind == FieldType::Boolean {
        checks.push(format!("{quoted} IN (0, 1)"));
    }
    if let Some(min) = spec.min_length {
        checks.push(format!("length({quoted}) >= {min}"));
    }
    if let Some(max) = spec.max_length {
        checks.push(format!("length({quoted}) <= {max}"));
    }
    if let Some(min) = spec.min.filter(|m| m.is_finite()) {
        checks.push(format!("{quoted} >= {min}"));
    }
    if let Some(max) = spec.max.filter(|m| m.is_finite()) {
        checks.push(format!("{quoted} <= {max}"));
    }
    if spec.kind.is_json() {
        checks.push(format!("json_valid({quoted})"));
    }
    if !checks.is_empty() {
        // NULL passes a CHECK, so nullable columns stay nullable.
        column.push_str(&format!(" CHECK ({})", checks.join(" AND ")));
    }
    column
}

/// A text literal: single quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The index's name: the entity's prefix, then the schema's name or the
/// fields joined, kept to identifier characters.
pub fn index_name(entity: &str, index: &IndexSpec) -> String {
    let base = index.name.clone().unwrap_or_else(|| index.fields.join("_"));
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let kind = if index.unique { "u" } else { "x" };
    format!("{kind}_{entity}__{base}")
}

/// `CREATE [UNIQUE] INDEX IF NOT EXISTS` of `index`, led by the tenant
/// column (the same statement on SQLite and PostgreSQL).
pub fn index_statement(entity: &str, table: &str, index: &IndexSpec) -> String {
    let mut fields = vec!["\"tenantId\"".to_owned()];
    fields.extend(
        index
            .fields
            .iter()
            .filter(|f| *f != "tenantId")
            .map(|f| format!("\"{f}\"")),
    );
    format!(
        "CREATE {}INDEX IF NOT EXISTS \"{}\" ON \"{table}\" ({})",
        if index.unique { "UNIQUE " } else { "" },
        index_name(entity, index),
        fields.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::Connection;
    use serde_json::json;

    use super::create_statements;
    use crate::entity::load::parse;

    /// A table of an entity with an enum field, in a fresh in-memory
    /// database.
    fn table_with_enum() -> Connection {
        let schema = json!({"entity": "ticket", "fields": {
            "state": {"type": "enum", "values": ["open", "it's done", "closed"], "required": true}}});
        let entity = parse(Path::new("ticket.json"), &schema).expect("schema");
        let conn = Connection::open_in_memory().expect("database");
        for statement in create_statements(&entity) {
            conn.execute_batch(&statement).expect("DDL");
        }
        conn
    }

    fn insert(conn: &Connection, state: &str) -> rusqlite::Result<usize> {
        conn.execute(
            "INSERT INTO d_ticket (tenantId, id, state) VALUES ('t', ?1, ?2)",
            (state, state),
        )
    }

    #[test]
    fn an_enum_column_accepts_each_listed_value_quotes_included() {
        let conn = table_with_enum();
        for state in ["open", "it's done", "closed"] {
            assert_eq!(insert(&conn, state).expect(state), 1);
        }
    }

    #[test]
    fn an_enum_column_refuses_a_value_the_schema_does_not_list() {
        let conn = table_with_enum();
        let refused = insert(&conn, "lost").expect_err("not listed");
        assert!(refused.to_string().contains("CHECK"), "{refused}");
    }
}
