//! One execution's state: which nodes wait, run or are done, what each
//! finished node produced (`$steps`), and how finished nodes' edges
//! resolve into ready nodes (joins, branches, dead paths).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::compile::CompiledWorkflow;
use crate::expr::{StepSource, StepView};
use crate::progress::{NodeProgress, Progress};
use crate::result::{NodeResult, RunWarning};
use crate::workflow::graph::Port;
use crate::workflow::model::OnError;
use registry_core::{ErrorCode, NodeFailure};
use registry_core::{NodeExecution, NodeStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Waiting,
    Running,
    Done,
}

/// How a finished node's outgoing edges resolve.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Flow {
    /// Main edges of this output index (all when `None`) are taken.
    Main(Option<u32>),
    /// Only the error edges are taken.
    ErrorPort,
    /// No edge is taken.
    Dead,
}

/// A finished node as `$steps` sees it; `output` is also what its
/// successors receive.
pub(crate) struct Step {
    pub(crate) output: Arc<Value>,
    pub(crate) status: &'static str,
    pub(crate) error: Option<(String, String)>,
}

/// Why the workflow stopped: the failed node and what it said.
pub(crate) struct Stop {
    pub(crate) node: usize,
    pub(crate) reason: String,
}

pub(crate) struct RunState<'c> {
    pub(crate) compiled: &'c CompiledWorkflow,
    pub(crate) state: Vec<State>,
    remaining: Vec<usize>,
    /// Whether each source of each node has delivered its output, laid
    /// out as the graph's `source_start` says (one flag per source slot).
    arrived: Vec<bool>,
    pub(crate) steps: Vec<Option<Step>>,
    pub(crate) results: Vec<NodeResult>,
    pub(crate) ready: VecDeque<usize>,
    pub(crate) vars: Arc<Map<String, Value>>,
    pub(crate) stopped: Option<Stop>,
    /// Input given to a node instead of its predecessors' (the error
    /// logger's: the failed node's error output).
    pub(crate) input_override: Option<(usize, Arc<Value>)>,
    pub(crate) trigger: Arc<Value>,
    is_start: Vec<bool>,
    progress: Option<Progress>,
    pub(crate) order: Vec<usize>,
    /// A recorded outcome is being replayed: not reported as executed.
    pub(crate) replaying: bool,
}

impl StepSource for RunState<'_> {
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

/// A failed node's output on an error path: its input with `error` added
/// (n8n's continueErrorOutput keeps the item); a non-object input is kept
/// under `input`.
pub(crate) fn error_output(input: &Value, failure: &NodeFailure, node_id: &str) -> Value {
    let mut error = Map::with_capacity(4);
    error.insert("code".into(), Value::from(failure.code.as_str()));
    error.insert("message".into(), Value::from(failure.message.clone()));
    error.insert("nodeId".into(), Value::from(node_id));
    if let Some(details) = &failure.details {
        error.insert("details".into(), (**details).clone());
    }
    let mut output = match input {
        Value::Object(o) => o.clone(),
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("input".into(), other.clone());
            m
        }
    };
    output.insert("error".into(), Value::Object(error));
    Value::Object(output)
}

impl<'c> RunState<'c> {
    pub(crate) fn new(
        compiled: &'c CompiledWorkflow,
        trigger: Arc<Value>,
        vars: Map<String, Value>,
        progress: Option<Progress>,
    ) -> Self {
        let graph = &compiled.graph;
        let n = graph.ids.len();
        let mut run = Self {
            compiled,
            state: vec![State::Waiting; n],
            remaining: graph.incoming.iter().map(Vec::len).collect(),
            arrived: vec![false; graph.source_start.last().copied().unwrap_or(0)],
            steps: (0..n).map(|_| None).collect(),
            results: (0..n).map(|_| NodeResult::pending()).collect(),
            ready: graph.start.iter().copied().collect(),
            vars: Arc::new(vars),
            stopped: None,
            input_override: None,
            trigger,
            is_start: vec![false; n],
            progress,
            order: Vec::with_capacity(n),
            replaying: false,
        };
        for &s in &graph.start {
            run.is_start[s] = true;
        }
        run
    }

    fn view(&self, i: usize) -> Option<StepView<'_>> {
        self.steps[i].as_ref().map(|s| StepView {
            output: &s.output,
            status: s.status,
            error: s.error.as_ref().map(|(m, c)| (m.as_str(), c.as_str())),
        })
    }

    /// `$input` of node `i`: the trigger data for a start node, the single
    /// predecessor's output, or an object keyed by predecessor id (`null`
    /// for a branch not taken) when it has several.
    pub(crate) fn input_of(&self, i: usize) -> Arc<Value> {
        if let Some((node, input)) = &self.input_override {
            if *node == i {
                return input.clone();
            }
        }
        let graph = &self.compiled.graph;
        if let Some(parent) = graph.task_of[i] {
            return self.input_of(parent);
        }
        if self.is_start[i] {
            return self.trigger.clone();
        }
        let sources = &graph.sources[i];
        let arrived = self.arrivals(i);
        match sources.as_slice() {
            [] => self.trigger.clone(),
            [one] => self.steps[*one]
                .as_ref()
                .filter(|_| arrived.first() == Some(&true))
                .map_or_else(|| Arc::new(Value::Null), |s| s.output.clone()),
            many => {
                let mut object = Map::with_capacity(many.len());
                for (&from, &came) in many.iter().zip(arrived) {
                    let output = self.steps[from]
                        .as_ref()
                        .filter(|_| came)
                        .map_or(Value::Null, |s| (*s.output).clone());
                    object.insert(graph.ids[from].clone(), output);
                }
                Arc::new(Value::Object(object))
            }
        }
    }

    /// A warning for each predecessor of node `i` whose output it receives
    /// is that predecessor's error (it failed and continued with its
    /// regular output): the node runs on `{error: …}`, not on data.
    pub(crate) fn degraded_inputs(&self, i: usize) -> Vec<RunWarning> {
        let graph = &self.compiled.graph;
        graph.sources[i]
            .iter()
            .zip(self.arrivals(i))
            .filter(|&(_, &came)| came)
            .map(|(&from, _)| from)
            .filter(|&from| {
                self.compiled.on_error[from] == OnError::ContinueRegularOutput
                    && self.steps[from].as_ref().is_some_and(|s| s.status == "error")
            })
            .map(|from| {
                let (message, code) = self.steps[from]
                    .as_ref()
                    .and_then(|s| s.error.clone())
                    .unwrap_or_default();
                RunWarning {
                    code: "DEGRADED_INPUT",
                    path: if graph.sources[i].len() > 1 {
                        format!("/input/{}", crate::pointer::escape(&graph.ids[from]))
                    } else {
                        "/input".to_owned()
                    },
                    expression: String::new(),
                    message: format!(
                        "the input from `{}` is its error ({code}: {message}), not its output: it failed and continued with its regular output",
                        graph.ids[from]
                    ),
                }
            })
            .collect()
    }

    /// Resolves node `i`'s outgoing edges per `flow`, queueing successors
    /// whose inputs have all resolved and skipping those left with no live
    /// input (iteratively: long dead chains do not recurse).
    pub(crate) fn resolve(&mut self, i: usize, flow: Flow) {
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
                    let slot = graph.source_start.get(to).zip(graph.source_slot.get(e));
                    if let Some(flag) =
                        slot.and_then(|(start, slot)| self.arrived.get_mut(start + slot))
                    {
                        *flag = true;
                    }
                }
                if self.remaining[to] == 0 {
                    if !self.arrivals(to).contains(&true) {
                        self.skip(to, "not on a branch that was taken");
                        work.push((to, Flow::Dead));
                    } else {
                        self.ready.push_back(to);
                    }
                }
            }
        }
    }

    /// Which of node `i`'s sources (in the order of the graph's
    /// `sources`) have delivered their output.
    fn arrivals(&self, i: usize) -> &[bool] {
        let starts = &self.compiled.graph.source_start;
        match (starts.get(i), starts.get(i + 1)) {
            (Some(&start), Some(&end)) => self.arrived.get(start..end).unwrap_or_default(),
            _ => &[],
        }
    }

    /// Counts node `i` as final and tells the progress observer.
    pub(crate) fn finished(&mut self, i: usize) {
        self.order.push(i);
        if let Some(progress) = &self.progress {
            progress.0.node_finished(NodeProgress {
                node_id: &self.compiled.graph.ids[i],
                status: self.results[i].status,
                done: self.order.len(),
                total: self.results.len(),
            });
        }
    }

    pub(crate) fn skip(&mut self, i: usize, reason: &str) {
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

    /// Records a finished node. Returns how its edges resolve and whether
    /// its failure stops the workflow (the caller decides: a parallel
    /// task's failure stops it through its parallel node).
    pub(crate) fn record(
        &mut self,
        i: usize,
        started: SystemTime,
        execution: NodeExecution,
        input: &Value,
        warnings: Vec<RunWarning>,
    ) -> (Flow, bool) {
        if !self.replaying {
            if let Some(progress) = &self.progress {
                progress
                    .0
                    .node_executed(&self.compiled.graph.ids[i], &execution);
            }
        }
        let finished = SystemTime::now();
        self.state[i] = State::Done;
        let r = &mut self.results[i];
        r.started_at = Some(started);
        r.finished_at = Some(finished);
        r.duration_ms = execution.duration.as_secs_f64() * 1000.0;
        r.retries = execution.retries;
        r.recovery_applied = execution.recovery_applied;
        r.fallback_node_type = execution.fallback_node_type;
        r.warnings = warnings;
        if !execution.variables.is_empty() {
            let vars = Arc::make_mut(&mut self.vars);
            let patch = execution.variables;
            if patch.clear {
                vars.clear();
            }
            for name in &patch.delete {
                vars.shift_remove(name);
            }
            vars.extend(patch.set);
        }
        let outcome = match execution.status {
            NodeStatus::Success
            | NodeStatus::Skipped
            | NodeStatus::Pending
            | NodeStatus::Cancelled => {
                let skipped = execution.status != NodeStatus::Success;
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
                (Flow::Main(execution.output_index), false)
            }
            NodeStatus::Error => {
                let failure = execution.error.unwrap_or_else(|| {
                    NodeFailure::new(ErrorCode::ExecutionError, "failed without an error")
                });
                r.status = NodeStatus::Error;
                r.error = Some(failure.message.clone());
                r.error_code = Some(failure.code);
                r.validation_errors = failure.validation_errors.clone();
                let id = &self.compiled.graph.ids[i];
                self.steps[i] = Some(Step {
                    output: Arc::new(error_output(input, &failure, id)),
                    status: "error",
                    error: Some((failure.message.clone(), failure.code.as_str().to_owned())),
                });
                match self.compiled.on_error[i] {
                    // Its retry is due later: the execution stops here (to
                    // be suspended), whatever its error handling says.
                    _ if execution.retry_at_ms.is_some() => (Flow::Dead, true),
                    OnError::ContinueRegularOutput => (Flow::Main(None), false),
                    OnError::ContinueErrorOutput => (Flow::ErrorPort, false),
                    OnError::StopWorkflow | OnError::Retry | OnError::SkipNode => {
                        (Flow::Dead, true)
                    }
                }
            }
        };
        self.finished(i);
        outcome
    }

    /// Marks the workflow stopped by node `i`'s failure.
    pub(crate) fn stop(&mut self, i: usize) {
        if self.stopped.is_some() {
            return;
        }
        let r = &self.results[i];
        self.stopped = Some(Stop {
            node: i,
            reason: format!(
                "node `{}` failed ({}): {}",
                self.compiled.graph.ids[i],
                r.error_code.map_or("", |c| c.as_str()),
                r.error.as_deref().unwrap_or("")
            ),
        });
    }
}

/// Marks running nodes (and their pending tasks) cancelled with `reason`,
/// and says why pending nodes never ran.
pub(crate) fn cancel_running(run: &mut RunState<'_>, reason: &str, code: ErrorCode) {
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
