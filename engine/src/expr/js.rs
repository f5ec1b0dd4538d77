//! Workflow expressions in the sandboxed JavaScript engine of
//! [`js_sandbox`]: each expression is a function of the scope roots, and
//! only the roots it names are converted into JavaScript values.

use serde_json::Value;

use super::scope::{now_iso, NodesObject, Scope, StepsObject};

pub use js_sandbox::{EvalError, SyntaxError, MEMORY_LIMIT, STACK_LIMIT, TIME_LIMIT};

/// The scope roots, in parameter order.
const PARAMS: &str =
    "$json,$input,$steps,$node,$context,$workflow,$vars,$trigger,$now,$env,$item,$index";
/// The names an expression sees (`$item` and `$index` only in per-item
/// expressions of list nodes).
pub const ROOTS: [&str; 12] = [
    "$json",
    "$input",
    "$steps",
    "$node",
    "$context",
    "$workflow",
    "$vars",
    "$trigger",
    "$now",
    "$env",
    "$item",
    "$index",
];

/// Checks that `source` is one JavaScript expression, without running it.
pub fn check_syntax(source: &str) -> Result<(), SyntaxError> {
    js_sandbox::check(source)
}

/// Evaluates `source` over `scope`, before the scope's deadline.
pub fn eval(source: &str, scope: &Scope<'_>) -> Result<Option<Value>, EvalError> {
    js_sandbox::eval_until(
        source,
        PARAMS,
        &mut |i| {
            let root = ROOTS[i];
            // `$item` would also match `$items`: a spare conversion, harmless.
            if !source.contains(root) {
                return Ok(None);
            }
            let text = match i {
                0 => serde_json::to_string(scope.json),
                1 => serde_json::to_string(scope.input),
                2 => serde_json::to_string(&StepsObject(scope.steps)),
                3 => serde_json::to_string(&NodesObject(scope.steps)),
                4 => serde_json::to_string(scope.context),
                5 => serde_json::to_string(scope.workflow),
                6 => serde_json::to_string(scope.vars),
                7 => serde_json::to_string(scope.trigger),
                8 => serde_json::to_string(&now_iso()),
                9 => serde_json::to_string(scope.env),
                10 => match scope.item {
                    Some(item) => serde_json::to_string(item),
                    None => return Ok(None),
                },
                _ => match scope.index {
                    Some(index) => Ok(index.to_string()),
                    None => return Ok(None),
                },
            };
            text.map(Some).map_err(|e| e.to_string())
        },
        scope.deadline,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::scope::NoSteps;
    use serde_json::{json, Map};

    fn scope_eval(source: &str, json: Value) -> Result<Value, EvalError> {
        let vars = Map::new();
        let scope = Scope {
            json: &json,
            input: &Value::Null,
            steps: &NoSteps,
            context: &json!({"tenantId": "acme"}),
            workflow: &Value::Null,
            vars: &vars,
            trigger: &Value::Null,
            env: &vars,
            item: None,
            index: None,
            deadline: None,
        };
        eval(source, &scope).map(Option::unwrap_or_default)
    }

    #[test]
    fn javascript_as_workflows_write_it() {
        assert_eq!(
            scope_eval("Math.max($json.page || 1, 1)", json!({})).unwrap(),
            json!(1)
        );
        assert_eq!(
            scope_eval("$json.data.slice(1, 3)", json!({"data": [1, 2, 3, 4]})).unwrap(),
            json!([2, 3])
        );
        assert_eq!(
            scope_eval(
                "$json.t.toLowerCase().replace(/[^a-z0-9]+/g, '-')",
                json!({"t": "Hello World!"})
            )
            .unwrap(),
            json!("hello-world-")
        );
        assert_eq!(
            scope_eval("$context.tenantId !== undefined", json!({})).unwrap(),
            json!(true)
        );
        assert_eq!(
            scope_eval("$json.a > 2 ? 'big' : 'small'", json!({"a": 3})).unwrap(),
            json!("big")
        );
        assert_eq!(scope_eval("undefined", json!({})).unwrap(), Value::Null);
    }

    #[test]
    fn syntax_errors_are_reported_without_running() {
        assert!(check_syntax("$json.a +").is_err());
        assert!(check_syntax("$json.a + 1").is_ok());
    }
}
