//! Filters, sorts and fields compiled to PostgreSQL over `jsonb`: the same
//! filter language and checks as on SQLite (field names by the same strict
//! pattern, values always bound), other SQL.

use serde_json::Value;

use super::Param;
use crate::filter::{valid_field, FilterError};

/// Columns stored outside the JSON document.
const COLUMNS: [&str; 4] = ["id", "tenantId", "createdAt", "updatedAt"];

/// Deepest nesting of `$and` / `$or` / `$not` accepted.
const MAX_DEPTH: usize = 32;

/// How a field reads: a text column, or a path in the document.
pub(crate) enum Field {
    Column(String),
    Document(String),
}

impl Field {
    /// `field` (a name [`valid_field`] accepted), its path bound.
    pub(crate) fn of(field: &str, params: &mut Vec<Param>) -> Self {
        if COLUMNS.contains(&field) {
            Field::Column(format!("\"{field}\""))
        } else {
            params.push(Param::Path(field.split('.').map(str::to_owned).collect()));
            // JSON `null` reads as SQL NULL, as SQLite's `json_extract`
            // reads it: the three-valued logic of filters is the same.
            Field::Document(format!(
                "NULLIF(data #> ${}::text[], 'null'::jsonb)",
                params.len()
            ))
        }
    }

    /// Its SQL: text for a column, `jsonb` for a document field.
    pub(crate) fn sql(&self) -> &str {
        match self {
            Field::Column(sql) | Field::Document(sql) => sql,
        }
    }

    /// SQL that is true when it holds no value (absent or JSON `null`).
    fn is_null(&self) -> String {
        format!("({} IS NULL)", self.sql())
    }

    /// `value` bound to compare with it.
    fn bind(&self, value: &Value, params: &mut Vec<Param>) -> String {
        match self {
            Field::Column(_) => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => i64::from(*b).to_string(),
                    other => other.to_string(),
                };
                params.push(Param::Text(text));
                format!("${}::text", params.len())
            }
            Field::Document(_) => {
                params.push(Param::Json(value.clone()));
                format!("${}::jsonb", params.len())
            }
        }
    }

    /// The numeric value of a document field (`NULL` when not a number),
    /// or the column: what `sum` / `avg` / `min` / `max` read.
    pub(crate) fn numeric(&self) -> String {
        match self {
            Field::Column(c) => c.clone(),
            Field::Document(d) => {
                format!("(CASE WHEN jsonb_typeof({d}) = 'number' THEN ({d} #>> '{{}}')::numeric END)")
            }
        }
    }

}

fn err(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Compiles `filter` into a WHERE expression, appending bound values to
/// `params`. An empty filter matches everything.
pub(crate) fn compile(filter: &Value, params: &mut Vec<Param>) -> Result<String, FilterError> {
    compile_at(filter, params, "filter", 0)
}

fn compile_at(
    filter: &Value,
    params: &mut Vec<Param>,
    path: &str,
    depth: usize,
) -> Result<String, FilterError> {
    if depth > MAX_DEPTH {
        return Err(err(path, format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let object = match filter {
        Value::Null => return Ok("TRUE".to_owned()),
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
                    (if key == "$and" { "TRUE" } else { "FALSE" }).to_owned()
                } else {
                    let joined = items
                        .iter()
                        .enumerate()
                        .map(|(i, f)| compile_at(f, params, &format!("{here}[{i}]"), depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    format!(
                        "({})",
                        joined.join(if key == "$and" { " AND " } else { " OR " })
                    )
                }
            }
            "$not" => format!("(NOT {})", compile_at(value, params, &here, depth + 1)?),
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
                condition(field, value, params, &here)?
            }
        };
        parts.push(part);
    }
    Ok(if parts.is_empty() {
        "TRUE".to_owned()
    } else {
        format!("({})", parts.join(" AND "))
    })
}

fn condition(
    field: &str,
    value: &Value,
    params: &mut Vec<Param>,
    path: &str,
) -> Result<String, FilterError> {
    let ops = match value {
        Value::Object(o) if !o.is_empty() && o.keys().all(|k| k.starts_with('$')) => o,
        other => return Ok(equals(field, other, params)),
    };
    let mut parts = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let here = format!("{path}.{op}");
        if op == "$eq" {
            parts.push(equals(field, operand, params));
            continue;
        }
        if op == "$ne" {
            parts.push(format!("(NOT {})", equals(field, operand, params)));
            continue;
        }
        let column = Field::of(field, params);
        let sql = column.sql().to_owned();
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
                let bound = column.bind(operand, params);
                match column {
                    Field::Column(_) => format!("({sql} {sign} {bound})"),
                    Field::Document(_) => format!(
                        "(jsonb_typeof({sql}) = jsonb_typeof({bound}) AND {sql} {sign} {bound})"
                    ),
                }
            }
            "$in" | "$nin" => {
                let items = operand
                    .as_array()
                    .ok_or_else(|| err(&here, format!("{op} takes an array")))?;
                if items.is_empty() {
                    (if op == "$in" { "FALSE" } else { "TRUE" }).to_owned()
                } else {
                    let list: Vec<String> = items.iter().map(|v| column.bind(v, params)).collect();
                    let test = format!("({sql} IN ({}))", list.join(", "));
                    if op == "$in" {
                        test
                    } else {
                        format!("(NOT {test} OR {})", column.is_null())
                    }
                }
            }
            "$like" => {
                let pattern = operand
                    .as_str()
                    .ok_or_else(|| err(&here, "$like takes a string pattern (% and _ wildcards)"))?;
                params.push(Param::Text(pattern.to_owned()));
                let text = match column {
                    Field::Column(_) => sql,
                    Field::Document(_) => format!("({sql} #>> '{{}}')"),
                };
                format!("({text} ILIKE ${}::text)", params.len())
            }
            "$exists" => {
                let wanted = operand
                    .as_bool()
                    .ok_or_else(|| err(&here, "$exists takes true or false"))?;
                if wanted {
                    format!("(NOT {})", column.is_null())
                } else {
                    column.is_null()
                }
            }
            other => return Err(err(&here, format!("unknown operator `{other}`; use $eq $ne $gt $gte $lt $lte $in $nin $like $exists"))),
        };
        parts.push(part);
    }
    Ok(format!("({})", parts.join(" AND ")))
}

fn equals(field: &str, value: &Value, params: &mut Vec<Param>) -> String {
    let column = Field::of(field, params);
    if value.is_null() {
        column.is_null()
    } else {
        let bound = column.bind(value, params);
        format!("({} = {bound})", column.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_and_paths_are_bound_never_written_into_the_sql() {
        let mut params = Vec::new();
        let sql = compile(
            &json!({"name": "x'; DROP TABLE t; --", "age": {"$gte": 18}}),
            &mut params,
        )
        .unwrap();
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(!sql.contains("name"), "{sql}");
        assert_eq!(params.len(), 4);
    }

    #[test]
    fn bad_field_names_and_operators_are_refused() {
        for bad in [
            json!({"a\"b": 1}),
            json!({"$where": "1"}),
            json!({"x": {"$regex": "."}}),
            json!({"a..b": 1}),
        ] {
            assert!(compile(&bad, &mut Vec::new()).is_err(), "{bad}");
        }
    }
}
