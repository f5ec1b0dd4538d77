//! `{{ ... }}` templates in parameter values, compiled once per workflow.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::path::{parse_path, PathExpr};
use super::scope::Scope;
use plugin_abi::sdk::value::to_display_string;

/// One compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A property path, evaluated natively.
    Path(PathExpr),
    /// Anything else, evaluated by the JavaScript sandbox.
    Js(Arc<str>),
}

impl Expr {
    /// Compiles the text between `{{` and `}}`.
    pub fn compile(source: &str) -> Result<Expr, String> {
        let source = source.trim();
        if source.is_empty() {
            return Err("empty expression `{{ }}`".to_owned());
        }
        if let Some(path) = parse_path(source) {
            return Ok(Expr::Path(path));
        }
        super::js::check_syntax(source)?;
        Ok(Expr::Js(Arc::from(source)))
    }

    /// Evaluates the expression.
    pub fn eval<'s>(&self, scope: &'s Scope<'s>) -> Result<Cow<'s, Value>, String> {
        match self {
            Expr::Path(path) => Ok(path.eval(scope)),
            Expr::Js(source) => super::js::eval(source, scope).map(Cow::Owned),
        }
    }

    /// The expression's source, for messages.
    pub fn source(&self) -> String {
        match self {
            Expr::Js(s) => s.to_string(),
            Expr::Path(p) => format!("{p:?}"),
        }
    }
}

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// An expression whose value is inserted as text.
    Expr(Expr, String),
}

/// A parameter value with its templates compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum Compiled {
    /// No template anywhere inside: used as is.
    Literal(Value),
    /// A string that is exactly one template: keeps the value's JSON type.
    Single(Expr, String),
    /// Text with templates inside: always a string.
    Interpolated(Vec<Part>),
    /// An array with templates inside.
    Array(Vec<Compiled>),
    /// An object with templates inside.
    Object(Vec<(String, Compiled)>),
}

/// A template error: the expression and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// JSON Pointer of the parameter.
    pub path: String,
    /// The expression text.
    pub expression: String,
    /// What went wrong.
    pub message: String,
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

/// Splits `text` into literal and `{{ }}` parts. Braces and quotes inside
/// an expression are tracked, so `{{ {a: {b: 1}} }}` is one expression.
fn split(text: &str) -> Result<Vec<(bool, &str)>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push((false, &rest[..open]));
        }
        let body = &rest[open + 2..];
        let bytes = body.as_bytes();
        let (mut depth, mut quote, mut i, mut end) = (0i32, None::<u8>, 0usize, None);
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
                    b'}' if bytes.get(i + 1) == Some(&b'}') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                },
            }
            i += 1;
        }
        let end = end.ok_or_else(|| "`{{` without a matching `}}`".to_owned())?;
        parts.push((true, &body[..end]));
        rest = &body[end + 2..];
    }
    if !rest.is_empty() {
        parts.push((false, rest));
    }
    Ok(parts)
}

/// Whether `text` holds a template.
pub fn has_template(text: &str) -> bool {
    text.contains("{{")
}

impl Compiled {
    /// Compiles every template inside `value`; `path` is its JSON Pointer.
    pub fn compile(value: &Value, path: &str) -> Result<Compiled, TemplateError> {
        if !contains_template(value) {
            return Ok(Compiled::Literal(value.clone()));
        }
        match value {
            Value::String(text) => {
                let err = |expression: &str, message: String| TemplateError {
                    path: path.to_owned(),
                    expression: expression.trim().to_owned(),
                    message,
                };
                let parts = split(text).map_err(|m| err(text, m))?;
                // `$item` and `$index` exist only inside a list or dict node,
                // which evaluates such a template per item: leave it as written.
                if parts
                    .iter()
                    .any(|(is_expr, p)| *is_expr && (p.contains("$item") || p.contains("$index")))
                {
                    return Ok(Compiled::Literal(value.clone()));
                }
                if let [(true, source)] = parts.as_slice() {
                    let expr = Expr::compile(source).map_err(|m| err(source, m))?;
                    return Ok(Compiled::Single(expr, source.trim().to_owned()));
                }
                let mut compiled = Vec::with_capacity(parts.len());
                for (is_expr, piece) in parts {
                    compiled.push(if is_expr {
                        Part::Expr(
                            Expr::compile(piece).map_err(|m| err(piece, m))?,
                            piece.trim().to_owned(),
                        )
                    } else {
                        Part::Text(piece.to_owned())
                    });
                }
                Ok(Compiled::Interpolated(compiled))
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Compiled::compile(v, &format!("{path}/{i}")))
                .collect::<Result<_, _>>()
                .map(Compiled::Array),
            Value::Object(object) => object
                .iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        Compiled::compile(v, &format!("{path}/{}", escape(k)))?,
                    ))
                })
                .collect::<Result<_, _>>()
                .map(Compiled::Object),
            _ => Ok(Compiled::Literal(value.clone())),
        }
    }

    /// Resolves the templates over `scope`. Paths in errors are JSON
    /// Pointers relative to this value (built only when something fails).
    pub fn render(&self, scope: &Scope<'_>) -> Result<Value, TemplateError> {
        let failed = |source: &String, message: String| TemplateError {
            path: String::new(),
            expression: source.clone(),
            message,
        };
        match self {
            Compiled::Literal(v) => Ok(v.clone()),
            Compiled::Single(expr, source) => expr
                .eval(scope)
                .map(Cow::into_owned)
                .map_err(|m| failed(source, m)),
            Compiled::Interpolated(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Expr(expr, source) => {
                            let value = expr.eval(scope).map_err(|m| failed(source, m))?;
                            out.push_str(&to_display_string(&value));
                        }
                    }
                }
                Ok(Value::String(out))
            }
            Compiled::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    c.render(scope).map_err(|mut e| {
                        e.path.insert_str(0, &format!("/{i}"));
                        e
                    })
                })
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Compiled::Object(entries) => {
                let mut object = Map::new();
                for (k, c) in entries {
                    let value = c.render(scope).map_err(|mut e| {
                        e.path.insert_str(0, &format!("/{}", escape(k)));
                        e
                    })?;
                    object.insert(k.clone(), value);
                }
                Ok(Value::Object(object))
            }
        }
    }

    /// Whether there is no template inside.
    pub fn is_literal(&self) -> bool {
        matches!(self, Compiled::Literal(_))
    }
}

fn contains_template(value: &Value) -> bool {
    match value {
        Value::String(s) => has_template(s),
        Value::Array(items) => items.iter().any(contains_template),
        Value::Object(o) => o.values().any(contains_template),
        _ => false,
    }
}

/// Escapes a key for a JSON Pointer.
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::scope::NoSteps;
    use serde_json::json;

    fn render(template: Value, json: Value) -> Value {
        let vars = Map::new();
        let scope = Scope {
            json: &json,
            steps: &NoSteps,
            context: &json!({"tenantId": "acme"}),
            workflow: &Value::Null,
            vars: &vars,
            trigger: &Value::Null,
            env: &vars,
            item: None,
            index: None,
        };
        Compiled::compile(&template, "")
            .unwrap()
            .render(&scope)
            .unwrap()
    }

    #[test]
    fn one_template_keeps_its_type_and_text_interpolates_json() {
        assert_eq!(render(json!("{{ $json.n }}"), json!({"n": 5})), json!(5));
        assert_eq!(
            render(json!("{{ $json }}"), json!({"a": [1]})),
            json!({"a": [1]})
        );
        assert_eq!(
            render(
                json!("n={{ $json.n }}, o={{ $json.o }}"),
                json!({"n": 5, "o": {"k": 1}})
            ),
            json!("n=5, o={\"k\":1}")
        );
        assert_eq!(
            render(json!({"x": ["{{ $json.n + 1 }}"], "y": 2}), json!({"n": 1})),
            json!({"x": [2], "y": 2})
        );
        assert_eq!(
            render(json!("{{ {a: {b: $json.n}} }}"), json!({"n": 1})),
            json!({"a": {"b": 1}})
        );
        assert_eq!(
            render(json!("{{ '}}' + $json.n }}"), json!({"n": 1})),
            json!("}}1")
        );
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
    fn bad_templates_name_the_expression() {
        let err = Compiled::compile(&json!({"a": "{{ $json.a + }}"}), "").unwrap_err();
        assert_eq!(err.path, "/a");
        assert_eq!(err.expression, "$json.a +");
        assert!(Compiled::compile(&json!("{{ unclosed"), "").is_err());
    }
}
