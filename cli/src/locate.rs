//! Where in the workflow file a problem is: the line and column of its
//! JSON Pointer (and of a character inside a string value), so the author
//! and their editor land on their own text. Found only when there is
//! something to report: the file is parsed once more, with positions.

use jsonc_parser::ast::{ObjectPropName, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::{CollectOptions, ParseOptions};

/// A place in the file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

/// One place to find: a JSON Pointer into the document and, for a string
/// value, a 1-based character inside it.
pub struct Target<'a> {
    /// The JSON Pointer.
    pub pointer: &'a str,
    /// A character of the string value at `pointer`.
    pub character: Option<usize>,
}

/// Targets located at most: each walks the members of every object on its
/// way, so a hostile file with a hundred thousand unknown fields must not
/// make a report quadratic. Findings past it have no line and column.
pub const MAX_LOCATED: usize = 1_000;

/// The position of each target in `text`; `None` where the text does not
/// parse, and past the first [`MAX_LOCATED`] targets. A pointer that goes
/// deeper than the document (a missing field) lands on the deepest part
/// that exists.
pub fn positions(text: &str, targets: &[Target<'_>]) -> Vec<Option<Position>> {
    let parsed =
        jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &ParseOptions::default());
    let Some(root) = parsed.ok().and_then(|p| p.value) else {
        return vec![None; targets.len()];
    };
    let offsets: Vec<usize> = targets
        .iter()
        .take(MAX_LOCATED)
        .map(|t| byte_offset(text, &root, t))
        .collect();
    let mut found = positions_of(text, &offsets);
    found.resize(targets.len(), None);
    found
}

/// The byte offset of `target` in `text`.
fn byte_offset(text: &str, root: &Value<'_>, target: &Target<'_>) -> usize {
    let mut at = root;
    // Where the pointer ended: an object member starts at its key.
    let mut start = root.start();
    for segment in target.pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let next = match at {
            Value::Object(object) => object
                .properties
                .iter()
                .find(|p| prop_name(&p.name) == segment)
                .map(|p| (p.start(), &p.value)),
            Value::Array(array) => segment
                .parse::<usize>()
                .ok()
                .and_then(|i| array.elements.get(i))
                .map(|v| (v.start(), v)),
            _ => None,
        };
        let Some((member, value)) = next else {
            return start;
        };
        start = member;
        at = value;
    }
    match (at, target.character) {
        (Value::StringLit(_), Some(character)) => {
            inside_string(text, at.start(), character).unwrap_or(start)
        }
        _ => start,
    }
}

fn prop_name(name: &ObjectPropName<'_>) -> String {
    match name {
        ObjectPropName::String(s) => s.value.to_string(),
        ObjectPropName::Word(w) => w.value.to_owned(),
    }
}

/// The byte offset of decoded character `character` (1-based) of the
/// string literal starting (at its quote) at `quote`: escapes count as the
/// one character they stand for.
fn inside_string(text: &str, quote: usize, character: usize) -> Option<usize> {
    let literal = text.get(quote..)?;
    let mut chars = literal.char_indices().skip(1).peekable();
    let mut decoded = 1;
    while let Some((offset, c)) = chars.next() {
        if decoded == character {
            return Some(quote + offset);
        }
        match c {
            '"' => return None,
            '\\' => {
                if let Some((_, 'u')) = chars.next() {
                    let high = (0..4).filter_map(|_| chars.next()).map(|(_, c)| c);
                    let high: String = high.collect();
                    let is_high =
                        u16::from_str_radix(&high, 16).is_ok_and(|h| (0xD800..0xDC00).contains(&h));
                    // A surrogate pair is one character.
                    if is_high && chars.peek().is_some_and(|(_, c)| *c == '\\') {
                        chars.next();
                        chars.next();
                        (0..4).for_each(|_| {
                            chars.next();
                        });
                    }
                }
            }
            _ => {}
        }
        decoded += 1;
    }
    None
}

/// The line and column of each byte offset, in one pass over `text` (a
/// long file of one line would make a pass per offset quadratic).
fn positions_of(text: &str, offsets: &[usize]) -> Vec<Option<Position>> {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_unstable_by_key(|&i| offsets[i]);
    let mut found = vec![None; offsets.len()];
    let mut next = order.into_iter().peekable();
    let (mut line, mut column) = (1, 1);
    for (at, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), '\0')))
    {
        while let Some(i) = next.next_if(|&i| offsets[i] <= at) {
            found[i] = Some(Position { line, column });
        }
        if next.peek().is_none() {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, pointer: &str, character: Option<usize>) -> (usize, usize) {
        let p = positions(text, &[Target { pointer, character }])[0].unwrap();
        (p.line, p.column)
    }

    const DOC: &str =
        "{\n  \"nodes\": [\n    {\"id\": \"a\", \"parameters\": {\"v\": \"x {{ y\"}}\n  ]\n}\n";

    #[test]
    fn an_object_member_is_found_at_its_key() {
        assert_eq!(at(DOC, "/nodes/0/parameters", None), (3, 17));
    }

    #[test]
    fn a_missing_member_lands_on_its_parent() {
        assert_eq!(at(DOC, "/nodes/0/parameters/w", None), (3, 17));
    }

    #[test]
    fn a_character_inside_a_string_is_found() {
        // `{{` is character 3 of "x {{ y".
        assert_eq!(at(DOC, "/nodes/0/parameters/v", Some(3)), (3, 40));
    }

    #[test]
    fn escapes_count_as_the_character_they_stand_for() {
        let doc = r#"{"v": "\u00e9\n\ud83d\ude00{{"}"#;
        assert_eq!(at(doc, "/v", Some(4)), (1, 28));
    }

    #[test]
    fn findings_past_the_limit_have_no_position() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("\"k{i}\": 0")).collect();
        let doc = format!("{{{}}}", keys.join(", "));
        let pointers: Vec<String> = (0..20_000).map(|i| format!("/k{i}")).collect();
        let targets: Vec<Target<'_>> = pointers
            .iter()
            .map(|p| Target {
                pointer: p,
                character: None,
            })
            .collect();
        let found = positions(&doc, &targets);
        assert!(found[..MAX_LOCATED].iter().all(Option::is_some));
        assert!(found[MAX_LOCATED..].iter().all(Option::is_none));
    }

    #[test]
    fn text_that_does_not_parse_has_no_position() {
        assert_eq!(
            positions(
                "{",
                &[Target {
                    pointer: "/a",
                    character: None
                }]
            ),
            vec![None]
        );
    }
}
