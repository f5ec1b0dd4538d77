//! Workflow expressions in the sandboxed JavaScript engine of
//! [`plugin_abi::sdk::js`]: each expression is a function of the scope
//! roots, and only the roots it names are converted into JavaScript values.

use serde_json::Value;

#[cfg(test)]
use std::time::Instant;

use super::scope::{now_iso, NodesObject, Scope, StepsObject};

pub use plugin_abi::sdk::js::{MEMORY_LIMIT, STACK_LIMIT, TIME_LIMIT};

/// The scope roots, in parameter order.
const PARAMS: &str = "$json,$steps,$node,$context,$workflow,$vars,$trigger,$now,$env,$item,$index";
const ROOTS: [&str; 11] = [
    "$json",
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

/// Checks that `source` compiles as an expression, without running it.
pub fn check_syntax(source: &str) -> Result<(), String> {
    plugin_abi::sdk::js::check_syntax(source, PARAMS)
}

/// Evaluates `source` over `scope`.
pub fn eval(source: &str, scope: &Scope<'_>) -> Result<Value, String> {
    plugin_abi::sdk::js::eval(source, PARAMS, &mut |i| {
        let root = ROOTS[i];
        // `$item` would also match `$items`: a spare conversion, harmless.
        if !source.contains(root) {
            return Ok(None);
        }
        let text = match i {
            0 => serde_json::to_string(scope.json),
            1 => serde_json::to_string(&StepsObject(scope.steps)),
            2 => serde_json::to_string(&NodesObject(scope.steps)),
            3 => serde_json::to_string(scope.context),
            4 => serde_json::to_string(scope.workflow),
            5 => serde_json::to_string(scope.vars),
            6 => serde_json::to_string(scope.trigger),
            7 => serde_json::to_string(&now_iso()),
            8 => serde_json::to_string(scope.env),
            9 => serde_json::to_string(scope.item.unwrap_or(&Value::Null)),
            _ => serde_json::to_string(&scope.index),
        };
        text.map(Some).map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::scope::NoSteps;
    use serde_json::{json, Map};

    fn scope_eval(source: &str, json: Value) -> Result<Value, String> {
        let vars = Map::new();
        let scope = Scope {
            json: &json,
            steps: &NoSteps,
            context: &json!({"tenantId": "acme"}),
            workflow: &Value::Null,
            vars: &vars,
            trigger: &Value::Null,
            env: &vars,
            item: None,
            index: None,
        };
        eval(source, &scope)
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
    fn the_sandbox_bounds_loops_memory_and_access() {
        let started = Instant::now();
        let err = scope_eval("(() => { while (true) {} })()", json!({})).unwrap_err();
        assert!(err.contains("stopped"), "{err}");
        assert!(started.elapsed() < TIME_LIMIT * 4);
        let err = scope_eval(
            "(() => { let a = []; while (true) { a.push('x'.repeat(1e6)); } })()",
            json!({}),
        )
        .unwrap_err();
        assert!(
            err.to_lowercase().contains("memory") || err.contains("stopped"),
            "{err}"
        );
        for probe in [
            "require('fs')",
            "process.env.HOME",
            "std.getenv('HOME')",
            "os.exec(['ls'])",
            "fetch('http://127.0.0.1')",
        ] {
            assert!(scope_eval(probe, json!({})).is_err(), "{probe} must fail");
        }
        // Still usable afterwards.
        assert_eq!(scope_eval("1 + 1", json!({})).unwrap(), json!(2));
    }

    #[test]
    fn syntax_errors_are_reported_without_running() {
        assert!(check_syntax("$json.a +").is_err());
        assert!(check_syntax("$json.a + 1").is_ok());
    }
}
