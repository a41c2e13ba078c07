#!/usr/bin/env bash
# Starts a three-node Suslik cluster on loopback for a person to try.
#
#   scripts/cluster.sh            # build (release) and start nodes 1..3 on ports 7701..7703
#   scripts/cluster.sh stop       # stop them
#   scripts/cluster.sh status     # ask node 1 for the cluster status
#
# Data lives in ./cluster-data/node-N, logs in ./cluster-data/node-N.log. Any node
# accepts any client call (followers forward to the leader). Try killing the leader
# with `kill -9` and watch `scripts/cluster.sh status` elect a new one.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
data="${SUSLIK_CLUSTER_DATA:-$root/cluster-data}"
bin="$root/target/release/suslik"
peers="1=127.0.0.1:7701,2=127.0.0.1:7702,3=127.0.0.1:7703"

case "${1:-start}" in
  start)
    cargo build --release --locked -p suslik-broker --bin suslik --manifest-path "$root/Cargo.toml"
    mkdir -p "$data"
    for n in 1 2 3; do
      "$bin" serve --node-id "$n" --listen "127.0.0.1:770$n" --data-dir "$data/node-$n" \
        --peers "$peers" >"$data/node-$n.log" 2>&1 &
      echo $! >"$data/node-$n.pid"
      echo "node $n: http://127.0.0.1:770$n (pid $!, log $data/node-$n.log)"
    done
    echo "stop with: $0 stop"
    ;;
  stop)
    for n in 1 2 3; do
      if [ -f "$data/node-$n.pid" ]; then
        kill "$(cat "$data/node-$n.pid")" 2>/dev/null || true
        rm -f "$data/node-$n.pid"
      fi
    done
    ;;
  status)
    "$bin" cluster status --server 127.0.0.1:7701
    ;;
  *)
    echo "usage: $0 [start|stop|status]" >&2
    exit 2
    ;;
esac
