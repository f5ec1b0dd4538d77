//! What validation reports: problems (the workflow cannot run) and
//! warnings (it can, but something is probably not what the author meant).

use serde::Serialize;

use crate::workflow::Problem;

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WarningKind {
    /// Text inside `{{ }}` that is not an expression, kept literally.
    TemplateKeptAsText,
    /// A `$steps` / `$node` reference to a node that does not exist.
    UnknownReference,
    /// A reference to a node that cannot have finished before the
    /// referencing node runs.
    UnreachableReference,
    /// A reference that resolved to nothing at run time.
    UnresolvedReference,
    /// A plugin's own validation reported something worth knowing.
    NodeTypeWarning,
    /// A value over plugflow's limit was lowered to it.
    Capped,
    /// A field of the workflow or of a node that plugflow does not read
    /// (kept as metadata; often a misspelling).
    UnknownField,
}

impl WarningKind {
    /// The stable name, such as `UNKNOWN_REFERENCE`.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::TemplateKeptAsText => "TEMPLATE_KEPT_AS_TEXT",
            WarningKind::UnknownReference => "UNKNOWN_REFERENCE",
            WarningKind::UnreachableReference => "UNREACHABLE_REFERENCE",
            WarningKind::UnresolvedReference => "UNRESOLVED_REFERENCE",
            WarningKind::NodeTypeWarning => "NODE_TYPE_WARNING",
            WarningKind::Capped => "CAPPED",
            WarningKind::UnknownField => "UNKNOWN_FIELD",
        }
    }

    /// Whether strict templates (`settings.strictTemplates`, `--strict`)
    /// make this an error.
    pub fn strict_error(self) -> bool {
        matches!(
            self,
            WarningKind::UnknownReference
                | WarningKind::UnreachableReference
                | WarningKind::UnresolvedReference
        )
    }
}

/// One warning: what, where, what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// The node concerned, if one is.
    pub node_id: Option<String>,
    /// What kind of warning.
    #[serde(rename = "code")]
    pub kind: WarningKind,
    /// Where: a JSON Pointer into the workflow or the node.
    pub path: String,
    /// What was found.
    pub message: String,
    /// Where inside the string at `path` the problem is: its character
    /// (1-based), for template text that is not an expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub character: Option<usize>,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node_id {
            Some(id) => write!(
                f,
                "node `{id}` at {}: {} ({})",
                self.path,
                self.message,
                self.kind.as_str()
            ),
            None => write!(
                f,
                "at {}: {} ({})",
                self.path,
                self.message,
                self.kind.as_str()
            ),
        }
    }
}

/// The outcome of validating a workflow for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every problem that stops the workflow from running.
    pub problems: Vec<Problem>,
    /// Everything worth knowing that does not stop it.
    pub warnings: Vec<Warning>,
}

impl Report {
    /// Whether the workflow can run.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}
