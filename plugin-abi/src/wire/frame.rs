//! The two frames: a node's request (host to plugin) and its output
//! (plugin to host).

use serde::Serialize;
use serde_json::{Map, Value};

use super::value::{decode_map_into, decode_value, decode_value_into, encode_object_body};
use super::value::{encode_value, put_str, put_varint};
use super::value::{json_size_at_least, object_json_size_at_least};
use super::{Reader, Sink, WireError, WIRE_VERSION};
use crate::request::{ExecContext, NodeOutput, NodeRequest};

const END: u8 = 0;

// Request fields.
const NODE_TYPE: u8 = 1;
const NODE_ID: u8 = 2;
const PARAMETERS: u8 = 3;
const INPUT: u8 = 4;
const TRIGGER: u8 = 5;
const DEADLINE_MS: u8 = 6;
const MAX_OUTPUT_BYTES: u8 = 7;
const TENANT_ID: u8 = 8;
const USER: u8 = 9;
const EXECUTION_ID: u8 = 10;
const VARIABLES: u8 = 11;
const CREDENTIALS: u8 = 12;
const CONFIG: u8 = 13;
const RESUMABLE: u8 = 14;

// Output fields.
const OUTPUT: u8 = 1;
const OUTPUT_INDEX: u8 = 2;
const VARIABLES_CLEAR: u8 = 3;
const VARIABLES_DELETE: u8 = 4;
const VARIABLES_SET: u8 = 5;

/// A request as the host holds it: borrowed values, nothing copied. It
/// serialises to the JSON text of a [`NodeRequest`] too, for executors
/// that only have the JSON call.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestParts<'a> {
    /// [`NodeRequest::node_type`].
    pub node_type: &'a str,
    /// [`NodeRequest::node_id`].
    pub node_id: &'a str,
    /// [`NodeRequest::parameters`].
    pub parameters: &'a Value,
    /// [`NodeRequest::input`].
    pub input: &'a Value,
    /// [`NodeRequest::trigger`], when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<&'a Value>,
    /// [`NodeRequest::deadline_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// [`NodeRequest::max_output_bytes`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    /// [`NodeRequest::context`].
    pub context: &'a ExecContext,
    /// [`NodeRequest::variables`].
    #[serde(skip_serializing_if = "is_empty")]
    pub variables: &'a Map<String, Value>,
    /// [`NodeRequest::credentials`].
    #[serde(skip_serializing_if = "is_empty")]
    pub credentials: &'a Map<String, Value>,
    /// [`NodeRequest::config`].
    #[serde(skip_serializing_if = "is_empty")]
    pub config: &'a Map<String, Value>,
}

fn is_empty(map: &&Map<String, Value>) -> bool {
    map.is_empty()
}

impl<'a> RequestParts<'a> {
    /// The parts of a whole request.
    pub fn of(request: &'a NodeRequest) -> Self {
        Self {
            node_type: &request.node_type,
            node_id: &request.node_id,
            parameters: &request.parameters,
            input: &request.input,
            trigger: (!request.trigger.is_null()).then_some(&request.trigger),
            deadline_ms: request.deadline_ms,
            max_output_bytes: request.max_output_bytes,
            context: &request.context,
            variables: &request.variables,
            credentials: &request.credentials,
            config: &request.config,
        }
    }
}

/// Appends `request` as a request frame.
pub fn encode_request(request: &RequestParts<'_>, out: &mut impl Sink) {
    out.put(WIRE_VERSION);
    put_field(out, NODE_TYPE, |out| {
        out.put_slice(request.node_type.as_bytes())
    });
    put_field(out, NODE_ID, |out| {
        out.put_slice(request.node_id.as_bytes())
    });
    put_field(out, PARAMETERS, |out| encode_value(request.parameters, out));
    put_field(out, INPUT, |out| encode_value(request.input, out));
    if let Some(trigger) = request.trigger.filter(|t| !t.is_null()) {
        put_field(out, TRIGGER, |out| encode_value(trigger, out));
    }
    if let Some(deadline) = request.deadline_ms {
        put_field(out, DEADLINE_MS, |out| put_varint(deadline, out));
    }
    if let Some(limit) = request.max_output_bytes {
        put_field(out, MAX_OUTPUT_BYTES, |out| put_varint(limit, out));
    }
    if let Some(tenant) = &request.context.tenant_id {
        put_field(out, TENANT_ID, |out| out.put_slice(tenant.as_bytes()));
    }
    if !request.context.user.is_null() {
        put_field(out, USER, |out| encode_value(&request.context.user, out));
    }
    put_field(out, EXECUTION_ID, |out| {
        out.put_slice(request.context.execution_id.as_bytes())
    });
    if request.context.resumable {
        put_field(out, RESUMABLE, |_| {});
    }
    for (tag, map) in [
        (VARIABLES, request.variables),
        (CREDENTIALS, request.credentials),
        (CONFIG, request.config),
    ] {
        if !map.is_empty() {
            put_field(out, tag, |out| encode_object_body(map, out));
        }
    }
    out.put(END);
}

/// Writes one field: tag, a 4-byte length placeholder, the payload, then
/// the length over the placeholder.
fn put_field<S: Sink>(out: &mut S, tag: u8, payload: impl FnOnce(&mut S)) {
    out.put(tag);
    let at = out.written();
    out.put_slice(&[0; 4]);
    payload(out);
    let len = u32::try_from(out.written() - at - 4).unwrap_or(u32::MAX);
    out.patch(at, &len.to_le_bytes());
}

/// The fields of a frame: (tag, payload reader) until the end tag.
fn fields<'a>(
    bytes: &'a [u8],
) -> Result<impl Iterator<Item = Result<(u8, Reader<'a>), WireError>>, WireError> {
    let mut reader = Reader::new(bytes);
    let version = reader.byte()?;
    if version != WIRE_VERSION {
        return Err(WireError::Version(version));
    }
    let mut done = false;
    Ok(std::iter::from_fn(move || {
        if done {
            return None;
        }
        let next = (|| {
            let tag = reader.byte()?;
            if tag == END {
                return Ok(None);
            }
            let len = u32::from_le_bytes(reader.array()?) as usize;
            Ok(Some((tag, Reader::new(reader.take(len)?))))
        })();
        match next {
            Ok(Some(field)) => Some(Ok(field)),
            Ok(None) => {
                done = true;
                None
            }
            Err(e) => {
                done = true;
                Some(Err(e))
            }
        }
    }))
}

fn utf8<'a>(reader: &Reader<'a>) -> Result<&'a str, WireError> {
    std::str::from_utf8(reader.bytes).map_err(|_| WireError::NotUtf8)
}

fn set_str(into: &mut String, from: &str) {
    into.clear();
    into.push_str(from);
}

/// Reads a request frame into `into`, reusing its allocations where the
/// values have the same shape as last time. Fields the frame does not
/// carry take their defaults.
pub fn decode_request_into(bytes: &[u8], into: &mut NodeRequest) -> Result<(), WireError> {
    let mut seen = 0u32;
    for field in fields(bytes)? {
        let (tag, mut payload) = field?;
        if tag < 32 {
            seen |= 1 << tag;
        }
        match tag {
            NODE_TYPE => set_str(&mut into.node_type, utf8(&payload)?),
            NODE_ID => set_str(&mut into.node_id, utf8(&payload)?),
            PARAMETERS => decode_value_into(&mut into.parameters, &mut payload)?,
            INPUT => decode_value_into(&mut into.input, &mut payload)?,
            TRIGGER => decode_value_into(&mut into.trigger, &mut payload)?,
            DEADLINE_MS => into.deadline_ms = Some(payload.varint()?),
            MAX_OUTPUT_BYTES => into.max_output_bytes = Some(payload.varint()?),
            TENANT_ID => {
                let tenant = utf8(&payload)?;
                match &mut into.context.tenant_id {
                    Some(held) => set_str(held, tenant),
                    none => *none = Some(tenant.to_owned()),
                }
            }
            USER => decode_value_into(&mut into.context.user, &mut payload)?,
            EXECUTION_ID => set_str(&mut into.context.execution_id, utf8(&payload)?),
            VARIABLES => decode_map_into(&mut into.variables, &mut payload)?,
            CREDENTIALS => decode_map_into(&mut into.credentials, &mut payload)?,
            CONFIG => decode_map_into(&mut into.config, &mut payload)?,
            RESUMABLE => into.context.resumable = true,
            // A field from a newer host: skipped.
            _ => {}
        }
    }
    let absent = |tag: u8| seen & (1 << tag) == 0;
    if absent(NODE_TYPE) {
        into.node_type.clear();
    }
    if absent(NODE_ID) {
        into.node_id.clear();
    }
    if absent(PARAMETERS) {
        into.parameters = Value::Null;
    }
    if absent(INPUT) {
        into.input = Value::Null;
    }
    if absent(TRIGGER) {
        into.trigger = Value::Null;
    }
    if absent(DEADLINE_MS) {
        into.deadline_ms = None;
    }
    if absent(MAX_OUTPUT_BYTES) {
        into.max_output_bytes = None;
    }
    if absent(TENANT_ID) {
        into.context.tenant_id = None;
    }
    if absent(USER) {
        into.context.user = Value::Null;
    }
    if absent(EXECUTION_ID) {
        into.context.execution_id.clear();
    }
    if absent(VARIABLES) {
        into.variables.clear();
    }
    if absent(CREDENTIALS) {
        into.credentials.clear();
    }
    if absent(CONFIG) {
        into.config.clear();
    }
    if absent(RESUMABLE) {
        into.context.resumable = false;
    }
    Ok(())
}

/// Appends `output` as an output frame.
pub fn encode_output(output: &NodeOutput, out: &mut impl Sink) {
    out.put(WIRE_VERSION);
    put_field(out, OUTPUT, |out| encode_value(&output.output, out));
    if let Some(index) = output.output_index {
        put_field(out, OUTPUT_INDEX, |out| put_varint(u64::from(index), out));
    }
    let patch = &output.variables;
    if patch.clear {
        put_field(out, VARIABLES_CLEAR, |_| {});
    }
    if !patch.delete.is_empty() {
        put_field(out, VARIABLES_DELETE, |out| {
            put_varint(patch.delete.len() as u64, out);
            for name in &patch.delete {
                put_str(name, out);
            }
        });
    }
    if !patch.set.is_empty() {
        put_field(out, VARIABLES_SET, |out| {
            encode_object_body(&patch.set, out)
        });
    }
    out.put(END);
}

/// Reads an output frame.
pub fn decode_output(bytes: &[u8]) -> Result<NodeOutput, WireError> {
    let mut output = NodeOutput::default();
    for field in fields(bytes)? {
        let (tag, mut payload) = field?;
        match tag {
            OUTPUT => output.output = decode_value(&mut payload)?,
            OUTPUT_INDEX => {
                output.output_index =
                    Some(u32::try_from(payload.varint()?).map_err(|_| WireError::BadField(tag))?)
            }
            VARIABLES_CLEAR => output.variables.clear = true,
            VARIABLES_DELETE => {
                let n = payload.count()?;
                let mut names = Vec::with_capacity(n);
                for _ in 0..n {
                    names.push(payload.str()?.to_owned());
                }
                output.variables.delete = names;
            }
            VARIABLES_SET => {
                let mut set = Map::new();
                decode_map_into(&mut set, &mut payload)?;
                output.variables.set = set;
            }
            _ => {}
        }
    }
    Ok(output)
}

/// The fewest bytes the output frame's output value and variable changes
/// take as JSON text, computed without decoding them: a host refuses an
/// output over its size limit before building it.
///
/// # Errors
///
/// When the bytes are not a valid output frame.
pub fn output_json_size_at_least(bytes: &[u8]) -> Result<usize, WireError> {
    let mut size = 0usize;
    for field in fields(bytes)? {
        let (tag, mut payload) = field?;
        size = size.saturating_add(match tag {
            OUTPUT => json_size_at_least(&mut payload)?,
            VARIABLES_SET => object_json_size_at_least(&mut payload)?,
            _ => 0,
        });
    }
    Ok(size)
}
