//! Sandboxed JavaScript expressions for plugflow: workflow templates
//! (`{{ $json.total > 100 }}`) in the host and per-item expressions
//! (`$item.age >= 18`) in plugins.
//!
//! An expression is text written by a workflow author, so it is treated as
//! hostile:
//!
//! * it must parse as **exactly one JavaScript expression** ([`check`]),
//!   with a real parser, before QuickJS ever sees it — text such as
//!   `1); while(true); (1` cannot close the wrapper it is compiled in;
//! * compiling, calling and converting the result (including `toJSON`,
//!   getters and proxy traps that run during conversion) all happen under
//!   one deadline ([`TIME_LIMIT`], or an earlier one the caller gives);
//! * each thread's QuickJS runtime has a memory cap ([`MEMORY_LIMIT`]) and a
//!   stack cap ([`STACK_LIMIT`]);
//! * the realm is frozen: the global object and every built-in are
//!   immutable, and expressions run in strict mode, so nothing one
//!   evaluation does is visible to the next (no cross-execution or
//!   cross-tenant channel through `globalThis`);
//! * QuickJS has no file, network, process or environment access unless a
//!   host adds modules; none is added.
//!
//! ```
//! let args = [Some(r#"{"age": 20}"#.to_owned()), Some("0".to_owned())];
//! let adult = js_sandbox::eval("$item.age >= 18", "$item,$index", &mut |i| Ok(args[i].clone())).unwrap();
//! assert_eq!(adult, serde_json::json!(true));
//! // Not one expression: refused before anything is compiled.
//! assert!(js_sandbox::check("1); while (true); (1").is_err());
//! // Loops stop at the deadline.
//! assert!(js_sandbox::eval("(() => { while (true) {} })()", "", &mut |_| Ok(None)).is_err());
//! ```
#![warn(missing_docs)]

mod engine;
mod error;
mod realm;
mod syntax;

pub use engine::{eval, eval_until, MEMORY_LIMIT, STACK_LIMIT, TIME_LIMIT};
pub use error::EvalError;
pub use syntax::{check, SyntaxError};
