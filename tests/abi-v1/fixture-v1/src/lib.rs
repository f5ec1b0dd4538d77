//! A plugin built against plugin ABI v1: what it receives and returns
//! covers every field of a v1 request and response, so a newer host that
//! changed how it calls plugins shows any difference here.

use plugin_abi::sdk::{Node, NodeDescription, NodeError, NodeOutput, NodeRequest, NodeSpec};
use plugin_abi::sdk::{PluginDefinition, Validation};
use serde_json::json;

/// Returns what it was sent: parameters, input, context, variables, and
/// whether trigger data came along.
fn echo(request: &NodeRequest) -> Result<NodeOutput, NodeError> {
    Ok(NodeOutput::new(json!({
        "nodeType": request.node_type,
        "nodeId": request.node_id,
        "parameters": request.parameters,
        "input": request.input,
        "tenantId": request.context.tenant_id,
        "executionId": request.context.execution_id,
        "variables": request.variables,
    })))
}

/// Follows output `branch` and sets the variable `last` to it.
fn route(request: &NodeRequest) -> Result<NodeOutput, NodeError> {
    let branch = request.f64_param("branch")? as u32;
    let mut output = NodeOutput::new(json!({"branch": branch})).with_output_index(branch);
    output.variables.set.insert("last".into(), json!(branch));
    Ok(output)
}

/// Fails with `INVALID_PARAMETERS`, or panics when asked to.
fn fail(request: &NodeRequest) -> Result<NodeOutput, NodeError> {
    if request.param("panic").is_some() {
        panic!("v1 plugin panicked on purpose");
    }
    Err(NodeError::invalid_parameter("why", "refused on purpose"))
}

/// Refuses `name: "root"` in its own check.
struct Picky;

impl Node for Picky {
    fn validate(&self, node: &NodeDescription) -> Validation {
        if node.parameters["name"] == "root" {
            Validation::valid().error("`root` is reserved")
        } else {
            Validation::valid()
        }
    }

    fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
        Ok(NodeOutput::result(request.parameters["name"].clone()))
    }
}

fn definition() -> PluginDefinition {
    PluginDefinition::new("fixture-v1", "1.0.0")
        .node(NodeSpec::new("v1.echo", "1.0.0", "test", "Echoes its request.").handler(echo))
        .node(NodeSpec::new("v1.route", "1.0.0", "test", "Follows output `branch`.").handler(route))
        .node(NodeSpec::new("v1.fail", "1.0.0", "test", "Fails or panics.").handler(fail))
        .node(
            NodeSpec::new("v1.picky", "1.0.0", "test", "Refuses `root`.")
                .schema(json!({"type": "object", "properties": {"name": {"type": "string"}}}))
                .executor(|| Picky),
        )
}

plugin_abi::export_plugin!(definition);
