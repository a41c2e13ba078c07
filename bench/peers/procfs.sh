# Shared by the peer scripts of suslik-bench (sourced, not run): what a server process
# tree costs, read from Linux /proc, so that every peer reports the same figures the
# same way suslik-bench measures its own broker (bench/src/procfs.rs).
#
#   tree_pids PID        PID and all its descendants, one per line
#   tree_cpu_s PID...    utime+stime+cutime+cstime of the trees, seconds (%.3f);
#                        cutime/cstime keep the CPU of children that already exited
#   tree_kb FIELD PID... sum of a /proc/<pid>/status field (VmHWM, VmRSS) over the trees
#   tree_pss_kb PID...   sum of Pss (/proc/<pid>/smaps_rollup): shared pages split
#                        between the processes that map them, so not double-counted
#   tree_count PID...    number of processes in the trees
#   dir_kb DIR           allocated size of DIR in KiB (du); dir_apparent_kb: file lengths

tree_pids() {
  local pid=$1 child
  [ -d "/proc/$pid" ] || return 0
  echo "$pid"
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do
    tree_pids "$child"
  done
}

_all_pids() {
  local root
  for root in "$@"; do tree_pids "$root"; done
}

tree_cpu_s() {
  local hz ticks=0 pid t
  hz=$(getconf CLK_TCK)
  for pid in $(_all_pids "$@"); do
    # Fields after the command name (which may hold spaces): field 3 is $1, so
    # utime/stime/cutime/cstime (fields 14-17) are $12-$15.
    t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }') || t=0
    ticks=$((ticks + ${t:-0}))
  done
  awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }'
}

tree_kb() {
  local field=$1 kb=0 pid v
  shift
  for pid in $(_all_pids "$@"); do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null) || v=0
    kb=$((kb + ${v:-0}))
  done
  echo "$kb"
}

tree_pss_kb() {
  local kb=0 pid v
  for pid in $(_all_pids "$@"); do
    v=$(awk '$1 == "Pss:" { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null) || v=0
    kb=$((kb + ${v:-0}))
  done
  echo "$kb"
}

tree_count() {
  _all_pids "$@" | wc -l
}

dir_kb() { du -sk "$1" 2>/dev/null | awk '{ print $1 }'; }
dir_apparent_kb() { du -sk --apparent-size "$1" 2>/dev/null | awk '{ print $1 }'; }

# The server line both peer scripts print (one JSON object, same fields):
#   server_json ENGINE VERSION DURABILITY N CPU_LOAD_S IDLE_PCT|null IDLE_SECS \
#               PEAK_KB RSS_KB PSS_KB PROCS DATA_KB DATA_APPARENT_KB EXTRA_JSON
# EXTRA_JSON is "" or ',"key":value...' for engine-specific figures.
server_json() {
  awk -v engine="$1" -v version="$2" -v dur="$3" -v n="$4" -v cpu="$5" -v pct="$6" \
      -v idle="$7" -v peak="$8" -v rss="$9" -v pss="${10}" -v procs="${11}" \
      -v data="${12}" -v app="${13}" -v extra="${14}" 'BEGIN {
    printf "{\"engine\":\"%s\",\"version\":\"%s\",\"durability\":\"%s\",", engine, version, dur
    printf "\"server_cpu_s\":%.3f,\"cpu_s_per_1000_proc\":%.3f,", cpu, cpu * 1000 / (n > 0 ? n : 1)
    printf "\"idle_cpu_pct\":%s,\"idle_secs\":%d,", pct, idle
    printf "\"peak_rss_mib\":%.1f,\"rss_mib\":%.1f,\"pss_mib\":%.1f,\"server_processes\":%d,", peak / 1024, rss / 1024, pss / 1024, procs
    printf "\"data_mib\":%.1f,\"data_apparent_mib\":%.1f%s}\n", data / 1024, app / 1024, extra
  }'
}

# Idle CPU % of one core between two CPU readings IDLE_SECS apart ("null" if skipped).
idle_pct() {
  if [ "$3" -gt 0 ]; then
    awk -v b="$1" -v c="$2" -v s="$3" 'BEGIN { printf "%.2f", (c - b) * 100 / s }'
  else
    echo null
  fi
}

# A free loopback TCP port (nobody listened on it a moment ago).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
