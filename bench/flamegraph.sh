#!/usr/bin/env bash
# Flamegraphs of the broker's hot path under the fan-out benchmark (issue 7: "profile the
# hot path (flamegraph) to say why"). Profiles only the broker child that suslik-bench
# starts (`suslik-bench __serve`), never the load generator, and renders one SVG per run:
#
#   docs/flamegraph-default.svg   fanout --concurrency 50  (batch 16, 4 pollers: the defaults)
#   docs/flamegraph-batched.svg   fanout --concurrency 200 --batch 64
#
# Needs: perf (linux-perf), inferno (`cargo install inferno --locked`). The release
# profile already carries line tables (`debug = 1` in the workspace Cargo.toml); stacks are
# unwound from DWARF (`--call-graph dwarf`), since std and most crates have no frame
# pointers. The runs are longer than the benchmark table's (2,000 processes last 0.7 s),
# so that the profile covers the steady state.
#
# Environment: OUT (directory of the SVGs, default docs), FREQ (samples/s, default 499),
# MINWIDTH (prune frames narrower than this many percent, default 0.1; keeps the SVGs
# small), BENCH (a prebuilt suslik-bench: skips the build), KEEP (keep perf.data and the
# folded stacks in this directory), RUNS ("default batched" or one of them).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-docs}
FREQ=${FREQ:-499}
MINWIDTH=${MINWIDTH:-0.1}
RUNS=${RUNS:-"default batched"}
if [[ -z "${BENCH:-}" ]]; then
  cargo build --release --locked -p suslik-bench
  BENCH=target/release/suslik-bench
fi
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
command -v inferno-flamegraph >/dev/null || { echo "inferno is missing (cargo install inferno --locked)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# profile NAME TITLE BENCH-ARGS...: runs the benchmark, records the broker child from the
# moment it serves until it exits, and writes $OUT/flamegraph-NAME.svg.
profile() {
  local name=$1 title=$2
  shift 2
  "$BENCH" fanout --idle-secs 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  local bench=$!
  local child=""
  for _ in $(seq 1 400); do
    child=$(pgrep -P "$bench" -f __serve || true)
    [[ -n "$child" ]] && break
    sleep 0.025
  done
  [[ -n "$child" ]] || { echo "no broker child of $bench" >&2; cat "$work/$name.err" >&2; exit 1; }
  # perf stops by itself when the child exits (the bench stops it at the end).
  perf record -F "$FREQ" --call-graph dwarf,16384 -p "$child" -o "$work/$name.data" \
    2>"$work/$name.perf.err" >/dev/null &
  local perf=$!
  wait "$bench" || { echo "benchmark $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
  wait "$perf" || true
  grep '^{' "$work/$name.out" >&2 || true
  # The child's shutdown (dropping the whole state at exit, 3-6 % of the samples) is
  # not the hot path: left out.
  perf script -i "$work/$name.data" 2>/dev/null | inferno-collapse-perf --all |
    grep -v 'suslik_broker::node::Node::shutdown' >"$work/$name.folded"
  # Named by the last commit that changed the code profiled (docs commits do not count).
  local rev
  rev=$(git log -1 --format=%h -- broker bench/src Cargo.lock)
  inferno-flamegraph --minwidth "$MINWIDTH" --title "$title" --subtitle "broker at $rev; suslik-bench fanout --idle-secs 0 $*" \
    <"$work/$name.folded" >"$OUT/flamegraph-$name.svg"
  echo "$OUT/flamegraph-$name.svg: $(wc -c <"$OUT/flamegraph-$name.svg") bytes, $(wc -l <"$work/$name.folded") distinct stacks" >&2
  if [[ -n "${KEEP:-}" ]]; then
    mkdir -p "$KEEP"
    cp "$work/$name.data" "$work/$name.folded" "$work/$name.out" "$KEEP/"
  fi
}

for run in $RUNS; do
  case $run in
    default)
      profile default "Broker, fan-out C=50 (batch 16, 4 pollers per actor)" \
        --processes 20000 --concurrency 50 ;;
    batched)
      profile batched "Broker, fan-out C=200 --batch 64" \
        --processes 40000 --concurrency 200 --batch 64 ;;
    *) echo "unknown run $run (default, batched)" >&2; exit 2 ;;
  esac
done
