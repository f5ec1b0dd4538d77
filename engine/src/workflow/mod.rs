//! MetaBuilder workflow v3: the document model, parsing with precise
//! errors, and the graph with its structural checks.

pub mod graph;
pub mod model;
mod parse;
mod problem;
pub(crate) mod read;

pub use graph::Graph;
pub use model::Workflow;
pub use parse::ParseError;
pub use problem::Problem;
