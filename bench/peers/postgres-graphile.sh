#!/usr/bin/env bash
# The Postgres job-queue peer of suslik-bench: Debian's PostgreSQL with graphile-worker
# (npm) runs the fan-out/fan-in workload (start + 3 parallel steps + sum per process,
# concurrency C) with durability on (fsync = on, synchronous_commit = on, full_page_writes
# = on: PostgreSQL's defaults, stated explicitly). Everything lives in a temporary
# directory on loopback and is removed at the end (also on error or Ctrl-C).
#
# usage: bench/peers/postgres-graphile.sh [N] [C] [WORKER_CONCURRENCY] [IDLE_SECS]
#   N processes (default 2000), C in flight (default 50), graphile-worker concurrency
#   (default 16), seconds of idle CPU measurement after the run (default 30; 0 skips).
# Prints the client's JSON line, then one with the server's figures, the same fields as
# bench/peers/restate.sh (see server_json in procfs.sh): CPU seconds of all postgres
# processes during the load (from /proc) per 1000 processes, idle CPU % of one core over
# IDLE_SECS with the worker connected and idle, peak RSS (VmHWM) and RSS summed over the
# postgres processes (shared buffers counted once per process, so an overestimate; PSS,
# which splits shared pages, is given too), and the data directory size.
set -euo pipefail

N=${1:-2000}
C=${2:-50}
WORKERS=${3:-16}
IDLE_SECS=${4:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=procfs.sh
source "$HERE/procfs.sh"
GRAPHILE_VERSION=0.18.0
PG_VERSION_NPM=8.23.1

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing Debian's postgresql" >&2
  # An image without package lists needs them first.
  apt-get install -y -q postgresql >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

TMP=$(mktemp -d /tmp/suslik-pg-peer.XXXXXX)
chmod 755 "$TMP"
PGDATA="$TMP/data"
PORT=$(free_port)
# PostgreSQL refuses to run as root: run it as the postgres user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

CLIENT_PID=
BG_PID=
cleanup() {
  # A second signal must not cut the clean-up short.
  trap '' INT TERM
  local pid
  for pid in $BG_PID $CLIENT_PID; do
    kill "$pid" 2>/dev/null || true
  done
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] && chown postgres "$TMP"
as_pg "$PGBIN/initdb" -D "$PGDATA" -U bench --auth=trust >/dev/null
cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$TMP'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
CONF
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$TMP/pg.log" -w start >/dev/null
export DATABASE_URL="postgres://bench@127.0.0.1:$PORT/postgres"

(cd "$TMP" && npm install --silent --no-audit --no-fund \
  "graphile-worker@$GRAPHILE_VERSION" "pg@$PG_VERSION_NPM" >"$TMP/npm.log" 2>&1) \
  || { tail -n 20 "$TMP/npm.log" >&2; echo "postgres-graphile.sh: npm install failed" >&2; exit 1; }
cp "$HERE/graphile-fanout.js" "$TMP/"

# The postgres server: the postmaster and every process under it.
postmaster() { head -1 "$PGDATA/postmaster.pid"; }

# The schema (graphile-worker migrates on first start) is set up before measuring.
(cd "$TMP" && node -e 'require("graphile-worker").runMigrations({connectionString: process.env.DATABASE_URL}).then(()=>process.exit(0))')

cpu0=$(tree_cpu_s "$(postmaster)")
(cd "$TMP" && IDLE_SECS=$IDLE_SECS exec node graphile-fanout.js "$N" "$C" "$WORKERS") > "$TMP/out" &
CLIENT_PID=$!
# Wait for the run's line; then measure memory and idle CPU while the client stays
# connected (it waits IDLE_SECS + 2 s after its line).
until grep -q '"idle"' "$TMP/out" 2>/dev/null || ! kill -0 "$CLIENT_PID" 2>/dev/null; do sleep 0.05; done
tree_snapshot "$(postmaster)"
cpu1=$CPU_S
data_kb=$(dir_kb "$PGDATA")
data_app_kb=$(dir_apparent_kb "$PGDATA")
if [ "$IDLE_SECS" -gt 0 ] && kill -0 "$CLIENT_PID" 2>/dev/null; then
  sleep "$IDLE_SECS" &
  BG_PID=$!
  wait "$BG_PID" || true
  BG_PID=
fi
cpu2=$(tree_cpu_s "$(postmaster)")
client_rc=0
wait "$CLIENT_PID" || client_rc=$?
CLIENT_PID=
if ! grep -q '^{"engine"' "$TMP/out"; then
  echo "postgres-graphile.sh: the load client printed no result (exit $client_rc)" >&2
  exit 1
fi
grep -m1 '^{"engine"' "$TMP/out"
cpu_load=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.3f", b - a }')
server_json postgres "$("$PGBIN/postgres" --version | awk '{ print $3 }') (graphile-worker $GRAPHILE_VERSION)" \
  "fsync=on synchronous_commit=on" "$N" "$cpu_load" \
  "$(idle_pct "$cpu1" "$cpu2" "$IDLE_SECS")" "$IDLE_SECS" \
  "$PEAK_KB" "$RSS_KB" "$PSS_KB" "$PROCS" "$data_kb" "$data_app_kb" \
  ",\"worker_concurrency\":$WORKERS"
exit "$client_rc"
