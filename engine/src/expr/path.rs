//! The fast path: property paths and indexing over the scope, evaluated
//! natively without the JavaScript engine.

use std::borrow::Cow;

use serde_json::Value;

use super::scope::{now_iso, Scope};

/// Longest path evaluated natively; longer ones are no path (and deeper
/// than any real document).
pub const MAX_SEGMENTS: usize = 256;

/// A root variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$json`
    Json,
    /// `$input`
    Input,
    /// `$steps`
    Steps,
    /// `$node`
    Node,
    /// `$context`
    Context,
    /// `$workflow`
    Workflow,
    /// `$vars`
    Vars,
    /// `$trigger`
    Trigger,
    /// `$now`
    Now,
    /// `$env`
    Env,
    /// `$item`
    Item,
    /// `$index`
    Index,
}

impl Root {
    /// Every root with its name.
    pub const ALL: [(&'static str, Root); 12] = [
        ("$json", Root::Json),
        ("$input", Root::Input),
        ("$steps", Root::Steps),
        ("$node", Root::Node),
        ("$context", Root::Context),
        ("$workflow", Root::Workflow),
        ("$vars", Root::Vars),
        ("$trigger", Root::Trigger),
        ("$now", Root::Now),
        ("$env", Root::Env),
        ("$item", Root::Item),
        ("$index", Root::Index),
    ];
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `.name` or `['name']`.
    Key(String),
    /// `[3]`.
    Index(usize),
}

/// `$root.a[0]['b']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathExpr {
    /// The root.
    pub root: Root,
    /// The steps after it.
    pub segments: Vec<Segment>,
}

/// Parses `text` as a plain path, or `None` when it is anything more (then
/// the JavaScript engine evaluates it).
pub fn parse_path(text: &str) -> Option<PathExpr> {
    let text = text.trim();
    let (name, root) = Root::ALL
        .iter()
        .filter(|(name, _)| text.starts_with(name))
        .max_by_key(|(name, _)| name.len())?;
    let mut rest = &text[name.len()..];
    // `$jsonx` is not `$json`.
    if rest.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
        return None;
    }
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if segments.len() >= MAX_SEGMENTS {
            return None;
        }
        if let Some(after) = rest.strip_prefix('.') {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(after.len());
            if end == 0 || after.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            segments.push(Segment::Key(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let inner = after[..close].trim();
            let segment = if let Ok(i) = inner.parse::<usize>() {
                Segment::Index(i)
            } else {
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))?;
                if quoted.contains(['\\', '\'', '"']) {
                    return None;
                }
                Segment::Key(quoted.to_owned())
            };
            segments.push(segment);
            rest = &after[close + 1..];
        } else {
            return None;
        }
    }
    Some(PathExpr {
        root: *root,
        segments,
    })
}

/// One step into a value; `None` when there is nothing there.
fn step_into<'v>(value: Cow<'v, Value>, segment: &Segment) -> Option<Cow<'v, Value>> {
    match (&*value, segment) {
        (Value::Array(a), Segment::Key(k)) if k == "length" => {
            return Some(Cow::Owned(Value::from(a.len())))
        }
        (Value::String(s), Segment::Key(k)) if k == "length" => {
            return Some(Cow::Owned(Value::from(s.chars().count())))
        }
        _ => {}
    }
    match value {
        Cow::Borrowed(v) => match (v, segment) {
            (Value::Object(o), Segment::Key(k)) => o.get(k),
            (Value::Array(a), Segment::Index(i)) => a.get(*i),
            (Value::Object(o), Segment::Index(i)) => o.get(&i.to_string()),
            _ => None,
        }
        .map(Cow::Borrowed),
        Cow::Owned(mut v) => match (&mut v, segment) {
            (Value::Object(o), Segment::Key(k)) => o.remove(k),
            (Value::Array(a), Segment::Index(i)) if *i < a.len() => Some(a.swap_remove(*i)),
            (Value::Object(o), Segment::Index(i)) => o.remove(&i.to_string()),
            _ => None,
        }
        .map(Cow::Owned),
    }
}

impl PathExpr {
    /// Evaluates the path; `None` when it resolves to nothing (JavaScript's
    /// `undefined`), which a template renders as `null` and reports.
    pub fn eval<'s>(&self, scope: &'s Scope<'s>) -> Option<Cow<'s, Value>> {
        let mut segments = self.segments.iter();
        let start: Cow<'s, Value> = match self.root {
            Root::Json => Cow::Borrowed(scope.json),
            Root::Input => Cow::Borrowed(scope.input),
            Root::Context => Cow::Borrowed(scope.context),
            Root::Workflow => Cow::Borrowed(scope.workflow),
            Root::Trigger => Cow::Borrowed(scope.trigger),
            Root::Item => Cow::Borrowed(scope.item?),
            Root::Index => Cow::Owned(Value::from(scope.index?)),
            Root::Now => Cow::Owned(Value::String(now_iso())),
            Root::Vars => match segments.next() {
                None => Cow::Owned(Value::Object(scope.vars.clone())),
                Some(Segment::Key(k)) => Cow::Borrowed(scope.vars.get(k)?),
                Some(Segment::Index(_)) => return None,
            },
            Root::Env => match segments.next() {
                None => Cow::Owned(Value::Object(scope.env.clone())),
                Some(Segment::Key(k)) => Cow::Borrowed(scope.env.get(k)?),
                Some(Segment::Index(_)) => return None,
            },
            Root::Steps => {
                let Some(Segment::Key(id)) = segments.next() else {
                    return None;
                };
                let step = scope.steps.step(id)?;
                match segments.next() {
                    None => Cow::Owned(serde_json::to_value(step).ok()?),
                    Some(Segment::Key(k)) if k == "output" => Cow::Borrowed(step.output),
                    Some(Segment::Key(k)) => Cow::Owned(step.field(k)?),
                    Some(Segment::Index(_)) => return None,
                }
            }
            Root::Node => {
                let Some(Segment::Key(name)) = segments.next() else {
                    return None;
                };
                let step = scope.steps.step_by_name(name)?;
                match segments.next() {
                    None => Cow::Owned(serde_json::json!({"json": step.output})),
                    Some(Segment::Key(k)) if k == "json" => Cow::Borrowed(step.output),
                    Some(_) => return None,
                }
            }
        };
        segments.try_fold(start, step_into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_rejects_everything_else() {
        let p = parse_path("$json.a[0]['b c'][\"d\"]").unwrap();
        assert_eq!(p.root, Root::Json);
        assert_eq!(
            p.segments,
            vec![
                Segment::Key("a".into()),
                Segment::Index(0),
                Segment::Key("b c".into()),
                Segment::Key("d".into())
            ]
        );
        assert_eq!(parse_path("  $steps.x.output ").unwrap().root, Root::Steps);
        assert_eq!(parse_path("$input.result").unwrap().root, Root::Input);
        for js in [
            "$json.a || 1",
            "$json.a.slice(1)",
            "Math.max(1, 2)",
            "$jsonx",
            "$json[a]",
            "$json.1a",
            "'x'",
        ] {
            assert!(parse_path(js).is_none(), "{js}");
        }
    }

    #[test]
    fn a_path_longer_than_the_limit_is_not_a_path() {
        let long = format!("$json{}", ".a".repeat(MAX_SEGMENTS + 1));
        assert!(parse_path(&long).is_none());
    }
}
