//! The compact binary encoding of the ABI's binary calls
//! ([`crate::PluginModule::execute_wire`]): a node's request and its output, without
//! JSON text. Values keep their JSON meaning exactly (strings, numbers as
//! `i64` / `u64` / `f64`, key order); a reader decodes a request into the
//! one it decoded last time, reusing its allocations where the shape is
//! the same — which, call after call of one node, it almost always is.
//!
//! A frame is a version byte, then fields — a tag byte, a 4-byte
//! little-endian length, the payload — ending with tag 0. Readers skip
//! fields they do not know, so either side may add fields later.
//!
//! ```
//! use plugin_abi::request::{NodeOutput, NodeRequest};
//! use plugin_abi::wire;
//! use serde_json::json;
//!
//! let request = NodeRequest {
//!     node_type: "math.add".into(),
//!     parameters: json!({"values": [1, 2.5]}),
//!     ..NodeRequest::default()
//! };
//! let mut frame = Vec::new();
//! wire::encode_request(&wire::RequestParts::of(&request), &mut frame);
//! let mut decoded = NodeRequest::default();
//! wire::decode_request_into(&frame, &mut decoded).unwrap();
//! assert_eq!(decoded, request);
//!
//! let output = NodeOutput::result(json!(3.5));
//! let mut frame = Vec::new();
//! wire::encode_output(&output, &mut frame);
//! assert_eq!(wire::decode_output(&frame).unwrap(), output);
//! ```

mod frame;
mod value;

pub use frame::{
    decode_output, decode_request_into, encode_output, encode_request, output_json_size_at_least,
    RequestParts,
};
pub use value::{decode_value, decode_value_into, encode_value};

use abi_stable::std_types::RVec;

/// The version byte every frame starts with.
pub const WIRE_VERSION: u8 = 1;

/// Where encoded bytes go: a `Vec<u8>` on either side, or the
/// [`RVec<u8>`] the host lends a plugin for its output.
pub trait Sink {
    /// Appends one byte.
    fn put(&mut self, byte: u8);
    /// Appends bytes.
    fn put_slice(&mut self, bytes: &[u8]);
    /// How many bytes are written.
    fn written(&self) -> usize;
    /// Overwrites bytes already written at `at` (a length placeholder).
    fn patch(&mut self, at: usize, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, byte: u8) {
        self.push(byte);
    }
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn written(&self) -> usize {
        self.len()
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        self[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

impl Sink for RVec<u8> {
    fn put(&mut self, byte: u8) {
        self.push(byte);
    }
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn written(&self) -> usize {
        self.len()
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        self[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The bytes end inside a value.
    Truncated,
    /// A frame of another version.
    Version(u8),
    /// A value tag this reader does not know.
    UnknownTag(u8),
    /// A string that is not UTF-8.
    NotUtf8,
    /// A number that is not finite (JSON has none).
    NotFinite,
    /// A varint longer than ten bytes, or a length past the end.
    BadLength,
    /// Nesting deeper than 128 levels.
    TooDeep,
    /// A field of the wrong kind (a string field holding an object, ...).
    BadField(u8),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Truncated => f.write_str("the frame ends inside a value"),
            WireError::Version(v) => write!(f, "frame version {v}, expected {WIRE_VERSION}"),
            WireError::UnknownTag(t) => write!(f, "unknown value tag {t}"),
            WireError::NotUtf8 => f.write_str("a string is not UTF-8"),
            WireError::NotFinite => f.write_str("a number is not finite"),
            WireError::BadLength => f.write_str("a length is out of range"),
            WireError::TooDeep => f.write_str("values nest deeper than 128 levels"),
            WireError::BadField(t) => write!(f, "field {t} holds the wrong kind of value"),
        }
    }
}

impl std::error::Error for WireError {}

/// A cursor over a frame's bytes, bounds-checked at every read.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, depth: 0 }
    }

    fn byte(&mut self) -> Result<u8, WireError> {
        let (&b, rest) = self.bytes.split_first().ok_or(WireError::Truncated)?;
        self.bytes = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.bytes.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut n = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(WireError::BadLength);
            }
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(WireError::BadLength)
    }

    /// A count of items, each taking at least one byte: never more than
    /// the bytes left, so no reader allocates for items that are not there.
    fn count(&mut self) -> Result<usize, WireError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len())
            .ok_or(WireError::BadLength)
    }

    fn str(&mut self) -> Result<&'a str, WireError> {
        let n = self.count()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| WireError::NotUtf8)
    }

    fn descend(&mut self) -> Result<(), WireError> {
        self.depth += 1;
        if self.depth > value::MAX_DEPTH {
            return Err(WireError::TooDeep);
        }
        Ok(())
    }

    fn ascend(&mut self) {
        self.depth -= 1;
    }
}

#[cfg(test)]
mod tests;
