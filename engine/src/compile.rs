//! Compiling a workflow once: its graph, its templates, each node's
//! recovery strategy, error handling, timeout and credentials, the policy
//! its `multiTenancy` block adds, and the checks that need no registry
//! (template text kept literal, references to nodes that cannot have run).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::expr::template::is_per_item;
use crate::expr::{Compiled, TemplateNote};
use crate::pointer::Pointer;
use crate::references::reference_warnings;
use crate::report::{Warning, WarningKind};
use crate::unknown_fields::unknown_field_warnings;
use crate::workflow::graph::Graph;
use crate::workflow::model::{NodeDef, OnError, RetryPolicy, Workflow};
use crate::workflow::Problem;
use registry_core::CredentialRef;
use registry_core::ErrorCode;
use registry_core::{Backoff, BackoffKind, RecoveryStrategy};
use registry_core::{DataIsolation, TenantPolicy};

/// The most attempts a node may make (`maxTries`, `retryPolicy.maxAttempts`):
/// more is almost always a typo, and each attempt may wait.
pub const MAX_TRIES: u32 = 100;

/// A workflow ready to run many times: parsed, checked for structure,
/// templates compiled. Compile once, run as often as you like.
#[derive(Debug)]
pub struct CompiledWorkflow {
    /// The workflow as parsed.
    pub workflow: Workflow,
    /// Its graph.
    pub graph: Graph,
    pub(crate) params: Vec<Compiled>,
    pub(crate) templated: Vec<Vec<String>>,
    /// Nodes whose per-item expressions read `$json`: their requests carry
    /// the trigger data.
    pub(crate) wants_trigger: Vec<bool>,
    pub(crate) strategies: Vec<RecoveryStrategy>,
    pub(crate) on_error: Vec<OnError>,
    pub(crate) timeouts: Vec<Option<Duration>>,
    pub(crate) credentials: Vec<Vec<CredentialRef>>,
    pub(crate) workflow_policy: Option<TenantPolicy>,
    pub(crate) tenant_field: String,
    pub(crate) error_logger: Option<usize>,
    pub(crate) structure: Vec<Problem>,
    pub(crate) warnings: Vec<Warning>,
    /// The registry generation and tenant this workflow last validated
    /// cleanly for: validation is skipped while both stay the same.
    pub(crate) validated_for: std::sync::Mutex<Option<(usize, u64, Option<String>)>>,
}

fn retry_from_policy(policy: &RetryPolicy) -> RecoveryStrategy {
    let retry_codes = policy
        .retryable_errors
        .iter()
        .filter_map(|name| match name.as_str() {
            "TIMEOUT" => Some(ErrorCode::ExecutionTimeout),
            other => ErrorCode::parse(other),
        })
        .collect();
    RecoveryStrategy::Retry {
        max_retries: policy.max_attempts.unwrap_or(3).clamp(1, MAX_TRIES) - 1,
        backoff: Backoff {
            kind: policy.backoff_type.unwrap_or(BackoffKind::Exponential),
            initial: Duration::from_millis(policy.initial_delay.unwrap_or(1000)),
            max: Duration::from_millis(policy.max_delay.unwrap_or(60_000)),
            jitter: 0.1,
        },
        any_execution_error: false,
        retry_codes,
    }
}

fn fixed_retry(tries: u32, wait_ms: u64) -> RecoveryStrategy {
    RecoveryStrategy::Retry {
        max_retries: tries.clamp(1, MAX_TRIES) - 1,
        backoff: Backoff {
            kind: BackoffKind::Fixed,
            initial: Duration::from_millis(wait_ms),
            max: Duration::from_millis(wait_ms),
            jitter: 0.0,
        },
        any_execution_error: true,
        retry_codes: Vec::new(),
    }
}

/// The node's `onError`: its own, `continueOnError`, the workflow's
/// override for it, the workflow default, else `stopWorkflow`.
fn on_error_of(workflow: &Workflow, node: &NodeDef) -> OnError {
    if let Some(on_error) = node.on_error {
        return on_error;
    }
    if node.continue_on_error {
        return OnError::ContinueRegularOutput;
    }
    let handling = workflow.error_handling.as_ref();
    handling
        .and_then(|h| h.node_overrides.get(&node.id).copied())
        .or_else(|| handling.and_then(|h| h.default))
        .unwrap_or(OnError::StopWorkflow)
}

/// The node's recovery strategy: from the node, else the workflow, else
/// `fail`.
fn strategy_of(workflow: &Workflow, node: &NodeDef, on_error: OnError) -> RecoveryStrategy {
    if let Some(strategy) = &node.recovery {
        return strategy.clone();
    }
    if on_error == OnError::SkipNode {
        return RecoveryStrategy::Skip;
    }
    if let Some(policy) = &node.retry_policy {
        if policy.enabled != Some(false) {
            return retry_from_policy(policy);
        }
    }
    if let Some(tries) = node.max_tries.filter(|t| *t > 1) {
        return fixed_retry(tries, node.wait_between_tries.unwrap_or(1000));
    }
    if on_error == OnError::Retry {
        return fixed_retry(3, node.wait_between_tries.unwrap_or(1000));
    }
    if let Some(strategy) = workflow
        .error_handling
        .as_ref()
        .and_then(|h| h.recovery.clone())
    {
        return strategy;
    }
    match &workflow.retry_policy {
        Some(policy) if policy.enabled == Some(true) => retry_from_policy(policy),
        _ => RecoveryStrategy::Fail,
    }
}

fn workflow_policy(workflow: &Workflow) -> Option<TenantPolicy> {
    let block = workflow.multi_tenancy.as_ref()?;
    Some(TenantPolicy {
        tenant_id: String::new(),
        allowed_node_types: Vec::new(),
        restricted_node_types: block
            .restrict_node_types
            .clone()
            .unwrap_or_else(|| vec!["raw-sql".into(), "eval".into(), "shell-exec".into()]),
        data_isolation: if block.enforced.unwrap_or(true) {
            DataIsolation::Strict
        } else {
            DataIsolation::Relaxed
        },
        audit_logging: block.audit_logging.unwrap_or(true),
        allow_cross_tenant_access: block.allow_cross_tenant_access,
        also_allowed: Vec::new(),
        plugin_isolation: None,
    })
}

/// What compiling needs to know of a node's parameters, from one walk:
/// the JSON Pointer of every string holding a template, and whether a
/// per-item template reads `$json`. (Parameters come from a JSON parser
/// that bounds nesting, so the recursion is bounded too.)
#[derive(Default)]
struct TemplateFacts {
    templated: Vec<String>,
    per_item_reads_json: bool,
}

impl TemplateFacts {
    fn of(value: &Value) -> Self {
        let mut facts = Self::default();
        facts.walk(value, &mut Pointer::default());
        facts
    }

    fn walk(&mut self, value: &Value, at: &mut Pointer) {
        match value {
            Value::String(s) => {
                if crate::expr::template::has_template(s) {
                    self.templated.push(at.as_str().to_owned());
                }
                if crate::expr::template::mentions(s, "json") && is_per_item(s) {
                    self.per_item_reads_json = true;
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let back = at.push_index(i);
                    self.walk(item, at);
                    at.truncate(back);
                }
            }
            Value::Object(object) => {
                for (key, item) in object {
                    let back = at.push_key(key);
                    self.walk(item, at);
                    at.truncate(back);
                }
            }
            _ => {}
        }
    }
}

fn note_warning(node: &NodeDef, note: TemplateNote) -> Warning {
    // The note's offset counts bytes; the author counts characters.
    let character = note.offset.map(|at| {
        let before = match node.parameters.pointer(&note.path) {
            Some(Value::String(s)) => s.get(..at).map_or(at, |b| b.chars().count()),
            _ => at,
        };
        before + 1
    });
    Warning {
        node_id: Some(node.id.clone()),
        kind: WarningKind::TemplateKeptAsText,
        path: format!("/parameters{}", note.path),
        // The author's own text, and where in the value the problem is.
        message: match character {
            Some(at) => format!(
                "`{}` (character {at} of the value): {}",
                note.text, note.message
            ),
            None => format!("`{}`: {}", note.text, note.message),
        },
        character,
    }
}

impl CompiledWorkflow {
    /// Builds the graph and compiles every template. Structural problems
    /// are kept and reported by validation; nothing with a problem ever
    /// runs. Text in `{{ }}` that is not an expression stays literal and is
    /// reported as a warning.
    pub fn compile(workflow: Workflow) -> Self {
        let (graph, graph_problems) = Graph::build(&workflow);
        let mut structure = workflow.problems.clone();
        structure.extend(graph_problems);
        let n = workflow.nodes.len();
        let mut params = Vec::with_capacity(n);
        let mut templated = Vec::with_capacity(n);
        let mut wants_trigger = Vec::with_capacity(n);
        let mut strategies = Vec::with_capacity(n);
        let mut on_error = Vec::with_capacity(n);
        let mut timeouts = Vec::with_capacity(n);
        let mut credentials = Vec::with_capacity(n);
        let mut warnings = Vec::new();
        for (i, node) in workflow.nodes.iter().enumerate() {
            let tries = [
                ("maxTries", node.max_tries),
                (
                    "retryPolicy/maxAttempts",
                    node.retry_policy.as_ref().and_then(|p| p.max_attempts),
                ),
            ];
            for (field, value) in tries {
                if value.is_some_and(|v| v > MAX_TRIES) {
                    warnings.push(Warning {
                        node_id: Some(node.id.clone()),
                        kind: WarningKind::Capped,
                        path: format!("/nodes/{i}/{field}"),
                        message: format!(
                            "{} attempts is over the limit of {MAX_TRIES}; {MAX_TRIES} are made",
                            value.unwrap_or_default()
                        ),
                        character: None,
                    });
                }
            }
            let mut notes = Vec::new();
            params.push(Compiled::compile(&node.parameters, "", &mut notes));
            warnings.extend(notes.into_iter().map(|note| note_warning(node, note)));
            let facts = TemplateFacts::of(&node.parameters);
            templated.push(facts.templated);
            wants_trigger.push(facts.per_item_reads_json);
            let handling = on_error_of(&workflow, node);
            strategies.push(strategy_of(&workflow, node, handling));
            on_error.push(handling);
            timeouts.push(
                node.timeout
                    .filter(|t| *t > 0.0)
                    // Too large to represent: no timeout at all.
                    .and_then(|t| Duration::try_from_secs_f64(t).ok()),
            );
            credentials.push(
                node.credentials
                    .iter()
                    .map(|(slot, binding)| CredentialRef {
                        slot: slot.clone(),
                        id: match &binding.id {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                    })
                    .collect(),
            );
        }
        let error_logger = workflow
            .error_handling
            .as_ref()
            .and_then(|h| h.error_logger.as_deref())
            .filter(|name| !name.is_empty())
            .and_then(|name| {
                let found = graph.index_of(name);
                if found.is_none() {
                    structure.push(Problem::new(
                        None,
                        ErrorCode::ValidationFailed,
                        "/errorHandling/errorLogger",
                        format!("errorLogger `{name}` is not a node of this workflow"),
                    ));
                }
                found
            });
        warnings.extend(reference_warnings(&workflow, &graph, &params, error_logger));
        warnings.extend(unknown_field_warnings(&workflow));
        let tenant_field = workflow
            .multi_tenancy
            .as_ref()
            .and_then(|m| m.tenant_id_field.clone())
            .unwrap_or_else(|| registry_core::DEFAULT_TENANT_FIELD.to_owned());
        crate::anchor::anchor_problems(&graph, &mut structure);
        crate::anchor::anchor_warnings(&graph, &mut warnings);
        Self {
            workflow_policy: workflow_policy(&workflow),
            workflow,
            graph,
            params,
            templated,
            wants_trigger,
            strategies,
            on_error,
            timeouts,
            credentials,
            tenant_field,
            error_logger,
            structure,
            warnings,
            validated_for: std::sync::Mutex::new(None),
        }
    }

    /// The recovery strategy compiled for node `index`.
    pub fn strategy(&self, index: usize) -> &RecoveryStrategy {
        &self.strategies[index]
    }

    /// The workflow's declared variables with their defaults, overridden by
    /// `overrides`.
    pub fn variables(&self, overrides: &Map<String, Value>) -> Map<String, Value> {
        let mut values: Map<String, Value> = self
            .workflow
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.default_value.clone()))
            .collect();
        for (k, v) in overrides {
            values.insert(k.clone(), v.clone());
        }
        values
    }

    /// The tenant the workflow declares it belongs to: its `tenantId`,
    /// unless that is a placeholder filled in at install time
    /// (`"${TENANT_ID}"`, as MetaBuilder's packages ship) or a template,
    /// which bind nothing.
    pub fn declared_tenant(&self) -> Option<&str> {
        self.workflow
            .tenant_id
            .as_deref()
            .filter(|t| !t.trim().is_empty() && !t.contains("${") && !t.contains("{{"))
    }

    /// Warnings found without a registry: template text kept literally,
    /// references to nodes that do not exist or cannot have finished first.
    pub fn static_warnings(&self) -> &[Warning] {
        &self.warnings
    }
}
