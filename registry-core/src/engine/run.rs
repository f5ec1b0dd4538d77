//! The scheduler: joins, branches, dead-path elimination, bounded
//! concurrency, `onError`, parallel nodes, the execution timeout and
//! cancellation.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{FuturesUnordered, StreamExt};
use plugin_abi::request::ExecContext;
use serde_json::{Map, Value};

use super::compile::CompiledWorkflow;
use super::progress::{NodeProgress, Progress};
use super::result::{ExecutionResult, NodeResult, NodeStatus, RunMetrics, RunStatus};
use crate::error::{ErrorCode, NodeFailure};
use crate::expr::{Scope, StepSource, StepView};
use crate::pipeline::{ExecState, ExecStatus, NodeExecution};
use crate::registry::Registry;
use crate::tenant::TenantPolicy;
use crate::workflow::graph::{Port, Problem};
use crate::workflow::model::OnError;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Environment variables `$env` may read; every other name is
    /// undefined, so no secret leaks through a template.
    pub env_allowlist: Vec<String>,
    /// Nodes running at once when a workflow does not say
    /// (`settings.maxConcurrency`).
    pub default_max_concurrency: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            env_allowlist: Vec::new(),
            default_max_concurrency: std::thread::available_parallelism()
                .map_or(4, |n| n.get() * 4),
        }
    }
}

/// Cancels a running execution from anywhere.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    sender: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for CancelHandle {
    fn default() -> Self {
        Self {
            sender: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }
}

impl CancelHandle {
    /// A handle not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation: running nodes are abandoned, every node's
    /// final status is recorded, the result's status is `cancelled`.
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }

    async fn cancelled(&self) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

/// One execution's inputs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The trigger data: `$json` of start nodes, and `$trigger`.
    pub trigger: Value,
    /// Tenant, user, execution id.
    pub context: ExecContext,
    /// A handle to cancel the execution.
    pub cancel: Option<CancelHandle>,
    /// Overrides `settings.executionTimeout`.
    pub timeout: Option<Duration>,
    /// Told as each node reaches its final status.
    pub progress: Option<Progress>,
}

/// A workflow that cannot run, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workflow cannot run: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidWorkflow {
    /// Every problem, in node order.
    pub problems: Vec<Problem>,
}

/// Runs compiled workflows against a registry.
#[derive(Clone)]
pub struct Engine {
    registry: Arc<Registry>,
    env: Arc<Map<String, Value>>,
    options: EngineOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
}

enum Outcome {
    Single(NodeExecution),
    Parallel(NodeExecution, Vec<(usize, NodeExecution)>),
}

struct Finished {
    index: usize,
    started: SystemTime,
    outcome: Outcome,
}

type NodeFuture<'a> = Pin<Box<dyn Future<Output = Finished> + Send + 'a>>;

/// How a finished node's outgoing edges resolve.
#[derive(Debug, Clone, Copy)]
enum Flow {
    /// Main edges of this output index (all when `None`) are taken.
    Main(Option<u32>),
    /// Only the error edges are taken.
    ErrorPort,
    /// No edge is taken.
    Dead,
}

struct Step {
    output: Arc<Value>,
    status: &'static str,
    error: Option<(String, String)>,
}

struct Run<'c> {
    compiled: &'c CompiledWorkflow,
    state: Vec<State>,
    remaining: Vec<usize>,
    inputs: Vec<Vec<usize>>,
    steps: Vec<Option<Step>>,
    results: Vec<NodeResult>,
    ready: VecDeque<usize>,
    vars: Arc<Map<String, Value>>,
    stopped: Option<String>,
    progress: Option<Progress>,
    done: usize,
}

impl StepSource for Run<'_> {
    fn step(&self, id: &str) -> Option<StepView<'_>> {
        let i = *self.compiled.graph.by_id.get(id)?;
        self.view(i)
    }

    fn step_by_name(&self, name: &str) -> Option<StepView<'_>> {
        let i = *self.compiled.graph.by_name.get(name)?;
        self.view(i)
    }

    fn all_steps(&self) -> Vec<(&str, &str, StepView<'_>)> {
        (0..self.steps.len())
            .filter_map(|i| {
                let node = &self.compiled.workflow.nodes[i];
                self.view(i)
                    .map(|v| (node.id.as_str(), node.name.as_str(), v))
            })
            .collect()
    }
}

impl<'c> Run<'c> {
    fn view(&self, i: usize) -> Option<StepView<'_>> {
        self.steps[i].as_ref().map(|s| StepView {
            output: &s.output,
            status: s.status,
            error: s.error.as_ref().map(|(m, c)| (m.as_str(), c.as_str())),
        })
    }

    fn input_of(&self, i: usize, trigger: &Arc<Value>) -> Arc<Value> {
        if let Some(parent) = self.compiled.graph.task_of[i] {
            return self.input_of(parent, trigger);
        }
        match self.inputs[i].as_slice() {
            [] => trigger.clone(),
            [one] => self.steps[*one]
                .as_ref()
                .map_or_else(|| Arc::new(Value::Null), |s| s.output.clone()),
            many => {
                let mut object = Map::with_capacity(many.len());
                for &from in many {
                    let output = self.steps[from]
                        .as_ref()
                        .map_or(Value::Null, |s| (*s.output).clone());
                    object.insert(self.compiled.graph.ids[from].clone(), output);
                }
                Arc::new(Value::Object(object))
            }
        }
    }

    /// Resolves node `i`'s outgoing edges per `flow`, queueing successors
    /// whose inputs have all resolved and skipping those left with no live
    /// input (iteratively: long dead chains do not recurse).
    fn resolve(&mut self, i: usize, flow: Flow) {
        let graph = &self.compiled.graph;
        let mut work: Vec<(usize, Flow)> = Vec::new();
        let mut next = Some((i, flow));
        while let Some((from, flow)) = next.take().or_else(|| work.pop()) {
            for &e in &graph.outgoing[from] {
                let edge = graph.edges[e];
                let taken = match (flow, edge.port) {
                    (Flow::Main(None), Port::Main) => true,
                    (Flow::Main(Some(index)), Port::Main) => edge.output == index as usize,
                    (Flow::ErrorPort, Port::Error) => true,
                    _ => false,
                };
                let to = edge.to;
                if self.state[to] != State::Waiting || self.remaining[to] == 0 {
                    continue;
                }
                self.remaining[to] -= 1;
                if taken {
                    self.inputs[to].push(from);
                }
                if self.remaining[to] == 0 {
                    if self.inputs[to].is_empty() {
                        self.skip(to, "not on a branch that was taken");
                        work.push((to, Flow::Dead));
                    } else {
                        self.ready.push_back(to);
                    }
                }
            }
        }
    }

    /// Counts node `i` as final and tells the progress observer.
    fn finished(&mut self, i: usize) {
        self.done += 1;
        if let Some(progress) = &self.progress {
            progress.0.node_finished(NodeProgress {
                node_id: &self.compiled.graph.ids[i],
                status: self.results[i].status,
                done: self.done,
                total: self.results.len(),
            });
        }
    }

    fn skip(&mut self, i: usize, reason: &str) {
        self.state[i] = State::Done;
        self.results[i].status = NodeStatus::Skipped;
        self.results[i].reason = Some(reason.to_owned());
        self.finished(i);
        self.steps[i] = Some(Step {
            output: Arc::new(Value::Null),
            status: "skipped",
            error: None,
        });
        for t in self.compiled.graph.tasks[i].clone() {
            self.skip(t, reason);
        }
    }

    /// Records a finished node and returns how its edges resolve.
    fn record(&mut self, i: usize, started: SystemTime, execution: NodeExecution) -> Flow {
        let flow = self.record_result(i, started, execution);
        self.finished(i);
        flow
    }

    fn record_result(&mut self, i: usize, started: SystemTime, execution: NodeExecution) -> Flow {
        let finished = SystemTime::now();
        self.state[i] = State::Done;
        let r = &mut self.results[i];
        r.started_at = Some(started);
        r.finished_at = Some(finished);
        r.duration_ms = execution.duration.as_secs_f64() * 1000.0;
        r.retries = execution.retries;
        r.recovery_applied = execution.recovery_applied;
        r.fallback_node_type = execution.fallback_node_type;
        if !execution.variables.is_empty() {
            let vars = Arc::make_mut(&mut self.vars);
            let patch = execution.variables;
            if patch.clear {
                vars.clear();
            }
            for name in &patch.delete {
                vars.remove(name);
            }
            vars.extend(patch.set);
        }
        match execution.status {
            ExecStatus::Success | ExecStatus::Skipped => {
                let skipped = execution.status == ExecStatus::Skipped;
                r.status = if skipped {
                    NodeStatus::Skipped
                } else {
                    NodeStatus::Success
                };
                if let Some(e) = &execution.error {
                    // Recovered: keep what was recovered from, for the record.
                    r.error = Some(e.message.clone());
                    r.error_code = Some(e.code);
                }
                self.steps[i] = Some(Step {
                    output: Arc::new(execution.output),
                    status: if skipped { "skipped" } else { "success" },
                    error: None,
                });
                Flow::Main(execution.output_index)
            }
            ExecStatus::Error => {
                let failure = execution.error.unwrap_or_else(|| {
                    NodeFailure::new(ErrorCode::ExecutionError, "failed without an error")
                });
                r.status = NodeStatus::Error;
                r.error = Some(failure.message.clone());
                r.error_code = Some(failure.code);
                r.validation_errors = failure.validation_errors.clone();
                let error_output = serde_json::json!({"error": {"message": failure.message, "code": failure.code}});
                self.steps[i] = Some(Step {
                    output: Arc::new(error_output),
                    status: "error",
                    error: Some((failure.message.clone(), failure.code.as_str().to_owned())),
                });
                match self.compiled.on_error[i] {
                    OnError::ContinueRegularOutput => Flow::Main(None),
                    OnError::ContinueErrorOutput => Flow::ErrorPort,
                    OnError::StopWorkflow | OnError::Retry | OnError::SkipNode => {
                        self.stopped = Some(format!(
                            "node `{}` failed ({}): {}",
                            self.compiled.graph.ids[i], failure.code, failure.message
                        ));
                        Flow::Dead
                    }
                }
            }
        }
    }
}

fn failed(failure: NodeFailure) -> NodeExecution {
    NodeExecution {
        status: ExecStatus::Error,
        output: Value::Null,
        output_index: None,
        variables: Default::default(),
        error: Some(failure),
        retries: 0,
        recovery_applied: false,
        fallback_node_type: None,
        duration: Duration::ZERO,
    }
}

impl Engine {
    /// An engine running node types from `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self::with_options(registry, EngineOptions::default())
    }

    /// An engine with `options`. Allow-listed environment variables are
    /// read once, here.
    pub fn with_options(registry: Arc<Registry>, options: EngineOptions) -> Self {
        let env = options
            .env_allowlist
            .iter()
            .filter_map(|name| {
                std::env::var(name)
                    .ok()
                    .map(|v| (name.clone(), Value::String(v)))
            })
            .collect();
        Self {
            registry,
            env: Arc::new(env),
            options,
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    fn policy(
        &self,
        compiled: &CompiledWorkflow,
        context: &ExecContext,
    ) -> Option<Arc<TenantPolicy>> {
        self.registry.effective_policy(
            context.tenant_id.as_deref(),
            compiled.workflow_policy.as_ref(),
        )
    }

    /// Every problem that stops `compiled` from running for `context`'s
    /// tenant: structure, templates, node types, parameters.
    pub fn validate(&self, compiled: &CompiledWorkflow, context: &ExecContext) -> Vec<Problem> {
        compiled.problems(&self.registry, self.policy(compiled, context).as_deref())
    }

    /// Validates, then runs the workflow. Nothing runs when validation
    /// finds a problem.
    pub async fn run(
        &self,
        compiled: &CompiledWorkflow,
        options: RunOptions,
    ) -> Result<ExecutionResult, InvalidWorkflow> {
        let policy = self.policy(compiled, &options.context);
        // A workflow that validated cleanly against this registry state for
        // this tenant needs no second validation.
        let key = (
            Arc::as_ptr(&self.registry) as usize,
            self.registry.generation(),
            options.context.tenant_id.clone(),
        );
        let validated = compiled
            .validated_for
            .lock()
            .map(|v| v.as_ref() == Some(&key))
            .unwrap_or(false);
        if !validated {
            let problems = compiled.problems(&self.registry, policy.as_deref());
            if !problems.is_empty() {
                return Err(InvalidWorkflow { problems });
            }
            if let Ok(mut slot) = compiled.validated_for.lock() {
                *slot = Some(key);
            }
        }
        Ok(self.execute(compiled, options, policy.as_deref()).await)
    }

    async fn execute(
        &self,
        compiled: &CompiledWorkflow,
        options: RunOptions,
        policy: Option<&TenantPolicy>,
    ) -> ExecutionResult {
        let started = Instant::now();
        let graph = &compiled.graph;
        let n = graph.ids.len();
        let context = &options.context;
        let context_value = serde_json::to_value(context).unwrap_or(Value::Null);
        let trigger = Arc::new(options.trigger.clone());
        let mut run = Run {
            compiled,
            state: vec![State::Waiting; n],
            remaining: graph.incoming.iter().map(Vec::len).collect(),
            inputs: vec![Vec::new(); n],
            steps: (0..n).map(|_| None).collect(),
            results: vec![NodeResult::pending(); n],
            ready: VecDeque::new(),
            vars: Arc::new(compiled.variables.clone()),
            stopped: None,
            progress: options.progress.clone(),
            done: 0,
        };
        let mut is_start = vec![false; n];
        for &s in &graph.start {
            is_start[s] = true;
            run.ready.push_back(s);
        }
        for (i, started_here) in is_start.iter().enumerate() {
            if graph.incoming[i].is_empty() && !started_here && graph.task_of[i].is_none() {
                run.skip(
                    i,
                    "not a start node: the workflow's triggers start elsewhere",
                );
                run.resolve(i, Flow::Dead);
            }
        }
        let max = compiled
            .workflow
            .settings
            .max_concurrency
            .unwrap_or(self.options.default_max_concurrency)
            .max(1);
        let timeout = options.timeout.or_else(|| {
            compiled
                .workflow
                .settings
                .execution_timeout
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
        });
        // A timeout too far away to represent is no deadline.
        let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
        tracing::info!(component = "engine", event = "execution_started", workflow = %compiled.workflow.id, execution_id = %context.execution_id, nodes = n);

        let mut in_flight: FuturesUnordered<NodeFuture<'_>> = FuturesUnordered::new();
        let mut ended: Option<(RunStatus, String, ErrorCode)> = None;
        loop {
            while in_flight.len() < max && run.stopped.is_none() {
                let Some(i) = run.ready.pop_front() else {
                    break;
                };
                if run.state[i] != State::Waiting {
                    continue;
                }
                if let Some(future) =
                    self.prepare(&mut run, i, &trigger, &context_value, context, policy)
                {
                    run.state[i] = State::Running;
                    in_flight.push(future);
                }
            }
            if run.stopped.is_some() || ended.is_some() {
                break;
            }
            if in_flight.is_empty() {
                if run.ready.is_empty() {
                    break;
                }
                continue;
            }
            let cancel = async {
                match &options.cancel {
                    Some(handle) => handle.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            let expiry = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                finished = in_flight.next() => {
                    if let Some(f) = finished {
                        self.finish(&mut run, f);
                    }
                }
                () = cancel => {
                    ended = Some((RunStatus::Cancelled, "execution was cancelled".to_owned(), ErrorCode::ExecutionError));
                    break;
                }
                () = expiry => {
                    let secs = timeout.map_or(0.0, |t| t.as_secs_f64());
                    ended = Some((RunStatus::Cancelled, format!("execution timed out after {secs} s (settings.executionTimeout)"), ErrorCode::ExecutionTimeout));
                    break;
                }
            }
        }
        drop(in_flight);

        let (status, error) = match (ended, run.stopped.take()) {
            (Some((status, reason, code)), _) => {
                self.cancel_running(&mut run, &reason, code);
                (status, Some(reason))
            }
            (None, Some(reason)) => {
                self.cancel_running(
                    &mut run,
                    &format!("stopped because {reason}"),
                    ErrorCode::ExecutionError,
                );
                (RunStatus::Error, Some(reason))
            }
            (None, None) => (RunStatus::Success, None),
        };
        let mut metrics = RunMetrics {
            total_ms: started.elapsed().as_secs_f64() * 1000.0,
            ..RunMetrics::default()
        };
        let mut nodes = std::collections::BTreeMap::new();
        for (i, (mut result, step)) in run.results.into_iter().zip(run.steps).enumerate() {
            if let Some(step) = step {
                if result.status != NodeStatus::Skipped || !step.output.is_null() {
                    result.output =
                        Arc::try_unwrap(step.output).unwrap_or_else(|shared| (*shared).clone());
                }
            }
            match result.status {
                NodeStatus::Success => metrics.nodes_succeeded += 1,
                NodeStatus::Error => metrics.nodes_failed += 1,
                NodeStatus::Skipped => metrics.nodes_skipped += 1,
                NodeStatus::Pending => metrics.nodes_pending += 1,
                NodeStatus::Cancelled => metrics.nodes_cancelled += 1,
            }
            metrics.retries += result.retries;
            metrics.node_ms += result.duration_ms;
            nodes.insert(graph.ids[i].clone(), result);
        }
        metrics.nodes_run = metrics.nodes_succeeded + metrics.nodes_failed;
        tracing::info!(component = "engine", event = "execution_finished", workflow = %compiled.workflow.id, execution_id = %context.execution_id, status = ?status, duration_ms = metrics.total_ms);
        ExecutionResult {
            execution_id: context.execution_id.clone(),
            workflow_id: compiled.workflow.id.clone(),
            status,
            error,
            nodes,
            metrics,
        }
    }

    fn cancel_running(&self, run: &mut Run<'_>, reason: &str, code: ErrorCode) {
        for i in 0..run.state.len() {
            if run.state[i] == State::Running {
                run.state[i] = State::Done;
                let r = &mut run.results[i];
                r.status = NodeStatus::Cancelled;
                r.error = Some(reason.to_owned());
                r.error_code = Some(code);
                for &t in &run.compiled.graph.tasks[i] {
                    if run.results[t].status == NodeStatus::Pending {
                        run.results[t].status = NodeStatus::Cancelled;
                        run.results[t].error = Some(reason.to_owned());
                        run.results[t].error_code = Some(code);
                    }
                }
            }
        }
        for r in &mut run.results {
            if r.status == NodeStatus::Pending && r.reason.is_none() {
                r.reason = Some("not run: the execution ended before reaching it".to_owned());
            }
        }
    }

    /// Renders the node's parameters and builds its future; disabled nodes
    /// and template failures complete at once (and return `None`).
    fn prepare<'a>(
        &'a self,
        run: &mut Run<'a>,
        i: usize,
        trigger: &Arc<Value>,
        context_value: &Value,
        context: &'a ExecContext,
        policy: Option<&'a TenantPolicy>,
    ) -> Option<NodeFuture<'a>> {
        let compiled = run.compiled;
        let node = &compiled.workflow.nodes[i];
        let input = run.input_of(i, trigger);
        if node.disabled {
            run.state[i] = State::Done;
            run.results[i].status = NodeStatus::Skipped;
            run.results[i].reason = Some("disabled: its input passes through".to_owned());
            run.steps[i] = Some(Step {
                output: input,
                status: "skipped",
                error: None,
            });
            run.finished(i);
            run.resolve(i, Flow::Main(None));
            return None;
        }
        let started = SystemTime::now();
        if node.is_parallel() {
            let tasks = compiled.graph.tasks[i].clone();
            let mut futures = Vec::with_capacity(tasks.len());
            for t in tasks {
                futures.push(self.node_future(
                    run,
                    t,
                    input.clone(),
                    trigger,
                    context_value,
                    context,
                    policy,
                ));
            }
            return Some(Box::pin(async move {
                let outcomes = futures_util::future::join_all(futures).await;
                let mut output = Map::new();
                let mut first_error = None;
                for (t, execution) in &outcomes {
                    output.insert(compiled.graph.ids[*t].clone(), execution.output.clone());
                    if execution.status == ExecStatus::Error && first_error.is_none() {
                        first_error = execution.error.clone().map(|e| NodeFailure {
                            message: format!(
                                "task `{}` failed: {}",
                                compiled.graph.ids[*t], e.message
                            ),
                            ..e
                        });
                    }
                }
                let mut execution = match first_error {
                    Some(failure) => failed(failure),
                    None => NodeExecution {
                        status: ExecStatus::Success,
                        output: Value::Object(output),
                        error: None,
                        ..failed(NodeFailure::new(ErrorCode::ExecutionError, "unused"))
                    },
                };
                execution.duration = started.elapsed().unwrap_or_default();
                Finished {
                    index: i,
                    started,
                    outcome: Outcome::Parallel(execution, outcomes),
                }
            }));
        }
        let rendered = self.render(run, i, &input, trigger, context_value);
        let parameters = match rendered {
            Ok(parameters) => parameters,
            Err(failure) => {
                self.complete(run, i, started, failed(failure));
                return None;
            }
        };
        // Pure nodes run here and now: no future, no task, no wake-up.
        let invocation = compiled.invocation(i, &parameters);
        let state = ExecState {
            input: &input,
            variables: &run.vars,
        };
        let inline = self.registry.execute_inline(
            node.executor_key(),
            &invocation,
            context,
            &state,
            &compiled.strategies[i],
            policy,
            &compiled.tenant_field,
        );
        if let Some(execution) = inline {
            self.complete(run, i, started, execution);
            return None;
        }
        let future = self.pipeline_future(
            compiled,
            i,
            Ok(parameters),
            input,
            run.vars.clone(),
            context,
            policy,
        );
        Some(Box::pin(async move {
            let (_, execution) = future.await;
            Finished {
                index: i,
                started,
                outcome: Outcome::Single(execution),
            }
        }))
    }

    /// Resolves node `i`'s parameter templates over the current state.
    fn render(
        &self,
        run: &Run<'_>,
        i: usize,
        input: &Value,
        trigger: &Value,
        context_value: &Value,
    ) -> Result<Value, NodeFailure> {
        let compiled = run.compiled;
        match &compiled.params[i] {
            Ok(template) => {
                let scope = Scope {
                    json: input,
                    steps: run,
                    context: context_value,
                    workflow: &compiled.workflow_value,
                    vars: &run.vars,
                    trigger,
                    env: &self.env,
                    item: None,
                    index: None,
                };
                template.render(&scope).map_err(|e| {
                    NodeFailure::new(
                        ErrorCode::ValidationFailed,
                        format!(
                            "expression `{{{{ {} }}}}` at `/parameters{}` failed: {}",
                            e.expression, e.path, e.message
                        ),
                    )
                })
            }
            Err(e) => Err(NodeFailure::new(
                ErrorCode::ValidationFailed,
                format!("expression `{}` is invalid: {}", e.expression, e.message),
            )),
        }
    }

    /// The future running node `i` through the registry pipeline, with its
    /// parameters rendered now.
    #[allow(clippy::too_many_arguments)]
    fn node_future<'a>(
        &'a self,
        run: &Run<'a>,
        i: usize,
        input: Arc<Value>,
        trigger: &Value,
        context_value: &Value,
        context: &'a ExecContext,
        policy: Option<&'a TenantPolicy>,
    ) -> Pin<Box<dyn Future<Output = (usize, NodeExecution)> + Send + 'a>> {
        let rendered = self.render(run, i, &input, trigger, context_value);
        self.pipeline_future(
            run.compiled,
            i,
            rendered,
            input,
            run.vars.clone(),
            context,
            policy,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn pipeline_future<'a>(
        &'a self,
        compiled: &'a CompiledWorkflow,
        i: usize,
        rendered: Result<Value, NodeFailure>,
        input: Arc<Value>,
        vars: Arc<Map<String, Value>>,
        context: &'a ExecContext,
        policy: Option<&'a TenantPolicy>,
    ) -> Pin<Box<dyn Future<Output = (usize, NodeExecution)> + Send + 'a>> {
        let node = &compiled.workflow.nodes[i];
        let registry = &*self.registry;
        Box::pin(async move {
            let parameters = match rendered {
                Ok(p) => p,
                Err(failure) => return (i, failed(failure)),
            };
            let invocation = compiled.invocation(i, &parameters);
            let state = ExecState {
                input: &input,
                variables: &vars,
            };
            let execution = registry
                .execute_with_policy(
                    node.executor_key(),
                    &invocation,
                    context,
                    &state,
                    &compiled.strategies[i],
                    policy,
                    &compiled.tenant_field,
                )
                .await;
            (i, execution)
        })
    }

    /// Records a finished node and resolves its edges (unless it stopped
    /// the workflow: then its successors stay pending).
    fn complete(&self, run: &mut Run<'_>, i: usize, started: SystemTime, execution: NodeExecution) {
        let flow = run.record(i, started, execution);
        if run.stopped.is_none() {
            run.resolve(i, flow);
        }
    }

    fn finish(&self, run: &mut Run<'_>, finished: Finished) {
        let Finished {
            index,
            started,
            outcome,
        } = finished;
        let execution = match outcome {
            Outcome::Single(execution) => execution,
            Outcome::Parallel(execution, tasks) => {
                for (t, task) in tasks {
                    let flow = run.record(t, started, task);
                    // A task's own failure is reported through its parallel
                    // node; the task itself does not stop the workflow.
                    if run.stopped.take().is_some() {
                        run.resolve(t, Flow::Dead);
                    } else {
                        run.resolve(t, flow);
                    }
                }
                execution
            }
        };
        self.complete(run, index, started, execution);
    }
}
