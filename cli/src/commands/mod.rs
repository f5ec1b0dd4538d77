//! One module per subcommand.

pub mod audit;
pub mod db;
mod describe;
pub mod graph;
pub mod plugins;
pub mod run;
pub mod scaffold;
pub mod serve;
pub mod validate;
