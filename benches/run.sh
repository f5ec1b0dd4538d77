#!/usr/bin/env bash
# Runs every benchmark and regenerates docs/PERFORMANCE.md from their output.
# Takes 15-20 minutes on 2 cores (criterion, then callgrind instruction
# counts). Run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p plugflow
cargo bench -p plugflow-benches "$@"
benches/instructions.sh
cargo run --release -q -p plugflow-benches --bin perf-report > docs/PERFORMANCE.md
echo "wrote docs/PERFORMANCE.md"
