//! `Registry::execute`: one pipeline of small stages, in this order:
//!
//! 1. tenant check (layer 1: node type allowed for the tenant),
//! 2. executor lookup (executor cache),
//! 3. parameter validation (validation cache),
//! 4. data-isolation rewrite (layer 2) and credential resolution (layer 4),
//! 5. execute with timeout (`pure` inline, `blocking` on the blocking pool),
//! 6. output check (layer 3) and secret masking,
//! 7. error recovery (retry, fallback, skip, fail),
//! 8. audit,
//! 9. metrics.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use plugin_abi::manifest::ExecutionClass;
use plugin_abi::request::{ExecContext, ExecResponse, VariablesPatch};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::audit::AuditRecord;
use crate::credentials::{CredentialRef, Secrets};
use crate::error::{ErrorCode, NodeFailure};
use crate::invoke::{parse_response, request_text, with_request_text, NodeCall};
use crate::isolation::{foreign_record, scope_parameters};
use crate::metrics::Observation;
use crate::recovery::{should_retry, RecoveryStrategy};
use crate::registry::{RegisteredNode, Registry};
use crate::tenant::{DataIsolation, TenantPolicy};

/// The field naming a record's tenant, unless a workflow says otherwise.
pub const DEFAULT_TENANT_FIELD: &str = "tenantId";

/// A node as the pipeline runs it.
#[derive(Debug, Clone, Copy)]
pub struct NodeInvocation<'a> {
    /// The node's id in its workflow.
    pub node_id: &'a str,
    /// Its parameters, templates resolved.
    pub parameters: &'a Value,
    /// Credential slots it is bound to.
    pub credentials: &'a [CredentialRef],
    /// Its own timeout; blocking node types otherwise get the registry's.
    pub timeout: Option<Duration>,
}

impl<'a> NodeInvocation<'a> {
    /// A node with `parameters`, no credentials, no timeout of its own.
    pub fn new(node_id: &'a str, parameters: &'a Value) -> Self {
        Self {
            node_id,
            parameters,
            credentials: &[],
            timeout: None,
        }
    }
}

/// The execution state a node sees.
#[derive(Debug, Clone, Copy)]
pub struct ExecState<'a> {
    /// The node's input from its predecessors (`$input`).
    pub input: &'a Value,
    /// The execution's variables (`$vars`).
    pub variables: &'a Map<String, Value>,
    /// The trigger data, for nodes whose per-item expressions read `$json`.
    pub trigger: Option<&'a Value>,
    /// The execution's deadline, milliseconds since the Unix epoch.
    pub deadline_ms: Option<u64>,
}

impl<'a> ExecState<'a> {
    /// A state with `input` and `variables`, no trigger data, no deadline.
    pub fn new(input: &'a Value, variables: &'a Map<String, Value>) -> Self {
        Self {
            input,
            variables,
            trigger: None,
            deadline_ms: None,
        }
    }
}

/// One execution as the internal stages see it: what runs, for whom, under
/// which policy.
#[derive(Clone, Copy)]
struct Job<'a> {
    node_type: &'a str,
    node: &'a NodeInvocation<'a>,
    context: &'a ExecContext,
    state: &'a ExecState<'a>,
    policy: Option<&'a TenantPolicy>,
    tenant_field: &'a str,
}

/// A node's final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecStatus {
    /// Produced an output.
    Success,
    /// Failed (after any recovery).
    Error,
    /// Skipped by the `skip` strategy.
    Skipped,
}

impl ExecStatus {
    /// `success`, `error` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecStatus::Success => "success",
            ExecStatus::Error => "error",
            ExecStatus::Skipped => "skipped",
        }
    }
}

/// The outcome of [`Registry::execute`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeExecution {
    /// Final status.
    pub status: ExecStatus,
    /// The output (`{}` when skipped, `null` on error).
    pub output: Value,
    /// The output index the node chose, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_index: Option<u32>,
    /// Changes to the execution's variables.
    #[serde(skip_serializing_if = "VariablesPatch::is_empty")]
    pub variables: VariablesPatch,
    /// The final error, when the status is `error` (or the error a `skip`
    /// or successful recovery covered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<NodeFailure>,
    /// Retries made.
    pub retries: u32,
    /// Whether a recovery strategy produced the outcome.
    pub recovery_applied: bool,
    /// The fallback node type that produced the output, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_node_type: Option<String>,
    /// Wall time, including retries and recovery.
    #[serde(with = "duration_ms")]
    pub duration: Duration,
}

mod duration_ms {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

impl NodeExecution {
    fn from_attempt(result: Result<ExecResponse, NodeFailure>) -> Self {
        let mut execution = NodeExecution {
            status: ExecStatus::Success,
            output: Value::Null,
            output_index: None,
            variables: VariablesPatch::default(),
            error: None,
            retries: 0,
            recovery_applied: false,
            fallback_node_type: None,
            duration: Duration::ZERO,
        };
        match result {
            Ok(response) => {
                execution.output = response.output;
                execution.output_index = response.output_index;
                execution.variables = response.variables;
            }
            Err(failure) => {
                execution.status = ExecStatus::Error;
                execution.error = Some(failure);
            }
        }
        execution
    }

    /// The error code, when the node ended in error.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self.status {
            ExecStatus::Error => self.error.as_ref().map(|e| e.code),
            _ => None,
        }
    }
}

impl Registry {
    /// Runs `node_type` through the whole pipeline with the policy of the
    /// context's tenant.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use plugin_abi::manifest::NodeTypeManifest;
    /// use plugin_abi::request::ExecContext;
    /// use plugin_abi::sdk::{executor_box, Node, NodeError, NodeOutput, NodeRequest};
    /// use registry_core::*;
    /// use serde_json::{json, Map, Value};
    ///
    /// struct Double;
    /// impl Node for Double {
    ///     fn execute(&self, r: &NodeRequest) -> Result<NodeOutput, NodeError> {
    ///         let doubled = r.f64_param("n")? * 2.0;
    ///         Ok(NodeOutput::result(plugin_abi::sdk::value::number(doubled).unwrap_or_default()))
    ///     }
    /// }
    /// let registry = Registry::new();
    /// let mut manifest = NodeTypeManifest::new("demo.double", "1.0.0");
    /// manifest.parameter_schema = json!({"type": "object", "properties": {"n": {"type": "number"}}});
    /// registry.register_with_metadata(executor_box(Double), NodeMetadata::new(manifest, NodeSource::InProcess)).unwrap();
    ///
    /// let params = json!({"n": 21});
    /// let context = ExecContext { tenant_id: Some("acme".into()), ..Default::default() };
    /// let variables = Map::new();
    /// let state = ExecState::new(&Value::Null, &variables);
    /// let done = registry
    ///     .execute("demo.double", &NodeInvocation::new("n1", &params), &context, &state, &RecoveryStrategy::Fail)
    ///     .await;
    /// assert_eq!(done.status, ExecStatus::Success);
    /// assert_eq!(done.output, json!({"result": 42}));
    ///
    /// registry.set_tenant_policy(TenantPolicy { restricted_node_types: vec!["demo.*".into()], ..TenantPolicy::new("acme") });
    /// let refused = registry
    ///     .execute("demo.double", &NodeInvocation::new("n1", &params), &context, &state, &RecoveryStrategy::Fail)
    ///     .await;
    /// assert_eq!(refused.error_code(), Some(ErrorCode::NodeTypeDisabledForTenant));
    /// # });
    /// ```
    pub async fn execute(
        &self,
        node_type: &str,
        node: &NodeInvocation<'_>,
        context: &ExecContext,
        state: &ExecState<'_>,
        strategy: &RecoveryStrategy,
    ) -> NodeExecution {
        let policy = self.effective_policy(context.tenant_id.as_deref(), None);
        self.execute_with_policy(
            node_type,
            node,
            context,
            state,
            strategy,
            policy.as_deref(),
            DEFAULT_TENANT_FIELD,
        )
        .await
    }

    /// [`Self::execute`] with an explicit policy (for instance the tenant's
    /// policy tightened by a workflow, computed once with
    /// [`Self::effective_policy`]) and tenant field name.
    #[allow(clippy::too_many_arguments)]
    pub async fn execute_with_policy(
        &self,
        node_type: &str,
        node: &NodeInvocation<'_>,
        context: &ExecContext,
        state: &ExecState<'_>,
        strategy: &RecoveryStrategy,
        policy: Option<&TenantPolicy>,
        tenant_field: &str,
    ) -> NodeExecution {
        let job = Job {
            node_type,
            node,
            context,
            state,
            policy,
            tenant_field,
        };
        let span = node_span(job);
        async {
            let started = Instant::now();
            let mut secrets = Secrets::default();
            let first = self.attempt(job, &mut secrets).await;
            let mut execution = NodeExecution::from_attempt(first);
            let recovery = self
                .recover(&mut execution, strategy, job, &mut secrets)
                .await;
            self.conclude(job, execution, recovery, &secrets, started)
        }
        .instrument(span)
        .await
    }

    /// Runs the node synchronously when nothing in it can wait: a `pure`
    /// node type without a timeout of its own, under the `fail` or `skip`
    /// strategy. `None` means the node needs [`Self::execute_with_policy`]
    /// (nothing was executed then). Saves a future, a task and a wake-up per
    /// node on the executor's hot path.
    #[allow(clippy::too_many_arguments)]
    pub fn execute_inline(
        &self,
        node_type: &str,
        node: &NodeInvocation<'_>,
        context: &ExecContext,
        state: &ExecState<'_>,
        strategy: &RecoveryStrategy,
        policy: Option<&TenantPolicy>,
        tenant_field: &str,
    ) -> Option<NodeExecution> {
        if !matches!(strategy, RecoveryStrategy::Fail | RecoveryStrategy::Skip)
            || node.timeout.is_some()
        {
            return None;
        }
        let started = Instant::now();
        let mut secrets = Secrets::default();
        let job = Job {
            node_type,
            node,
            context,
            state,
            policy,
            tenant_field,
        };
        let _span = node_span(job).entered();
        let first = self.attempt_inline(job, &mut secrets)?;
        let mut execution = NodeExecution::from_attempt(first);
        let recovery =
            if execution.status == ExecStatus::Error && *strategy == RecoveryStrategy::Skip {
                skip(&mut execution);
                Some((true, started.elapsed()))
            } else {
                None
            };
        Some(self.conclude(job, execution, recovery, &secrets, started))
    }

    /// Masks secrets, then stages 8 and 9 (audit, metrics).
    fn conclude(
        &self,
        job: Job<'_>,
        mut execution: NodeExecution,
        recovery: Option<(bool, Duration)>,
        secrets: &Secrets,
        started: Instant,
    ) -> NodeExecution {
        // Secrets never leave the pipeline.
        secrets.mask_value(&mut execution.output);
        if let Some(error) = &mut execution.error {
            error.message = secrets.mask_str(&error.message);
            if let Some(details) = &mut error.details {
                secrets.mask_value(details);
            }
        }
        execution.duration = started.elapsed();

        self.audit_stage(job, &execution);
        let Job {
            node_type,
            node,
            context,
            ..
        } = job;
        self.metrics.observe(Observation {
            node_type,
            status: execution.status,
            error: execution.error_code(),
            duration: execution.duration,
            retries: execution.retries,
            recovery,
        });
        tracing::debug!(
            component = "registry",
            event = "node_executed",
            node_type,
            node_id = node.node_id,
            tenant_id = context.tenant_id.as_deref().unwrap_or(""),
            execution_id = %context.execution_id,
            duration_us = u64::try_from(execution.duration.as_micros()).unwrap_or(u64::MAX),
            status = execution.status.as_str(),
            error_code = execution.error_code().map(ErrorCode::as_str).unwrap_or(""),
        );
        execution
    }

    /// Stages 1 and 2: tenant check, lookup.
    fn admit(&self, job: Job<'_>) -> Result<RegisteredNode, NodeFailure> {
        if let Some(policy) = job.policy {
            policy.check(job.node_type)?;
        }
        let registered = self
            .get(job.node_type)
            .ok_or_else(|| NodeFailure::not_found(job.node_type))?;
        if let Some(policy) = job.policy {
            self.check_dependencies(policy, &registered)?;
        }
        Ok(registered)
    }

    /// A node type is only as allowed as everything it depends on: a
    /// tenant refused `x` is refused every node type depending on `x`,
    /// directly or through others.
    pub fn check_dependencies(
        &self,
        policy: &crate::tenant::TenantPolicy,
        registered: &RegisteredNode,
    ) -> Result<(), NodeFailure> {
        let root = registered.metadata().node_type();
        let mut pending: Vec<String> = registered
            .metadata()
            .manifest
            .dependencies
            .iter()
            .map(|d| d.node_type.clone())
            .collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(dependency) = pending.pop() {
            if !seen.insert(dependency.clone()) {
                continue;
            }
            if !policy.allows(&dependency) {
                return Err(NodeFailure::new(
                    ErrorCode::NodeTypeDisabledForTenant,
                    format!(
                        "node type `{root}` depends on `{dependency}`, which is not allowed for tenant `{}`; a node type is only allowed when everything it depends on is",
                        policy.tenant_id
                    ),
                ));
            }
            if let Some(next) = self.get(&dependency) {
                pending.extend(
                    next.metadata()
                        .manifest
                        .dependencies
                        .iter()
                        .map(|d| d.node_type.clone()),
                );
            }
        }
        Ok(())
    }

    /// Stages 3 and 4: validation, isolation rewrite, credentials.
    fn prepare_call<'a>(
        &self,
        job: Job<'a>,
        registered: &RegisteredNode,
        secrets: &mut Secrets,
    ) -> Result<Prepared<'a>, NodeFailure> {
        let Job {
            node,
            context,
            policy,
            tenant_field,
            ..
        } = job;
        self.validate_parameters(registered, node.node_id, node.parameters)?;
        let parameters = isolate(registered, node.parameters, context, policy, tenant_field)?;
        let (credentials, found) = self
            .credentials
            .resolve(context.tenant_id.as_deref(), node.credentials)?;
        *secrets = found;
        Ok((parameters, credentials))
    }

    /// Stages 1 to 6 for one attempt.
    async fn attempt(
        &self,
        job: Job<'_>,
        secrets: &mut Secrets,
    ) -> Result<ExecResponse, NodeFailure> {
        let registered = self.admit(job)?;
        let (parameters, credentials) = self.prepare_call(job, &registered, secrets)?;
        let Job {
            node,
            context,
            state,
            ..
        } = job;
        // 5. Execute.
        let call = NodeCall {
            node_id: node.node_id,
            parameters: &parameters,
            input: state.input,
            trigger: state.trigger,
            deadline_ms: state.deadline_ms,
            max_output_bytes: self.output_limit_to_send(),
            context,
            variables: state.variables,
        };
        let response = self
            .run(&registered, call, &credentials, node.timeout)
            .await?;
        // 6. Output check.
        self.check_output(&registered, &response, job)?;
        Ok(response)
    }

    /// Stages 1 to 6, synchronously; `None` when the node type must run on
    /// the blocking pool.
    fn attempt_inline(
        &self,
        job: Job<'_>,
        secrets: &mut Secrets,
    ) -> Option<Result<ExecResponse, NodeFailure>> {
        let Job {
            node_type,
            node,
            context,
            state,
            ..
        } = job;
        let registered = match self.admit(job) {
            Ok(registered) => registered,
            Err(failure) => return Some(Err(failure)),
        };
        // Decided before validation and credentials, so a blocking node
        // handed to the async path is not prepared twice.
        if registered.metadata().manifest.execution != ExecutionClass::Pure {
            return None;
        }
        let (parameters, credentials) = match self.prepare_call(job, &registered, secrets) {
            Ok(prepared) => prepared,
            Err(failure) => return Some(Err(failure)),
        };
        let call = NodeCall {
            node_id: node.node_id,
            parameters: &parameters,
            input: state.input,
            trigger: state.trigger,
            deadline_ms: state.deadline_ms,
            max_output_bytes: self.output_limit_to_send(),
            context,
            variables: state.variables,
        };
        Some((|| {
            let answer = with_request_text(
                node_type,
                call,
                &credentials,
                &registered.config(),
                |text| registered.executor().execute(text.into()),
            )?;
            let response = parse_response(node_type, answer, self.config.max_output_bytes)?;
            self.check_output(&registered, &response, job)?;
            Ok(response)
        })())
    }

    /// Stage 5: the call, inline for `pure` node types, on the blocking
    /// pool with a timeout for `blocking` ones (and for any node with a
    /// timeout of its own, so the timeout can be honoured).
    async fn run(
        &self,
        node: &RegisteredNode,
        call: NodeCall<'_>,
        credentials: &Map<String, Value>,
        timeout: Option<Duration>,
    ) -> Result<ExecResponse, NodeFailure> {
        let node_type = node.metadata().node_type();
        let limit = self.config.max_output_bytes;
        let class = node.metadata().manifest.execution;
        if class == ExecutionClass::Pure && timeout.is_none() {
            let answer = with_request_text(node_type, call, credentials, &node.config(), |text| {
                node.executor().execute(text.into())
            })?;
            return parse_response(node_type, answer, limit);
        }
        let text = request_text(node_type, call, credentials, &node.config())?;
        let timeout = timeout.unwrap_or(self.config.default_timeout);
        let executor = Arc::clone(node.executor());
        let task = tokio::task::spawn_blocking(move || executor.execute(text.as_str().into()));
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(answer)) => parse_response(node_type, answer, limit),
            Ok(Err(join)) => Err(NodeFailure::new(
                ErrorCode::ExecutionError,
                format!("executor of `{node_type}` did not complete: {join}"),
            )),
            Err(_) => Err(NodeFailure::new(
                ErrorCode::ExecutionTimeout,
                format!(
                    "`{node_type}` did not finish within {} ms and was abandoned; raise the node's `timeout` if it legitimately needs longer",
                    timeout.as_millis()
                ),
            )
            .retryable(true)),
        }
    }

    /// Stage 6: in strict isolation, a tenant-scoped node's output must hold
    /// only the tenant's records; otherwise it is withheld.
    fn check_output(
        &self,
        node: &RegisteredNode,
        response: &ExecResponse,
        job: Job<'_>,
    ) -> Result<(), NodeFailure> {
        let Job {
            context,
            policy,
            tenant_field,
            ..
        } = job;
        let (Some(policy), Some(tenant)) = (policy, context.tenant_id.as_deref()) else {
            return Ok(());
        };
        if !node.metadata().manifest.tenant_scoped || policy.data_isolation != DataIsolation::Strict
        {
            return Ok(());
        }
        match foreign_record(&response.output, tenant, tenant_field) {
            None => Ok(()),
            Some(path) => {
                self.metrics.tenant_violation();
                tracing::error!(
                    component = "registry",
                    event = "tenant_violation",
                    node_type = node.metadata().node_type(),
                    tenant_id = tenant,
                    path = %path,
                    "output withheld: it holds a record of another tenant"
                );
                Err(NodeFailure::new(
                    ErrorCode::ExecutionError,
                    format!(
                        "output of `{}` was withheld: the record at `{path}` does not belong to tenant `{tenant}` (a tenant-isolation violation, reported to the operators)",
                        node.metadata().node_type()
                    ),
                ))
            }
        }
    }

    /// Stage 7: applies the recovery strategy to a failed execution. Returns
    /// whether recovery ran and whether it succeeded, with its duration.
    async fn recover(
        &self,
        execution: &mut NodeExecution,
        strategy: &RecoveryStrategy,
        job: Job<'_>,
        secrets: &mut Secrets,
    ) -> Option<(bool, Duration)> {
        if execution.status != ExecStatus::Error {
            return None;
        }
        let started = Instant::now();
        match strategy {
            RecoveryStrategy::Fail => return None,
            RecoveryStrategy::Skip => skip(execution),
            RecoveryStrategy::Retry {
                max_retries,
                backoff,
                any_execution_error,
                retry_codes,
            } => {
                while execution.retries < *max_retries
                    && execution
                        .error
                        .as_ref()
                        .is_some_and(|e| should_retry(e, *any_execution_error, retry_codes))
                {
                    execution.retries += 1;
                    tokio::time::sleep(backoff.delay(execution.retries)).await;
                    let result = self.attempt(job, secrets).await;
                    let retries = execution.retries;
                    *execution = NodeExecution::from_attempt(result);
                    execution.retries = retries;
                }
                execution.recovery_applied =
                    execution.retries > 0 && execution.status == ExecStatus::Success;
                if execution.retries == 0 {
                    return None;
                }
            }
            RecoveryStrategy::Fallback { fallback_node_type } => {
                let fallback = Job {
                    node_type: fallback_node_type,
                    ..job
                };
                let result = self.attempt(fallback, secrets).await;
                match result {
                    Ok(response) => {
                        let mut recovered = NodeExecution::from_attempt(Ok(response));
                        recovered.recovery_applied = true;
                        recovered.fallback_node_type = Some(fallback_node_type.clone());
                        recovered.error = execution.error.take();
                        *execution = recovered;
                    }
                    Err(failure) => {
                        let original = execution.error.take();
                        execution.error = Some(NodeFailure {
                            message: format!(
                                "{}; fallback `{fallback_node_type}` also failed: {}",
                                original.as_ref().map(|e| e.message.as_str()).unwrap_or(""),
                                failure.message
                            ),
                            ..original.unwrap_or(failure)
                        });
                    }
                }
            }
        }
        Some((execution.status != ExecStatus::Error, started.elapsed()))
    }

    /// The output limit plugins are told, when it is not the one they
    /// assume.
    fn output_limit_to_send(&self) -> Option<u64> {
        let limit = self.config.max_output_bytes;
        (limit != plugin_abi::sdk::DEFAULT_OUTPUT_LIMIT)
            .then(|| u64::try_from(limit).unwrap_or(u64::MAX))
    }

    /// Stage 8: one audit record when the tenant's policy asks for it.
    fn audit_stage(&self, job: Job<'_>, execution: &NodeExecution) {
        let Job {
            node_type,
            node,
            context,
            policy,
            ..
        } = job;
        if !policy.is_some_and(|p| p.audit_logging) {
            return;
        }
        let log = self
            .audit
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(log) = log else {
            tracing::warn!(
                component = "registry",
                event = "audit_unconfigured",
                node_type,
                "tenant policy asks for audit logging but no audit log is configured"
            );
            return;
        };
        let record = AuditRecord {
            seq: 0,
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            tenant_id: context.tenant_id.clone(),
            execution_id: context.execution_id.clone(),
            node_id: node.node_id.to_owned(),
            node_type: node_type.to_owned(),
            status: execution.status.as_str().to_owned(),
            duration_ms: execution.duration.as_secs_f64() * 1000.0,
            error_code: execution.error_code().map(|c| c.as_str().to_owned()),
            retries: execution.retries,
            recovery_applied: execution.recovery_applied,
            prev_hash: String::new(),
            fenced: None,
        };
        if let Err(e) = log.append(record) {
            tracing::error!(
                component = "registry",
                event = "audit_write_failed",
                node_type,
                "{e}"
            );
        }
    }
}

/// What stages 3 and 4 hand to the call: the (possibly rewritten)
/// parameters and the resolved credentials.
type Prepared<'p> = (Cow<'p, Value>, Map<String, Value>);

/// The span around one node execution, with the structured-log fields.
fn node_span(job: Job<'_>) -> tracing::Span {
    tracing::debug_span!(
        "node",
        component = "registry",
        node_type = job.node_type,
        node_id = job.node.node_id,
        tenant_id = job.context.tenant_id.as_deref().unwrap_or(""),
        execution_id = %job.context.execution_id,
    )
}

/// The `skip` strategy: status skipped, empty output.
fn skip(execution: &mut NodeExecution) {
    execution.status = ExecStatus::Skipped;
    execution.output = Value::Object(Map::new());
    execution.recovery_applied = true;
}

/// Stage 4: the data-isolation rewrite for tenant-scoped node types under
/// strict isolation.
fn isolate<'p>(
    node: &RegisteredNode,
    parameters: &'p Value,
    context: &ExecContext,
    policy: Option<&TenantPolicy>,
    tenant_field: &str,
) -> Result<Cow<'p, Value>, NodeFailure> {
    if !node.metadata().manifest.tenant_scoped {
        return Ok(Cow::Borrowed(parameters));
    }
    let Some(tenant) = context.tenant_id.as_deref() else {
        return Err(NodeFailure::new(
            ErrorCode::InvalidParameters,
            format!(
                "`{}` reads or writes tenant data and needs a tenant in the execution context; run it with a tenant id (for the CLI: --tenant)",
                node.metadata().node_type()
            ),
        ));
    };
    if policy.is_some_and(|p| p.data_isolation != DataIsolation::Strict) {
        return Ok(Cow::Borrowed(parameters));
    }
    Ok(match scope_parameters(parameters, tenant, tenant_field)? {
        Some(scoped) => Cow::Owned(scoped),
        None => Cow::Borrowed(parameters),
    })
}
