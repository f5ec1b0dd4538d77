//! `{{ ... }}` templates in parameter values, compiled once per workflow.
//!
//! MetaBuilder's rules: text inside `{{ }}` that is not a valid expression
//! stays the literal text it was written as (with a [`TemplateNote`] for
//! `validate`); `\{{` writes a literal `{{`; a `$` right before `{{` is
//! plain text (`"${{ $json.amount }}"` renders `$2500`). A string that is
//! exactly one template keeps the value's JSON type.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::js::{EvalError, SyntaxError};
use super::path::{parse_path, PathExpr};
use super::scope::Scope;
use crate::pointer::Pointer;
use plugin_abi::sdk::value::to_display_string;

/// One compiled expression, with the text it was written as.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A property path, evaluated natively.
    Path(PathExpr, Arc<str>),
    /// Anything else, evaluated by the JavaScript sandbox.
    Js(Arc<str>),
}

impl Expr {
    /// Compiles the text between `{{` and `}}`: a path, or one JavaScript
    /// expression (checked by a parser; nothing runs).
    pub fn compile(source: &str) -> Result<Expr, SyntaxError> {
        let source = source.trim();
        if let Some(path) = parse_path(source) {
            return Ok(Expr::Path(path, Arc::from(source)));
        }
        super::js::check_syntax(source)?;
        Ok(Expr::Js(Arc::from(source)))
    }

    /// Evaluates the expression; `Ok(None)` when it resolves to nothing.
    pub fn eval<'s>(&self, scope: &'s Scope<'s>) -> Result<Option<Cow<'s, Value>>, EvalError> {
        match self {
            Expr::Path(path, _) => Ok(path.eval(scope)),
            Expr::Js(source) => super::js::eval(source, scope).map(|v| v.map(Cow::Owned)),
        }
    }

    /// The expression as written (trimmed).
    pub fn source(&self) -> &str {
        match self {
            Expr::Path(_, s) | Expr::Js(s) => s,
        }
    }
}

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// An expression whose value is inserted as text.
    Expr(Expr),
}

/// A parameter value with its templates compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum Compiled {
    /// No template anywhere inside: used as is.
    Literal(Value),
    /// A string that is exactly one template: keeps the value's JSON type.
    Single(Expr),
    /// Text with templates inside: always a string.
    Interpolated(Vec<Part>),
    /// An array with templates inside.
    Array(Vec<Compiled>),
    /// An object with templates inside.
    Object(Vec<(String, Compiled)>),
}

/// Text in `{{ }}` that is not an expression, kept literally: reported by
/// `validate` as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateNote {
    /// JSON Pointer of the parameter.
    pub path: String,
    /// The text as written, from its `{{` (to its `}}` when it has one).
    pub text: String,
    /// Why it is not an expression.
    pub message: String,
    /// Byte offset of the problem inside the parameter's string, if known.
    pub offset: Option<usize>,
}

/// A reference that resolved to nothing while rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// JSON Pointer of the parameter.
    pub path: String,
    /// The expression as written.
    pub expression: String,
}

/// An expression that failed while rendering (threw, timed out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// JSON Pointer of the parameter.
    pub path: String,
    /// The expression as written.
    pub expression: String,
    /// What went wrong.
    pub message: String,
    /// Whether the deadline stopped it.
    pub timed_out: bool,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expression `{{{{ {} }}}}` at `{}`: {}",
            self.expression, self.path, self.message
        )
    }
}

/// A piece of a string as split: literal text, or an expression with its
/// byte offset in the string.
#[derive(Debug, PartialEq)]
enum Piece<'t> {
    Text(Cow<'t, str>),
    Expr(&'t str, usize),
    /// `{{` with no closing `}}`: the rest is text.
    Unclosed(&'t str, usize),
}

/// The end of the expression starting at `body` (the index of its `}}`).
/// Braces and quotes inside are tracked, so `{{ {a: {b: 1}} }}` is one
/// expression and `'}}'` inside quotes does not close it.
fn expression_end(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let (mut depth, mut quote, mut i) = (0i32, None::<u8>, 0usize);
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' | b'`' => quote = Some(c),
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Splits `text` into literal text and `{{ }}` expressions.
fn split(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    let mut base = 0usize;
    while let Some(open) = find_open(rest) {
        // `\{{` is a literal `{{`.
        if open > 0 && rest.as_bytes()[open - 1] == b'\\' {
            literal.push_str(&rest[..open - 1]);
            literal.push_str("{{");
            rest = &rest[open + 2..];
            base += open + 2;
            continue;
        }
        literal.push_str(&rest[..open]);
        let body = &rest[open + 2..];
        let Some(end) = expression_end(body) else {
            if !literal.is_empty() {
                pieces.push(Piece::Text(Cow::Owned(std::mem::take(&mut literal))));
            }
            pieces.push(Piece::Unclosed(&rest[open..], base + open));
            return pieces;
        };
        if !literal.is_empty() {
            pieces.push(Piece::Text(Cow::Owned(std::mem::take(&mut literal))));
        }
        pieces.push(Piece::Expr(&body[..end], base + open + 2));
        rest = &body[end + 2..];
        base += open + 2 + end + 2;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Text(Cow::Owned(literal)));
    }
    pieces
}

/// Where the first `{{` in `text` starts.
fn find_open(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'{', bytes).find(|&i| bytes.get(i + 1) == Some(&b'{'))
}

/// Whether `text` holds a template (`{{`).
pub fn has_template(text: &str) -> bool {
    find_open(text).is_some()
}

/// Whether `text` mentions `$<name>` (a prefix match: `$steps` also
/// matches `$stepsX`, which callers then look at closely).
pub fn mentions(text: &str, name: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'$', bytes).any(|i| bytes[i + 1..].starts_with(name.as_bytes()))
}

/// Whether a string's templates belong to a list or dict node, which
/// evaluates them per item (`$item`, `$index`, `$key`, `$value`, `$acc`).
pub fn is_per_item(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'$', bytes).any(|i| {
        let rest = &bytes[i + 1..];
        [&b"item"[..], b"index", b"acc", b"key", b"value"]
            .iter()
            .any(|name| rest.starts_with(name))
    })
}

impl Compiled {
    /// Compiles every template inside `value`; `path` is its JSON Pointer.
    /// Text in `{{ }}` that is not an expression stays literal and is
    /// reported in `notes`.
    pub fn compile(value: &Value, path: &str, notes: &mut Vec<TemplateNote>) -> Compiled {
        let mut trail = PathTrail::default();
        Self::compile_at(value, path, &mut trail, notes, 0)
            .unwrap_or_else(|| Compiled::Literal(value.clone()))
    }

    /// [`Compiled::compile`] of `value` at `base` + `trail`, in one walk;
    /// `None` when nothing inside it is a template (it is used as is).
    /// The pointer is joined only for a note.
    fn compile_at<'v>(
        value: &'v Value,
        base: &str,
        trail: &mut PathTrail<'v>,
        notes: &mut Vec<TemplateNote>,
        depth: usize,
    ) -> Option<Compiled> {
        if depth >= RECURSE_DEPTH && !contains_template(value) {
            // Deep inside: scanned without recursion first, so a hostile
            // document nesting deeper than the stack allows is only ever
            // walked recursively down to a template it really holds.
            return None;
        }
        match value {
            Value::String(text) => {
                has_template(text).then(|| compile_string(text, &|| trail.pointer_at(base), notes))
            }
            Value::Array(items) => {
                let mut compiled: Option<Vec<Compiled>> = None;
                for (i, item) in items.iter().enumerate() {
                    trail.0.push(Segment::Index(i));
                    let found = Self::compile_at(item, base, trail, notes, depth + 1);
                    trail.0.pop();
                    match (found, &mut compiled) {
                        (Some(found), Some(all)) => all.push(found),
                        (None, Some(all)) => all.push(Compiled::Literal(item.clone())),
                        (Some(found), None) => {
                            let mut all = Vec::with_capacity(items.len());
                            all.extend(items[..i].iter().cloned().map(Compiled::Literal));
                            all.push(found);
                            compiled = Some(all);
                        }
                        (None, None) => {}
                    }
                }
                compiled.map(Compiled::Array)
            }
            Value::Object(object) => {
                let mut compiled: Option<Vec<(String, Compiled)>> = None;
                for (i, (key, item)) in object.iter().enumerate() {
                    trail.0.push(Segment::Key(key));
                    let found = Self::compile_at(item, base, trail, notes, depth + 1);
                    trail.0.pop();
                    match (found, &mut compiled) {
                        (Some(found), Some(all)) => all.push((key.clone(), found)),
                        (None, Some(all)) => {
                            all.push((key.clone(), Compiled::Literal(item.clone())));
                        }
                        (Some(found), None) => {
                            let mut all = Vec::with_capacity(object.len());
                            all.extend(
                                object
                                    .iter()
                                    .take(i)
                                    .map(|(k, v)| (k.clone(), Compiled::Literal(v.clone()))),
                            );
                            all.push((key.clone(), found));
                            compiled = Some(all);
                        }
                        (None, None) => {}
                    }
                }
                compiled.map(Compiled::Object)
            }
            _ => None,
        }
    }

    /// Resolves the templates over `scope`. References that resolve to
    /// nothing render `null` (`""` inside text) and are added to
    /// `unresolved`.
    pub fn render(
        &self,
        scope: &Scope<'_>,
        unresolved: &mut Vec<Unresolved>,
    ) -> Result<Value, TemplateError> {
        let mut at = PathTrail::default();
        self.render_at(scope, unresolved, &mut at)
    }

    fn render_at<'c>(
        &'c self,
        scope: &Scope<'_>,
        unresolved: &mut Vec<Unresolved>,
        at: &mut PathTrail<'c>,
    ) -> Result<Value, TemplateError> {
        match self {
            Compiled::Literal(v) => Ok(v.clone()),
            Compiled::Single(expr) => Ok(match eval(expr, scope, at)? {
                Some(value) => value.into_owned(),
                None => {
                    unresolved.push(at.unresolved(expr));
                    Value::Null
                }
            }),
            Compiled::Interpolated(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Expr(expr) => match eval(expr, scope, at)? {
                            Some(value) => out.push_str(&to_display_string(&value)),
                            None => unresolved.push(at.unresolved(expr)),
                        },
                    }
                }
                Ok(Value::String(out))
            }
            Compiled::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, c) in items.iter().enumerate() {
                    at.0.push(Segment::Index(i));
                    let value = c.render_at(scope, unresolved, at);
                    at.0.pop();
                    out.push(value?);
                }
                Ok(Value::Array(out))
            }
            Compiled::Object(entries) => {
                let mut object = Map::with_capacity(entries.len());
                for (k, c) in entries {
                    at.0.push(Segment::Key(k));
                    let value = c.render_at(scope, unresolved, at);
                    at.0.pop();
                    object.insert(k.clone(), value?);
                }
                Ok(Value::Object(object))
            }
        }
    }

    /// Whether there is no template inside.
    pub fn is_literal(&self) -> bool {
        matches!(self, Compiled::Literal(_))
    }

    /// Every compiled expression inside, with its JSON Pointer.
    pub fn expressions(&self) -> Vec<(String, &Expr)> {
        let mut out = Vec::new();
        self.for_each_expression(&mut |path, expr| out.push((path.to_owned(), expr)));
        out
    }

    /// Calls `visit` with every compiled expression inside and its JSON
    /// Pointer (valid for the call only: nothing is allocated per
    /// expression).
    pub fn for_each_expression<'a>(&'a self, visit: &mut impl FnMut(&str, &'a Expr)) {
        self.visit(&mut Pointer::default(), visit);
    }

    fn visit<'a>(&'a self, path: &mut Pointer, visit: &mut impl FnMut(&str, &'a Expr)) {
        match self {
            Compiled::Literal(_) => {}
            Compiled::Single(e) => visit(path.as_str(), e),
            Compiled::Interpolated(parts) => {
                for part in parts {
                    if let Part::Expr(e) = part {
                        visit(path.as_str(), e);
                    }
                }
            }
            Compiled::Array(items) => {
                for (i, c) in items.iter().enumerate() {
                    let back = path.push_index(i);
                    c.visit(path, visit);
                    path.truncate(back);
                }
            }
            Compiled::Object(entries) => {
                for (k, c) in entries {
                    let back = path.push_key(k);
                    c.visit(path, visit);
                    path.truncate(back);
                }
            }
        }
    }
}

fn compile_string(
    text: &str,
    path: &dyn Fn() -> String,
    notes: &mut Vec<TemplateNote>,
) -> Compiled {
    if is_per_item(text) {
        return Compiled::Literal(Value::String(text.to_owned()));
    }
    let pieces = split(text);
    let mut parts: Vec<Part> = Vec::with_capacity(pieces.len());
    let push_text = |parts: &mut Vec<Part>, t: &str| match parts.last_mut() {
        Some(Part::Text(last)) => last.push_str(t),
        _ => parts.push(Part::Text(t.to_owned())),
    };
    let single = matches!(pieces.as_slice(), [Piece::Expr(..)]);
    for piece in pieces {
        match piece {
            Piece::Text(t) => push_text(&mut parts, &t),
            Piece::Unclosed(rest, offset) => {
                notes.push(TemplateNote {
                    path: path(),
                    text: rest.to_owned(),
                    message: "`{{` has no matching `}}`; kept as text".to_owned(),
                    offset: Some(offset),
                });
                push_text(&mut parts, rest);
            }
            Piece::Expr(source, offset) => match Expr::compile(source) {
                Ok(expr) => parts.push(Part::Expr(expr)),
                Err(e) => {
                    let lead = source.len() - source.trim_start().len();
                    let at = e.offset.unwrap_or(0);
                    // An expression that ends too soon breaks at its `}}`.
                    let at = if at >= source.trim().len() {
                        source.len()
                    } else {
                        lead + at
                    };
                    notes.push(TemplateNote {
                        path: path(),
                        text: format!("{{{{{source}}}}}"),
                        message: format!("not an expression ({e}); kept as text"),
                        offset: Some(offset + at),
                    });
                    push_text(&mut parts, &format!("{{{{{source}}}}}"));
                }
            },
        }
    }
    match parts.as_slice() {
        [] => Compiled::Literal(Value::String(String::new())),
        [Part::Text(t)] => Compiled::Literal(Value::String(t.clone())),
        [Part::Expr(_)] if single => match parts.pop() {
            Some(Part::Expr(e)) => Compiled::Single(e),
            _ => Compiled::Interpolated(parts),
        },
        _ => Compiled::Interpolated(parts),
    }
}

/// One step of the pointer being rendered, borrowed from the template.
enum Segment<'c> {
    Index(usize),
    Key(&'c str),
}

/// The JSON Pointer being rendered, as segments, joined only on a miss.
#[derive(Default)]
struct PathTrail<'c>(Vec<Segment<'c>>);

impl PathTrail<'_> {
    fn pointer(&self) -> String {
        self.pointer_at("")
    }

    /// The pointer `base` followed by the trail.
    fn pointer_at(&self, base: &str) -> String {
        let mut out = Pointer::at(base);
        for segment in &self.0 {
            match segment {
                Segment::Index(i) => out.push_index(*i),
                Segment::Key(k) => out.push_key(k),
            };
        }
        out.as_str().to_owned()
    }

    fn unresolved(&self, expr: &Expr) -> Unresolved {
        Unresolved {
            path: self.pointer(),
            expression: expr.source().to_owned(),
        }
    }
}

fn eval<'s>(
    expr: &Expr,
    scope: &'s Scope<'s>,
    at: &PathTrail,
) -> Result<Option<Cow<'s, Value>>, TemplateError> {
    expr.eval(scope).map_err(|e| TemplateError {
        path: at.pointer(),
        expression: expr.source().to_owned(),
        timed_out: matches!(e, EvalError::Timeout { .. }),
        message: e.to_string(),
    })
}

/// Nesting below which templates are compiled by recursion straight away;
/// deeper values are scanned without recursion first.
const RECURSE_DEPTH: usize = 64;

fn contains_template(value: &Value) -> bool {
    // Iterative: a hostile document may nest deeper than the stack allows.
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        match v {
            Value::String(s) if has_template(s) => return true,
            Value::Array(items) => pending.extend(items),
            Value::Object(o) => pending.extend(o.values()),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::scope::NoSteps;
    use serde_json::json;

    fn render_with(template: Value, json: Value) -> (Value, Vec<Unresolved>, Vec<TemplateNote>) {
        let vars = Map::new();
        let scope = Scope {
            json: &json,
            input: &Value::Null,
            steps: &NoSteps,
            context: &json!({"tenantId": "acme"}),
            workflow: &Value::Null,
            vars: &vars,
            trigger: &Value::Null,
            env: &vars,
            item: None,
            index: None,
            deadline: None,
        };
        let mut notes = Vec::new();
        let compiled = Compiled::compile(&template, "", &mut notes);
        let mut unresolved = Vec::new();
        let value = compiled.render(&scope, &mut unresolved).unwrap();
        (value, unresolved, notes)
    }

    fn render(template: Value, json: Value) -> Value {
        render_with(template, json).0
    }

    #[test]
    fn one_template_keeps_its_type() {
        assert_eq!(render(json!("{{ $json.n }}"), json!({"n": 5})), json!(5));
        assert_eq!(
            render(json!("{{ $json }}"), json!({"a": [1]})),
            json!({"a": [1]})
        );
        assert_eq!(
            render(json!({"x": ["{{ $json.n + 1 }}"], "y": 2}), json!({"n": 1})),
            json!({"x": [2], "y": 2})
        );
        assert_eq!(
            render(json!("{{ {a: {b: $json.n}} }}"), json!({"n": 1})),
            json!({"a": {"b": 1}})
        );
    }

    #[test]
    fn text_interpolates_values_as_text() {
        assert_eq!(
            render(
                json!("n={{ $json.n }}, o={{ $json.o }}"),
                json!({"n": 5, "o": {"k": 1}})
            ),
            json!("n=5, o={\"k\":1}")
        );
        assert_eq!(
            render(json!("{{ '}}' + $json.n }}"), json!({"n": 1})),
            json!("}}1")
        );
    }

    #[test]
    fn a_dollar_before_a_template_is_text() {
        assert_eq!(
            render(
                json!("Request: ${{ $json.amount }}"),
                json!({"amount": 2500})
            ),
            json!("Request: $2500")
        );
    }

    #[test]
    fn an_escaped_opening_is_literal() {
        let (value, _, notes) = render_with(json!("a \\{{ b }} {{ $json.n }}"), json!({"n": 3}));
        assert_eq!(value, json!("a {{ b }} 3"));
        assert!(notes.is_empty());
    }

    #[test]
    fn text_that_is_not_an_expression_stays_literal_with_a_note() {
        let jsx = "<div style={{ color: 'red'; }}>x</div>";
        let (value, _, notes) = render_with(json!(jsx), json!({}));
        assert_eq!(value, json!(jsx));
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].text, "{{ color: 'red'; }}");
    }

    #[test]
    fn an_unclosed_template_stays_literal_with_a_note() {
        let (value, _, notes) = render_with(json!("total {{ $json.n"), json!({"n": 1}));
        assert_eq!(value, json!("total {{ $json.n"));
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].text, "{{ $json.n");
        assert_eq!(notes[0].offset, Some(6));
    }

    #[test]
    fn a_missing_reference_renders_null_and_is_reported() {
        let (value, unresolved, _) = render_with(json!({"a": "{{ $json.missing }}"}), json!({}));
        assert_eq!(value, json!({"a": null}));
        assert_eq!(
            unresolved,
            vec![Unresolved {
                path: "/a".into(),
                expression: "$json.missing".into()
            }]
        );
    }

    #[test]
    fn an_explicit_null_is_not_reported() {
        let (value, unresolved, _) = render_with(json!("{{ $json.n }}"), json!({"n": null}));
        assert_eq!(value, Value::Null);
        assert!(unresolved.is_empty());
    }

    #[test]
    fn per_item_templates_are_left_for_the_node() {
        assert_eq!(
            render(
                json!({"condition": "{{ $item.age > 18 }}", "n": "{{ $json.n }}"}),
                json!({"n": 1})
            ),
            json!({"condition": "{{ $item.age > 18 }}", "n": 1})
        );
    }

    #[test]
    fn an_expression_that_throws_names_itself_and_its_path() {
        let mut notes = Vec::new();
        let compiled = Compiled::compile(&json!({"a": ["{{ null.x }}"]}), "", &mut notes);
        let vars = Map::new();
        let scope = Scope {
            json: &Value::Null,
            input: &Value::Null,
            steps: &NoSteps,
            context: &Value::Null,
            workflow: &Value::Null,
            vars: &vars,
            trigger: &Value::Null,
            env: &vars,
            item: None,
            index: None,
            deadline: None,
        };
        let err = compiled.render(&scope, &mut Vec::new()).unwrap_err();
        assert_eq!(err.path, "/a/0");
        assert_eq!(err.expression, "null.x");
    }
}
