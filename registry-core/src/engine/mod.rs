//! The DAG executor for MetaBuilder v3 workflows.
//!
//! [`CompiledWorkflow::compile`] parses templates and builds the graph once;
//! [`Engine::run`] validates the whole workflow (nothing runs when any
//! problem is found) and then runs it: a node runs once, when all its
//! incoming branches have resolved; independent branches run concurrently
//! up to `settings.maxConcurrency`; a condition's output index picks the
//! branch, and nodes only reachable through branches not taken are
//! skipped; `onError`, retries, timeouts, the execution timeout and
//! cancellation are honoured.

mod check;
mod compile;
mod progress;
mod result;
mod run;

pub use compile::CompiledWorkflow;
pub use progress::{NodeProgress, Progress, ProgressObserver};
pub use result::{ExecutionResult, NodeResult, NodeStatus, RunMetrics, RunStatus};
pub use run::{CancelHandle, Engine, EngineOptions, InvalidWorkflow, RunOptions};
