//! CLI errors: a one-line message and an exit code.

/// Exit code: the workflow ran and failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or invalid input; nothing ran.
pub const EXIT_INVALID: u8 = 2;

/// A failure to report on stderr, in one line, with its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// One line: what, where, what to do.
    pub message: String,
    /// The exit code.
    pub code: u8,
    /// A JSON document to print on stdout with `--output json`, if any.
    pub document: Option<serde_json::Value>,
}

impl CliError {
    /// Invalid input (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_INVALID,
            document: None,
        }
    }

    /// The workflow ran and failed (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_FAILED,
            document: None,
        }
    }

    /// Attaches the JSON document printed with `--output json`.
    pub fn with_document(mut self, document: serde_json::Value) -> Self {
        self.document = Some(document);
        self
    }
}
