//! The expression language of workflow parameters: `{{ ... }}` templates
//! whose expressions are property paths (evaluated natively, the fast
//! path) or one JavaScript expression (evaluated in the sandbox of
//! [`js_sandbox`]).

pub mod js;
pub mod path;
pub mod refs;
pub mod scope;
pub mod template;

pub use scope::{NoSteps, Scope, StepSource, StepView};
pub use template::{Compiled, Expr, TemplateError, TemplateNote, Unresolved};
