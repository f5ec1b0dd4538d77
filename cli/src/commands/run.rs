//! `plugflow run` and `plugflow stats`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use plugflow_engine::{
    new_execution_id, CompiledWorkflow, Engine, EngineOptions, ExecutionResult, Problem,
    RunOptions, RunStatus, Warning, Workflow,
};
use plugin_abi::request::ExecContext;
use serde_json::{json, Map, Value};

use crate::args::{Global, MetricsFormat, OutputFormat, RunOptionsArgs, WhoArgs};
use crate::error::CliError;
use crate::host::Host;
use crate::locate::{Position, Target};
use crate::output::{brief, sanitize, Json, Output};

/// The default largest `--input`: large enough for real trigger data,
/// small enough that a mistake cannot exhaust memory.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Reads `--input`-style text: JSON, or `@FILE`; `what` names it in errors.
fn json_argument(text: &str, what: &str) -> Result<Value, CliError> {
    json_argument_within(text, what, DEFAULT_MAX_INPUT_BYTES)
}

fn too_large(what: &str, size: u64, limit: u64) -> CliError {
    CliError::input(format!(
        "{what} is {size} bytes, over the {limit}-byte limit; raise it with --max-input-bytes (or max-input-bytes in the configuration) if this is intended"
    ))
    .kind("INPUT_TOO_LARGE")
}

/// [`json_argument`] refusing text over `limit` bytes before reading it.
fn json_argument_within(text: &str, what: &str, limit: u64) -> Result<Value, CliError> {
    let (text, source) = match text.strip_prefix('@') {
        Some(path) => {
            let size = std::fs::metadata(path)
                .map_err(|e| CliError::input(format!("{what}: cannot read {path}: {e}")))?
                .len();
            if size > limit {
                return Err(too_large(&format!("{what} {path}"), size, limit));
            }
            (
                std::fs::read_to_string(path)
                    .map_err(|e| CliError::input(format!("{what}: cannot read {path}: {e}")))?,
                format!("{what} {path}"),
            )
        }
        None => {
            if text.len() as u64 > limit {
                return Err(too_large(what, text.len() as u64, limit));
            }
            (text.to_owned(), what.to_owned())
        }
    };
    serde_json::from_str(&text).map_err(|e| {
        CliError::input(format!(
            "{source}: not valid JSON at line {}, column {}: {}",
            e.line(),
            e.column(),
            e
        ))
    })
}

/// Parses `--input`: JSON text or `@FILE`, at most `limit` bytes.
pub fn parse_input(input: &str, limit: u64) -> Result<Value, CliError> {
    json_argument_within(input, "--input", limit)
}

/// Parses `--user`: an id, a JSON object, or `@FILE` holding one.
pub fn parse_user(user: Option<&str>) -> Result<Value, CliError> {
    let Some(user) = user else {
        return Ok(Value::Null);
    };
    let trimmed = user.trim_start();
    if !(trimmed.starts_with('@') || trimmed.starts_with('{')) {
        return Ok(json!({"id": user}));
    }
    match json_argument(trimmed, "--user")? {
        object @ Value::Object(_) => Ok(object),
        other => Err(CliError::input(format!(
            "--user: expected an id or a JSON object such as {{\"id\": \"u1\", \"level\": 3}}, got {}",
            plugin_abi::sdk::kind(&other)
        ))),
    }
}

/// Parses `--var NAME=VALUE` (VALUE as JSON when it parses, else text).
pub fn parse_vars(vars: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut out = Map::new();
    for var in vars {
        let Some((name, value)) = var.split_once('=').filter(|(n, _)| !n.trim().is_empty()) else {
            return Err(CliError::input(format!(
                "--var `{}`: expected NAME=VALUE",
                sanitize(var)
            )));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        out.insert(name.trim().to_owned(), value);
    }
    Ok(out)
}

/// The problems document every command prints for a workflow that cannot
/// run.
pub fn problems_document(path: &Path, problems: &[Problem], warnings: &[Warning]) -> Value {
    let (problem_at, warning_at) = positions(path, problems, warnings);
    let located = |item: Value, at: Option<Position>| match (item, at) {
        (Value::Object(mut o), Some(at)) => {
            o.insert("line".into(), at.line.into());
            o.insert("column".into(), at.column.into());
            Value::Object(o)
        }
        (item, _) => item,
    };
    let problems: Vec<Value> = problems
        .iter()
        .zip(problem_at)
        .map(|(p, at)| located(json!(p), at))
        .collect();
    let warnings: Vec<Value> = warnings
        .iter()
        .zip(warning_at)
        .map(|(w, at)| located(json!(w), at))
        .collect();
    json!({
        "file": path.display().to_string(),
        "valid": problems.is_empty(),
        "problems": problems,
        "warnings": warnings,
    })
}

/// Where in the file at `path` each problem and each warning is (none
/// when the file no longer reads or parses).
pub fn positions(
    path: &Path,
    problems: &[Problem],
    warnings: &[Warning],
) -> (Vec<Option<Position>>, Vec<Option<Position>>) {
    if problems.is_empty() && warnings.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let targets: Vec<Target<'_>> = problems
        .iter()
        .map(|p| Target {
            pointer: &p.path,
            character: None,
        })
        .chain(warnings.iter().map(|w| Target {
            pointer: &w.path,
            character: w.character,
        }))
        .collect();
    let mut found = match std::fs::read_to_string(path) {
        Ok(text) => crate::locate::positions(&text, &targets),
        Err(_) => vec![None; targets.len()],
    };
    let warnings_at = found.split_off(problems.len());
    (found, warnings_at)
}

/// Reads and compiles a workflow file; a file that cannot be read is one
/// problem in the problems document.
pub fn load_workflow(path: &Path) -> Result<CompiledWorkflow, CliError> {
    let workflow = Workflow::from_file(path).map_err(|e| {
        let mut problem =
            json!({"nodeId": null, "code": e.code(), "path": "", "message": e.to_string()});
        if let plugflow_engine::ParseError::Syntax { line, column, .. } = &e {
            problem["line"] = json!(line);
            problem["column"] = json!(column);
        }
        CliError::input(e.to_string())
            .kind(e.code())
            .with_document(json!({
                "file": path.display().to_string(),
                "valid": false,
                "problems": [problem],
                "warnings": [],
            }))
    })?;
    Ok(CompiledWorkflow::compile(workflow))
}

/// The run options of `who`, with `trigger` as the trigger data.
pub fn run_options(who: &WhoArgs, trigger: Value) -> Result<RunOptions, CliError> {
    Ok(RunOptions {
        trigger,
        context: ExecContext {
            tenant_id: who.tenant.clone(),
            user: parse_user(who.user.as_deref())?,
            execution_id: new_execution_id(),
            resumable: false,
        },
        variables: parse_vars(&who.vars)?,
        strict: who.strict,
        ..RunOptions::default()
    })
}

/// The one-line error for a workflow that cannot run, and its document.
pub fn cannot_run(path: &Path, problems: &[Problem]) -> CliError {
    let first = problems
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let code = problems
        .first()
        .map_or("VALIDATION_FAILED", |p| p.code.as_str());
    CliError::input(format!(
        "{}: workflow cannot run ({} problem{}): {first}",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    ))
    .kind(code)
    .with_document(problems_document(path, problems, &[]))
}

/// Runs the workflow at `path`; its result and the node ids in file order.
async fn execute(
    host: &Host,
    path: &Path,
    args: &RunOptionsArgs,
    quiet: bool,
) -> Result<(ExecutionResult, Vec<String>), CliError> {
    let compiled = load_workflow(path)?;
    let order: Vec<String> = compiled.graph.ids.clone();
    let limit = args
        .max_input_bytes
        .or(host.max_input_bytes)
        .unwrap_or(DEFAULT_MAX_INPUT_BYTES);
    let mut options = run_options(&args.who, parse_input(&args.input, limit)?)?;
    options.timeout = match args.timeout {
        Some(secs) => Some(
            Duration::try_from_secs_f64(secs)
                .map_err(|e| CliError::input(format!("--timeout {secs}: {e}")))?,
        ),
        None => None,
    };
    let display = crate::progress::Display::start(compiled.workflow.nodes.len(), quiet);
    options.progress = display.as_ref().map(crate::progress::Display::observer);
    let mut env_allowlist = host.env_allowlist.clone();
    env_allowlist.extend(args.allow_env.iter().cloned());
    let engine = Engine::with_options(
        host.registry.clone(),
        EngineOptions {
            env_allowlist,
            ..EngineOptions::default()
        },
    );
    let outcome = engine.run(&compiled, options).await;
    if let Some(display) = display {
        display.finish();
    }
    outcome
        .map(|result| (result, order))
        .map_err(|invalid| cannot_run(path, &invalid.problems))
}

/// The result as a table, nodes in the order they finished, then the ones
/// never reached.
fn pretty(result: &ExecutionResult, compiled_order: &[String], full: bool) -> String {
    let mut out = String::new();
    let width = result
        .nodes
        .keys()
        .map(|k| sanitize(k).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:width$}  {:9}  {:>9}  output / error",
        "node", "status", "ms"
    );
    let reached: std::collections::HashSet<&str> =
        result.execution_order.iter().map(String::as_str).collect();
    let order = result.execution_order.iter().chain(
        compiled_order
            .iter()
            .filter(|id| !reached.contains(id.as_str())),
    );
    for id in order {
        let Some(node) = result.nodes.get(id) else {
            continue;
        };
        let detail = match (&node.error, node.status) {
            (
                Some(e),
                plugflow_engine::NodeStatus::Error | plugflow_engine::NodeStatus::Cancelled,
            ) => {
                format!(
                    "{}: {}",
                    node.error_code.map(|c| c.as_str()).unwrap_or(""),
                    sanitize(e)
                )
            }
            _ => node
                .reason
                .as_deref()
                .map(sanitize)
                .unwrap_or_else(|| brief(&node.output, (!full).then_some(80))),
        };
        let _ = writeln!(
            out,
            "{:width$}  {:9}  {:>9.3}  {detail}",
            sanitize(id),
            node.status.as_str(),
            node.duration_ms
        );
        for w in &node.warnings {
            let _ = writeln!(
                out,
                "{:width$}  warning: {} at {}",
                "",
                sanitize(&w.message),
                sanitize(&w.path)
            );
        }
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

fn outcome(result: &ExecutionResult, output: Output) -> Result<Output, CliError> {
    match result.status {
        RunStatus::Success => Ok(output),
        _ => Err(CliError::failed(format!(
            "workflow {}: {}",
            match result.status {
                RunStatus::Cancelled => "was cancelled",
                _ => "failed",
            },
            result.error.clone().unwrap_or_default()
        ))
        .kind(match result.status {
            RunStatus::Cancelled => "WORKFLOW_CANCELLED",
            _ => "WORKFLOW_FAILED",
        })
        .with_document(output.json)
        .with_pretty(output.pretty)),
    }
}

/// `plugflow run` (`full`: whole outputs in the pretty table).
pub async fn run(
    global: &Global,
    path: &Path,
    args: &RunOptionsArgs,
    full: bool,
) -> Result<Output, CliError> {
    let host = crate::host::build(global)?;
    let (result, order) = execute(&host, path, args, global.quiet).await?;
    // Only the form that is printed is written.
    let output = match global.output {
        OutputFormat::Json => Output {
            json: {
                // A node's result is a few hundred bytes of pretty JSON.
                let mut text = Vec::with_capacity(512 * result.nodes.len());
                result.write_pretty_json(&mut text);
                Json::Text(String::from_utf8(text).unwrap_or_default())
            },
            pretty: String::new(),
        },
        OutputFormat::Pretty => Output {
            json: Json::Text(String::new()),
            pretty: pretty(&result, &order, full),
        },
    };
    outcome(&result, output)
}

/// `plugflow stats`: runs, then prints the registry's metrics.
pub async fn stats(
    global: &Global,
    path: &Path,
    args: &RunOptionsArgs,
    format: MetricsFormat,
) -> Result<Output, CliError> {
    let host = crate::host::build(global)?;
    let (result, _) = execute(&host, path, args, global.quiet).await?;
    let snapshot = host.registry.stats();
    let json = Json::write(&snapshot);
    let pretty = match format {
        MetricsFormat::Prometheus => snapshot.to_prometheus(),
        MetricsFormat::Json => json.text().into_owned(),
    };
    outcome(&result, Output { json, pretty })
}
