//! Checking that a text is exactly one JavaScript expression, with a real
//! parser (oxc), before QuickJS compiles it.

use oxc_allocator::Allocator;
use oxc_parser::Parser;
use oxc_span::SourceType;

/// Longest expression accepted, in bytes: an expression is a formula, not
/// a program.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;

/// Deepest bracket nesting accepted: the parser recurses per level, and
/// worker threads have small stacks.
pub const MAX_NESTING: usize = 128;

/// Why a text is not one JavaScript expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What the parser found, in its words.
    pub message: String,
    /// Byte offset of the problem inside the expression text, when known.
    pub offset: Option<usize>,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Checks that `source` is exactly one JavaScript expression. Nothing is
/// compiled or run.
///
/// ```
/// assert!(js_sandbox::check("$json.a > 2 ? 'big' : 'small'").is_ok());
/// assert!(js_sandbox::check("{a: {b: 1}}").is_ok(), "an object literal");
/// let err = js_sandbox::check("$json.a +").unwrap_err();
/// assert_eq!(err.offset, Some(9));
/// assert!(js_sandbox::check("1; 2").is_err(), "two statements");
/// ```
pub fn check(source: &str) -> Result<(), SyntaxError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(SyntaxError {
            message: format!(
                "the expression is {} bytes long, over the {MAX_SOURCE_BYTES}-byte limit",
                source.len()
            ),
            offset: None,
        });
    }
    if source.trim().is_empty() {
        return Err(SyntaxError {
            message: "the expression is empty".to_owned(),
            offset: None,
        });
    }
    if let Some(offset) = too_deep(source) {
        return Err(SyntaxError {
            message: format!("brackets nest deeper than {MAX_NESTING} levels"),
            offset: Some(offset),
        });
    }
    let allocator = Allocator::default();
    // Script (not module) grammar: what QuickJS compiles the wrapper as.
    let parsed = Parser::new(&allocator, source, SourceType::cjs()).parse_expression();
    match parsed {
        Ok(_) => Ok(()),
        Err(errors) => {
            let first = errors.into_iter().next();
            let (message, offset) = match first {
                Some(diagnostic) => {
                    let offset = diagnostic.labels.iter().map(|l| l.offset() as usize).min();
                    // The author wrote no `EOF`: say where the text ends.
                    let message = diagnostic
                        .message
                        .replace("found `EOF`", "the expression ends");
                    (message, offset)
                }
                None => ("not a JavaScript expression".to_owned(), None),
            };
            Err(SyntaxError { message, offset })
        }
    }
}

/// The offset where bracket nesting first exceeds [`MAX_NESTING`] (quotes
/// are not tracked: deep brackets inside a string are refused too, a small
/// price for never recursing deeply).
fn too_deep(source: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in source.bytes().enumerate() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn a_missing_parenthesis_says_where_the_text_ends_not_eof() {
        let err = check("Math.round($json.x * 100 / 100").unwrap_err();
        assert_eq!(err.message, "Expected `)` but the expression ends");
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        let deep = format!("{}1{}", "(".repeat(1_000), ")".repeat(1_000));
        assert!(check(&deep).is_err());
    }

    #[test]
    fn one_expression_passes() {
        for source in [
            "$json.data.slice(1, 3)",
            "Math.max($json.page || 1, 1)",
            "$json.t.toLowerCase().replace(/[^a-z0-9]+/g, '-')",
            "(() => { let a = 1; return a + 1; })()",
            "`a ${$json.b} c`",
            "{a: {b: $json.n}}",
            "new Date().toISOString()",
            "'}}' + $json.n",
        ] {
            assert!(check(source).is_ok(), "{source}: {:?}", check(source));
        }
    }

    #[test]
    fn a_wrapper_breakout_is_not_one_expression() {
        let attack = "1); }); while(true); /*'*/ (function(){ /*'*/ return (1";
        assert!(check(attack).is_err());
    }

    #[test]
    fn statements_are_not_expressions() {
        for source in [
            "1; 2",
            "while (true) {}",
            "var x = 1",
            "return 1",
            "1)",
            "(1",
        ] {
            assert!(check(source).is_err(), "{source}");
        }
    }
}
