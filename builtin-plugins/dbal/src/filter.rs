//! Filters compiled to parameterised SQL over `json_extract`. Field names
//! are checked against a strict pattern and values are always bound, never
//! concatenated into the statement.

use rusqlite::types::Value as Sql;
use serde_json::Value;

/// Columns stored outside the JSON document.
const COLUMNS: [&str; 4] = ["id", "tenantId", "createdAt", "updatedAt"];

/// Deepest nesting of `$and` / `$or` / `$not` accepted.
const MAX_DEPTH: usize = 32;

/// A filter that cannot be compiled, with the JSON path of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Where in the filter.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Whether `field` is a plain field path: dot-separated identifiers.
pub fn valid_field(field: &str) -> bool {
    !field.is_empty()
        && field.len() <= 128
        && field.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// How a filter's field names become SQL: the columns of a declared
/// entity's table, or paths in an undeclared entity's JSON document.
pub trait Fields {
    /// The SQL expression reading `field` (a name [`valid_field`]
    /// accepted), binding what it needs into `params`.
    ///
    /// # Errors
    ///
    /// Why the entity has no such field.
    fn sql(&self, field: &str, params: &mut Vec<Sql>) -> Result<String, String>;
}

/// An undeclared entity: the store's columns, else `json_extract` of the
/// document with the path bound as a parameter.
pub struct Schemaless;

impl Fields for Schemaless {
    fn sql(&self, field: &str, params: &mut Vec<Sql>) -> Result<String, String> {
        Ok(field_sql(field, params))
    }
}

/// The SQL expression reading `field` of an undeclared entity.
pub fn field_sql(field: &str, params: &mut Vec<Sql>) -> String {
    if COLUMNS.contains(&field) {
        format!("\"{field}\"")
    } else {
        params.push(Sql::Text(format!("$.{field}")));
        format!("json_extract(data, ?{})", params.len())
    }
}

/// A JSON value bound as an SQL value comparable with `json_extract`.
pub fn bind(value: &Value, params: &mut Vec<Sql>) -> String {
    let sql = match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None => Sql::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    };
    params.push(sql);
    format!("?{}", params.len())
}

/// Compiles `filter` into a WHERE expression, field names read through
/// `fields`, appending bound values to `params`. An empty filter matches
/// everything (`1`).
pub fn compile_with(
    filter: &Value,
    params: &mut Vec<Sql>,
    fields: &dyn Fields,
) -> Result<String, FilterError> {
    walk(&Sqlite(fields), filter, params, "filter", 0)
}

pub(crate) fn err(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// What a filter language's conditions compile to in one SQL dialect:
/// the walk over `$and` / `$or` / `$not` and field names is shared by the
/// SQLite and PostgreSQL stores; the conditions on a field are each
/// store's own.
pub(crate) trait Conditions {
    /// A bound parameter of the dialect.
    type Param;
    /// SQL for true (an empty filter, an empty `$and`, `$nin: []`).
    const TRUE: &'static str;
    /// SQL for false (an empty `$or`, `$in: []`).
    const FALSE: &'static str;
    /// The condition `value` puts on `field` (a name [`valid_field`]
    /// accepted) at `path`.
    ///
    /// # Errors
    ///
    /// Why the condition cannot be compiled, at its path.
    fn condition(
        &self,
        field: &str,
        value: &Value,
        params: &mut Vec<Self::Param>,
        path: &str,
    ) -> Result<String, FilterError>;
}

/// Compiles `filter` with `conditions`: objects AND their keys, `$and` /
/// `$or` take lists, `$not` one filter; nesting at most [`MAX_DEPTH`].
pub(crate) fn walk<C: Conditions>(
    conditions: &C,
    filter: &Value,
    params: &mut Vec<C::Param>,
    path: &str,
    depth: usize,
) -> Result<String, FilterError> {
    if depth > MAX_DEPTH {
        return Err(err(path, format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let object = match filter {
        Value::Null => return Ok(C::TRUE.to_owned()),
        Value::Object(o) => o,
        _ => return Err(err(path, "a filter must be an object")),
    };
    let mut parts = Vec::with_capacity(object.len());
    for (key, value) in object {
        let here = format!("{path}.{key}");
        let part = match key.as_str() {
            "$and" | "$or" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| err(&here, format!("{key} takes an array of filters")))?;
                if items.is_empty() {
                    (if key == "$and" { C::TRUE } else { C::FALSE }).to_owned()
                } else {
                    let joined = items
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            walk(conditions, f, params, &format!("{here}[{i}]"), depth + 1)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    format!(
                        "({})",
                        joined.join(if key == "$and" { " AND " } else { " OR " })
                    )
                }
            }
            "$not" => format!(
                "(NOT {})",
                walk(conditions, value, params, &here, depth + 1)?
            ),
            op if op.starts_with('$') => {
                return Err(err(
                    &here,
                    format!("unknown operator `{op}` at the top of a filter"),
                ))
            }
            field => {
                if !valid_field(field) {
                    return Err(err(&here, format!("field name `{field}` is not allowed: use letters, digits, `_` and dots")));
                }
                conditions.condition(field, value, params, &here)?
            }
        };
        parts.push(part);
    }
    Ok(if parts.is_empty() {
        C::TRUE.to_owned()
    } else {
        format!("({})", parts.join(" AND "))
    })
}

/// SQLite's conditions, reading fields through a [`Fields`].
struct Sqlite<'a>(&'a dyn Fields);

impl Conditions for Sqlite<'_> {
    type Param = Sql;
    const TRUE: &'static str = "1";
    const FALSE: &'static str = "0";

    fn condition(
        &self,
        field: &str,
        value: &Value,
        params: &mut Vec<Sql>,
        path: &str,
    ) -> Result<String, FilterError> {
        condition(field, value, params, self.0, path)
    }
}

fn condition(
    field: &str,
    value: &Value,
    params: &mut Vec<Sql>,
    fields: &dyn Fields,
    path: &str,
) -> Result<String, FilterError> {
    let ops = match value {
        Value::Object(o) if !o.is_empty() && o.keys().all(|k| k.starts_with('$')) => o,
        other => return equals(field, other, params, fields, path),
    };
    let mut parts = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let here = format!("{path}.{op}");
        if op == "$eq" {
            parts.push(equals(field, operand, params, fields, &here)?);
            continue;
        }
        if op == "$ne" {
            parts.push(format!(
                "(NOT {})",
                equals(field, operand, params, fields, &here)?
            ));
            continue;
        }
        let column = fields.sql(field, params).map_err(|m| err(path, m))?;
        let part = match op.as_str() {
            "$gt" | "$gte" | "$lt" | "$lte" => {
                if operand.is_null() || operand.is_object() || operand.is_array() {
                    return Err(err(&here, "compares with a number or a string"));
                }
                let sign = match op.as_str() {
                    "$gt" => ">",
                    "$gte" => ">=",
                    "$lt" => "<",
                    _ => "<=",
                };
                format!("({column} {sign} {})", bind(operand, params))
            }
            "$in" | "$nin" => {
                let items = operand.as_array().ok_or_else(|| err(&here, format!("{op} takes an array")))?;
                if items.is_empty() {
                    if op == "$in" { "0".to_owned() } else { "1".to_owned() }
                } else {
                    let list: Vec<String> = items.iter().map(|v| bind(v, params)).collect();
                    let test = format!("({column} IN ({}))", list.join(", "));
                    if op == "$in" { test } else { format!("(NOT {test} OR {column} IS NULL)") }
                }
            }
            "$like" => {
                let pattern = operand.as_str().ok_or_else(|| err(&here, "$like takes a string pattern (% and _ wildcards)"))?;
                format!("({column} LIKE {})", bind(&Value::String(pattern.to_owned()), params))
            }
            "$exists" => {
                let wanted = operand.as_bool().ok_or_else(|| err(&here, "$exists takes true or false"))?;
                if wanted { format!("({column} IS NOT NULL)") } else { format!("({column} IS NULL)") }
            }
            other => return Err(err(&here, format!("unknown operator `{other}`; use $eq $ne $gt $gte $lt $lte $in $nin $like $exists"))),
        };
        parts.push(part);
    }
    Ok(format!("({})", parts.join(" AND ")))
}

fn equals(
    field: &str,
    value: &Value,
    params: &mut Vec<Sql>,
    fields: &dyn Fields,
    path: &str,
) -> Result<String, FilterError> {
    let column = fields.sql(field, params).map_err(|m| err(path, m))?;
    Ok(if value.is_null() {
        format!("({column} IS NULL)")
    } else {
        format!("({column} = {})", bind(value, params))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_with_bound_values_only() {
        let mut params = Vec::new();
        let sql = compile_with(
            &json!({"name": "x'; DROP TABLE t; --", "age": {"$gte": 18}}),
            &mut params,
            &Schemaless,
        )
        .unwrap();
        assert!(!sql.contains("DROP"), "{sql}");
        assert_eq!(params.len(), 4);
    }

    #[test]
    fn rejects_bad_field_names_and_operators() {
        for bad in [
            json!({"a\"b": 1}),
            json!({"a'); --": 1}),
            json!({"$where": "1"}),
            json!({"x": {"$regex": "."}}),
            json!({"a..b": 1}),
        ] {
            assert!(
                compile_with(&bad, &mut Vec::new(), &Schemaless).is_err(),
                "{bad}"
            );
        }
        let mut deep = json!({"x": 1});
        for _ in 0..40 {
            deep = json!({"$not": deep});
        }
        assert!(compile_with(&deep, &mut Vec::new(), &Schemaless).is_err());
    }
}
