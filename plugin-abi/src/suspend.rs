//! How a node asks its host to suspend the execution until a due time (a
//! long `wait`), in the node's answer: plain JSON, so no type crosses the
//! boundary. A host that keeps executions durably (a shared queue) sets
//! [`AFTER_MS`] in the node type's configuration; the node then answers
//! `{UNTIL_MS: <ms since the epoch>, OUTPUT: <its real output>}` instead of
//! waiting, and the host records `OUTPUT` as the node's output and runs the
//! rest of the execution when it is due.

/// Node-type configuration: waits longer than this many milliseconds
/// suspend the execution.
pub const AFTER_MS: &str = "suspendAfterMs";

/// In the answer: when the execution is due again (ms since the Unix
/// epoch).
pub const UNTIL_MS: &str = "__plugflowSuspendUntilMs";

/// In the answer: the node's real output, which the host records.
pub const OUTPUT: &str = "__plugflowSuspendedOutput";
