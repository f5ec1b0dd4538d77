//! One path style in every report: a JSON Pointer into the workflow file.
//! Checks of one node find paths relative to it (`/parameters/values/0`);
//! anchoring puts them under the node (`/nodes/3/parameters/values/0`).

use crate::report::Warning;
use crate::workflow::graph::Graph;
use crate::workflow::Problem;

/// Where a path already starts at the document: its first segment is a
/// field of the workflow itself.
fn from_document(path: &str) -> bool {
    const DOCUMENT: [&str; 5] = [
        "/nodes",
        "/connections",
        "/triggers",
        "/variables",
        "/errorHandling",
    ];
    DOCUMENT.iter().any(|field| {
        path.strip_prefix(field)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// `path` anchored at node `node_id` (by its first occurrence in `nodes`)
/// when it is relative to the node.
fn anchored(graph: &Graph, node_id: Option<&str>, path: &mut String) {
    let Some(index) = node_id.and_then(|id| graph.by_id.get(id)) else {
        return;
    };
    if !from_document(path) {
        path.insert_str(0, &format!("/nodes/{index}"));
    }
}

/// Anchors every problem's path.
pub(crate) fn anchor_problems(graph: &Graph, problems: &mut [Problem]) {
    for p in problems {
        anchored(graph, p.node_id.as_deref(), &mut p.path);
    }
}

/// Anchors every warning's path.
pub(crate) fn anchor_warnings(graph: &Graph, warnings: &mut [Warning]) {
    for w in warnings {
        anchored(graph, w.node_id.as_deref(), &mut w.path);
    }
}
