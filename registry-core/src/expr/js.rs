//! JavaScript expressions in a sandboxed QuickJS engine: no file, network
//! or environment access (QuickJS has none unless a host adds modules, and
//! none is added), a memory cap and a time limit per evaluation.
//!
//! One runtime per thread (QuickJS values are not `Send`); each expression
//! is compiled once per thread into a function of the scope roots.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::function::Args;
use rquickjs::{CatchResultExt, Context, Ctx, Function, Persistent, Runtime};
use serde_json::Value;

use super::scope::{now_iso, NodesObject, Scope, StepsObject};

/// Memory one thread's JavaScript runtime may use.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Stack one evaluation may use.
pub const STACK_LIMIT: usize = 512 * 1024;
/// Time one evaluation may take.
pub const TIME_LIMIT: Duration = Duration::from_millis(500);
/// Compiled functions kept per thread before the cache is emptied.
const FUNCTION_CACHE: usize = 4096;

const PARAMS: &str = "$json,$steps,$node,$context,$workflow,$vars,$trigger,$now,$env,$item,$index";

// Field order is drop order: saved functions must be freed before the
// context and runtime that own them, or QuickJS aborts at thread exit.
struct Engine {
    functions: HashMap<String, Persistent<Function<'static>>>,
    context: Context,
    deadline: Rc<Cell<Option<Instant>>>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

fn new_engine() -> Result<Engine, String> {
    let runtime = Runtime::new().map_err(|e| format!("cannot start the JavaScript engine: {e}"))?;
    runtime.set_memory_limit(MEMORY_LIMIT);
    runtime.set_max_stack_size(STACK_LIMIT);
    let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let watch = deadline.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || {
        watch.get().is_some_and(|d| Instant::now() >= d)
    })));
    let context =
        Context::full(&runtime).map_err(|e| format!("cannot start the JavaScript engine: {e}"))?;
    Ok(Engine {
        functions: HashMap::new(),
        context,
        deadline,
    })
}

fn with_engine<T>(f: impl FnOnce(&mut Engine) -> Result<T, String>) -> Result<T, String> {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(new_engine()?);
        }
        match slot.as_mut() {
            Some(engine) => f(engine),
            None => Err("JavaScript engine unavailable".to_owned()),
        }
    })
}

fn describe(ctx: &Ctx<'_>, error: rquickjs::CaughtError<'_>) -> String {
    let _ = ctx;
    let text = error.to_string();
    let text = text.trim();
    if text.contains("interrupted") {
        format!(
            "took longer than {} ms and was stopped",
            TIME_LIMIT.as_millis()
        )
    } else {
        text.lines().next().unwrap_or(text).to_owned()
    }
}

fn compile<'js>(
    engine: &mut Engine,
    ctx: &Ctx<'js>,
    source: &str,
) -> Result<Function<'js>, String> {
    if let Some(f) = engine.functions.get(source) {
        return f.clone().restore(ctx).map_err(|e| e.to_string());
    }
    let wrapped = format!("(function({PARAMS}) {{ return ({source}\n); }})");
    let function: Function<'js> = ctx.eval(wrapped).catch(ctx).map_err(|e| describe(ctx, e))?;
    if engine.functions.len() >= FUNCTION_CACHE {
        engine.functions.clear();
    }
    engine
        .functions
        .insert(source.to_owned(), Persistent::save(ctx, function.clone()));
    Ok(function)
}

fn push_json<'js>(
    ctx: &Ctx<'js>,
    args: &mut Args<'js>,
    used: bool,
    text: &dyn Fn() -> Result<String, serde_json::Error>,
) -> Result<(), String> {
    if !used {
        return args
            .push_arg(rquickjs::Undefined)
            .map_err(|e| e.to_string());
    }
    let text = text().map_err(|e| e.to_string())?;
    let value = ctx.json_parse(text).map_err(|e| e.to_string())?;
    args.push_arg(value).map_err(|e| e.to_string())
}

/// Checks that `source` compiles as an expression, without running it.
pub fn check_syntax(source: &str) -> Result<(), String> {
    with_engine(|engine| {
        let context = engine.context.clone();
        context.with(|ctx| compile(engine, &ctx, source).map(|_| ()))
    })
}

/// Evaluates `source` over `scope`. Only the roots the expression names
/// are converted into JavaScript values.
pub fn eval(source: &str, scope: &Scope<'_>) -> Result<Value, String> {
    with_engine(|engine| {
        let context = engine.context.clone();
        let deadline = engine.deadline.clone();
        context.with(|ctx| {
            let function = compile(engine, &ctx, source)?;
            let mut args = Args::new(ctx.clone(), 11);
            let uses = |root: &str| source.contains(root);
            push_json(&ctx, &mut args, uses("$json"), &|| {
                serde_json::to_string(scope.json)
            })?;
            push_json(&ctx, &mut args, uses("$steps"), &|| {
                serde_json::to_string(&StepsObject(scope.steps))
            })?;
            push_json(&ctx, &mut args, uses("$node"), &|| {
                serde_json::to_string(&NodesObject(scope.steps))
            })?;
            push_json(&ctx, &mut args, uses("$context"), &|| {
                serde_json::to_string(scope.context)
            })?;
            push_json(&ctx, &mut args, uses("$workflow"), &|| {
                serde_json::to_string(scope.workflow)
            })?;
            push_json(&ctx, &mut args, uses("$vars"), &|| {
                serde_json::to_string(scope.vars)
            })?;
            push_json(&ctx, &mut args, uses("$trigger"), &|| {
                serde_json::to_string(scope.trigger)
            })?;
            push_json(&ctx, &mut args, uses("$now"), &|| {
                serde_json::to_string(&now_iso())
            })?;
            push_json(&ctx, &mut args, uses("$env"), &|| {
                serde_json::to_string(scope.env)
            })?;
            push_json(&ctx, &mut args, uses("$item"), &|| {
                serde_json::to_string(scope.item.unwrap_or(&Value::Null))
            })?;
            push_json(&ctx, &mut args, uses("$index"), &|| {
                serde_json::to_string(&scope.index)
            })?;
            deadline.set(Some(Instant::now() + TIME_LIMIT));
            let result: Result<rquickjs::Value<'_>, String> = function
                .call_arg(args)
                .catch(&ctx)
                .map_err(|e| describe(&ctx, e));
            deadline.set(None);
            let result = result?;
            if result.is_function() {
                return Err("the expression evaluates to a function, not a value".to_owned());
            }
            let text = ctx
                .json_stringify(result)
                .catch(&ctx)
                .map_err(|e| describe(&ctx, e))?;
            match text {
                None => Ok(Value::Null),
                Some(text) => {
                    let text = text.to_string().map_err(|e| e.to_string())?;
                    serde_json::from_str(&text).map_err(|e| e.to_string())
                }
            }
        })
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
