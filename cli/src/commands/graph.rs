//! `plugflow graph`: the workflow as Graphviz DOT.

use std::fmt::Write as _;
use std::path::Path;

use plugflow_engine::workflow::graph::Port;
use serde_json::{json, Value};

use super::run::load_workflow;
use crate::args::Global;
use crate::error::CliError;
use crate::output::Output;

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn colour(status: &str) -> &'static str {
    match status {
        "success" => "palegreen",
        "error" => "salmon",
        "skipped" => "lightgrey",
        "cancelled" => "orange",
        _ => "white",
    }
}

/// Prints the DAG, nodes coloured by status when a result is given.
pub fn graph(_global: &Global, path: &Path, result: Option<&Path>) -> Result<Output, CliError> {
    let compiled = load_workflow(path)?;
    let statuses: Value = match result {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| CliError::input(format!("cannot read result {}: {e}", p.display())))?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::input(format!("result {}: not JSON: {e}", p.display())))?;
            doc.get("nodes").cloned().unwrap_or(Value::Null)
        }
        None => Value::Null,
    };
    let g = &compiled.graph;
    let mut dot = String::new();
    let _ = writeln!(
        dot,
        "digraph {} {{",
        quote(if compiled.workflow.name.is_empty() {
            "workflow"
        } else {
            &compiled.workflow.name
        })
    );
    let _ = writeln!(dot, "  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\"];");
    for (i, node) in compiled.workflow.nodes.iter().enumerate() {
        let status = statuses
            .get(&node.id)
            .and_then(|n| n.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("");
        // By name (what the author reads), then the node type.
        let title = if node.name.is_empty() {
            &node.id
        } else {
            &node.name
        };
        let label = if status.is_empty() {
            format!("{title}\\n{}", node.executor_key())
        } else {
            format!("{title}\\n{}\\n[{status}]", node.executor_key())
        };
        let _ = writeln!(
            dot,
            "  {} [label=\"{}\", fillcolor={}];",
            quote(&g.ids[i]),
            label.replace('"', "\\\""),
            colour(status)
        );
        for &t in &g.tasks[i] {
            let _ = writeln!(
                dot,
                "  {} -> {} [style=dotted, label=\"task\"];",
                quote(&g.ids[i]),
                quote(&g.ids[t])
            );
        }
    }
    for e in &g.edges {
        let attrs = match e.port {
            Port::Error => "color=red, style=dashed, label=\"error\"".to_owned(),
            // A condition's outputs are its true and false branches.
            Port::Main if is_condition(&compiled.workflow.nodes[e.from]) => {
                format!("label=\"{}\"", if e.output == 0 { "true" } else { "false" })
            }
            Port::Main if e.output > 0 => format!("label=\"{}\"", e.output),
            Port::Main => String::new(),
        };
        let _ = writeln!(
            dot,
            "  {} -> {} [{attrs}];",
            quote(&g.ids[e.from]),
            quote(&g.ids[e.to])
        );
    }
    dot.push_str("}\n");
    Ok(Output {
        json: json!({"dot": dot}).into(),
        pretty: dot.clone(),
    })
}

/// Whether `node` branches on true (output 0) and false (output 1).
fn is_condition(node: &plugflow_engine::workflow::model::NodeDef) -> bool {
    matches!(node.executor_key(), "condition" | "metabuilder.condition")
}
