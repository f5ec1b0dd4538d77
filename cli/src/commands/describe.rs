//! `plugins inspect TYPE` for people: a node type's parameters, which of
//! them are expressions the node type evaluates itself (their language and
//! the names in scope), and how templates in the others are rendered.

use std::fmt::Write as _;

use plugin_abi::sdk::expression::EXPRESSION_KEYWORD;
use serde_json::{json, Map, Value};

/// Each expression parameter of `schema`: `{parameter, language, written,
/// scope}`.
pub fn expressions(schema: &Value) -> Vec<Value> {
    properties(schema)
        .filter_map(|(name, property)| {
            let marker = property.get(EXPRESSION_KEYWORD)?;
            let mut entry = json!({"parameter": name});
            if let (Value::Object(e), Value::Object(m)) = (&mut entry, marker) {
                e.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Some(entry)
        })
        .collect()
}

fn properties(schema: &Value) -> impl Iterator<Item = (&String, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::iter)
}

/// What a parameter takes, in a few words: its type or its allowed values.
fn shape(property: &Value) -> String {
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(Value::to_string).collect();
        return format!("one of {}", values.join(", "));
    }
    match property.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_owned(),
    }
}

/// The human-readable page of a node type's metadata (as `inspect --output
/// json` prints it).
pub fn page(metadata: &Value) -> String {
    let text = |key: &str| metadata.get(key).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({})",
        text("nodeType"),
        text("version"),
        text("category")
    );
    let _ = writeln!(out, "{}\n", text("description"));
    let schema = metadata.get("parameterSchema").unwrap_or(&Value::Null);
    let required: Vec<&str> = metadata
        .get("requiredFields")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "Parameters:");
    let mut any = false;
    for (name, property) in properties(schema) {
        any = true;
        let mut line = format!("  {name}: {}", shape(property));
        if required.contains(&name.as_str()) {
            line.push_str(", required");
        }
        if let Some(default) = property.get("default") {
            let _ = write!(line, ", default {default}");
        }
        if let Some(description) = property.get("description").and_then(Value::as_str) {
            let _ = write!(line, " — {description}");
        }
        let _ = writeln!(out, "{line}");
        if let Some(marker) = property.get(EXPRESSION_KEYWORD) {
            let scope: Vec<&str> = marker
                .get("scope")
                .and_then(Value::as_array)
                .map(|s| s.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    an expression the node evaluates itself: {}, written {}; in scope: {}",
                marker
                    .get("language")
                    .and_then(Value::as_str)
                    .unwrap_or("javascript"),
                marker
                    .get("written")
                    .and_then(Value::as_str)
                    .unwrap_or("bare"),
                scope.join(", ")
            );
        }
    }
    if !any {
        let _ = writeln!(out, "  (none listed)");
    }
    // The names a template sees: the engine's, but for the per-item ones.
    let scope: Vec<&str> = plugflow_engine::expr::js::ROOTS
        .into_iter()
        .filter(|root| !matches!(*root, "$item" | "$index"))
        .collect();
    let _ = writeln!(
        out,
        "\nTemplates: any other string parameter may hold {{{{ }}}} templates (JavaScript), rendered before the node runs, with {} in scope.",
        scope.join(", ")
    );
    let _ = writeln!(
        out,
        "Runs: {}{}{}",
        text("execution"),
        if metadata["tenantScoped"] == true {
            "; reads or writes tenant data (needs a tenant)"
        } else {
            ""
        },
        match metadata.get("source") {
            Some(source) => format!(
                "; from {} {}",
                source.get("plugin").and_then(Value::as_str).unwrap_or("?"),
                source
                    .get("plugin_version")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ),
            None => String::new(),
        }
    );
    out
}
