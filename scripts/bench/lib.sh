# Helpers shared by the benchmark scripts; sourced, not run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WHARF="${WHARF_BIN:-$TARGET_DIR/release/wharf}"
LOAD="${WHARF_LOAD_BIN:-$TARGET_DIR/release/wharf-load}"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ensure_tools "cmd:debian-package" ... — installs the packages of missing commands with apt-get.
ensure_tools() {
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 \
    || die "could not install ${missing[*]}"
}

# Release builds of `wharf` and `wharf-load` (skipped with SKIP_BUILD=1, e.g. to measure a
# saved binary given as WHARF_BIN).
build_release() {
  [ "${SKIP_BUILD:-0}" = 1 ] && return 0
  log "building wharf and wharf-load (release)"
  (cd "$ROOT" && cargo build --release --locked -p wharf-cli -p wharf-bench --bins) >&2
}

# begin_work NAME — creates $RESULTS and a temporary $WORK directory, and arranges that on
# exit the servers this script started ($WHARF_PID, $NGINX_PID) are stopped and $WORK removed.
begin_work() {
  mkdir -p "$RESULTS"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/wharf-$1.XXXXXX")
  WHARF_PID=""
  NGINX_PID=""
  trap end_work EXIT
  trap 'exit 130' INT TERM
}

# end_work — what begin_work runs on exit.
end_work() {
  [ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID" QUIT
  [ -n "$WHARF_PID" ] && stop_pid "$WHARF_PID"
  rm -rf "$WORK"
}

# port_free PORT — true when nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http URL SECONDS — waits until URL answers 200.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# start_wharf DATA_DIR PORT LOG — starts `wharf serve` on loopback (with WHARF_EXTRA_ARGS, if
# set, e.g. `--storage s3://bucket/prefix`); sets WHARF_PID.
start_wharf() {
  local data=$1 port=$2 logfile=$3
  port_free "$port" || die "port $port is in use; set WHARF_PORT"
  # shellcheck disable=SC2086 # SERVER_TASKSET is empty or a `taskset -c CPUS` prefix
  ${SERVER_TASKSET:-} "$WHARF" serve --data "$data" --listen "127.0.0.1:$port" \
    ${SERVER_WORKERS:+--workers "$SERVER_WORKERS"} ${WHARF_EXTRA_ARGS:-} >>"$logfile" 2>&1 &
  WHARF_PID=$!
  wait_http "http://127.0.0.1:$port/ready" 120 || die "wharf did not become ready; see $logfile"
}

# stop_pid PID [SIGNAL] — stops a process this script started and waits for it.
stop_pid() {
  local pid=$1 signal=${2:-TERM}
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null && [ $waited -lt 150 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null || true
}

# machine_info DIR — the machine and the filesystem DIR is on, as Markdown list items.
machine_info() {
  local dir=$1
  echo "- CPU: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "- memory: $(free -h | awk '/^Mem:/ {print $2}')"
  echo "- kernel: $(uname -r)"
  echo "- filesystem of the data directory: $(df -T "$dir" | awk 'NR == 2 {print $2 " on " $1}')"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# median — the median of the numbers on stdin (mean of the middle two for an even count).
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) { print v[(NR + 1) / 2] } else { printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }
  }'
}

# cpu_ticks PID... — user + system CPU time of the processes so far, in clock ticks.
cpu_ticks() {
  local pid total=0
  for pid in "$@"; do
    total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}

# settle_disk DIR — flushes dirty data, waits (up to 60 s) until the disk holding DIR has
# written nothing for two seconds in a row, then leaves it idle for SETTLE_SECONDS more (20 by
# default), so a measurement does not pay for the I/O of whatever ran before it. On the 2-vCPU
# virtual machines of BENCHMARKS.md, one-publisher runs started right after another run were
# 20-30 % slower than runs after 25 s of idle disk, though the disk statistics showed no
# writes in between: the virtual disk itself needs the rest.
settle_disk() {
  local dev before after quiet=0 waited=0
  dev=$(basename "$(df --output=source "$1" | tail -n1)")
  sync
  before=$(awk -v d="$dev" '$3 == d { print $10 }' /proc/diskstats)
  [ -n "$before" ] || return 0
  while [ $quiet -lt 2 ] && [ $waited -lt 60 ]; do
    sleep 1
    waited=$((waited + 1))
    after=$(awk -v d="$dev" '$3 == d { print $10 }' /proc/diskstats)
    if [ "$after" = "$before" ]; then quiet=$((quiet + 1)); else quiet=0; fi
    before=$after
  done
  sleep "${SETTLE_SECONDS:-20}"
  log "disk $dev settled after $((waited + ${SETTLE_SECONDS:-20}))s"
}

# result_field LINE KEY — the value of KEY=value in a RESULT line.
result_field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
