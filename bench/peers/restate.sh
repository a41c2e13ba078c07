#!/usr/bin/env bash
# The Restate peer of suslik-bench: Restate 1.7.12 (npm) runs the fan-out/fan-in workload
# (bench/peers/restate-fanout.js: fan/run(n) calls worker/step three times in parallel,
# then worker/sum: 5 invocations per process) under a closed-loop load of N processes, C
# in flight (bench/peers/restate-load.js, every result checked). Everything lives in a
# temporary directory, on loopback ports chosen free at start, and is removed at the end
# (also on error, Ctrl-C or SIGTERM).
#
# Durability: Restate's defaults, nothing changed. A single node runs every role; its log
# (Bifrost, default provider "replicated" with replication 1, so the local log-server)
# keeps records in RocksDB with the WAL on and fsync'd on every write batch
# (log-server rocksdb-disable-wal-fsync = false); the partition store runs RocksDB with
# its WAL off and is rebuilt from the log. An invocation's journal entries are in the
# log before the invocation moves on, and its result before the ingress answers.
# Telemetry is switched off (RESTATE_DISABLE_TELEMETRY; npm install scripts, among them
# the Scarf analytics one of restate-server, are not run).
#
# usage: bench/peers/restate.sh [N] [C] [IDLE_SECS]
#   N processes (default 2000), C in flight (default 50), seconds of idle CPU measurement
#   after the run with the service registered and no load (default 30; 0 skips it).
# Prints the client's JSON line (processes/s, tasks/s = 5 invocations per process,
# p50/p99 ms, errors), then one JSON line with the server's figures, the same fields as
# bench/peers/postgres-graphile.sh (see server_json in procfs.sh): restate-server CPU
# seconds during the load (its process tree, /proc) per 1000 processes, idle CPU % of one
# core, peak RSS (VmHWM), RSS and PSS after the load, data directory size (allocated and
# apparent; RocksDB preallocates its WAL files). The Node service's CPU is reported apart
# (service_cpu_s): it is the workers, which for Suslik run in the load generator.
set -euo pipefail

N=${1:-2000}
C=${2:-50}
IDLE_SECS=${3:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=procfs.sh
source "$HERE/procfs.sh"
RESTATE_VERSION=1.7.12
# The TypeScript SDK that speaks a service protocol Restate 1.7.12 accepts (5..7) and runs
# on Node 20 (with the Promise.withResolvers polyfill in restate-fanout.js).
SDK_VERSION=1.17.2

TMP=$(mktemp -d /tmp/suslik-restate-peer.XXXXXX)
SERVER_PID=
SERVICE_PID=
CLIENT_PID=
BG_PID=

cleanup() {
  # A second signal must not cut the clean-up short.
  trap '' INT TERM
  local pid i
  for pid in $BG_PID $CLIENT_PID $SERVICE_PID; do
    kill "$pid" 2>/dev/null || true
  done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for i in $(seq 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "restate.sh: $*" >&2
  for log in "$TMP/server.log" "$TMP/service.log"; do
    if [ -s "$log" ]; then
      echo "--- last lines of $(basename "$log"):" >&2
      tail -n 15 "$log" >&2
    fi
  done
  exit 1
}

# Sleeps in the background so that a signal interrupts the wait at once.
pause() {
  sleep "$1" &
  BG_PID=$!
  wait "$BG_PID" || true
  BG_PID=
}

command -v node >/dev/null || fail "node is not installed"
command -v npm >/dev/null || fail "npm is not installed"
command -v curl >/dev/null || fail "curl is not installed"

echo "restate.sh: installing restate-server $RESTATE_VERSION and restate-sdk $SDK_VERSION in $TMP" >&2
(cd "$TMP" && SCARF_ANALYTICS=false npm install --no-audit --no-fund --save-exact --ignore-scripts \
  "@restatedev/restate-server@$RESTATE_VERSION" "@restatedev/restate@$RESTATE_VERSION" \
  "@restatedev/restate-sdk@$SDK_VERSION" >"$TMP/npm.log" 2>&1) \
  || { tail -n 20 "$TMP/npm.log" >&2; fail "npm install failed"; }
SERVER_BIN=$(ls "$TMP"/node_modules/@restatedev/restate-server-linux-*/bin/restate-server 2>/dev/null | head -1)
[ -x "$SERVER_BIN" ] || fail "no restate-server binary for this platform in node_modules"
cp "$HERE/restate-fanout.js" "$HERE/restate-load.js" "$TMP/"

FABRIC=$(free_port)
INGRESS=$(free_port)
ADMIN=$(free_port)
PGSQL=$(free_port)
SERVICE=$(free_port)
(
  cd "$TMP"
  export RESTATE_BASE_DIR="$TMP/data" \
    RESTATE_BIND_ADDRESS="127.0.0.1:$FABRIC" \
    RESTATE_ADVERTISED_ADDRESS="http://127.0.0.1:$FABRIC" \
    RESTATE_INGRESS__BIND_ADDRESS="127.0.0.1:$INGRESS" \
    RESTATE_ADMIN__BIND_ADDRESS="127.0.0.1:$ADMIN" \
    RESTATE_ADMIN__QUERY_ENGINE__PGSQL_BIND_ADDRESS="127.0.0.1:$PGSQL" \
    RESTATE_DISABLE_TELEMETRY=true \
    RESTATE_LOG_DISABLE_ANSI_CODES=true
  exec "$SERVER_BIN" --no-logo
) >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

# Wait until the admin API answers (the node has provisioned itself).
for i in $(seq 600); do
  kill -0 "$SERVER_PID" 2>/dev/null || fail "restate-server exited during start-up"
  curl -sf -o /dev/null "http://127.0.0.1:$ADMIN/health" && break
  [ "$i" = 600 ] && fail "restate-server's admin API did not answer within 60 s"
  sleep 0.1
done

(cd "$TMP" && PORT=$SERVICE exec node restate-fanout.js) >"$TMP/service.log" 2>&1 &
SERVICE_PID=$!
# Register the service (retried until the service listens and the admin accepts it).
for i in $(seq 300); do
  kill -0 "$SERVICE_PID" 2>/dev/null || fail "the Node service exited during start-up"
  curl -sf -o "$TMP/register.json" -X POST "http://127.0.0.1:$ADMIN/deployments" \
    -H 'content-type: application/json' -d "{\"uri\":\"http://127.0.0.1:$SERVICE\"}" && break
  [ "$i" = 300 ] && fail "registering the service failed for 30 s"
  sleep 0.1
done
# One process end to end before measuring (the registration reaches the ingress
# asynchronously): fan/run(0) must return 6.
for i in $(seq 300); do
  out=$(curl -s -X POST "http://127.0.0.1:$INGRESS/fan/run" -H 'content-type: application/json' -d 0 || true)
  [ "$out" = 6 ] && break
  [ "$i" = 300 ] && fail "fan/run(0) did not return 6 within 30 s (last answer: $out)"
  sleep 0.1
done

cpu0=$(tree_cpu_s "$SERVER_PID")
svc0=$(tree_cpu_s "$SERVICE_PID")
(cd "$TMP" && exec node restate-load.js "$N" "$C" "http://127.0.0.1:$INGRESS") >"$TMP/client.out" &
CLIENT_PID=$!
client_rc=0
wait "$CLIENT_PID" || client_rc=$?
CLIENT_PID=
kill -0 "$SERVER_PID" 2>/dev/null || fail "restate-server died during the load"
tree_snapshot "$SERVER_PID"
cpu1=$CPU_S
svc1=$(tree_cpu_s "$SERVICE_PID")
data_kb=$(dir_kb "$TMP/data")
data_app_kb=$(dir_apparent_kb "$TMP/data")

grep -q '^{' "$TMP/client.out" || fail "the load client printed no result (exit $client_rc)"
if [ "$IDLE_SECS" -gt 0 ]; then
  pause "$IDLE_SECS"
fi
cpu2=$(tree_cpu_s "$SERVER_PID")

grep -m1 '^{' "$TMP/client.out"
cpu_load=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.3f", b - a }')
svc_cpu=$(awk -v a="$svc0" -v b="$svc1" 'BEGIN { printf "%.3f", b - a }')
server_json restate "$RESTATE_VERSION (sdk $SDK_VERSION)" \
  "defaults: log WAL fsync per write batch" "$N" "$cpu_load" \
  "$(idle_pct "$cpu1" "$cpu2" "$IDLE_SECS")" "$IDLE_SECS" \
  "$PEAK_KB" "$RSS_KB" "$PSS_KB" "$PROCS" "$data_kb" "$data_app_kb" \
  ",\"service_cpu_s\":$svc_cpu"
exit "$client_rc"
