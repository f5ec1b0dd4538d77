//! Printing results: pretty for people, one JSON document for scripts.
//! Text from workflows is escaped before it reaches a terminal.

use std::io::Write as _;

use serde_json::Value;

use crate::args::OutputFormat;

/// A JSON document: a value, or already written text (a large result is
/// written straight from its types, never built as a value tree first).
#[derive(Debug, Clone)]
pub enum Json {
    /// A value, written when printed.
    Value(Value),
    /// Pretty JSON text.
    Text(String),
}

impl Json {
    /// `value` written now as pretty JSON text.
    pub fn write<T: serde::Serialize>(value: &T) -> Self {
        let mut text = Vec::new();
        let written = serde_json::to_writer_pretty(&mut text, value);
        // serde_json writes UTF-8 only.
        Json::Text(match written {
            Ok(()) => String::from_utf8(text).unwrap_or_default(),
            Err(_) => String::new(),
        })
    }

    /// The pretty JSON text.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Json::Value(v) => serde_json::to_string_pretty(v).unwrap_or_default().into(),
            Json::Text(t) => t.as_str().into(),
        }
    }
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Json::Value(value)
    }
}

/// What a command prints on stdout.
pub struct Output {
    /// The JSON document (`--output json`).
    pub json: Json,
    /// The human-readable text (`--output pretty`).
    pub pretty: String,
}

impl Output {
    /// The text to print in `format`.
    pub fn render(&self, format: OutputFormat) -> std::borrow::Cow<'_, str> {
        match format {
            OutputFormat::Json => self.json.text(),
            OutputFormat::Pretty => self.pretty.trim_end().into(),
        }
    }
}

/// Writes `text` and a newline to stdout. A closed stdout (`plugflow ... |
/// head -1`) is not an error: the reader has what it wanted.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let written = match OWN_STDOUT.get() {
        Some(own) => {
            let mut out = own
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            writeln!(out, "{text}").and_then(|()| out.flush())
        }
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}").and_then(|()| out.flush())
        }
    };
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// plugflow's own stdout, once [`reserve_stdout`] took it.
static OWN_STDOUT: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> =
    std::sync::OnceLock::new();

/// Keeps stdout for plugflow's own output: plugins loaded in this process
/// that print land on stderr, so `--output json` stays one document. If
/// the descriptors cannot be duplicated, stdout stays shared.
pub fn reserve_stdout() {
    match plugin_host::reserve_stdout() {
        Ok(own) => {
            let _ = OWN_STDOUT.set(std::sync::Mutex::new(own));
        }
        Err(e) => tracing::debug!(component = "cli", "stdout stays shared with plugins: {e}"),
    }
}

/// Control characters in `text` shown as escapes (`\n`, `\u{1b}`), so text
/// from a workflow can neither forge a line nor drive the terminal.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A value shortened to one line of at most `max` characters (`None`:
/// whole).
pub fn brief(value: &Value, max: Option<usize>) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let line = sanitize(&text);
    match max {
        Some(max) if line.chars().count() > max => {
            format!("{}…", line.chars().take(max).collect::<String>())
        }
        _ => line,
    }
}
