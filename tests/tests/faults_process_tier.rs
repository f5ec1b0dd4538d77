//! Run-time faults of plugins loaded from their `.so`: every fault is
//! contained, carries its stable error code, and the metrics and the audit
//! log agree with the results. The host survives all of it.
//!
//! This file runs the suite with every plugin on the process tier (in
//! supervised plugin-host processes): the same codes, the same masking,
//! the same audit records as in-process.

fn tier() -> Tier {
    Tier::Process(env!("CARGO_BIN_EXE_test-plugin-host").into())
}

include!("suites/faults.rs");
