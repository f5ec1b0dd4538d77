//! An [`ExecutionResult`] written as pretty JSON text: byte for byte what
//! `serde_json::to_writer_pretty` writes, but its fixed shape (keys,
//! punctuation, indentation, timestamps) is written directly. Through
//! serde, every key of every node's result was scanned for characters to
//! escape and every field went through the serializer's machinery: two
//! thirds of writing a node's result. Values of open shape (outputs,
//! validation issues, warnings, metrics) still go through serde_json, at
//! their depth.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::Value;

use crate::result::{ExecutionResult, NodeResult};

impl ExecutionResult {
    /// The result as pretty JSON text (two-space indentation), exactly as
    /// `serde_json::to_writer_pretty` writes it, appended to `out`.
    ///
    /// ```
    /// # use plugflow_engine::{ExecutionResult, RunMetrics, RunStatus};
    /// let result = ExecutionResult {
    ///     execution_id: "e1".into(),
    ///     workflow_id: "w".into(),
    ///     status: RunStatus::Success,
    ///     error: None,
    ///     nodes: Default::default(),
    ///     execution_order: Vec::new(),
    ///     metrics: RunMetrics::default(),
    /// };
    /// let mut text = Vec::new();
    /// result.write_pretty_json(&mut text);
    /// assert_eq!(text, serde_json::to_vec_pretty(&result).unwrap());
    /// ```
    pub fn write_pretty_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        key(out, 1, true, "executionId");
        string(out, &self.execution_id);
        key(out, 1, false, "workflowId");
        string(out, &self.workflow_id);
        key(out, 1, false, "status");
        serialized(out, 1, &self.status);
        if let Some(error) = &self.error {
            key(out, 1, false, "error");
            string(out, error);
        }
        key(out, 1, false, "nodes");
        if self.nodes.is_empty() {
            out.extend_from_slice(b"{}");
        } else {
            out.push(b'{');
            let mut clock = Clock::default();
            for (n, (id, node)) in self.nodes.iter().enumerate() {
                out.extend_from_slice(if n == 0 { b"\n    " } else { b",\n    " });
                string(out, id);
                out.extend_from_slice(b": ");
                node_result(out, node, &mut clock);
            }
            close(out, 1, b'}');
        }
        key(out, 1, false, "executionOrder");
        if self.execution_order.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            out.push(b'[');
            for (n, id) in self.execution_order.iter().enumerate() {
                separator(out, 2, n == 0);
                string(out, id);
            }
            close(out, 1, b']');
        }
        key(out, 1, false, "metrics");
        serialized(out, 1, &self.metrics);
        close(out, 0, b'}');
    }
}

/// The key `$name` of a node's result (its fields are at depth 3), up to
/// its value, as one constant: `,`, new line, indentation, quoted key.
macro_rules! node_key {
    ($out:expr, first $name:literal) => {
        $out.extend_from_slice(concat!("\n      \"", $name, "\": ").as_bytes())
    };
    ($out:expr, $name:literal) => {
        $out.extend_from_slice(concat!(",\n      \"", $name, "\": ").as_bytes())
    };
}

/// One node's result, its object at depth 2 (its fields at 3).
fn node_result(out: &mut Vec<u8>, node: &NodeResult, clock: &mut Clock) {
    out.push(b'{');
    node_key!(out, first "status");
    // A status is a lower-case word: nothing to escape.
    out.push(b'"');
    out.extend_from_slice(node.status.as_str().as_bytes());
    out.push(b'"');
    node_key!(out, "output");
    value(out, 3, &node.output);
    node_key!(out, "error");
    optional_string(out, node.error.as_deref());
    node_key!(out, "errorCode");
    match &node.error_code {
        Some(code) => serialized(out, 3, code),
        None => out.extend_from_slice(b"null"),
    }
    node_key!(out, "startedAt");
    clock.write(out, node.started_at);
    node_key!(out, "finishedAt");
    clock.write(out, node.finished_at);
    node_key!(out, "durationMs");
    serialized(out, 3, &node.duration_ms);
    node_key!(out, "retries");
    out.extend_from_slice(itoa::Buffer::new().format(node.retries).as_bytes());
    node_key!(out, "recoveryApplied");
    out.extend_from_slice(if node.recovery_applied {
        b"true"
    } else {
        b"false"
    });
    node_key!(out, "fallbackNodeType");
    optional_string(out, node.fallback_node_type.as_deref());
    if !node.validation_errors.is_empty() {
        node_key!(out, "validationErrors");
        serialized(out, 3, &node.validation_errors);
    }
    if let Some(reason) = &node.reason {
        node_key!(out, "reason");
        string(out, reason);
    }
    if !node.warnings.is_empty() {
        node_key!(out, "warnings");
        serialized(out, 3, &node.warnings);
    }
    out.extend_from_slice(b"\n    }");
}

/// Timestamps as quoted RFC 3339 text, the last second's text kept: the
/// nodes of a run mostly start and finish within the same second, so
/// only the milliseconds change from one timestamp to the next.
#[derive(Default)]
struct Clock {
    /// The last timestamp's whole seconds since the epoch and its text,
    /// quotes included (one copy into the output).
    last: Option<(u64, [u8; 26])>,
}

impl Clock {
    fn write(&mut self, out: &mut Vec<u8>, at: Option<SystemTime>) {
        let Some(at) = at else {
            out.extend_from_slice(b"null");
            return;
        };
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let text = match &mut self.last {
            Some((secs, text)) if *secs == since.as_secs() => {
                let millis = since.subsec_millis();
                // Three digits; below 1000 by definition.
                text[21] = b'0' + (millis / 100) as u8;
                text[22] = b'0' + (millis / 10 % 10) as u8;
                text[23] = b'0' + (millis % 10) as u8;
                text
            }
            last => {
                let mut quoted = [b'"'; 26];
                quoted[1..25].copy_from_slice(&crate::timestamp::rfc3339_millis(at));
                &mut last.insert((since.as_secs(), quoted)).1
            }
        };
        out.extend_from_slice(&text[..]);
    }
}

/// `,` unless first, a new line and the indentation of `depth`.
fn separator(out: &mut Vec<u8>, depth: usize, first: bool) {
    out.extend_from_slice(if first { b"\n" } else { b",\n" });
    indent(out, depth);
}

/// A key of an object whose fields are at `depth`, up to its value.
fn key(out: &mut Vec<u8>, depth: usize, first: bool, name: &'static str) {
    separator(out, depth, first);
    // Our keys are plain ASCII: nothing to escape.
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\": ");
}

/// The end of a non-empty object or array whose brackets are at `depth`.
fn close(out: &mut Vec<u8>, depth: usize, bracket: u8) {
    out.push(b'\n');
    indent(out, depth);
    out.push(bracket);
}

fn indent(out: &mut Vec<u8>, depth: usize) {
    const SPACES: &[u8] = b"                ";
    let mut left = depth * 2;
    while left > 0 {
        let n = left.min(SPACES.len());
        out.extend_from_slice(&SPACES[..n]);
        left -= n;
    }
}

/// `text` as a JSON string: as it is when nothing in it needs escaping
/// (serde_json escapes only `"`, `\` and control characters), else
/// through serde_json.
fn string(out: &mut Vec<u8>, text: &str) {
    if !text.bytes().any(|b| ESCAPED[usize::from(b)]) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serialized(out, 0, text);
    }
}

/// The bytes serde_json escapes in a string: control characters, `"`
/// and `\` (one table load a byte, as serde_json checks them).
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

fn optional_string(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON value as written at `depth`: containers, strings and integers
/// directly, other numbers through serde_json (its float formatting).
fn value(out: &mut Vec<u8>, depth: usize, given: &Value) {
    match given {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            (None, Some(u)) => out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes()),
            _ => serialized(out, depth, n),
        },
        Value::String(text) => string(out, text),
        Value::Array(items) if items.is_empty() => out.extend_from_slice(b"[]"),
        Value::Object(entries) if entries.is_empty() => out.extend_from_slice(b"{}"),
        // Deep values go through serde_json, whose serializer bounds its
        // own recursion the same way.
        _ if depth > VALUE_DEPTH => serialized(out, depth, given),
        Value::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                separator(out, depth + 1, n == 0);
                value(out, depth + 1, item);
            }
            close(out, depth, b']');
        }
        Value::Object(entries) => {
            out.push(b'{');
            for (n, (key, item)) in entries.iter().enumerate() {
                separator(out, depth + 1, n == 0);
                string(out, key);
                out.extend_from_slice(b": ");
                value(out, depth + 1, item);
            }
            close(out, depth, b'}');
        }
    }
}

/// Nesting past which an output is handed to serde_json.
const VALUE_DEPTH: usize = 32;

/// `value` through serde_json, pretty, as written at `depth` (its inner
/// lines indented from there).
fn serialized<T: Serialize + ?Sized>(out: &mut Vec<u8>, depth: usize, value: &T) {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, PrettyAt::new(depth));
    // Writing into a Vec cannot fail, and every type serialised here
    // (JSON values, enums, numbers, our derived structs) always serialises.
    if let Err(e) = value.serialize(&mut serializer) {
        tracing::error!(
            component = "engine",
            "a result value did not serialise: {e}"
        );
        out.extend_from_slice(b"null");
    }
}

/// serde_json's pretty formatter (two spaces), starting at a depth.
struct PrettyAt {
    depth: usize,
    has_value: bool,
}

impl PrettyAt {
    fn new(depth: usize) -> Self {
        Self {
            depth,
            has_value: false,
        }
    }

    fn open<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            writer.write_all(b"\n")?;
            write_indent(writer, self.depth)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        writer.write_all(if first { b"\n" } else { b",\n" })?;
        write_indent(writer, self.depth)
    }
}

fn write_indent<W: ?Sized + io::Write>(writer: &mut W, depth: usize) -> io::Result<()> {
    for _ in 0..depth {
        writer.write_all(b"  ")?;
    }
    Ok(())
}

impl Formatter for PrettyAt {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use proptest::prelude::*;
    use registry_core::{ErrorCode, NodeStatus, ValidationIssue};
    use serde_json::{json, Value};

    use crate::result::{ExecutionResult, NodeResult, RunMetrics, RunStatus, RunWarning};

    fn written(result: &ExecutionResult) -> String {
        let mut text = Vec::new();
        result.write_pretty_json(&mut text);
        String::from_utf8(text).expect("UTF-8")
    }

    fn serde_written(result: &ExecutionResult) -> String {
        serde_json::to_string_pretty(result).expect("serialises")
    }

    fn result(nodes: Vec<(String, NodeResult)>) -> ExecutionResult {
        ExecutionResult {
            execution_id: "exec-1".into(),
            workflow_id: "wf".into(),
            status: RunStatus::Success,
            error: None,
            execution_order: nodes.iter().map(|(id, _)| id.clone()).collect(),
            nodes: nodes.into_iter().collect(),
            metrics: RunMetrics::default(),
        }
    }

    #[test]
    fn an_empty_result_is_written_as_serde_writes_it() {
        let empty = result(Vec::new());
        assert_eq!(written(&empty), serde_written(&empty));
    }

    #[test]
    fn a_failed_node_with_every_optional_field_is_written_as_serde_writes_it() {
        let mut node = NodeResult::pending();
        node.status = NodeStatus::Error;
        node.output = json!({"a": [1, {"b": []}, {}], "c": "x\"y\n"});
        node.error = Some("bad \"quote\" and \u{1}".into());
        node.error_code = Some(ErrorCode::ValidationFailed);
        node.started_at = Some(UNIX_EPOCH + Duration::from_millis(1_765_000_000_123));
        node.finished_at = Some(UNIX_EPOCH + Duration::from_millis(1_765_000_000_456));
        node.duration_ms = f64::NAN;
        node.retries = 3;
        node.recovery_applied = true;
        node.fallback_node_type = Some("math.add".into());
        node.validation_errors = vec![ValidationIssue {
            path: "/values/0".into(),
            message: "must be a number".into(),
        }];
        node.reason = Some("stopped".into());
        node.warnings = vec![RunWarning {
            code: "UNRESOLVED_REFERENCE",
            path: "/values/1".into(),
            expression: "$json.x".into(),
            message: "resolved to nothing".into(),
        }];
        let mut failed = result(vec![("n\u{7f}\"0".into(), node)]);
        failed.status = RunStatus::Error;
        failed.error = Some("node n0 failed".into());
        assert_eq!(written(&failed), serde_written(&failed));
    }

    #[test]
    fn an_output_nested_past_the_direct_writer_is_written_as_serde_writes_it() {
        let mut deep = json!({"leaf": [1.5, -2, "x"]});
        for i in 0..40 {
            deep = if i % 2 == 0 {
                json!([deep, i])
            } else {
                json!({"k": deep})
            };
        }
        let mut node = NodeResult::pending();
        node.output = deep;
        let nested = result(vec![("n".into(), node)]);
        assert_eq!(written(&nested), serde_written(&nested));
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn any_node() -> impl Strategy<Value = NodeResult> {
        (
            any_value(),
            proptest::option::of(any::<String>()),
            any::<f64>(),
            any::<u32>(),
            proptest::option::of(0u64..4_102_444_800_000),
            proptest::option::of(any::<String>()),
            0usize..5,
        )
            .prop_map(
                |(output, error, duration_ms, retries, at, reason, status)| {
                    let mut node = NodeResult::pending();
                    node.status = [
                        NodeStatus::Success,
                        NodeStatus::Error,
                        NodeStatus::Skipped,
                        NodeStatus::Pending,
                        NodeStatus::Cancelled,
                    ][status];
                    node.output = output;
                    node.error_code = error.as_ref().map(|_| ErrorCode::ExecutionError);
                    node.error = error;
                    node.duration_ms = duration_ms;
                    node.retries = retries;
                    node.started_at = at.map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
                    node.finished_at = node.started_at;
                    node.reason = reason;
                    node
                },
            )
    }

    proptest! {
        #[test]
        fn any_result_is_written_as_serde_writes_it(
            nodes in prop::collection::vec((any::<String>(), any_node()), 0..4),
            execution_id in any::<String>(),
        ) {
            let mut any = result(nodes);
            any.execution_id = execution_id;
            prop_assert_eq!(written(&any), serde_written(&any));
        }
    }
}
