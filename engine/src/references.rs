//! References to other nodes in templates (`$steps.<id>`, `$node["name"]`),
//! checked without running: a reference to a node that does not exist, or
//! to one that cannot have finished before the referencing node runs,
//! would resolve to nothing.

use crate::expr::refs::{node_refs, NodeRef};
use crate::expr::template::mentions;
use crate::expr::Compiled;
use crate::report::{Warning, WarningKind};
use crate::workflow::graph::Graph;
use crate::workflow::model::Workflow;

/// Every such reference, as a warning (an error under strict templates).
pub(crate) fn reference_warnings(
    workflow: &Workflow,
    graph: &Graph,
    params: &[Compiled],
    error_logger: Option<usize>,
) -> Vec<Warning> {
    // Warnings in the order the references occur; those that depend on
    // whether the target finishes first wait for one batch of answers
    // (one query at a time is a graph search each: quadratic in a long
    // chain whose nodes all name an early node).
    let mut found: Vec<Found> = Vec::new();
    let mut queries: Vec<(usize, usize)> = Vec::new();
    for (i, compiled) in params.iter().enumerate() {
        let node = &workflow.nodes[i];
        compiled.for_each_expression(&mut |path, expr| {
            // Most expressions name no node: no scan result to build.
            let source = expr.source();
            if !mentions(source, "steps") && !mentions(source, "node") {
                return;
            }
            for reference in node_refs(expr.source()) {
                let (target, written) = match &reference {
                    NodeRef::Step(id) => (graph.by_id.get(id).copied(), format!("$steps.{id}")),
                    NodeRef::Named(name) => (
                        graph.by_name.get(name).copied(),
                        format!("$node[\"{name}\"]"),
                    ),
                };
                let warn = |kind, message: String| Warning {
                    node_id: Some(node.id.clone()),
                    kind,
                    path: format!("/parameters{path}"),
                    message,
                    character: None,
                };
                match target {
                    None => found.push(Found::Warning(warn(
                        WarningKind::UnknownReference,
                        format!(
                            "`{written}` in `{{{{ {} }}}}` names no node of this workflow; it resolves to nothing{}",
                            expr.source(),
                            likely_node(&reference, graph)
                        ),
                    ))),
                    Some(t) if t == i => found.push(Found::Warning(warn(
                        WarningKind::UnreachableReference,
                        format!("`{written}` refers to the node itself, which has not finished when its parameters are rendered"),
                    ))),
                    Some(t) if Some(i) != error_logger => {
                        queries.push((t, i));
                        found.push(Found::Upstream {
                            query: queries.len() - 1,
                            written,
                            path: path.to_string(),
                        });
                    }
                    Some(_) => {}
                }
            }
        });
    }
    let upstream = graph.finish_before_all(&queries);
    found
        .into_iter()
        .filter_map(|found| match found {
            Found::Warning(warning) => Some(warning),
            Found::Upstream {
                query,
                written,
                path,
            } => {
                let (t, i) = queries.get(query).copied()?;
                if upstream.get(query).copied().unwrap_or(true) {
                    return None;
                }
                Some(Warning {
                    node_id: Some(workflow.nodes[i].id.clone()),
                    kind: WarningKind::UnreachableReference,
                    path: format!("/parameters{path}"),
                    message: format!(
                        "`{written}` refers to node `{}`, which cannot have finished before `{}` runs (it is not upstream of it); the reference resolves to nothing",
                        graph.ids[t], workflow.nodes[i].id
                    ),
                    character: None,
                })
            }
        })
        .collect()
}

/// A reference's warning, or the question that decides it.
enum Found {
    Warning(Warning),
    /// A warning unless the target finishes before the node runs: answer
    /// `query` of the batch.
    Upstream {
        query: usize,
        written: String,
        path: String,
    },
}

/// "; did you mean `$steps.total`?" for a reference a small edit away
/// from a node's id (or name), else nothing.
fn likely_node(reference: &NodeRef, graph: &Graph) -> String {
    let (written, index, shape): (&str, _, fn(&str) -> String) = match reference {
        NodeRef::Step(id) => (id, &graph.by_id, |id| format!("$steps.{id}")),
        NodeRef::Named(name) => (name, &graph.by_name, |name| format!("$node[\"{name}\"]")),
    };
    plugin_abi::sdk::suggest::closest(written, index.keys().map(String::as_str))
        .map(|c| format!("; did you mean `{}`?", shape(c)))
        .unwrap_or_default()
}
