# Shared by the peer scripts of suslik-bench (sourced, not run): what a server process
# tree costs, read from Linux /proc, so that every peer reports the same figures the
# same way suslik-bench measures its own broker (bench/src/procfs.rs).
#
#   tree_cpu_s PID...    utime+stime+cutime+cstime of the processes and all their
#                        descendants, seconds (%.3f); cutime/cstime keep the CPU of
#                        children that already exited
#   tree_snapshot PID... sets CPU_S as above, PEAK_KB and RSS_KB (VmHWM, VmRSS summed
#                        over the processes), PSS_KB (Pss from smaps_rollup: shared
#                        pages split between the processes that map them, so not
#                        double-counted) and PROCS (how many processes)
#   dir_kb DIR           allocated size of DIR in KiB (du); dir_apparent_kb: file lengths

# One pass over /proc, in one process, so that every figure describes the same moment
# (a shell loop forking per process took seconds on a busy machine, long enough for
# the processes to change between two readings).
_proc_figures() {
  python3 - "$@" <<'PY'
import os, sys
roots = {int(p) for p in sys.argv[1:] if p.isdigit()}
parent = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            with open(f"/proc/{d}/stat") as f:
                parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            pass
tree = {p for p in roots if p in parent}
grew = True
while grew:
    kids = {p for p, pp in parent.items() if pp in tree and p not in tree}
    tree |= kids
    grew = bool(kids)
ticks = hwm = rss = pss = count = 0
def field(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
for p in tree:
    try:
        with open(f"/proc/{p}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        # Fields 14-17 (utime, stime, cutime, cstime) are rest[11:15].
        ticks += sum(int(x) for x in rest[11:15])
    except (OSError, ValueError, IndexError):
        continue
    count += 1
    hwm += field(f"/proc/{p}/status", "VmHWM")
    rss += field(f"/proc/{p}/status", "VmRSS")
    pss += field(f"/proc/{p}/smaps_rollup", "Pss")
hz = os.sysconf("SC_CLK_TCK")
print(f"{ticks / hz:.3f} {hwm} {rss} {pss} {count}")
PY
}

# tree_cpu_s PID...: CPU seconds of the trees.
tree_cpu_s() { _proc_figures "$@" | awk '{ print $1 }'; }

# tree_snapshot PID...: sets CPU_S, PEAK_KB, RSS_KB, PSS_KB and PROCS from one pass.
tree_snapshot() {
  # shellcheck disable=SC2034 # read by the caller
  read -r CPU_S PEAK_KB RSS_KB PSS_KB PROCS < <(_proc_figures "$@")
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
