//! `plugflow validate`: the full pre-run validation; nothing runs.

use std::fmt::Write as _;

use plugflow_engine::Engine;

use super::run::{load_workflow, positions, problems_document, run_options};
use crate::args::{Global, ValidateArgs};
use crate::error::CliError;
use crate::locate::Position;
use crate::output::{sanitize, Output};

/// Validates and reports every problem and warning.
pub fn validate(global: &Global, args: &ValidateArgs) -> Result<Output, CliError> {
    let path = &args.workflow;
    let host = crate::host::build(global)?;
    let compiled = load_workflow(path)?;
    let engine = Engine::new(host.registry.clone());
    let options = run_options(&args.who, serde_json::Value::Null)?;
    let report = engine.validate(&compiled, &options);
    let mut pretty = String::new();
    let file = sanitize(&path.display().to_string());
    if report.is_valid() {
        let _ = writeln!(
            pretty,
            "{file}: valid ({} nodes)",
            compiled.workflow.nodes.len()
        );
    }
    // `file:line:column:` as compilers write it, so editors can jump there.
    let (problem_at, warning_at) = positions(path, &report.problems, &report.warnings);
    let place = |at: Option<Position>| match at {
        Some(at) => format!("{file}:{}:{}", at.line, at.column),
        None => file.clone(),
    };
    for (p, at) in report.problems.iter().zip(problem_at) {
        let _ = writeln!(pretty, "{}: error: {}", place(at), sanitize(&p.to_string()));
    }
    for (w, at) in report.warnings.iter().zip(warning_at) {
        let _ = writeln!(
            pretty,
            "{}: warning: {}",
            place(at),
            sanitize(&w.to_string())
        );
    }
    let output = Output {
        json: problems_document(path, &report.problems, &report.warnings).into(),
        pretty,
    };
    if report.is_valid() {
        Ok(output)
    } else {
        let first = report.problems[0].code.as_str();
        Err(CliError::input(format!(
            "{}: {} problem{} found",
            path.display(),
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" }
        ))
        .kind(first)
        .with_document(output.json)
        .with_pretty(output.pretty))
    }
}
