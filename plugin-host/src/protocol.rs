//! The frames between a host and its plugin-host child, over the child's
//! stdin and stdout: a little-endian header (body length `u32`, kind `u8`,
//! call id `u64`) and a body. Requests carry the same request frames of
//! [`plugin_abi::wire`] that cross the in-process boundary; answers carry
//! its output frames, so both tiers share one encoding.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Version of this protocol, checked in the child's first frame.
pub const PROTOCOL: u32 = 1;

/// Header length: body length, kind, call id.
pub const HEADER_BYTES: usize = 4 + 1 + 8;

/// The frame kinds.
pub mod kind {
    /// Host → child: run a node type (body: node type, request frame).
    pub const EXECUTE: u8 = 1;
    /// Host → child: a node type's own parameter check (body: node type,
    /// the node as JSON).
    pub const VALIDATE: u8 = 2;
    /// Child → host, first frame: the library is open ([`super::Ready`]).
    pub const READY: u8 = 10;
    /// Child → host: a call's output frame.
    pub const OUTPUT: u8 = 11;
    /// Child → host: a validation report ([`super::Validated`]).
    pub const VALIDATED: u8 = 12;
    /// Child → host: a call's error ([`super::CallError`]).
    pub const ERROR: u8 = 13;
    /// Child → host: a plugin's log record ([`super::LogLine`]), with the
    /// id of the call that logged it (0 outside calls).
    pub const LOG: u8 = 14;
    /// Child → host, instead of `READY`: the library could not be opened
    /// ([`super::CallError`]); the child exits next.
    pub const FAILED: u8 = 15;
}

/// One frame as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// One of [`kind`].
    pub kind: u8,
    /// The call it answers (0 for frames of no call).
    pub id: u64,
    /// Its body.
    pub body: Vec<u8>,
}

/// Writes one frame with a single `write_all`, so frames written by
/// several threads under one lock never interleave.
pub fn write_frame(out: &mut impl Write, kind: u8, id: u64, parts: &[&[u8]]) -> io::Result<()> {
    let length: usize = parts.iter().map(|p| p.len()).sum();
    let length32 = u32::try_from(length)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame body over 4 GiB"))?;
    let mut frame = Vec::with_capacity(HEADER_BYTES + length);
    frame.extend_from_slice(&length32.to_le_bytes());
    frame.push(kind);
    frame.extend_from_slice(&id.to_le_bytes());
    for part in parts {
        frame.extend_from_slice(part);
    }
    out.write_all(&frame)?;
    out.flush()
}

/// Reads one frame; `None` at a clean end of stream. A body longer than
/// `max_body` is an error (a hostile peer cannot make the reader allocate
/// more).
pub fn read_frame(input: &mut impl Read, max_body: usize) -> io::Result<Option<Frame>> {
    let mut header = [0u8; HEADER_BYTES];
    let mut filled = 0;
    while filled < HEADER_BYTES {
        match input.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if length > max_body {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {length}-byte frame is over the {max_body}-byte maximum"),
        ));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&header[5..13]);
    let mut body = vec![0u8; length];
    input.read_exact(&mut body)?;
    Ok(Some(Frame {
        kind: header[4],
        id: u64::from_le_bytes(id),
        body,
    }))
}

/// The prefix naming a node type in `EXECUTE` and `VALIDATE` bodies.
pub fn node_type_prefix(node_type: &str) -> Option<[u8; 2]> {
    u16::try_from(node_type.len()).ok().map(u16::to_le_bytes)
}

/// Splits an `EXECUTE` or `VALIDATE` body into its node type and the rest.
pub fn split_node_type(body: &[u8]) -> Option<(&str, &[u8])> {
    let length = usize::from(u16::from_le_bytes([*body.first()?, *body.get(1)?]));
    let name = body.get(2..2 + length)?;
    Some((std::str::from_utf8(name).ok()?, &body[2 + length..]))
}

/// The child's first frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// [`PROTOCOL`].
    pub protocol: u32,
    /// The child's process id.
    pub pid: u32,
    /// The plugin's name, from its manifest.
    pub plugin: String,
    /// Its node types.
    pub node_types: Vec<String>,
    /// Whether the sandbox is in force (`None`: none was asked for).
    #[serde(default)]
    pub sandbox: Option<String>,
}

/// An error of a call, or why the library could not be opened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallError {
    /// The stable code.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// Whether a new attempt may succeed.
    #[serde(default)]
    pub retryable: bool,
    /// Structured details (JSON text), if any.
    #[serde(default)]
    pub details: String,
}

/// A node type's own parameter check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Validated {
    /// Errors.
    pub errors: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// A plugin's log record, forwarded to the host's `tracing`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// The plugin.
    pub plugin: String,
    /// The plugin's own target.
    pub target: String,
    /// The message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips() {
        let mut buffer = Vec::new();
        let prefix = node_type_prefix("fault.echo").unwrap();
        write_frame(
            &mut buffer,
            kind::EXECUTE,
            7,
            &[&prefix, b"fault.echo", b"\x01\x02"],
        )
        .unwrap();
        let frame = read_frame(&mut buffer.as_slice(), 1024).unwrap().unwrap();
        assert_eq!((frame.kind, frame.id), (kind::EXECUTE, 7));
        assert_eq!(
            split_node_type(&frame.body),
            Some(("fault.echo", &b"\x01\x02"[..]))
        );
    }

    #[test]
    fn a_clean_end_is_none_and_a_torn_frame_an_error() {
        assert!(read_frame(&mut &b""[..], 16).unwrap().is_none());
        let mut buffer = Vec::new();
        write_frame(&mut buffer, kind::OUTPUT, 1, &[b"abcdef"]).unwrap();
        for cut in 1..buffer.len() {
            assert!(read_frame(&mut &buffer[..cut], 16).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_before_it_is_read() {
        let mut buffer = Vec::new();
        write_frame(&mut buffer, kind::OUTPUT, 1, &[&[0u8; 64]]).unwrap();
        let error = read_frame(&mut buffer.as_slice(), 63).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_malformed_node_type_prefix_is_none() {
        assert_eq!(split_node_type(b""), None);
        assert_eq!(split_node_type(b"\x05\x00ab"), None);
        assert_eq!(split_node_type(b"\x02\x00\xff\xfe"), None);
    }
}
