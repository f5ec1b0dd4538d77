//! Filters, sorts and fields compiled to PostgreSQL over `jsonb`: the same
//! filter language and checks as on SQLite (field names by the same strict
//! pattern, values always bound), other SQL.

use serde_json::Value;

use super::Param;
use crate::entity::{Entity, FieldType};
use crate::filter::{err, walk, Conditions, FilterError};

/// Columns stored outside the JSON document.
const COLUMNS: [&str; 4] = ["id", "tenantId", "createdAt", "updatedAt"];

/// What a call's entity is stored as.
#[derive(Clone, Copy)]
pub(crate) enum Shape<'a> {
    /// An undeclared entity: JSON documents.
    Documents,
    /// A declared entity: typed columns.
    Declared(&'a Entity),
}

/// How a field reads: a text column of the store, a path in a JSON
/// document, or a typed column of a declared entity.
pub(crate) enum Field {
    Column(String),
    Document(String),
    Typed(String, FieldType),
}

/// A path bound as `text[]`, read from `base` (JSON `null` reads as SQL
/// NULL, as SQLite's `json_extract` reads it: the three-valued logic of
/// filters is the same).
fn document(base: &str, path: &str, params: &mut Vec<Param>) -> Field {
    params.push(Param::Path(path.split('.').map(str::to_owned).collect()));
    Field::Document(format!(
        "NULLIF({base} #> ${}::text[], 'null'::jsonb)",
        params.len()
    ))
}

impl Shape<'_> {
    /// `field` (a name [`crate::filter::valid_field`] accepted), what it needs bound.
    ///
    /// # Errors
    ///
    /// A declared entity has no such field.
    pub(crate) fn field(&self, field: &str, params: &mut Vec<Param>) -> Result<Field, String> {
        match self {
            Shape::Documents if COLUMNS.contains(&field) => {
                Ok(Field::Column(format!("\"{field}\"")))
            }
            Shape::Documents => Ok(document("data", field, params)),
            Shape::Declared(_) if ["id", "tenantId"].contains(&field) => {
                Ok(Field::Column(format!("\"{field}\"")))
            }
            Shape::Declared(entity) => {
                if let Some(spec) = entity.field(field) {
                    return Ok(Field::Typed(format!("\"{field}\""), spec.kind));
                }
                if let Some((head, rest)) = field.split_once('.') {
                    if entity.field(head).is_some_and(|f| f.kind.is_json()) {
                        return Ok(document(&format!("\"{head}\""), rest, params));
                    }
                }
                Err(format!(
                    "entity `{}` has no field `{field}`; its fields are {}",
                    entity.name,
                    entity
                        .fields
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
}

impl Field {
    /// Its SQL.
    pub(crate) fn sql(&self) -> &str {
        match self {
            Field::Column(sql) | Field::Document(sql) | Field::Typed(sql, _) => sql,
        }
    }

    /// SQL that is true when it holds no value (absent or JSON `null`).
    fn is_null(&self) -> String {
        format!("({} IS NULL)", self.sql())
    }

    /// The two sides of a comparison with `value`, and whether values of
    /// other JSON types must be kept out (`jsonb` orders types, SQLite
    /// does not compare across them the same way).
    fn compare(&self, value: &Value, params: &mut Vec<Param>) -> (String, String, bool) {
        match self {
            Field::Column(sql) => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => i64::from(*b).to_string(),
                    other => other.to_string(),
                };
                params.push(Param::Text(text));
                (sql.clone(), format!("${}::text", params.len()), false)
            }
            Field::Typed(sql, kind) => {
                let column = super::declared::column_type(*kind);
                let typed = match (column, value) {
                    ("text", Value::String(s)) => Some((Param::Text(s.clone()), "text")),
                    // Bound in the column's own type, so its index serves.
                    ("bigint", Value::Number(n)) if n.is_i64() => {
                        Some((Param::Int(n.as_i64().unwrap_or_default()), "bigint"))
                    }
                    ("double precision", Value::Number(n)) => Some((
                        Param::Float(n.as_f64().unwrap_or_default()),
                        "double precision",
                    )),
                    ("bigint", Value::Number(n)) => {
                        Some((Param::Json(Value::Number(n.clone())), "jsonb"))
                    }
                    ("boolean", Value::Bool(b)) => Some((Param::Bool(*b), "boolean")),
                    ("jsonb", v) => Some((Param::Json(v.clone()), "jsonb")),
                    _ => None,
                };
                match typed {
                    // A number compares as a number of any precision.
                    Some((param, "jsonb")) if column != "jsonb" => {
                        params.push(param);
                        (
                            sql.clone(),
                            format!("(${}::jsonb #>> '{{}}')::numeric", params.len()),
                            false,
                        )
                    }
                    Some((param, cast)) => {
                        params.push(param);
                        (
                            sql.clone(),
                            format!("${}::{cast}", params.len()),
                            column == "jsonb",
                        )
                    }
                    None => {
                        params.push(Param::Json(value.clone()));
                        (
                            format!("to_jsonb({sql})"),
                            format!("${}::jsonb", params.len()),
                            true,
                        )
                    }
                }
            }
            Field::Document(sql) => {
                params.push(Param::Json(value.clone()));
                (sql.clone(), format!("${}::jsonb", params.len()), true)
            }
        }
    }

    /// The value `sum` / `avg` read: numbers only.
    pub(crate) fn numeric(&self) -> String {
        match self {
            Field::Column(c) => c.clone(),
            Field::Typed(c, kind) => match super::declared::column_type(*kind) {
                "bigint" | "double precision" => c.clone(),
                _ => "NULL::numeric".to_owned(),
            },
            Field::Document(d) => {
                format!(
                    "(CASE WHEN jsonb_typeof({d}) = 'number' THEN ({d} #>> '{{}}')::numeric END)"
                )
            }
        }
    }

    /// The value `min` / `max` read: a typed column as it is, a document
    /// field's numbers.
    pub(crate) fn ordered(&self) -> String {
        match self {
            Field::Typed(c, kind) if super::declared::column_type(*kind) != "jsonb" => c.clone(),
            other => other.numeric(),
        }
    }

    /// Its value as text, for `$like`.
    fn text(&self) -> String {
        match self {
            Field::Column(c) => c.clone(),
            Field::Typed(c, kind) if super::declared::column_type(*kind) == "jsonb" => {
                format!("({c} #>> '{{}}')")
            }
            Field::Typed(c, _) => format!("({c})::text"),
            Field::Document(d) => format!("({d} #>> '{{}}')"),
        }
    }
}

/// Compiles `filter` into a WHERE expression over `shape`, appending
/// bound values to `params`. An empty filter matches everything.
pub(crate) fn compile(
    filter: &Value,
    params: &mut Vec<Param>,
    shape: Shape<'_>,
) -> Result<String, FilterError> {
    walk(&shape, filter, params, "filter", 0)
}

impl Conditions for Shape<'_> {
    type Param = Param;
    const TRUE: &'static str = "TRUE";
    const FALSE: &'static str = "FALSE";

    fn condition(
        &self,
        field: &str,
        value: &Value,
        params: &mut Vec<Param>,
        path: &str,
    ) -> Result<String, FilterError> {
        condition(field, value, params, *self, path)
    }
}

fn condition(
    field: &str,
    value: &Value,
    params: &mut Vec<Param>,
    shape: Shape<'_>,
    path: &str,
) -> Result<String, FilterError> {
    let column = shape.field(field, params).map_err(|m| err(path, m))?;
    let ops = match value {
        Value::Object(o) if !o.is_empty() && o.keys().all(|k| k.starts_with('$')) => o,
        other => return Ok(equals(&column, other, params)),
    };
    let mut parts = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let here = format!("{path}.{op}");
        let part = match op.as_str() {
            "$eq" => equals(&column, operand, params),
            "$ne" => format!("(NOT {})", equals(&column, operand, params)),
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
                let (left, right, guard) = column.compare(operand, params);
                if guard {
                    format!("(jsonb_typeof({left}) = jsonb_typeof({right}) AND {left} {sign} {right})")
                } else {
                    format!("({left} {sign} {right})")
                }
            }
            "$in" | "$nin" => {
                let items = operand
                    .as_array()
                    .ok_or_else(|| err(&here, format!("{op} takes an array")))?;
                if items.is_empty() {
                    (if op == "$in" { "FALSE" } else { "TRUE" }).to_owned()
                } else {
                    let tests: Vec<String> = items
                        .iter()
                        .map(|v| {
                            let (left, right, _) = column.compare(v, params);
                            format!("{left} = {right}")
                        })
                        .collect();
                    let test = format!("({})", tests.join(" OR "));
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
                format!("({} ILIKE ${}::text)", column.text(), params.len())
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

fn equals(column: &Field, value: &Value, params: &mut Vec<Param>) -> String {
    if value.is_null() {
        column.is_null()
    } else {
        let (left, right, _) = column.compare(value, params);
        format!("({left} = {right})")
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
            Shape::Documents,
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
            assert!(
                compile(&bad, &mut Vec::new(), Shape::Documents).is_err(),
                "{bad}"
            );
        }
    }
}
