//! Printing results: pretty for people, one JSON document for scripts.

use serde_json::Value;

use crate::args::OutputFormat;

/// What a command prints on success.
pub struct Output {
    /// The JSON document (`--output json`).
    pub json: Value,
    /// The human-readable text (`--output pretty`).
    pub pretty: String,
}

impl Output {
    /// Prints the output in `format` on stdout.
    pub fn print(&self, format: OutputFormat) {
        match format {
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&self.json).unwrap_or_default()
            ),
            OutputFormat::Pretty => {
                if !self.pretty.is_empty() {
                    println!("{}", self.pretty.trim_end());
                }
            }
        }
    }
}

/// A value shortened to one line of at most `max` characters.
pub fn brief(value: &Value, max: usize) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let line = text.replace('\n', " ");
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line
    }
}
