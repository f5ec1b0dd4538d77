//! Secrets through the whole stack: a hostile plugin (loaded from its
//! `.so`) puts its resolved credentials in its output, its error and its
//! log line; none of them reaches a result, a log line or an audit record.
//!
//! Its own test binary: a `tracing` subscriber scoped to one thread is
//! only reliable when no other test runs in the process.
//!
//! This file runs the suite in-process; `secrets_process_tier.rs` runs
//! it with every plugin in plugin-host processes.

fn tier() -> Tier {
    Tier::InProcess
}

include!("suites/secrets.rs");
