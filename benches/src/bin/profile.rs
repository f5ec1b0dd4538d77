//! A fixed workload for profilers (perf, `valgrind --tool=callgrind`):
//! `profile WORKLOAD RUNS` runs the workload RUNS times after one warm-up
//! run. Run it with two RUNS values and subtract to get the instruction
//! count of the runs alone, free of set-up:
//!
//! ```text
//! valgrind --tool=callgrind target/release/profile chain-static 1
//! valgrind --tool=callgrind target/release/profile chain-static 11
//! ```
//!
//! Workloads: `chain-static`, `chain-dynamic` (1,000-node chain of
//! `noop.pass`), `fan-static` (1,000-wide fan-out + join).

use plugflow_engine::{Engine, RunOptions, RunStatus};
use plugin_abi::request::ExecContext;

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "chain-static".into());
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(10);
    let (registry, _dir) = match workload.as_str() {
        "chain-dynamic" => {
            let (r, d) = plugflow_benches::dynamic_noop();
            (r, Some(d))
        }
        _ => (plugflow_benches::static_noop(), None),
    };
    let compiled = if workload.starts_with("fan") {
        plugflow_benches::fan_out_in(1000)
    } else {
        plugflow_benches::chain(1000)
    };
    let engine = Engine::new(registry);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options = || RunOptions {
        context: ExecContext {
            tenant_id: Some("acme".into()),
            execution_id: "profile".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    for _ in 0..=runs {
        let result = runtime
            .block_on(engine.run(&compiled, options()))
            .expect("valid");
        assert_eq!(result.status, RunStatus::Success);
    }
}
