//! `plugflow validate`: the full pre-run validation; nothing runs.

use std::fmt::Write as _;
use std::path::Path;

use registry_core::Engine;

use super::run::{context, load_workflow, problems_document};
use crate::args::Global;
use crate::error::CliError;
use crate::output::Output;

/// Validates and reports every problem.
pub fn validate(global: &Global, path: &Path, tenant: Option<&str>) -> Result<(), CliError> {
    let host = crate::host::build(global)?;
    let compiled = load_workflow(path)?;
    let engine = Engine::new(host.registry.clone());
    let problems = engine.validate(&compiled, &context(tenant, None));
    let mut pretty = String::new();
    if problems.is_empty() {
        let _ = writeln!(
            pretty,
            "{}: valid ({} nodes)",
            path.display(),
            compiled.workflow.nodes.len()
        );
    }
    for p in &problems {
        let _ = writeln!(pretty, "{}: {p}", path.display());
    }
    Output {
        json: problems_document(&problems),
        pretty,
    }
    .print(global.output);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::input(format!(
            "{}: {} problem{} found",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        )))
    }
}
