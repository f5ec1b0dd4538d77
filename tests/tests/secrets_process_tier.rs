//! Secrets through the whole stack: a hostile plugin (loaded from its
//! `.so`) puts its resolved credentials in its output, its error and its
//! log line; none of them reaches a result, a log line or an audit record.
//!
//! Its own test binary: a `tracing` subscriber scoped to one thread is
//! only reliable when no other test runs in the process.
//!
//! This file runs the suite with every plugin on the process tier (in
//! supervised plugin-host processes): the same codes, the same masking,
//! the same audit records as in-process.

fn tier() -> Tier {
    Tier::Process(env!("CARGO_BIN_EXE_test-plugin-host").into())
}

include!("suites/secrets.rs");
