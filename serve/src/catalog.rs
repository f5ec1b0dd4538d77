//! The workflows the service runs: read from the workflows directory once,
//! each compiled once, with the webhook routes they declare.
//!
//! Visibility: a workflow that declares a `tenantId` belongs to that
//! tenant alone; one that declares none is shared by every tenant and runs
//! as the caller's tenant. A tenant asking for a workflow it cannot see
//! gets the same answer as for one that does not exist.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use plugflow_engine::{CompiledWorkflow, Workflow};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One workflow, compiled.
pub struct Entry {
    /// The workflow's id (its `id`, else its file name without `.json`).
    pub id: String,
    /// The tenant it belongs to, when it declares one.
    pub tenant: Option<String>,
    /// SHA-256 of the file, recorded with every execution.
    pub hash: String,
    /// The compiled workflow.
    pub compiled: Arc<CompiledWorkflow>,
    /// Its webhook routes.
    pub webhooks: Vec<Webhook>,
    /// Node id → node type.
    pub node_types: std::collections::HashMap<String, String>,
    /// Its own limit of executions at once (`maxConcurrentExecutions`).
    pub slots: Option<Arc<tokio::sync::Semaphore>>,
}

impl Entry {
    /// Whether its nodes are recorded as they run
    /// (`settings.saveExecutionProgress`, default: the service's choice).
    pub fn saves_progress(&self, service_default: bool) -> bool {
        self.compiled
            .workflow
            .settings
            .save_execution_progress
            .unwrap_or(service_default)
    }

    /// Whether a finished execution keeps its input and result
    /// (`settings.saveExecutionData`: `all`, `errors-only`, `none`).
    pub fn keeps_data(&self, succeeded: bool) -> bool {
        match self
            .compiled
            .workflow
            .settings
            .save_execution_data
            .as_deref()
        {
            Some("none") => false,
            Some("errors-only") => !succeeded,
            _ => true,
        }
    }
}

impl Entry {
    /// Whether `tenant` may see and run it.
    pub fn visible_to(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|own| own == tenant)
    }
}

/// A webhook route: `method /webhook<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Upper-case HTTP method.
    pub method: String,
    /// The path after `/webhook`, starting with `/`.
    pub path: String,
    /// Answer at once with the execution id (`onReceived`) instead of
    /// when the run finishes.
    pub respond_at_once: bool,
}

/// Every workflow, by id.
#[derive(Default)]
pub struct Catalog {
    entries: BTreeMap<String, Arc<Entry>>,
}

/// A workflow file that could not be loaded.
#[derive(Debug, Clone)]
pub struct LoadProblem {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl Catalog {
    /// Reads every `*.json` file of `dir`. Files that do not parse, or
    /// whose id or webhook route another file already has, are reported
    /// and left out; the rest load.
    pub fn load(dir: &Path) -> (Self, Vec<LoadProblem>) {
        let mut catalog = Self::default();
        let mut problems = Vec::new();
        let mut files: Vec<_> = match std::fs::read_dir(dir) {
            Ok(read) => read
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(e) => {
                problems.push(LoadProblem {
                    file: dir.display().to_string(),
                    message: format!("cannot read the workflows directory: {e}"),
                });
                return (catalog, problems);
            }
        };
        files.sort();
        for path in files {
            let file = path.display().to_string();
            match load_one(&path) {
                Ok(entry) => {
                    if let Err(message) = catalog.insert(entry) {
                        problems.push(LoadProblem { file, message });
                    }
                }
                Err(message) => problems.push(LoadProblem { file, message }),
            }
        }
        (catalog, problems)
    }

    fn insert(&mut self, entry: Entry) -> Result<(), String> {
        if self.entries.contains_key(&entry.id) {
            return Err(format!(
                "workflow id `{}` is already used by another file",
                entry.id
            ));
        }
        for hook in &entry.webhooks {
            let taken = self.entries.values().any(|other| {
                tenants_overlap(&other.tenant, &entry.tenant)
                    && other
                        .webhooks
                        .iter()
                        .any(|h| h.method == hook.method && h.path == hook.path)
            });
            if taken {
                return Err(format!(
                    "webhook {} /webhook{} is already served by another workflow",
                    hook.method, hook.path
                ));
            }
        }
        self.entries.insert(entry.id.clone(), Arc::new(entry));
        Ok(())
    }

    /// The workflow `id` if `tenant` may see it.
    pub fn get(&self, tenant: &str, id: &str) -> Option<Arc<Entry>> {
        self.entries
            .get(id)
            .filter(|e| e.visible_to(tenant))
            .cloned()
    }

    /// Every workflow, of every tenant (what a worker may run).
    pub fn all(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.entries.values()
    }

    /// Every workflow `tenant` may see.
    pub fn visible<'a>(&'a self, tenant: &'a str) -> impl Iterator<Item = &'a Arc<Entry>> {
        self.entries.values().filter(move |e| e.visible_to(tenant))
    }

    /// The workflow serving `method /webhook<path>` for `tenant`: its own
    /// before a shared one.
    pub fn webhook(&self, tenant: &str, method: &str, path: &str) -> Option<(Arc<Entry>, Webhook)> {
        let mut shared = None;
        for entry in self.visible(tenant) {
            if let Some(hook) = entry
                .webhooks
                .iter()
                .find(|h| h.method == method && h.path == path)
            {
                if entry.tenant.is_some() {
                    return Some((entry.clone(), hook.clone()));
                }
                shared.get_or_insert_with(|| (entry.clone(), hook.clone()));
            }
        }
        shared
    }

    /// How many workflows there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn tenants_overlap(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

fn load_one(path: &Path) -> Result<Entry, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let workflow =
        Workflow::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    let id = if workflow.id.is_empty() {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        workflow.id.clone()
    };
    let tenant = workflow.tenant_id.clone().filter(|t| !t.is_empty());
    let webhooks = webhooks_of(&workflow, &id)?;
    let node_types = workflow
        .nodes
        .iter()
        .filter_map(|n| Some((n.id.clone(), n.node_type.clone()?)))
        .collect();
    if let Some(mode) = workflow.settings.save_execution_data.as_deref() {
        if !matches!(mode, "all" | "errors-only" | "none") {
            return Err(format!(
                "settings.saveExecutionData is `{mode}`; use all, errors-only or none"
            ));
        }
    }
    let slots = workflow
        .settings
        .max_concurrent_executions
        .map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1))));
    Ok(Entry {
        slots,
        node_types,
        id,
        tenant,
        hash: hex::encode(Sha256::digest(text.as_bytes())),
        compiled: Arc::new(CompiledWorkflow::compile(workflow)),
        webhooks,
    })
}

/// The routes of `webhook-trigger` nodes, and of nodes named by
/// `triggers[]` entries of kind `webhook`: the node's `path` (default: the
/// workflow id) and `httpMethod` (default `POST`).
fn webhooks_of(workflow: &Workflow, id: &str) -> Result<Vec<Webhook>, String> {
    let mut hooks = Vec::new();
    for node in &workflow.nodes {
        let declared = workflow
            .triggers
            .iter()
            .any(|t| t.enabled && t.kind == "webhook" && t.node_id == node.id);
        if node.node_type.as_deref() != Some("webhook-trigger") && !declared {
            continue;
        }
        let parameters = &node.parameters;
        let path = match parameters.get("path") {
            Some(Value::String(p)) if !p.trim().is_empty() => p.trim().to_owned(),
            Some(Value::String(_)) | None => id.to_owned(),
            Some(_) => {
                return Err(format!(
                    "node `{}`: webhook `path` must be a string",
                    node.id
                ))
            }
        };
        let path = format!("/{}", path.trim_start_matches('/'));
        let method = match parameters.get("httpMethod") {
            Some(Value::String(m)) => m.to_ascii_uppercase(),
            None => "POST".to_owned(),
            Some(_) => return Err(format!("node `{}`: `httpMethod` must be a string", node.id)),
        };
        let respond_at_once = parameters
            .get("responseMode")
            .and_then(Value::as_str)
            .is_some_and(|m| m == "onReceived");
        hooks.push(Webhook {
            method,
            path,
            respond_at_once,
        });
    }
    Ok(hooks)
}
