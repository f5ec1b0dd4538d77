//! The expression language of workflow parameters: `{{ ... }}` templates
//! whose expressions are property paths (evaluated natively, the fast
//! path) or JavaScript (evaluated in a sandboxed QuickJS engine).

pub mod js;
pub mod path;
pub mod scope;
pub mod template;

pub use scope::{NoSteps, Scope, StepSource, StepView};
pub use template::{Compiled, Expr, TemplateError};
