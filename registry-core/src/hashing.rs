//! A structural hash of JSON values, for cache keys. Collisions are
//! harmless: cache entries keep the full value and compare it on a hit.

use std::hash::{Hash, Hasher};

use serde_json::Value;

/// Feeds `value` into `hasher`, tagging each kind so `"1"` and `1` differ.
pub fn hash_value<H: Hasher>(value: &Value, hasher: &mut H) {
    match value {
        Value::Null => 0u8.hash(hasher),
        Value::Bool(b) => {
            1u8.hash(hasher);
            b.hash(hasher);
        }
        Value::Number(n) => {
            2u8.hash(hasher);
            if let Some(i) = n.as_i64() {
                i.hash(hasher);
            } else if let Some(u) = n.as_u64() {
                u.hash(hasher);
            } else if let Some(f) = n.as_f64() {
                f.to_bits().hash(hasher);
            }
        }
        Value::String(s) => {
            3u8.hash(hasher);
            s.hash(hasher);
        }
        Value::Array(items) => {
            4u8.hash(hasher);
            items.len().hash(hasher);
            for item in items {
                hash_value(item, hasher);
            }
        }
        Value::Object(object) => {
            5u8.hash(hasher);
            object.len().hash(hasher);
            // Keys in document order: equal objects written in another order
            // hash apart (a cache miss, never a wrong hit).
            for (k, v) in object {
                k.hash(hasher);
                hash_value(v, hasher);
            }
        }
    }
}

/// The 64-bit hash of `value`.
pub fn value_hash(value: &Value) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    hash_value(value, &mut hasher);
    hasher.finish()
}

/// Whether `value` is small enough to keep a copy of in a cache: at most
/// `budget` bytes of strings and nodes (walked iteratively, stopping as soon
/// as the budget is spent).
pub fn is_small(value: &Value, budget: usize) -> bool {
    let mut spent = 0usize;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        spent += 16;
        match v {
            Value::String(s) => spent += s.len(),
            Value::Array(items) => pending.extend(items),
            Value::Object(o) => {
                spent += o.keys().map(String::len).sum::<usize>();
                pending.extend(o.values());
            }
            _ => {}
        }
        if spent > budget {
            return false;
        }
    }
    true
}
