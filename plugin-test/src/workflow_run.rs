//! A workflow run through the engine, and what it produced.

use plugflow_engine::{CompiledWorkflow, Engine, ExecutionResult, RunOptions, RunStatus, Workflow};
use plugin_abi::request::ExecContext;
use serde_json::Value;

use crate::defaults::TEST_TENANT;

/// What a workflow run produced: its result, or why it did not run.
#[derive(Debug)]
pub enum WorkflowOutcome {
    /// It ran (successfully or not): the result `plugflow run --output
    /// json` prints.
    Ran(Box<ExecutionResult>),
    /// It did not run: the file does not parse or validation found
    /// problems (each one, as `validate` reports them).
    Refused(Vec<String>),
}

impl WorkflowOutcome {
    /// The result of a run that succeeded; panics (failing the test) with
    /// what went wrong otherwise.
    pub fn expect_success(self) -> ExecutionResult {
        match self {
            Self::Ran(result) if result.status == RunStatus::Success => *result,
            Self::Ran(result) => panic!(
                "the workflow ended {:?}: {}",
                result.status,
                result.error.as_deref().unwrap_or("")
            ),
            Self::Refused(problems) => {
                panic!("the workflow did not run: {}", problems.join("; "))
            }
        }
    }

    /// The output of node `id` in a successful run.
    pub fn output_of(self, id: &str) -> Value {
        let result = self.expect_success();
        result
            .nodes
            .get(id)
            .map(|n| n.output.clone())
            .unwrap_or_else(|| panic!("no node `{id}` in the result"))
    }
}

pub(crate) fn run(
    engine: &Engine,
    runtime: &tokio::runtime::Runtime,
    workflow: &Value,
    trigger: Value,
) -> WorkflowOutcome {
    let parsed = match Workflow::from_json_str(&workflow.to_string(), "test workflow") {
        Ok(parsed) => parsed,
        Err(e) => return WorkflowOutcome::Refused(vec![e.to_string()]),
    };
    let compiled = CompiledWorkflow::compile(parsed);
    let options = RunOptions {
        trigger,
        context: ExecContext {
            tenant_id: Some(TEST_TENANT.to_owned()),
            ..ExecContext::default()
        },
        ..RunOptions::default()
    };
    match runtime.block_on(engine.run(&compiled, options)) {
        Ok(result) => WorkflowOutcome::Ran(Box::new(result)),
        Err(invalid) => {
            WorkflowOutcome::Refused(invalid.problems.iter().map(ToString::to_string).collect())
        }
    }
}
