//! The nodes an expression refers to (`$steps.<id>`, `$steps['<id>']`,
//! `$node["<name>"]`), found without running it, so validation can report
//! references to nodes that do not exist or cannot have finished first.

/// A node an expression names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    /// `$steps.<id>` / `$steps['<id>']`.
    Step(String),
    /// `$node["<name>"]` / `$node.<name>`.
    Named(String),
}

/// Every node reference in `source`, in order of appearance.
///
/// ```
/// use plugflow_engine::expr::refs::{node_refs, NodeRef};
/// let refs = node_refs("$steps.a.output + $steps['b-c'].success && $node[\"Load\"].json");
/// assert_eq!(refs, vec![NodeRef::Step("a".into()), NodeRef::Step("b-c".into()), NodeRef::Named("Load".into())]);
/// ```
pub fn node_refs(source: &str) -> Vec<NodeRef> {
    let mut found = Vec::new();
    for (root, make) in [
        ("$steps", NodeRef::Step as fn(String) -> NodeRef),
        ("$node", NodeRef::Named),
    ] {
        let mut rest = source;
        while let Some(at) = rest.find(root) {
            let after = &rest[at + root.len()..];
            rest = after;
            // `$nodes` or `$steps2` are other names.
            if after.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(name) = member(after) {
                found.push(make(name));
            }
        }
    }
    found
}

/// The member name right after a root: `.name`, `['name']`, `["name"]`.
fn member(after: &str) -> Option<String> {
    let after = after.trim_start();
    if let Some(dotted) = after.strip_prefix('.') {
        let end = dotted
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(dotted.len());
        return (end > 0).then(|| dotted[..end].to_owned());
    }
    let inner = after.strip_prefix('[')?.trim_start();
    let quote = inner.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &inner[1..];
    let end = body.find(quote)?;
    let name = &body[..end];
    (!name.contains('\\')).then(|| name.to_owned())
}
