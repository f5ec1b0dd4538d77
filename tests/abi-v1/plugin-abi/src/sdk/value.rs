//! JavaScript-compatible conversions of JSON values, as MetaBuilder's
//! TypeScript nodes behave: the same truthiness, string and number forms.

use serde_json::Value;

/// `String(value)` in JavaScript: strings as they are, integral numbers
/// without a fraction, `null` as `""` (MetaBuilder treats it as empty),
/// arrays and objects as JSON text (never `[object Object]`).
///
/// ```
/// use plugin_abi::sdk::value::to_display_string;
/// use serde_json::json;
/// assert_eq!(to_display_string(&json!(3.0)), "3");
/// assert_eq!(to_display_string(&json!({"a": 1})), r#"{"a":1}"#);
/// ```
pub fn to_display_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

fn number_to_string(n: &serde_json::Number) -> String {
    if n.is_f64() {
        if let Some(f) = n.as_f64() {
            if f.fract() == 0.0 && f.abs() < 1e21 {
                return format!("{f:.0}");
            }
        }
    }
    n.to_string()
}

/// JavaScript truthiness: `false`, `0`, `""`, `null` are falsy; everything
/// else (including empty arrays and objects) is truthy.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A number from a number, or a string holding one (trimmed), or a boolean.
pub fn to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// A JSON number for `f`, integral when it is one; `None` for NaN and
/// infinities, which JSON cannot carry.
pub fn number(f: f64) -> Option<Value> {
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        // Exact: |f| < 2^53 and integral.
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::from(f as i64));
    }
    serde_json::Number::from_f64(f).map(Value::Number)
}
