//! The DAG executor for MetaBuilder v3 workflows.
//!
//! [`CompiledWorkflow::compile`] parses templates and builds the graph once;
//! [`Engine::run`] validates the whole workflow (nothing runs when any
//! problem is found) and then runs it: a node runs once, when all its
//! incoming branches have resolved; independent branches run concurrently
//! up to `settings.maxConcurrency`; a condition's output index picks the
//! branch, and nodes only reachable through branches not taken are
//! skipped; `onError`, retries, timeouts, the execution timeout, the
//! error logger and cancellation are honoured.

mod compile;
mod options;
mod progress;
mod references;
mod report;
mod result;
mod run;
mod state;
mod validate;

pub use compile::{CompiledWorkflow, MAX_TRIES};
pub use options::{new_execution_id, CancelHandle, EngineOptions, RunOptions};
pub use progress::{NodeProgress, Progress, ProgressObserver};
pub use report::{Report, Warning, WarningKind};
pub use result::{ExecutionResult, NodeResult, NodeStatus, RunMetrics, RunStatus, RunWarning};
pub use run::{Engine, InvalidWorkflow};
