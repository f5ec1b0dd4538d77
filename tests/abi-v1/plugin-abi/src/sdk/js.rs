//! JavaScript expressions in a sandboxed QuickJS engine (feature `js`): no
//! file, network or environment access (QuickJS has none unless a host adds
//! modules, and none is added), a memory cap and a time limit per
//! evaluation. The host evaluates workflow templates with it; plugins use it
//! for per-item expressions (`$item`, `$index`).
//!
//! One runtime per thread (QuickJS values are not `Send`); each expression
//! is compiled once per thread into a function of the named parameters.
//!
//! ```
//! use plugin_abi::sdk::js;
//! let args = [Some("{\"age\": 20}".to_owned()), Some("0".to_owned())];
//! let adult = js::eval("$item.age >= 18", "$item,$index", &mut |i| Ok(args[i].clone())).unwrap();
//! assert_eq!(adult, serde_json::json!(true));
//! assert!(js::eval("while (true) {}", "", &mut |_| Ok(None)).is_err());
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::function::Args;
use rquickjs::{CatchResultExt, Context, Ctx, Function, Persistent, Runtime};
use serde_json::Value;

/// Memory one thread's JavaScript runtime may use.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Stack one evaluation may use.
pub const STACK_LIMIT: usize = 512 * 1024;
/// Time one evaluation may take.
pub const TIME_LIMIT: Duration = Duration::from_millis(500);
/// Compiled functions kept per thread before the cache is emptied.
const FUNCTION_CACHE: usize = 4096;

// Field order is drop order: saved functions must be freed before the
// context and runtime that own them, or QuickJS aborts at thread exit.
struct Engine {
    /// Parameter list → source → compiled function.
    functions: HashMap<String, HashMap<String, Persistent<Function<'static>>>>,
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
    params: &str,
) -> Result<Function<'js>, String> {
    if let Some(f) = engine
        .functions
        .get(params)
        .and_then(|by_source| by_source.get(source))
    {
        return f.clone().restore(ctx).map_err(|e| e.to_string());
    }
    let wrapped = format!("(function({params}) {{ return ({source}\n); }})");
    let function: Function<'js> = ctx.eval(wrapped).catch(ctx).map_err(|e| describe(ctx, e))?;
    let cached: usize = engine.functions.values().map(HashMap::len).sum();
    if cached >= FUNCTION_CACHE {
        engine.functions.clear();
    }
    engine
        .functions
        .entry(params.to_owned())
        .or_default()
        .insert(source.to_owned(), Persistent::save(ctx, function.clone()));
    Ok(function)
}

fn push_arg<'js>(ctx: &Ctx<'js>, args: &mut Args<'js>, json: Option<String>) -> Result<(), String> {
    match json {
        None => args
            .push_arg(rquickjs::Undefined)
            .map_err(|e| e.to_string()),
        Some(text) => {
            let value = ctx.json_parse(text).map_err(|e| e.to_string())?;
            args.push_arg(value).map_err(|e| e.to_string())
        }
    }
}

/// Checks that `source` compiles as an expression over the comma-separated
/// parameter names `params`, without running it.
pub fn check_syntax(source: &str, params: &str) -> Result<(), String> {
    with_engine(|engine| {
        let context = engine.context.clone();
        context.with(|ctx| compile(engine, &ctx, source, params).map(|_| ()))
    })
}

/// Evaluates `source` as a function of the comma-separated parameter names
/// `params`. `arg(i)` gives parameter `i` as JSON text, or `None` for
/// `undefined`; it is asked only for as many parameters as `params` names.
/// `undefined` results are `null`; functions are an error.
pub fn eval(
    source: &str,
    params: &str,
    arg: &mut dyn FnMut(usize) -> Result<Option<String>, String>,
) -> Result<Value, String> {
    with_engine(|engine| {
        let context = engine.context.clone();
        let deadline = engine.deadline.clone();
        context.with(|ctx| {
            let function = compile(engine, &ctx, source, params)?;
            let count = if params.trim().is_empty() {
                0
            } else {
                params.split(',').count()
            };
            let mut args = Args::new(ctx.clone(), count);
            for i in 0..count {
                push_arg(&ctx, &mut args, arg(i)?)?;
            }
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

/// The expression in parameter `name`: written bare (`$item.age > 18`) or
/// as one template (`{{ $item.age > 18 }}`), whose braces are removed.
pub fn expression_param(
    request: &super::NodeRequest,
    name: &str,
) -> Result<String, super::NodeError> {
    let text = request.str_param(name)?.trim();
    let inner = text
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .filter(|t| !t.contains("{{"))
        .unwrap_or(text)
        .trim();
    if inner.is_empty() {
        return Err(super::NodeError::invalid_parameter(
            name,
            "the expression is empty",
        ));
    }
    Ok(inner.to_owned())
}
