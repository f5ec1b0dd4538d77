//! Copying JSON values into ones that already exist, reusing their
//! allocations where the shapes agree: a request built for every call of a
//! linked node type then allocates nothing once it has the call's shape.

use serde_json::{Map, Value};

/// Makes `into` equal to `from`, reusing `into`'s strings, arrays and
/// objects where they line up (same kind; for objects, the same keys in
/// the same order). Returns roughly how many bytes `into` now holds, so a
/// caller can decline to keep a large value around.
pub(crate) fn assign(into: &mut Value, from: &Value) -> usize {
    match (into, from) {
        (Value::String(into), Value::String(from)) => {
            assign_str(into, from);
            from.len()
        }
        (Value::Array(into), Value::Array(from)) if into.len() == from.len() => into
            .iter_mut()
            .zip(from)
            .map(|(into, from)| 8 + assign(into, from))
            .sum(),
        (Value::Object(into), Value::Object(from)) if same_keys(into, from) => into
            .values_mut()
            .zip(from.values())
            .zip(from.keys())
            .map(|((into, from), key)| 8 + key.len() + assign(into, from))
            .sum(),
        (into, from) => {
            *into = from.clone();
            size(from)
        }
    }
}

/// [`assign`] for maps (a request's variables, credentials, config).
pub(crate) fn assign_map(into: &mut Map<String, Value>, from: &Map<String, Value>) -> usize {
    if same_keys(into, from) {
        into.values_mut()
            .zip(from.values())
            .map(|(into, from)| 8 + assign(into, from))
            .sum()
    } else {
        into.clone_from(from);
        from.iter().map(|(k, v)| 8 + k.len() + size(v)).sum()
    }
}

/// Makes `into` equal to `from`, keeping its buffer.
pub(crate) fn assign_str(into: &mut String, from: &str) {
    into.clear();
    into.push_str(from);
}

fn same_keys(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len() && a.keys().zip(b.keys()).all(|(a, b)| a == b)
}

/// Roughly how many bytes `value` holds.
pub(crate) fn size(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(|v| 8 + size(v)).sum(),
        Value::Object(o) => o.iter().map(|(k, v)| 8 + k.len() + size(v)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assigned_values_equal_their_source() {
        let cases = [
            (json!({"a": [1, "x"]}), json!({"a": [2, "yy"]})),
            (json!({"a": 1}), json!({"b": 1})),
            (json!([1, 2]), json!([1, 2, 3])),
            (json!("s"), json!({"k": null})),
            (json!(null), json!([{"deep": {"er": "t"}}])),
        ];
        for (mut into, from) in cases {
            assign(&mut into, &from);
            assert_eq!(into, from);
        }
    }

    #[test]
    fn same_shaped_values_keep_their_buffers() {
        let mut into = json!({"values": ["abcdefgh", 1]});
        let before = into["values"][0].as_str().unwrap().as_ptr();
        assign(&mut into, &json!({"values": ["xyz", 2]}));
        assert_eq!(into["values"][0].as_str().unwrap().as_ptr(), before);
        assert_eq!(into, json!({"values": ["xyz", 2]}));
    }
}
