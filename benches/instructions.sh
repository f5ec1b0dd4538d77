#!/usr/bin/env bash
# Instruction counts per node (valgrind callgrind; repeatable on a shared
# machine, unlike times). Each figure is a marginal cost: the difference
# between two chain lengths divided by the difference in nodes, so fixed
# start-up cost cancels out.
#
#   benches/instructions.sh            # 1,000 and 10,000 nodes
#   benches/instructions.sh 1000 100000
#
# Prints one JSON object a line, and writes them all to
# target/plugflow-bench/instructions.json for perf-report.
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-1000}
large=${2:-10000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
# Every package, so the built-in plugins exist as .so files for the
# dynamic phases; the dagrs example for the whole-process comparison.
cargo build --release -q --workspace
cargo build --release -q -p plugflow-benches --examples
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=target/plugflow-bench
mkdir -p "$out"

# inclusive instruction count of function $2 in callgrind file $1
inclusive() {
  callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
    awk -v f="$2" '!found && $0 ~ f {gsub(",", "", $1); found = $1} END {print found}'
}
total() { grep -h '^summary:' "$1" | awk '{print $2}'; }
grind() { valgrind --tool=callgrind --callgrind-out-file="$1" "${@:2}" >/dev/null 2>&1; }
per_node() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.0f", (b - a) / n}'; }

results=()
emit() {
  local line="{\"what\": \"$1\", \"instructionsPerNode\": $2, \"nodes\": [$small, $large]}"
  echo "$line"
  results+=("$line")
}

for kind in static dynamic; do
  for n in "$small" "$large"; do
    grind "$work/phases-$kind.$n" target/release/profile "phases-$kind" "$n"
  done
  for phase in parse compile validate run output; do
    a=$(inclusive "$work/phases-$kind.$small" "profile::measure_$phase")
    b=$(inclusive "$work/phases-$kind.$large" "profile::measure_$phase")
    emit "engine/$phase/$kind" "$(per_node "$a" "$b" $((large - small)))"
  done
done

for kind in static dynamic; do
  workload=execute
  [ "$kind" = dynamic ] && workload=execute-dynamic
  for n in "$small" "$large"; do
    grind "$work/execute-$kind.$n" target/release/profile "$workload" "$n"
  done
  a=$(inclusive "$work/execute-$kind.$small" "profile::measure_execute")
  b=$(inclusive "$work/execute-$kind.$large" "profile::measure_execute")
  emit "registry/execute/$kind" "$(per_node "$a" "$b" $((large - small)))"
done

for n in "$small" "$large"; do
  target/release/profile write-chain "$n" "$work/chain$n.json"
  grind "$work/validate.$n" target/release/plugflow validate "$work/chain$n.json" --output json
  grind "$work/run.$n" target/release/plugflow run "$work/chain$n.json" --output json
  grind "$work/dagrs.$n" target/release/examples/dagrs-chain "$n"
done
emit "process/validate" "$(per_node "$(total "$work/validate.$small")" "$(total "$work/validate.$large")" $((large - small)))"
emit "process/run" "$(per_node "$(total "$work/run.$small")" "$(total "$work/run.$large")" $((large - small)))"
emit "process/dagrs" "$(per_node "$(total "$work/dagrs.$small")" "$(total "$work/dagrs.$large")" $((large - small)))"

printf '%s\n' "${results[@]}" | jq -s . > "$out/instructions.json" 2>/dev/null ||
  { printf '[%s]\n' "$(IFS=,; echo "${results[*]}")" > "$out/instructions.json"; }
echo "wrote $out/instructions.json" >&2
