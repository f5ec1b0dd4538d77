//! Why an expression produced no value.

use crate::syntax::SyntaxError;

/// Why an evaluation produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// The text is not one JavaScript expression; nothing ran.
    Syntax(SyntaxError),
    /// The expression threw (or QuickJS reported an error); the message is
    /// the thrown value's, as a person would read it.
    Thrown(String),
    /// The deadline passed while compiling, running or converting.
    Timeout {
        /// The limit that applied, in milliseconds.
        limit_ms: u128,
    },
    /// The runtime's memory cap was hit.
    OutOfMemory,
    /// The value cannot be a JSON value (a function, a symbol).
    NotAValue(&'static str),
    /// The engine could not start or a value could not cross into it.
    Engine(String),
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Syntax(e) => write!(f, "not one JavaScript expression: {e}"),
            EvalError::Thrown(message) => f.write_str(message),
            EvalError::Timeout { limit_ms } => {
                write!(f, "took longer than {limit_ms} ms and was stopped")
            }
            EvalError::OutOfMemory => {
                f.write_str("ran out of memory (the sandbox's limit) and was stopped")
            }
            EvalError::NotAValue(what) => {
                write!(f, "the expression evaluates to {what}, not a value")
            }
            EvalError::Engine(message) => write!(f, "JavaScript engine error: {message}"),
        }
    }
}

impl std::error::Error for EvalError {}
