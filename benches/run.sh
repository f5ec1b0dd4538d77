#!/usr/bin/env bash
# Runs every benchmark and regenerates docs/PERFORMANCE.md from their output.
# Takes 10-15 minutes on 2 cores. Run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p plugflow
cargo bench -p plugflow-benches "$@"
cargo run --release -q -p plugflow-benches --bin perf-report > docs/PERFORMANCE.md
echo "wrote docs/PERFORMANCE.md"
