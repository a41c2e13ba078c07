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
# Prints the client's JSON line, then one with the server's CPU and memory:
#   postgres CPU seconds per 1000 processes (all postgres processes, from /proc),
#   idle CPU % of one core over IDLE_SECS with the worker connected and idle, and the
#   postgres processes' summed RSS at the end (shared buffers counted once per process,
#   so an overestimate).
set -euo pipefail

N=${1:-2000}
C=${2:-50}
WORKERS=${3:-16}
IDLE_SECS=${4:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
GRAPHILE_VERSION=0.18.0
PG_VERSION_NPM=8.23.1

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing Debian's postgresql" >&2
  apt-get install -y -q postgresql >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

TMP=$(mktemp -d /tmp/suslik-pg-peer.XXXXXX)
chmod 755 "$TMP"
PGDATA="$TMP/data"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# PostgreSQL refuses to run as root: run it as the postgres user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

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
  "graphile-worker@$GRAPHILE_VERSION" "pg@$PG_VERSION_NPM" >/dev/null 2>&1)
cp "$HERE/graphile-fanout.js" "$TMP/"

# CPU seconds (utime + stime, children included) of every process of the postgres server.
pg_cpu() {
  local hz total=0 pid
  hz=$(getconf CLK_TCK)
  for pid in $(head -1 "$PGDATA/postmaster.pid") $(pgrep -P "$(head -1 "$PGDATA/postmaster.pid")"); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(awk -v t="$total" '{ print t + $14 + $15 + $16 + $17 }' "/proc/$pid/stat")
  done
  awk -v t="$total" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }'
}
pg_rss_mib() {
  local pid kb=0
  for pid in $(head -1 "$PGDATA/postmaster.pid") $(pgrep -P "$(head -1 "$PGDATA/postmaster.pid")"); do
    kb=$((kb + $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo $((kb / 1024))
}

# The schema (graphile-worker migrates on first start) is set up before measuring.
(cd "$TMP" && node -e 'require("graphile-worker").runMigrations({connectionString: process.env.DATABASE_URL}).then(()=>process.exit(0))')

cpu0=$(pg_cpu)
(cd "$TMP" && IDLE_SECS=$IDLE_SECS node graphile-fanout.js "$N" "$C" "$WORKERS") > "$TMP/out" &
client=$!
# Wait for the run's line; then measure idle CPU while the client stays connected.
until grep -q '"idle"' "$TMP/out" 2>/dev/null || ! kill -0 $client 2>/dev/null; do sleep 0.05; done
cpu1=$(pg_cpu)
rss=$(pg_rss_mib)
if [ "$IDLE_SECS" -gt 0 ]; then sleep "$IDLE_SECS"; fi
cpu2=$(pg_cpu)
wait $client
head -1 "$TMP/out"
idle_pct=null
if [ "$IDLE_SECS" -gt 0 ]; then
  idle_pct=$(awk -v b="$cpu1" -v c="$cpu2" -v s="$IDLE_SECS" 'BEGIN { printf "%.2f", (c - b) * 100 / s }')
fi
awk -v n="$N" -v a="$cpu0" -v b="$cpu1" -v idle="$IDLE_SECS" -v pct="$idle_pct" -v rss="$rss" 'BEGIN {
  printf "{\"engine\":\"postgres\",\"durability\":\"fsync=on synchronous_commit=on\",\"server_cpu_s\":%.2f,\"cpu_s_per_1000_proc\":%.3f,\"idle_cpu_pct\":%s,\"idle_secs\":%d,\"rss_mib_sum\":%d}\n", b - a, (b - a) * 1000 / n, pct, idle, rss }'
