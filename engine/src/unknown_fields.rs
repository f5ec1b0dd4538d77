//! Fields of a workflow file plugflow does not know: kept (MetaBuilder
//! files carry metadata of their own, and stay runnable) but reported as
//! warnings, with the field the author probably meant — a misspelled
//! `conections` or `parameter` otherwise silently changes what runs.

use plugin_abi::sdk::suggest::closest;

use crate::report::{Warning, WarningKind};
use crate::workflow::Workflow;

/// The fields of a workflow document: those plugflow reads and the rest of
/// MetaBuilder's v3 schema (metadata it keeps but does not use).
const WORKFLOW_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "version",
    "tenantId",
    "createdBy",
    "createdAt",
    "updatedAt",
    "active",
    "locked",
    "tags",
    "category",
    "settings",
    "nodes",
    "connections",
    "triggers",
    "variables",
    "errorHandling",
    "retryPolicy",
    "rateLimiting",
    "credentials",
    "metadata",
    "executionLimits",
    "multiTenancy",
    "versionHistory",
];

/// The fields of a node: plugflow's and MetaBuilder's v3 schema's.
const NODE_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "type",
    "typeVersion",
    "nodeType",
    "position",
    "size",
    "parameters",
    "parameterSchema",
    "inputs",
    "outputs",
    "credentials",
    "disabled",
    "skipOnFail",
    "alwaysOutputData",
    "retryPolicy",
    "retryOnFail",
    "timeout",
    "maxTries",
    "waitBetweenTries",
    "continueOnError",
    "onError",
    "errorOutput",
    "recovery",
    "notes",
    "notesInFlow",
    "color",
    "icon",
    "metadata",
];

/// One warning per unknown field of the workflow or of a node (fields
/// nested deeper are the business of the block they are in).
pub(crate) fn unknown_field_warnings(workflow: &Workflow) -> Vec<Warning> {
    workflow
        .unknown_fields
        .iter()
        .filter_map(|pointer| {
            let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
            let (node, field, known, what) = match segments.as_slice() {
                [field] => (None, *field, WORKFLOW_FIELDS, "a workflow field"),
                ["nodes", index, field] => {
                    let node = index
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| workflow.nodes.get(i))
                        .map(|n| n.id.clone());
                    (node, *field, NODE_FIELDS, "a node field")
                }
                _ => return None,
            };
            let hint = closest(field, known.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_else(|| " (kept as metadata)".to_owned());
            Some(Warning {
                node_id: node,
                kind: WarningKind::UnknownField,
                path: pointer.clone(),
                message: format!("`{field}` is not {what}, so it is not used{hint}"),
            })
        })
        .collect()
}
