//! A record checked against its entity before it is written: types,
//! presence, lengths, patterns, ranges, enum values; defaults and
//! generated ids and timestamps filled in. Every violation names the
//! record's index in the write and the field.

use serde_json::{Map, Value};

use super::{Entity, FieldSpec, FieldType, STORE_COLUMNS};

/// One thing wrong with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The record's index in the write.
    pub index: usize,
    /// The field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "data/{}/{}: {}", self.index, self.field, self.message)
    }
}

/// Whether `record` (the `index`-th of a write) may be stored as `entity`;
/// on `create`, defaults and generated values are filled in and every
/// field the record lacks is `null`. Undeclared fields are refused: a
/// declared entity holds what its schema says.
///
/// # Errors
///
/// Every violation found in the record.
pub fn record(
    entity: &Entity,
    index: usize,
    record: &Map<String, Value>,
    creating: bool,
) -> Result<Map<String, Value>, Vec<Violation>> {
    let mut out = Map::with_capacity(entity.fields.len());
    check_into(entity, index, record, creating, &mut out)?;
    Ok(out)
}

/// A record to create, checked as by [`record`], in its stored shape:
/// `id`, `tenantId`, then every field of the schema in its order. Built
/// once: a bulk create writes and answers this very map.
///
/// # Errors
///
/// Every violation found in the record.
pub fn created(
    entity: &Entity,
    index: usize,
    record: &Map<String, Value>,
    id: String,
    tenant: &str,
) -> Result<Map<String, Value>, Vec<Violation>> {
    let mut out = Map::with_capacity(entity.fields.len() + STORE_COLUMNS.len());
    out.insert("id".to_owned(), Value::String(id));
    out.insert("tenantId".to_owned(), Value::String(tenant.to_owned()));
    check_into(entity, index, record, true, &mut out)?;
    Ok(out)
}

/// [`record`]'s checks, the checked fields appended to `out` in schema
/// order.
fn check_into(
    entity: &Entity,
    index: usize,
    record: &Map<String, Value>,
    creating: bool,
    out: &mut Map<String, Value>,
) -> Result<(), Vec<Violation>> {
    let mut violations = Vec::new();
    let mut violation = |field: &str, message: String| {
        violations.push(Violation {
            index,
            field: field.to_owned(),
            message,
        });
    };
    for key in record.keys() {
        if !STORE_COLUMNS.contains(&key.as_str()) && entity.field(key).is_none() {
            violation(key, format!("is not a field of entity `{}`", entity.name));
        }
    }
    for (name, spec, given) in entity.in_schema_order(record) {
        match given {
            Some(given) => match value(spec, entity.pattern(name), given) {
                Ok(()) => {
                    out.insert(name.clone(), given.clone());
                }
                Err(why) => violation(name, why),
            },
            None if creating => {
                if let Some(filled) = filled(spec) {
                    out.insert(name.clone(), filled);
                } else if spec.must_be_present() {
                    violation(name, "is required".to_owned());
                } else {
                    out.insert(name.clone(), Value::Null);
                }
            }
            None => {}
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

/// A new record's value of a field it lacks: the default, or a generated
/// id or time.
fn filled(spec: &FieldSpec) -> Option<Value> {
    if let Some(default) = &spec.default {
        return Some(default.clone());
    }
    if !spec.generated {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    match spec.kind {
        FieldType::Uuid => Some(Value::String(new_uuid())),
        FieldType::Cuid | FieldType::String => Some(Value::String(format!(
            "c{:x}{:012x}",
            now.as_millis(),
            fastrand::u64(..) & 0xffff_ffff_ffff
        ))),
        FieldType::Timestamp | FieldType::Bigint | FieldType::Integer => Some(Value::from(
            u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
        )),
        _ => None,
    }
}

/// A new time-ordered (version 7) UUID: milliseconds first, so records
/// created together sit together in the primary-key index (random ids
/// would touch a random index page per insert).
pub fn new_uuid() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    let high = ((millis & 0xffff_ffff_ffff) << 16) | 0x7000 | (fastrand::u64(..) & 0x0fff);
    let low = (fastrand::u64(..) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    uuid_text(high, low)
}

/// The 128 bits `high`, `low` as UUID text (`8-4-4-4-12` lowercase hex
/// digits), written directly: a bulk create makes one per record.
fn uuid_text(high: u64, low: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = ((u128::from(high) << 64) | u128::from(low)).to_be_bytes();
    let mut text = Vec::with_capacity(36);
    for (at, byte) in bytes.iter().enumerate() {
        if matches!(at, 4 | 6 | 8 | 10) {
            text.push(b'-');
        }
        text.push(DIGITS[usize::from(byte >> 4)]);
        text.push(DIGITS[usize::from(byte & 0xf)]);
    }
    // Only hex digits and hyphens were written, so this never falls back.
    String::from_utf8(text).unwrap_or_default()
}

/// Whether `given` is a valid value of a field declared as `spec` (with
/// its compiled `pattern`, when it has one).
///
/// # Errors
///
/// Why it is not.
pub fn value(
    spec: &FieldSpec,
    pattern: Option<&regex::Regex>,
    given: &Value,
) -> Result<(), String> {
    if given.is_null() {
        return if spec.is_nullable() {
            Ok(())
        } else {
            Err("must not be null".to_owned())
        };
    }
    typed(spec, given)?;
    if let Some(text) = given.as_str() {
        let length = text.chars().count() as u64;
        if let Some(min) = spec.min_length.filter(|m| length < *m) {
            return Err(format!(
                "is {length} characters, under the minimum of {min}"
            ));
        }
        if let Some(max) = spec.max_length.filter(|m| length > *m) {
            return Err(format!("is {length} characters, over the maximum of {max}"));
        }
        if let Some(pattern) = pattern {
            if !pattern.is_match(text) {
                return Err(format!("does not match the pattern `{}`", pattern.as_str()));
            }
        }
    }
    if let Some(n) = given.as_f64() {
        if let Some(min) = spec.min.filter(|m| n < *m) {
            return Err(format!("is {n}, under the minimum of {min}"));
        }
        if let Some(max) = spec.max.filter(|m| n > *m) {
            return Err(format!("is {n}, over the maximum of {max}"));
        }
    }
    Ok(())
}

fn typed(spec: &FieldSpec, given: &Value) -> Result<(), String> {
    let expected = |what: &str| Err(format!("must be {what}, got {}", kind(given)));
    match spec.kind {
        FieldType::Integer => match given.as_i64() {
            Some(n) if i32::try_from(n).is_ok() => Ok(()),
            Some(_) => Err("is outside the 32-bit integer range".to_owned()),
            None => expected("an integer"),
        },
        FieldType::Bigint => given
            .as_i64()
            .map(|_| ())
            .map_or_else(|| expected("an integer"), Ok),
        FieldType::Timestamp => match given.as_i64() {
            Some(n) if n >= 0 => Ok(()),
            _ => expected("a timestamp in milliseconds"),
        },
        FieldType::Float | FieldType::Decimal | FieldType::Currency => {
            if given.is_number() {
                Ok(())
            } else {
                expected("a number")
            }
        }
        FieldType::Boolean => {
            if given.is_boolean() {
                Ok(())
            } else {
                expected("true or false")
            }
        }
        FieldType::Json => Ok(()),
        FieldType::Coordinates => {
            let ok = given.get("lat").is_some_and(Value::is_number)
                && given.get("lng").is_some_and(Value::is_number);
            if ok {
                Ok(())
            } else {
                expected("{\"lat\": number, \"lng\": number}")
            }
        }
        FieldType::Enum => match given.as_str() {
            Some(text)
                if spec
                    .values
                    .as_ref()
                    .is_some_and(|v| v.iter().any(|x| x == text)) =>
            {
                Ok(())
            }
            Some(text) => Err(format!(
                "`{text}` is not one of {}",
                spec.values.as_deref().unwrap_or_default().join(", ")
            )),
            None => expected("text"),
        },
        text_kind => {
            let Some(text) = given.as_str() else {
                return expected("text");
            };
            if shaped(text_kind, text) {
                Ok(())
            } else {
                Err(format!("`{text}` is not a valid {}", type_name(text_kind)))
            }
        }
    }
}

/// Whether text has its type's shape.
fn shaped(kind: FieldType, text: &str) -> bool {
    let all = |ok: fn(char) -> bool| text.chars().all(ok);
    match kind {
        FieldType::Uuid => {
            text.len() == 36
                && text.char_indices().all(|(i, c)| {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                })
        }
        FieldType::Email => {
            let mut parts = text.splitn(2, '@');
            let (local, domain) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
        }
        FieldType::Url => {
            (text.starts_with("https://") || text.starts_with("http://"))
                && text.len() > 8
                && !text.chars().any(char::is_whitespace)
        }
        FieldType::Slug => {
            !text.is_empty()
                && all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !text.starts_with('-')
                && !text.ends_with('-')
        }
        FieldType::Phone => {
            text.chars().filter(char::is_ascii_digit).count() >= 3
                && all(|c| c.is_ascii_digit() || " +-().".contains(c))
        }
        FieldType::Color => {
            text.len() == 7
                && text.starts_with('#')
                && text[1..].chars().all(|c| c.is_ascii_hexdigit())
        }
        FieldType::Date => {
            let b = text.as_bytes();
            b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && text
                    .chars()
                    .enumerate()
                    .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        }
        FieldType::Datetime => {
            text.len() >= 19
                && shaped(FieldType::Date, &text[..10])
                && matches!(&text[10..11], "T" | " ")
        }
        _ => true,
    }
}

fn type_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Uuid => "UUID",
        FieldType::Email => "email address",
        FieldType::Url => "URL (http or https)",
        FieldType::Slug => "slug (lower-case letters, digits, dashes)",
        FieldType::Phone => "phone number",
        FieldType::Color => "colour (#RRGGBB)",
        FieldType::Date => "date (YYYY-MM-DD)",
        FieldType::Datetime => "date and time (RFC 3339)",
        _ => "value",
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_uuid_is_written_as_its_bits_in_groups_of_hex_digits() {
        let text = super::uuid_text(0x0123_4567_89ab_7def, 0x8123_4567_89ab_cdef);
        assert_eq!(text, "01234567-89ab-7def-8123-456789abcdef");
    }

    #[test]
    fn a_new_uuid_is_version_7_with_the_rfc_variant() {
        let text = super::new_uuid();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "7");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
    }
}
