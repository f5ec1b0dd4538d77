//! MetaBuilder-style validation rules: `"required|string|min:1|max:10"`
//! (feature `rules`).
//!
//! Rules: required, string, number, integer, boolean, array, object, email,
//! uuid, url, min:N, max:N (numbers; lengths of strings and arrays),
//! minLength:N, maxLength:N, in:a,b, regex:PATTERN (the rest of the text).
//!
//! ```
//! use plugin_abi::sdk::rules::check_object;
//! let rules = serde_json::json!({"amount": "required|number|min:1"});
//! let problems = check_object(&serde_json::json!({"amount": 0}), rules.as_object().unwrap()).unwrap();
//! assert_eq!(problems, [("amount".to_owned(), "must be at least 1".to_owned())]);
//! ```

use serde_json::{Map, Value};

use super::value::to_number;
use super::NodeError;

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.starts_with('.')
        && domain.contains('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://"))
        && s.len() > s.find("://").map_or(0, |i| i + 3)
        && !s.contains(char::is_whitespace)
}

/// Every rule name.
pub const RULES: [&str; 16] = [
    "required",
    "string",
    "number",
    "integer",
    "boolean",
    "array",
    "object",
    "email",
    "uuid",
    "url",
    "min",
    "max",
    "minLength",
    "maxLength",
    "in",
    "regex",
];

/// Checks that every rule in `rules` (field → rule string) is well formed —
/// known names, numeric arguments, compiling patterns — without a value to
/// check: what `validate` reports before anything runs. Each problem
/// starts ``parameter `rules/FIELD`: ``, naming where it is.
///
/// ```
/// use plugin_abi::sdk::rules::check_rules;
/// let rules = serde_json::json!({"email": "required|emial", "code": "regex:[a-z"});
/// let problems = check_rules(rules.as_object().unwrap());
/// assert!(problems[0].contains("did you mean `email`"));
/// assert!(problems[1].contains("not a valid regex"));
/// ```
pub fn check_rules(rules: &Map<String, Value>) -> Vec<String> {
    // A non-null probe makes every rule parse its argument.
    let probe = Value::Bool(true);
    rules
        .iter()
        .filter_map(|(field, rule)| match rule.as_str() {
            None => Some(format!(
                "rule of `{field}` must be a rule string such as \"required|email\""
            )),
            Some(text) if text.contains("{{") => None,
            // Each problem names the rule's own place, `rules/FIELD`.
            Some(text) => check_value(field, Some(&probe), text).err().map(|e| {
                let place = format!("rules/{}", field.replace('~', "~0").replace('/', "~1"));
                moved_to(&e.message, &place)
            }),
        })
        .collect()
}

/// Checks one value against a rule string; returns (field, problem) pairs.
/// An unknown rule or a malformed argument is an `INVALID_PARAMETERS` error.
pub fn check_value(
    field: &str,
    value: Option<&Value>,
    rule_text: &str,
) -> Result<Vec<(String, String)>, NodeError> {
    let mut problems = Vec::new();
    // `regex:` takes the rest of the text, which may itself contain `|`.
    let (plain, pattern) = match rule_text.find("regex:") {
        Some(at) => (&rule_text[..at], Some(&rule_text[at..])),
        None => (rule_text, None),
    };
    let rules: Vec<&str> = plain
        .split('|')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .chain(pattern)
        .collect();
    let Some(value) = value.filter(|v| !v.is_null()) else {
        if rules.contains(&"required") {
            problems.push((field.to_owned(), "is required".to_owned()));
        }
        return Ok(problems);
    };
    let chars = value.as_str().map(|s| s.chars().count());
    for rule in rules {
        let (name, arg) = rule.split_once(':').unwrap_or((rule, ""));
        let bad_arg = || {
            NodeError::invalid_parameter(
                "rules",
                format!("rule `{rule}` of `{field}` needs a number"),
            )
        };
        let failure: Option<String> = match name {
            "required" => None,
            "string" => (!value.is_string()).then(|| "must be a string".into()),
            "number" => (!value.is_number()).then(|| "must be a number".into()),
            "integer" => (!(value.is_i64()
                || value.is_u64()
                || value.as_f64().is_some_and(|f| f.fract() == 0.0)))
            .then(|| "must be an integer".into()),
            "boolean" => (!value.is_boolean()).then(|| "must be a boolean".into()),
            "array" => (!value.is_array()).then(|| "must be an array".into()),
            "object" => (!value.is_object()).then(|| "must be an object".into()),
            "email" => {
                (!value.as_str().is_some_and(is_email)).then(|| "must be an email address".into())
            }
            "uuid" => (!value.as_str().is_some_and(is_uuid)).then(|| "must be a UUID".into()),
            "url" => (!value.as_str().is_some_and(is_url)).then(|| "must be an http(s) URL".into()),
            "min" | "max" => {
                let limit: f64 = arg.parse().map_err(|_| bad_arg())?;
                let measured = chars
                    .map(|c| c as f64)
                    .or_else(|| to_number(value))
                    .or_else(|| value.as_array().map(|a| a.len() as f64));
                match measured {
                    Some(m) if name == "min" && m < limit => {
                        Some(format!("must be at least {arg}"))
                    }
                    Some(m) if name == "max" && m > limit => Some(format!("must be at most {arg}")),
                    Some(_) => None,
                    None => Some(format!("cannot be compared with {name}:{arg}")),
                }
            }
            "minLength" | "maxLength" => {
                let limit: usize = arg.parse().map_err(|_| bad_arg())?;
                let len = chars.or_else(|| value.as_array().map(Vec::len));
                match len {
                    Some(l) if name == "minLength" && l < limit => {
                        Some(format!("must have at least {limit} characters"))
                    }
                    Some(l) if name == "maxLength" && l > limit => {
                        Some(format!("must have at most {limit} characters"))
                    }
                    Some(_) => None,
                    None => Some("must be a string or an array".into()),
                }
            }
            "in" => {
                let shown = super::value::to_display_string(value);
                (!arg.split(',').any(|option| option == shown))
                    .then(|| format!("must be one of {arg}"))
            }
            "regex" => {
                let pattern = regex::Regex::new(arg).map_err(|e| {
                    NodeError::invalid_parameter(
                        "rules",
                        format!("rule `{rule}` of `{field}` is not a valid regex: {e}"),
                    )
                })?;
                (!value.as_str().is_some_and(|s| pattern.is_match(s)))
                    .then(|| format!("must match {arg}"))
            }
            other => {
                return Err(NodeError::invalid_parameter(
                    "rules",
                    format!(
                        "unknown rule `{other}` for `{field}`{}; the rules are {}",
                        super::suggest::did_you_mean(other, RULES.iter().copied()),
                        RULES.join(", ")
                    ),
                ))
            }
        };
        if let Some(message) = failure {
            problems.push((field.to_owned(), message));
        }
    }
    Ok(problems)
}

/// Checks every field of `input` named in `rules` (field → rule string).
pub fn check_object(
    input: &Value,
    rules: &Map<String, Value>,
) -> Result<Vec<(String, String)>, NodeError> {
    let mut problems = Vec::new();
    for (field, rule) in rules {
        let rule = rule.as_str().ok_or_else(|| {
            NodeError::invalid_parameter(&format!("rules/{field}"), "expected a rule string")
        })?;
        problems.extend(check_value(field, input.get(field), rule)?);
    }
    Ok(problems)
}

/// Checks `input` against `rules`: `Ok` when every rule passes, else one
/// `VALIDATION_FAILED` error naming every failing field (its details list
/// them as `{"errors": [{"field", "message"}]}`).
pub fn enforce(input: &Value, rules: &Map<String, Value>) -> Result<(), NodeError> {
    let problems = check_object(input, rules)?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(failure(&problems))
}

/// The `VALIDATION_FAILED` error for `problems`.
pub fn failure(problems: &[(String, String)]) -> NodeError {
    let summary = problems
        .iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    NodeError::new(crate::codes::VALIDATION_FAILED, format!("input is invalid: {summary}")).with_details(serde_json::json!({
        "errors": problems.iter().map(|(f, m)| serde_json::json!({"field": f, "message": m})).collect::<Vec<_>>()
    }))
}

/// `message`, written by [`NodeError::invalid_parameter`], as if about the
/// parameter at `path` instead (any other message unchanged).
pub fn moved_to(message: &str, path: &str) -> String {
    match NodeError::parameter_of(message) {
        Some((_, rest)) => NodeError::invalid_parameter(path, rest).message,
        None => message.to_owned(),
    }
}
