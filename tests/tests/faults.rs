//! Run-time faults of plugins loaded from their `.so`: every fault is
//! contained, carries its stable error code, and the metrics and the audit
//! log agree with the results. The host survives all of it.
//!
//! This file runs the suite in-process; `faults_process_tier.rs` runs
//! it with every plugin in plugin-host processes.

fn tier() -> Tier {
    Tier::InProcess
}

include!("suites/faults.rs");
