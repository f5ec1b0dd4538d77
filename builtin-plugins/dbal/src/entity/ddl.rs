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
        let list: Vec<String> = values.iter().map(|v| literal(v)).collect();
        checks.push(format!("{quoted} IN ({})", list.join(", ")));
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
