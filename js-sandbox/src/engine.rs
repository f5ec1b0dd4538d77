//! One QuickJS runtime per thread, its frozen realm, and compiled
//! expressions cached as functions of their parameter names.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::function::Args;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Persistent, Runtime};
use serde_json::Value;

use crate::error::EvalError;
use crate::realm::FREEZE;
use crate::syntax::check;

/// Memory one thread's JavaScript runtime may use.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Stack one evaluation may use.
pub const STACK_LIMIT: usize = 512 * 1024;
/// Time one evaluation may take: compiling, running and converting its
/// result together.
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

fn engine_error(e: impl std::fmt::Display) -> EvalError {
    EvalError::Engine(e.to_string())
}

fn new_engine() -> Result<Engine, EvalError> {
    let runtime = Runtime::new().map_err(engine_error)?;
    runtime.set_memory_limit(MEMORY_LIMIT);
    runtime.set_max_stack_size(STACK_LIMIT);
    let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let watch = deadline.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || {
        watch.get().is_some_and(|d| Instant::now() >= d)
    })));
    let context = Context::full(&runtime).map_err(engine_error)?;
    context.with(|ctx| {
        ctx.eval::<(), _>(FREEZE)
            .catch(&ctx)
            .map_err(|e| EvalError::Engine(format!("cannot freeze the realm: {e}")))
    })?;
    Ok(Engine {
        functions: HashMap::new(),
        context,
        deadline,
    })
}

fn with_engine<T>(f: impl FnOnce(&mut Engine) -> Result<T, EvalError>) -> Result<T, EvalError> {
    ENGINE.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(|_| {
            EvalError::Engine("an expression cannot evaluate another expression".to_owned())
        })?;
        if slot.is_none() {
            *slot = Some(new_engine()?);
        }
        match slot.as_mut() {
            Some(engine) => f(engine),
            None => Err(EvalError::Engine(
                "JavaScript engine unavailable".to_owned(),
            )),
        }
    })
}

/// What a thrown value says, for people: an Error's `name: message`, a
/// string as it is, other values by kind (never a heap address).
fn thrown_message(error: &CaughtError<'_>) -> String {
    match error {
        CaughtError::Error(e) => e.to_string(),
        CaughtError::Exception(e) => {
            let message = e.message().unwrap_or_default();
            let name = e
                .get::<_, String>("name")
                .unwrap_or_else(|_| "Error".to_owned());
            if message.is_empty() {
                name
            } else {
                format!("{name}: {message}")
            }
        }
        CaughtError::Value(v) => {
            if let Some(s) = v.as_string().and_then(|s| s.to_string().ok()) {
                format!("threw {s:?}")
            } else if let Some(n) = v.as_number() {
                format!("threw {n}")
            } else if let Some(b) = v.as_bool() {
                format!("threw {b}")
            } else {
                format!("threw a value of type {}", v.type_name())
            }
        }
    }
}

fn describe(error: CaughtError<'_>, limit: Duration) -> EvalError {
    let message = thrown_message(&error);
    if message.contains("interrupted") {
        EvalError::Timeout {
            limit_ms: limit.as_millis(),
        }
    } else if message.to_ascii_lowercase().contains("out of memory") {
        EvalError::OutOfMemory
    } else {
        EvalError::Thrown(message.lines().next().unwrap_or_default().to_owned())
    }
}

/// Text that parsers disagree on (HTML-like comments are a comment in some
/// script grammars and operators in others): refused outright.
fn ambiguous(source: &str) -> bool {
    source.contains("<!--") || source.contains("-->")
}

fn compile<'js>(
    engine: &mut Engine,
    ctx: &Ctx<'js>,
    source: &str,
    params: &str,
    limit: Duration,
) -> Result<Function<'js>, EvalError> {
    if let Some(f) = engine
        .functions
        .get(params)
        .and_then(|by_source| by_source.get(source))
    {
        return f.clone().restore(ctx).map_err(engine_error);
    }
    // Parsed as exactly one expression before QuickJS sees it, so the text
    // cannot close the wrapper; compiled under the deadline regardless.
    check(source).map_err(EvalError::Syntax)?;
    if ambiguous(source) {
        return Err(EvalError::Syntax(crate::SyntaxError {
            message: "`<!--` and `-->` are not allowed in expressions".to_owned(),
            offset: None,
        }));
    }
    let wrapped = format!("(function({params}) {{ \"use strict\"; return ({source}\n); }})");
    let function: Function<'js> = ctx
        .eval(wrapped)
        .catch(ctx)
        .map_err(|e| describe(e, limit))?;
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

fn push_arg<'js>(
    ctx: &Ctx<'js>,
    args: &mut Args<'js>,
    json: Option<String>,
    limit: Duration,
) -> Result<(), EvalError> {
    match json {
        None => args.push_arg(rquickjs::Undefined).map_err(engine_error),
        Some(text) => {
            let value = ctx
                .json_parse(text)
                .catch(ctx)
                .map_err(|e| describe(e, limit))?;
            args.push_arg(value).map_err(engine_error)
        }
    }
}

/// Evaluates `source` as a function of the comma-separated parameter names
/// `params`, under [`TIME_LIMIT`]. See [`eval_until`].
pub fn eval(
    source: &str,
    params: &str,
    arg: &mut dyn FnMut(usize) -> Result<Option<String>, String>,
) -> Result<Value, EvalError> {
    eval_until(source, params, arg, None).map(Option::unwrap_or_default)
}

/// Evaluates `source` as a function of the comma-separated parameter names
/// `params`. `arg(i)` gives parameter `i` as JSON text, or `None` for
/// `undefined`; it is asked only for as many parameters as `params` names.
///
/// Everything — compiling, running, converting the result to JSON (which
/// may run `toJSON`, getters and proxy traps) — happens before the earlier
/// of `now + TIME_LIMIT` and `deadline`. `undefined` is `None` (the
/// expression resolved to nothing); functions and symbols are an error.
pub fn eval_until(
    source: &str,
    params: &str,
    arg: &mut dyn FnMut(usize) -> Result<Option<String>, String>,
    deadline: Option<Instant>,
) -> Result<Option<Value>, EvalError> {
    let started = Instant::now();
    let own = started + TIME_LIMIT;
    let until = deadline.map_or(own, |d| d.min(own));
    let limit = until.saturating_duration_since(started);
    if limit.is_zero() {
        return Err(EvalError::Timeout { limit_ms: 0 });
    }
    with_engine(|engine| {
        let context = engine.context.clone();
        let watch = engine.deadline.clone();
        watch.set(Some(until));
        let outcome = context.with(|ctx| run(engine, &ctx, source, params, arg, limit));
        watch.set(None);
        outcome
    })
}

fn run<'js>(
    engine: &mut Engine,
    ctx: &Ctx<'js>,
    source: &str,
    params: &str,
    arg: &mut dyn FnMut(usize) -> Result<Option<String>, String>,
    limit: Duration,
) -> Result<Option<Value>, EvalError> {
    let function = compile(engine, ctx, source, params, limit)?;
    let count = if params.trim().is_empty() {
        0
    } else {
        params.split(',').count()
    };
    let mut args = Args::new(ctx.clone(), count);
    for i in 0..count {
        push_arg(ctx, &mut args, arg(i).map_err(EvalError::Engine)?, limit)?;
    }
    let result: rquickjs::Value<'js> = function
        .call_arg(args)
        .catch(ctx)
        .map_err(|e| describe(e, limit))?;
    if result.is_function() {
        return Err(EvalError::NotAValue("a function"));
    }
    if result.is_symbol() {
        return Err(EvalError::NotAValue("a symbol"));
    }
    let text = ctx
        .json_stringify(result)
        .catch(ctx)
        .map_err(|e| describe(e, limit))?;
    match text {
        None => Ok(None),
        Some(text) => {
            let text = text.to_string().map_err(engine_error)?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| EvalError::Thrown(format!("the result cannot be read as JSON: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: usize) -> Result<Option<String>, String> {
        Ok(None)
    }

    #[test]
    fn an_infinite_loop_stops_at_the_limit() {
        let started = Instant::now();
        let err = eval("(() => { while (true) {} })()", "", &mut none).unwrap_err();
        assert!(matches!(err, EvalError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < TIME_LIMIT * 4);
    }

    #[test]
    fn a_loop_in_to_json_stops_at_the_limit() {
        let err = eval("({toJSON() { while (true) {} }})", "", &mut none).unwrap_err();
        assert!(matches!(err, EvalError::Timeout { .. }), "{err}");
    }

    #[test]
    fn a_loop_in_a_getter_stops_at_the_limit() {
        let err = eval("({get x() { while (true) {} }})", "", &mut none).unwrap_err();
        assert!(matches!(err, EvalError::Timeout { .. }), "{err}");
    }

    #[test]
    fn a_loop_in_a_proxy_trap_stops_at_the_limit() {
        let err = eval(
            "new Proxy({}, {ownKeys() { while (true) {} }})",
            "",
            &mut none,
        )
        .unwrap_err();
        assert!(matches!(err, EvalError::Timeout { .. }), "{err}");
    }

    #[test]
    fn a_caller_deadline_is_honoured() {
        let deadline = Instant::now() + Duration::from_millis(50);
        let started = Instant::now();
        let err = eval_until(
            "(() => { while (true) {} })()",
            "",
            &mut none,
            Some(deadline),
        )
        .unwrap_err();
        assert!(matches!(err, EvalError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(400));
    }

    #[test]
    fn a_memory_bomb_is_stopped_and_the_engine_stays_usable() {
        let err = eval(
            "(() => { let a = []; while (true) { a.push('x'.repeat(1e6)); } })()",
            "",
            &mut none,
        )
        .unwrap_err();
        assert!(
            matches!(err, EvalError::OutOfMemory | EvalError::Timeout { .. }),
            "{err}"
        );
        assert_eq!(eval("1 + 1", "", &mut none).unwrap(), serde_json::json!(2));
    }

    #[test]
    fn globals_do_not_survive_an_evaluation() {
        let err = eval("globalThis.stash = 42", "", &mut none).unwrap_err();
        assert!(matches!(err, EvalError::Thrown(_)), "{err}");
        assert_eq!(
            eval("typeof globalThis.stash", "", &mut none).unwrap(),
            serde_json::json!("undefined")
        );
    }

    #[test]
    fn built_ins_cannot_be_changed() {
        assert!(eval("(Array.prototype.stash = 1)", "", &mut none).is_err());
        assert!(eval("(Object.prototype.toString = () => 'x')", "", &mut none).is_err());
        assert_eq!(
            eval("[].stash === undefined", "", &mut none).unwrap(),
            serde_json::json!(true)
        );
    }

    #[test]
    fn a_wrapper_breakout_is_refused_before_compiling() {
        let started = Instant::now();
        let err = eval(
            "1); }); while(true); /*'*/ (function(){ /*'*/ return (1",
            "",
            &mut none,
        )
        .unwrap_err();
        assert!(matches!(err, EvalError::Syntax(_)), "{err}");
        assert!(started.elapsed() < Duration::from_millis(400));
    }

    #[test]
    fn a_thrown_object_is_described_without_an_address() {
        let err = eval("(() => { throw {code: 1}; })()", "", &mut none).unwrap_err();
        assert_eq!(err.to_string(), "threw a value of type object");
        let err = eval("(() => { throw 'boom'; })()", "", &mut none).unwrap_err();
        assert_eq!(err.to_string(), "threw \"boom\"");
        let err = eval("null.x", "", &mut none).unwrap_err();
        assert!(err.to_string().starts_with("TypeError"), "{err}");
    }

    #[test]
    fn no_file_network_or_process_access() {
        for probe in [
            "require('fs')",
            "process.env.HOME",
            "std.getenv('HOME')",
            "os.exec(['ls'])",
            "fetch('http://127.0.0.1')",
        ] {
            assert!(eval(probe, "", &mut none).is_err(), "{probe} must fail");
        }
    }
}
