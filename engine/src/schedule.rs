//! The scheduler: runs a compiled workflow's nodes as their inputs
//! resolve, bounded concurrency, `onError`, parallel nodes, the error
//! logger, the execution deadline and cancellation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value};

use crate::compile::CompiledWorkflow;
use crate::execution::{Execution, Host};
use crate::options::RunOptions;
use crate::result::{ExecutionResult, RunStatus, RunWarning};
use crate::state::{cancel_running, Flow, RunState, State};
use registry_core::TenantPolicy;
use registry_core::{ErrorCode, NodeFailure};
use registry_core::{NodeExecution, NodeStatus};

/// What one finished node future hands back.
struct Finished {
    index: usize,
    started: SystemTime,
    input: Arc<Value>,
    outcome: Outcome,
}

enum Outcome {
    Single(Box<NodeExecution>, Vec<RunWarning>),
    Parallel(Vec<(usize, NodeExecution, Vec<RunWarning>)>),
}

type NodeFuture<'a> = Pin<Box<dyn Future<Output = Finished> + Send + 'a>>;
type TaskFuture<'a> =
    Pin<Box<dyn Future<Output = (usize, NodeExecution, Vec<RunWarning>)> + Send + 'a>>;

/// `$context`: tenant, user, execution id, and the triggering request.
fn context_value(options: &RunOptions) -> Value {
    let mut value = serde_json::to_value(&options.context).unwrap_or(Value::Null);
    if let (Value::Object(map), false) = (&mut value, options.request.is_null()) {
        map.insert("request".to_owned(), options.request.clone());
    }
    value
}

fn failed(failure: NodeFailure) -> NodeExecution {
    NodeExecution::failed(failure)
}

impl<'a> Host<'a> {
    /// Runs a validated workflow to its end.
    pub(crate) async fn execute(
        &self,
        compiled: &CompiledWorkflow,
        mut options: RunOptions,
        policy: Option<&TenantPolicy>,
        strict: bool,
    ) -> ExecutionResult {
        let started = Instant::now();
        let workflow = &compiled.workflow;
        let variables = compiled.variables(&options.variables);
        let timeout = options.timeout.or_else(|| {
            workflow
                .settings
                .execution_timeout
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
        });
        // A timeout too far away to represent is no deadline.
        let deadline = timeout.and_then(|t| started.checked_add(t));
        let deadline_ms = timeout
            .and_then(|t| SystemTime::now().checked_add(t))
            .and_then(|d| d.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_millis()).ok());
        let exec = Execution {
            host: *self,
            compiled,
            context: &options.context,
            context_value: context_value(&options),
            workflow_value: serde_json::json!({
                "id": workflow.id, "name": workflow.name, "version": workflow.version,
                "tenantId": workflow.tenant_id, "variables": variables,
            }),
            policy,
            deadline,
            deadline_ms,
            strict,
            resumed_retries: options.resume.as_deref().map(|r| &r.retries),
            // Only a host that resumes executions can suspend one.
            suspend_retries_after: options
                .suspend_retries_after
                .filter(|_| options.context.resumable),
        };
        // The trigger data is shared, never copied: it may be large.
        let trigger = Arc::new(std::mem::take(&mut options.trigger));
        let mut run = RunState::new(compiled, trigger, variables, options.progress.clone());
        let graph = &compiled.graph;
        let mut is_start = vec![false; graph.ids.len()];
        for &s in &graph.start {
            is_start[s] = true;
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
        tracing::info!(component = "engine", event = "execution_started", workflow = %workflow.id, execution_id = %options.context.execution_id, nodes = graph.ids.len());
        let ended = exec.drive(&mut run, &options, timeout).await;
        let ended = match ended {
            None => exec.log_error(&mut run, &options, timeout).await,
            some => some,
        };
        exec.conclude(run, ended, started)
    }
}

impl<'a> Execution<'a> {
    /// Runs ready nodes until none is left, the workflow stops, or it is
    /// cancelled or out of time (then returns why).
    async fn drive(
        &'a self,
        run: &mut RunState<'a>,
        options: &RunOptions,
        timeout: Option<Duration>,
    ) -> Option<(RunStatus, String, ErrorCode)> {
        let max = self.max_concurrency();
        let mut in_flight: FuturesUnordered<NodeFuture<'a>> = FuturesUnordered::new();
        loop {
            while in_flight.len() < max && run.stopped.is_none() {
                // Inline nodes never yield: the deadline and cancellation
                // are checked between them.
                if self.past_deadline() {
                    return Some(self.abandon(run, in_flight, Self::timed_out(timeout)));
                }
                if options.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                    return Some(self.abandon(run, in_flight, Self::cancelled()));
                }
                let Some(i) = run.ready.pop_front() else {
                    break;
                };
                if run.state[i] != State::Waiting {
                    continue;
                }
                if let Some(recorded) = options
                    .resume
                    .as_ref()
                    .and_then(|r| r.completed.get(&self.compiled.graph.ids[i]))
                {
                    let input = run.input_of(i);
                    run.replaying = true;
                    self.complete(
                        run,
                        i,
                        SystemTime::now(),
                        recorded.to_execution(),
                        &input,
                        Vec::new(),
                    );
                    run.replaying = false;
                    run.results[i].reason = Some(
                        "not run again: its outcome was recorded before the execution was interrupted"
                            .to_owned(),
                    );
                    continue;
                }
                if let Some(progress) = &options.progress {
                    progress.0.node_started(&self.compiled.graph.ids[i]);
                }
                if let Some(future) = self.prepare(run, i) {
                    run.state[i] = State::Running;
                    in_flight.push(future);
                }
            }
            if run.stopped.is_some() {
                let reason = run
                    .stopped
                    .as_ref()
                    .map(|s| s.reason.clone())
                    .unwrap_or_default();
                drop(in_flight);
                cancel_running(
                    run,
                    &format!("stopped because {reason}"),
                    ErrorCode::ExecutionError,
                );
                return None;
            }
            if in_flight.is_empty() {
                if run.ready.is_empty() {
                    return None;
                }
                continue;
            }
            let cancel = options.cancelled();
            let expiry = self.deadline_passed();
            tokio::select! {
                finished = in_flight.next() => {
                    if let Some(f) = finished {
                        self.finish(run, f);
                    }
                }
                () = cancel => return Some(self.abandon(run, in_flight, Self::cancelled())),
                () = expiry => return Some(self.abandon(run, in_flight, Self::timed_out(timeout))),
            }
        }
    }

    fn abandon(
        &self,
        run: &mut RunState<'a>,
        in_flight: FuturesUnordered<NodeFuture<'a>>,
        why: (RunStatus, String, ErrorCode),
    ) -> (RunStatus, String, ErrorCode) {
        drop(in_flight);
        cancel_running(run, &why.1, why.2);
        why
    }

    /// When the workflow stopped on a failed node, runs the workflow's
    /// `errorHandling.errorLogger` once with the failure as its input.
    async fn log_error(
        &'a self,
        run: &mut RunState<'a>,
        options: &RunOptions,
        timeout: Option<Duration>,
    ) -> Option<(RunStatus, String, ErrorCode)> {
        let (Some(stop), Some(logger)) = (&run.stopped, self.compiled.error_logger) else {
            return None;
        };
        if run.state[logger] != State::Waiting {
            return None;
        }
        let failed_node = stop.node;
        let input = run.steps[failed_node]
            .as_ref()
            .map_or_else(|| Arc::new(Value::Null), |s| s.output.clone());
        run.input_override = Some((logger, input));
        let Some(future) = self.prepare(run, logger) else {
            self.note_logger(run, logger, failed_node);
            return None;
        };
        run.state[logger] = State::Running;
        let cancel = options.cancelled();
        let expiry = self.deadline_passed();
        let why = tokio::select! {
            finished = future => {
                self.finish(run, finished);
                None
            }
            () = cancel => Some(Self::cancelled()),
            () = expiry => Some(Self::timed_out(timeout)),
        };
        if let Some(why) = &why {
            cancel_running(run, &why.1, why.2);
        }
        self.note_logger(run, logger, failed_node);
        why
    }

    fn note_logger(&self, run: &mut RunState<'a>, logger: usize, failed_node: usize) {
        if run.state[logger] == State::Done {
            run.results[logger].reason = Some(format!(
                "ran as the workflow's errorLogger after node `{}` failed",
                self.compiled.graph.ids[failed_node]
            ));
        }
    }

    /// Renders node `i`'s parameters and runs it: inline nodes complete
    /// here (returning `None`), others become a future. Disabled nodes and
    /// rendering failures complete at once.
    fn prepare(&'a self, run: &mut RunState<'a>, i: usize) -> Option<NodeFuture<'a>> {
        let compiled = self.compiled;
        let node = &compiled.workflow.nodes[i];
        let input = run.input_of(i);
        if node.disabled {
            run.state[i] = State::Done;
            run.results[i].status = NodeStatus::Skipped;
            run.results[i].reason = Some("disabled: its input passes through".to_owned());
            run.steps[i] = Some(super::state::Step {
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
            let tasks: Vec<TaskFuture<'a>> = compiled.graph.tasks[i]
                .iter()
                .map(|&t| self.task_future(run, t, input.clone()))
                .collect();
            return Some(Box::pin(async move {
                let outcomes = futures_util::future::join_all(tasks).await;
                Finished {
                    index: i,
                    started,
                    input,
                    outcome: Outcome::Parallel(outcomes),
                }
            }));
        }
        let (parameters, warnings) = match self.render(run, i, &input) {
            Ok(rendered) => rendered,
            Err(failure) => {
                self.complete(run, i, started, failed(failure), &input, Vec::new());
                return None;
            }
        };
        // Pure nodes run here and now: no future, no task, no wake-up.
        let inline = self.host.registry.execute_now(&self.call(
            i,
            &parameters,
            &input,
            &run.vars,
            &run.trigger,
        ));
        if let Some(execution) = inline {
            self.complete(run, i, started, execution, &input, warnings);
            return None;
        }
        let future = self.pipeline_future(run, i, parameters, input.clone(), warnings);
        Some(Box::pin(async move {
            let (_, execution, warnings) = future.await;
            Finished {
                index: i,
                started,
                input,
                outcome: Outcome::Single(Box::new(execution), warnings),
            }
        }))
    }

    /// A parallel task: rendered now, run through the pipeline.
    fn task_future(&'a self, run: &RunState<'a>, t: usize, input: Arc<Value>) -> TaskFuture<'a> {
        match self.render(run, t, &input) {
            Ok((parameters, warnings)) => self.pipeline_future(run, t, parameters, input, warnings),
            Err(failure) => Box::pin(async move { (t, failed(failure), Vec::new()) }),
        }
    }

    fn pipeline_future(
        &'a self,
        run: &RunState<'a>,
        i: usize,
        parameters: Value,
        input: Arc<Value>,
        warnings: Vec<RunWarning>,
    ) -> TaskFuture<'a> {
        let vars = run.vars.clone();
        let trigger = run.trigger.clone();
        Box::pin(async move {
            let call = self.call(i, &parameters, &input, &vars, &trigger);
            let execution = self.host.registry.execute(&call).await;
            (i, execution, warnings)
        })
    }

    /// Records a finished node and resolves its edges (unless the workflow
    /// stopped: then its successors stay pending).
    fn complete(
        &self,
        run: &mut RunState<'a>,
        i: usize,
        started: SystemTime,
        execution: NodeExecution,
        input: &Value,
        warnings: Vec<RunWarning>,
    ) {
        let (flow, stops) = run.record(i, started, execution, input, warnings);
        if stops {
            run.stop(i);
        }
        if run.stopped.is_none() {
            run.resolve(i, flow);
        }
    }

    fn finish(&self, run: &mut RunState<'a>, finished: Finished) {
        let Finished {
            index,
            started,
            input,
            outcome,
        } = finished;
        let execution = match outcome {
            Outcome::Single(execution, warnings) => {
                self.complete(run, index, started, *execution, &input, warnings);
                return;
            }
            Outcome::Parallel(tasks) => self.parallel_outcome(run, index, started, &input, tasks),
        };
        self.complete(run, index, started, execution, &input, Vec::new());
    }

    /// Records each task of parallel node `p` and builds the parallel
    /// node's own result: `{<task id>: {output, status, success, error}}`;
    /// it fails only when a task failed without continuing (its own
    /// `onError` / `continueOnError` say whether it continues).
    fn parallel_outcome(
        &self,
        run: &mut RunState<'a>,
        p: usize,
        started: SystemTime,
        input: &Value,
        tasks: Vec<(usize, NodeExecution, Vec<RunWarning>)>,
    ) -> NodeExecution {
        let mut output = Map::new();
        let mut fatal: Option<NodeFailure> = None;
        for (t, task, warnings) in tasks {
            let error = task.error.clone();
            let (flow, stops) = run.record(t, started, task, input, warnings);
            if stops && fatal.is_none() {
                fatal = error.map(|e| NodeFailure {
                    message: format!(
                        "task `{}` failed: {}",
                        self.compiled.graph.ids[t], e.message
                    ),
                    ..e
                });
            }
            run.resolve(t, if stops { Flow::Dead } else { flow });
            if let Some(step) = run.steps[t].as_ref() {
                let view = crate::expr::StepView {
                    output: &step.output,
                    status: step.status,
                    error: step.error.as_ref().map(|(m, c)| (m.as_str(), c.as_str())),
                };
                output.insert(
                    self.compiled.graph.ids[t].clone(),
                    serde_json::to_value(view).unwrap_or(Value::Null),
                );
            }
        }
        let mut execution = match fatal {
            Some(failure) => failed(failure),
            None => NodeExecution::success(Value::Object(output)),
        };
        execution.duration = started.elapsed().unwrap_or_default();
        let _ = p;
        execution
    }
}
