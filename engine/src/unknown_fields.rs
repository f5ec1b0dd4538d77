//! Fields of a workflow file plugflow does not know: kept (MetaBuilder
//! files carry metadata of their own, and stay runnable) but reported as
//! warnings, with the field the author probably meant — a misspelled
//! `conections` or `parameter` otherwise silently changes what runs.

use plugin_abi::sdk::suggest::closest;

use crate::report::{Warning, WarningKind};
use crate::workflow::read::{NODE_FIELDS_UNUSED, WORKFLOW_FIELDS_UNUSED};
use crate::workflow::Workflow;

/// The workflow fields plugflow reads (the v3 schema's others are in
/// [`WORKFLOW_FIELDS_UNUSED`]): candidates for a misspelling.
const WORKFLOW_FIELDS: &[&str] = &[
    "id",
    "name",
    "version",
    "tenantId",
    "nodes",
    "connections",
    "settings",
    "errorHandling",
    "retryPolicy",
    "variables",
    "triggers",
    "multiTenancy",
];

/// The node fields plugflow reads (others: [`NODE_FIELDS_UNUSED`]).
const NODE_FIELDS: &[&str] = &[
    "id",
    "name",
    "type",
    "nodeType",
    "parameters",
    "credentials",
    "disabled",
    "retryPolicy",
    "retryOnFail",
    "timeout",
    "maxTries",
    "waitBetweenTries",
    "continueOnError",
    "onError",
    "recovery",
];

/// One warning per unknown field of the workflow or of a node (fields
/// nested deeper are the business of the block they are in).
pub(crate) fn unknown_field_warnings(workflow: &Workflow) -> Vec<Warning> {
    workflow
        .unknown_fields
        .iter()
        .filter_map(|pointer| {
            let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
            let (node, field, known, unused, what) = match segments.as_slice() {
                [field] => (
                    None,
                    *field,
                    WORKFLOW_FIELDS,
                    WORKFLOW_FIELDS_UNUSED,
                    "a workflow field",
                ),
                ["nodes", index, field] => {
                    let node = index
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| workflow.nodes.get(i))
                        .map(|n| n.id.clone());
                    (
                        node,
                        *field,
                        NODE_FIELDS,
                        NODE_FIELDS_UNUSED,
                        "a node field",
                    )
                }
                _ => return None,
            };
            let hint = closest(field, known.iter().chain(unused).copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_else(|| " (kept as metadata)".to_owned());
            Some(Warning {
                node_id: node,
                kind: WarningKind::UnknownField,
                path: pointer.clone(),
                message: format!("`{field}` is not {what}, so it is not used{hint}"),
                character: None,
            })
        })
        .collect()
}
