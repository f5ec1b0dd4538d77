//! CLI errors: a stable code, a one-line message, an exit code, and what
//! to print on stdout (one JSON document, or the pretty text).

use serde_json::json;

use crate::output::Json;

/// Exit code: the workflow ran and failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or invalid input; nothing ran.
pub const EXIT_INVALID: u8 = 2;

/// A failure to report: one line on stderr, and on stdout exactly one JSON
/// document with `--output json` (the command's own, or
/// `{"status": "error", "error": {"code", "message"}}`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// One line: what, where, what to do.
    pub message: String,
    /// The exit code.
    pub code: u8,
    /// A stable code for scripts (`INPUT_INVALID`, `CONFIG_INVALID`, ...).
    pub kind: &'static str,
    /// The JSON document printed with `--output json`, if the command has
    /// its own (a run result, a problems report).
    pub document: Option<Box<Json>>,
    /// Text printed on stdout with `--output pretty` before the message.
    pub pretty: Option<String>,
}

impl CliError {
    /// A failure with `kind` and exit `code`.
    pub fn new(code: u8, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code,
            kind,
            document: None,
            pretty: None,
        }
    }

    /// Invalid input (exit 2, `INPUT_INVALID`).
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(EXIT_INVALID, "INPUT_INVALID", message)
    }

    /// A configuration that cannot be used (exit 2, `CONFIG_INVALID`).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(EXIT_INVALID, "CONFIG_INVALID", message)
    }

    /// The workflow ran and failed, or something else went wrong after
    /// starting (exit 1, `FAILED`).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(EXIT_FAILED, "FAILED", message)
    }

    /// Sets the stable code.
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// Attaches the JSON document printed with `--output json`.
    pub fn with_document(mut self, document: impl Into<Json>) -> Self {
        self.document = Some(Box::new(document.into()));
        self
    }

    /// Attaches the text printed with `--output pretty`.
    pub fn with_pretty(mut self, pretty: String) -> Self {
        self.pretty = Some(pretty);
        self
    }

    /// The document printed with `--output json`, as pretty JSON text.
    pub fn json(&self) -> String {
        match self.document.as_deref() {
            Some(document) => document.text().into_owned(),
            None => serde_json::to_string_pretty(
                &json!({"status": "error", "error": {"code": self.kind, "message": self.message}}),
            )
            .unwrap_or_default(),
        }
    }
}
