//! JSON values in the wire encoding: a tag byte, then the payload.
//!
//! | tag | value | payload |
//! |---|---|---|
//! | 0 | `null` | — |
//! | 1, 2 | `false`, `true` | — |
//! | 3 | an integer fitting `i64` | zigzag varint |
//! | 4 | an integer above `i64::MAX` | varint |
//! | 5 | any other number | 8 bytes, little-endian `f64` |
//! | 6 | a string | varint byte length, UTF-8 bytes |
//! | 7 | an array | varint count, the items |
//! | 8 | an object | varint count, every key (varint length, bytes), then every value |
//!
//! An object's keys come before its values so a reader can tell, before
//! reading any value, whether an object it already holds has the same
//! keys, and then decode the values into it in place.

use serde_json::{Map, Number, Value};

use super::{Reader, Sink, WireError};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const UINT: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// Nesting deeper than this is refused, as serde_json refuses it in text.
pub(crate) const MAX_DEPTH: u32 = 128;

/// Appends `value` to `out`.
pub fn encode_value(value: &Value, out: &mut impl Sink) {
    match value {
        Value::Null => out.put(NULL),
        Value::Bool(false) => out.put(FALSE),
        Value::Bool(true) => out.put(TRUE),
        Value::Number(n) => encode_number(n, out),
        Value::String(s) => {
            out.put(STRING);
            put_str(s, out);
        }
        Value::Array(items) => {
            out.put(ARRAY);
            put_varint(items.len() as u64, out);
            for item in items {
                encode_value(item, out);
            }
        }
        Value::Object(object) => {
            out.put(OBJECT);
            encode_object_body(object, out);
        }
    }
}

/// An object without its tag: count, keys, values.
pub(crate) fn encode_object_body(object: &Map<String, Value>, out: &mut impl Sink) {
    put_varint(object.len() as u64, out);
    for key in object.keys() {
        put_str(key, out);
    }
    for value in object.values() {
        encode_value(value, out);
    }
}

fn encode_number(n: &Number, out: &mut impl Sink) {
    if let Some(i) = n.as_i64() {
        out.put(INT);
        put_varint(((i << 1) ^ (i >> 63)) as u64, out);
    } else if let Some(u) = n.as_u64() {
        out.put(UINT);
        put_varint(u, out);
    } else {
        out.put(FLOAT);
        out.put_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
    }
}

/// A string without a tag: varint length, bytes.
pub(crate) fn put_str(s: &str, out: &mut impl Sink) {
    put_varint(s.len() as u64, out);
    out.put_slice(s.as_bytes());
}

/// An unsigned LEB128 varint.
pub(crate) fn put_varint(mut n: u64, out: &mut impl Sink) {
    while n >= 0x80 {
        out.put((n as u8) | 0x80);
        n >>= 7;
    }
    out.put(n as u8);
}

/// Reads one value.
pub fn decode_value(reader: &mut Reader<'_>) -> Result<Value, WireError> {
    let mut value = Value::Null;
    decode_value_into(&mut value, reader)?;
    Ok(value)
}

/// Reads one value into `into`, reusing its strings, arrays and objects
/// where the shapes agree (for objects: the same keys in the same order).
pub fn decode_value_into(into: &mut Value, reader: &mut Reader<'_>) -> Result<(), WireError> {
    let tag = reader.byte()?;
    match tag {
        NULL => *into = Value::Null,
        FALSE => *into = Value::Bool(false),
        TRUE => *into = Value::Bool(true),
        INT => {
            let z = reader.varint()?;
            *into = Value::Number(Number::from(((z >> 1) as i64) ^ -((z & 1) as i64)));
        }
        UINT => *into = Value::Number(Number::from(reader.varint()?)),
        FLOAT => {
            let f = f64::from_le_bytes(reader.array()?);
            *into = Value::Number(Number::from_f64(f).ok_or(WireError::NotFinite)?);
        }
        STRING => {
            let s = reader.str()?;
            match into {
                Value::String(into) => {
                    into.clear();
                    into.push_str(s);
                }
                into => *into = Value::String(s.to_owned()),
            }
        }
        ARRAY => {
            let n = reader.count()?;
            reader.descend()?;
            if !into.is_array() {
                *into = Value::Array(Vec::with_capacity(n));
            }
            if let Value::Array(items) = into {
                items.truncate(n);
                for i in 0..n {
                    match items.get_mut(i) {
                        Some(item) => decode_value_into(item, reader)?,
                        None => items.push(decode_value(reader)?),
                    }
                }
            }
            reader.ascend();
        }
        OBJECT => {
            reader.descend()?;
            decode_object_into(into, reader)?;
            reader.ascend();
        }
        other => return Err(WireError::UnknownTag(other)),
    }
    Ok(())
}

/// An object body (after its tag) into `into`.
fn decode_object_into(into: &mut Value, reader: &mut Reader<'_>) -> Result<(), WireError> {
    let n = reader.count()?;
    // Keys first: compared with the object held, without allocating.
    let keys_start = reader.clone();
    let same = match into {
        Value::Object(object) if object.len() == n => {
            let mut same = true;
            for held in object.keys() {
                same &= reader.str()? == held.as_str();
            }
            same
        }
        _ => {
            for _ in 0..n {
                reader.str()?;
            }
            false
        }
    };
    if same {
        if let Value::Object(object) = into {
            for value in object.values_mut() {
                decode_value_into(value, reader)?;
            }
        }
        return Ok(());
    }
    // A new shape: read the keys again, then the values.
    let mut keys = keys_start;
    let mut object = Map::with_capacity(n);
    let mut values = reader.clone();
    for _ in 0..n {
        let key = keys.str()?;
        object.insert(key.to_owned(), decode_value(&mut values)?);
    }
    *reader = values;
    *into = Value::Object(object);
    Ok(())
}

/// Reads an object body (after its tag, or a field holding a map) into
/// `into`, reusing it where the keys agree.
pub(crate) fn decode_map_into(
    into: &mut Map<String, Value>,
    reader: &mut Reader<'_>,
) -> Result<(), WireError> {
    let mut value = Value::Object(std::mem::take(into));
    reader.descend()?;
    decode_object_into(&mut value, reader)?;
    reader.ascend();
    if let Value::Object(object) = value {
        *into = object;
    }
    Ok(())
}

/// The fewest bytes `reader`'s next value can take as JSON text, read
/// without building it (strings are not copied): what a host checks an
/// output against its size limit before decoding it.
pub(crate) fn json_size_at_least(reader: &mut Reader<'_>) -> Result<usize, WireError> {
    let tag = reader.byte()?;
    Ok(match tag {
        NULL | TRUE => 4,
        FALSE => 5,
        INT | UINT => {
            reader.varint()?;
            1
        }
        FLOAT => {
            reader.array::<8>()?;
            1
        }
        STRING => reader.str()?.len() + 2,
        ARRAY => {
            let n = reader.count()?;
            reader.descend()?;
            let mut size = 2 + n.saturating_sub(1);
            for _ in 0..n {
                size = size.saturating_add(json_size_at_least(reader)?);
            }
            reader.ascend();
            size
        }
        OBJECT => {
            reader.descend()?;
            let size = object_json_size_at_least(reader)?;
            reader.ascend();
            size
        }
        other => return Err(WireError::UnknownTag(other)),
    })
}

/// [`json_size_at_least`] of an object body (after its tag).
pub(crate) fn object_json_size_at_least(reader: &mut Reader<'_>) -> Result<usize, WireError> {
    let n = reader.count()?;
    // Braces, commas, and per key its quotes and colon.
    let mut size = 2 + n.saturating_sub(1);
    for _ in 0..n {
        size = size.saturating_add(reader.str()?.len() + 3);
    }
    for _ in 0..n {
        size = size.saturating_add(json_size_at_least(reader)?);
    }
    Ok(size)
}
