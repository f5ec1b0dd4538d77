//! `plugflow audit verify`.

use std::path::Path;

use crate::args::Global;
use crate::error::CliError;
use crate::output::Output;

/// Checks the hash chain and reports the first broken line.
pub fn verify(_global: &Global, log: &Path) -> Result<Output, CliError> {
    let report = registry_core::verify_audit_log(log)
        .map_err(|e| CliError::input(format!("cannot read audit log {}: {e}", log.display())))?;
    let json = serde_json::to_value(&report).map_err(|e| CliError::failed(e.to_string()))?;
    let pretty = match &report.first_broken {
        None => format!(
            "{}: {} lines verified, chain intact (last hash {})",
            log.display(),
            report.verified_lines,
            report.last_hash
        ),
        Some(b) => format!(
            "{}: line {} is broken: {} ({} lines verified before it)",
            log.display(),
            b.line,
            b.reason,
            report.verified_lines
        ),
    };
    match report.first_broken {
        None => Ok(Output {
            json: json.into(),
            pretty,
        }),
        Some(b) => Err(CliError::failed(format!(
            "{}: audit chain broken at line {}: {}",
            log.display(),
            b.line,
            b.reason
        ))
        .kind("AUDIT_CHAIN_BROKEN")
        .with_document(json)
        .with_pretty(pretty)),
    }
}
