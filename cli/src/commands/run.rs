//! `plugflow run` and `plugflow stats`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plugin_abi::request::ExecContext;
use registry_core::{
    CompiledWorkflow, Engine, EngineOptions, ExecutionResult, RunOptions, RunStatus, Workflow,
};
use serde_json::{json, Value};

use crate::args::{Global, MetricsFormat, RunOptionsArgs};
use crate::error::CliError;
use crate::host::Host;
use crate::output::{brief, Output};

/// Parses `--input`: JSON text or `@FILE`.
pub fn parse_input(input: &str) -> Result<Value, CliError> {
    let (text, source) = match input.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| CliError::input(format!("cannot read input file {path}: {e}")))?,
            path.to_owned(),
        ),
        None => (input.to_owned(), "--input".to_owned()),
    };
    serde_json::from_str(&text)
        .map_err(|e| CliError::input(format!("{source}: not valid JSON: {e}")))
}

/// Reads and compiles a workflow file.
pub fn load_workflow(path: &Path) -> Result<CompiledWorkflow, CliError> {
    let workflow = Workflow::from_file(path).map_err(|e| CliError::input(e.to_string()))?;
    Ok(CompiledWorkflow::compile(workflow))
}

fn execution_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("exec-{nanos:x}-{}", std::process::id())
}

/// The context for `--tenant` and `--user`.
pub fn context(tenant: Option<&str>, user: Option<&str>) -> ExecContext {
    ExecContext {
        tenant_id: tenant.map(str::to_owned),
        user: user.map_or(Value::Null, |u| json!({"id": u})),
        execution_id: execution_id(),
    }
}

/// Validation problems as the CLI reports them.
pub fn problems_document(problems: &[registry_core::Problem]) -> Value {
    json!({"valid": problems.is_empty(), "problems": problems})
}

async fn execute(
    host: &Host,
    path: &Path,
    args: &RunOptionsArgs,
    quiet: bool,
) -> Result<ExecutionResult, CliError> {
    let compiled = load_workflow(path)?;
    let display = crate::progress::Display::start(compiled.workflow.nodes.len(), quiet);
    let trigger = parse_input(&args.input)?;
    let mut env_allowlist = host.env_allowlist.clone();
    env_allowlist.extend(args.allow_env.iter().cloned());
    let engine = Engine::with_options(
        host.registry.clone(),
        EngineOptions {
            env_allowlist,
            ..EngineOptions::default()
        },
    );
    let timeout = match args.timeout {
        Some(secs) => Some(
            Duration::try_from_secs_f64(secs)
                .map_err(|e| CliError::input(format!("--timeout {secs}: {e}")))?,
        ),
        None => None,
    };
    let options = RunOptions {
        trigger,
        context: context(args.tenant.as_deref(), args.user.as_deref()),
        cancel: None,
        timeout,
        progress: display.as_ref().map(crate::progress::Display::observer),
    };
    let outcome = engine.run(&compiled, options).await;
    if let Some(display) = display {
        display.finish();
    }
    outcome.map_err(|invalid| {
        let first = invalid
            .problems
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        CliError::input(format!(
            "{}: workflow cannot run ({} problem{}): {first}",
            path.display(),
            invalid.problems.len(),
            if invalid.problems.len() == 1 { "" } else { "s" }
        ))
        .with_document(problems_document(&invalid.problems))
    })
}

fn pretty(result: &ExecutionResult) -> String {
    let mut out = String::new();
    let width = result
        .nodes
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:width$}  {:9}  {:>9}  output / error",
        "node", "status", "ms"
    );
    for (id, node) in &result.nodes {
        let detail = match (&node.error, node.status) {
            (Some(e), registry_core::NodeStatus::Error | registry_core::NodeStatus::Cancelled) => {
                format!(
                    "{}: {}",
                    node.error_code.map(|c| c.as_str()).unwrap_or(""),
                    e
                )
            }
            _ => node
                .reason
                .clone()
                .unwrap_or_else(|| brief(&node.output, 80)),
        };
        let _ = writeln!(
            out,
            "{id:width$}  {:9}  {:>9.3}  {detail}",
            node.status.as_str(),
            node.duration_ms
        );
    }
    let m = &result.metrics;
    let _ = writeln!(
        out,
        "\n{} in {:.1} ms: {} ran, {} failed, {} skipped, {} pending, {} retries",
        match result.status {
            RunStatus::Success => "success",
            RunStatus::Error => "error",
            RunStatus::Cancelled => "cancelled",
        },
        m.total_ms,
        m.nodes_run,
        m.nodes_failed,
        m.nodes_skipped,
        m.nodes_pending,
        m.retries
    );
    out
}

fn outcome(result: &ExecutionResult) -> Result<(), CliError> {
    match result.status {
        RunStatus::Success => Ok(()),
        _ => Err(CliError::failed(format!(
            "workflow {}: {}",
            match result.status {
                RunStatus::Cancelled => "was cancelled",
                _ => "failed",
            },
            result.error.clone().unwrap_or_default()
        ))),
    }
}

/// `plugflow run`.
pub async fn run(global: &Global, path: &Path, args: &RunOptionsArgs) -> Result<(), CliError> {
    let host = crate::host::build(global)?;
    let result = execute(&host, path, args, global.quiet).await?;
    let json = serde_json::to_value(&result).map_err(|e| CliError::failed(e.to_string()))?;
    Output {
        json,
        pretty: pretty(&result),
    }
    .print(global.output);
    outcome(&result)
}

/// `plugflow stats`: runs, then prints the registry's metrics.
pub async fn stats(
    global: &Global,
    path: &Path,
    args: &RunOptionsArgs,
    format: MetricsFormat,
) -> Result<(), CliError> {
    let host = crate::host::build(global)?;
    let result = execute(&host, path, args, global.quiet).await?;
    let snapshot = host.registry.stats();
    match format {
        MetricsFormat::Prometheus => print!("{}", snapshot.to_prometheus()),
        MetricsFormat::Json => {
            let json =
                serde_json::to_value(&snapshot).map_err(|e| CliError::failed(e.to_string()))?;
            let pretty = serde_json::to_string_pretty(&json).unwrap_or_default();
            Output { json, pretty }.print(global.output);
        }
    }
    outcome(&result)
}
