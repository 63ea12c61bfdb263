#!/usr/bin/env bash
# Where a sparse-index request's CPU goes, measured so that other work on the machine does not
# change the figures: instructions per request counted by callgrind, and the kernel/user split
# sampled by perf.
#
# Seeds a registry (release `wharf serve`, publish API), stops it, then:
#   1. runs `valgrind --tool=callgrind` on `wharf serve --workers 1` over that data and, for
#      200s (plain GETs) and 304s (each file's own ETag in If-None-Match), zeroes the counters,
#      sends a fixed number of requests with wrk (random-index.lua, WRK_REQUESTS), dumps the
#      counters and divides the instructions (Ir) by the requests the server counted on
#      /metrics: user-space instructions per request, the same on a busy machine and a quiet
#      one. callgrind-self.awk splits each dump by function, per request
#      (callgrind-<mode>.txt; the inclusive view is callgrind-<mode>-inclusive.txt);
#   2. unless PERF=0, runs the same release server without valgrind and samples it with
#      `perf record -e cpu-clock` (hardware counters are often absent in virtual machines)
#      during a wrk run of each mode, and reports the share of samples in the kernel and in
#      user space, and the top symbols (perf-<mode>.txt).
#
# Settings (environment): PACKAGES (500), VERSIONS (4), REQUESTS (5000 per mode),
# CONNECTIONS (16), PERF (1), PERF_SECONDS (10), WHARF_PORT (18490), RESULTS (output
# directory), WHARF_BIN (a saved wharf binary to measure) with SKIP_BUILD=1 (no cargo build).
# Comparing two builds: run this once per binary (WHARF_BIN=… SKIP_BUILD=1) and compare the
# `instructions per request` lines of the two summaries.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=${PACKAGES:-500}
VERSIONS=${VERSIONS:-4}
REQUESTS=${REQUESTS:-5000}
CONNECTIONS=${CONNECTIONS:-16}
PERF=${PERF:-1}
PERF_SECONDS=${PERF_SECONDS:-10}
WHARF_PORT=${WHARF_PORT:-18490}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/index-profile-$(date -u +%Y%m%dT%H%M%SZ)}
LUA="$ROOT/scripts/bench/random-index.lua"
URL="http://127.0.0.1:$WHARF_PORT"

ensure_tools valgrind:valgrind wrk:wrk curl:curl
[ "$PERF" = 1 ] && ensure_tools perf:linux-perf
build_release
begin_work index-profile

log "seeding $PACKAGES packages × $VERSIONS versions"
start_wharf "$WORK/data" "$WHARF_PORT" "$RESULTS/wharf.log"
TOKEN=$("$WHARF" token create --data "$WORK/data" --user bench 2>>"$RESULTS/wharf.log" | tail -n1)
"$LOAD" seed --url "$URL" --token "$TOKEN" --packages "$PACKAGES" --versions "$VERSIONS" \
  --paths-out "$WORK/paths.txt" 2>>"$RESULTS/seed.log" | tee -a "$RESULTS/seed.log" >&2
"$LOAD" fetch-index --url "$URL" --paths "$WORK/paths.txt" --etags-out "$WORK/etags.tsv" >&2
stop_pid "$WHARF_PID"
WHARF_PID=""

# served MODE — index-file requests the server has answered with that mode's status.
served() {
  local status=200
  [ "$1" = conditional ] && status=304
  curl -s "$URL/metrics" |
    awk -v s="$status" '$1 == "wharf_http_requests_total{route=\"index_file\",status=\"" s "\"}" { print $2 }' |
    grep . || echo 0
}

# load MODE COUNT — COUNT requests of the mode from one wrk thread, CONNECTIONS at once; wrk
# is stopped once its thread has had its answers (it would otherwise wait out its -d).
load() {
  local done_file="$WORK/wrk-done" pid waited=0
  rm -f "$done_file"
  WRK_REQUESTS=$2 WRK_DONE_FILE=$done_file wrk -t1 -c"$CONNECTIONS" -d3600s --timeout 30s \
    -s "$LUA" "$URL" -- "$WORK/etags.tsv" "$1" >>"$RESULTS/wrk.log" 2>&1 &
  pid=$!
  until [ -e "$done_file" ]; do
    kill -0 "$pid" 2>/dev/null || die "wrk ended early; see $RESULTS/wrk.log"
    [ $waited -lt 6000 ] || die "wrk did not finish $2 requests in 10 minutes"
    sleep 0.1
    waited=$((waited + 1))
  done
  stop_pid "$pid" INT
}

log "callgrind: starting wharf serve --workers 1 under valgrind"
valgrind --tool=callgrind --callgrind-out-file="$RESULTS/callgrind.out" \
  "$WHARF" serve --data "$WORK/data" --listen "127.0.0.1:$WHARF_PORT" --workers 1 \
  >>"$RESULTS/valgrind.log" 2>&1 &
WHARF_PID=$!
wait_http "$URL/ready" 600 || die "wharf under valgrind did not become ready; see $RESULTS/valgrind.log"
SUMMARY="$RESULTS/summary.md"
{
  echo "# Sparse index: instructions per request (callgrind) and kernel/user split (perf)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $(wc -l <"$WORK/paths.txt") index files;" \
    "wrk -t1 -c$CONNECTIONS, $REQUESTS requests per mode after a warm-up."
  echo
  machine_info "$WORK"
  echo "- $(valgrind --version)"
  echo
  echo "| mode | requests counted | instructions (Ir) | instructions per request |"
  echo "|---|---:|---:|---:|"
} >"$SUMMARY"
dump=0
for mode in plain conditional; do
  load "$mode" $((REQUESTS / 10))
  before=$(served "$mode")
  callgrind_control --zero "$WHARF_PID" >/dev/null
  load "$mode" "$REQUESTS"
  callgrind_control --dump="$mode" "$WHARF_PID" >/dev/null
  after=$(served "$mode")
  dump=$((dump + 1))
  file="$RESULTS/callgrind.out.$dump"
  [ -f "$file" ] || die "callgrind wrote no $file; see $RESULTS/valgrind.log"
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
  requests=$((after - before))
  # Each function's own instructions per request, then the inclusive view (who calls what).
  # (`sed` reads to the end: `head` would leave `sort` to die of SIGPIPE, ending the script.)
  awk -v REQUESTS="$requests" -f "$ROOT/scripts/bench/callgrind-self.awk" "$file" | sort -rn |
    sed -n 1,60p >"$RESULTS/callgrind-$mode.txt"
  callgrind_annotate --inclusive=yes "$file" >"$RESULTS/callgrind-$mode-inclusive.txt"
  echo "| $mode | $requests | $ir | $(awk -v i="$ir" -v n="$requests" 'BEGIN { printf "%.0f", i / n }') |" >>"$SUMMARY"
  log "callgrind $mode: $requests requests, $ir instructions"
done
stop_pid "$WHARF_PID"
WHARF_PID=""

if [ "$PERF" = 1 ]; then
  {
    echo
    echo "perf record -e cpu-clock over a ${PERF_SECONDS}s wrk -t2 -c64 run per mode (all workers):"
    echo
    echo "| mode | samples | kernel | user |"
    echo "|---|---:|---:|---:|"
  } >>"$SUMMARY"
  start_wharf "$WORK/data" "$WHARF_PORT" "$RESULTS/wharf.log"
  for mode in plain conditional; do
    timeout 120 wrk -t2 -c64 -d"$((PERF_SECONDS + 2))s" -s "$LUA" "$URL" -- "$WORK/etags.tsv" "$mode" \
      >>"$RESULTS/wrk.log" 2>&1 &
    wrk_pid=$!
    sleep 1
    perf record -e cpu-clock -F 4999 -g -p "$WHARF_PID" -o "$RESULTS/perf-$mode.data" \
      -- sleep "$PERF_SECONDS" >>"$RESULTS/perf.log" 2>&1 || die "perf failed; see $RESULTS/perf.log"
    wait "$wrk_pid" || die "wrk failed; see $RESULTS/wrk.log"
    perf report -i "$RESULTS/perf-$mode.data" --no-children --sort sym --stdio -g none \
      >"$RESULTS/perf-$mode.txt" 2>/dev/null || die "perf report failed on $RESULTS/perf-$mode.data"
    # The sample count by privilege level: `[k]` kernel, `[.]` user.
    split=$(awk '$1 ~ /%$/ { p = $1; sub(/%/, "", p); if ($2 == "[k]") k += p; else if ($2 == "[.]") u += p }
      END { printf "%.1f %% | %.1f %%", k, u }' "$RESULTS/perf-$mode.txt")
    samples=$(awk '/^# Samples:/ { print $3; exit }' "$RESULTS/perf-$mode.txt")
    echo "| $mode | $samples | $split |" >>"$SUMMARY"
  done
fi
cat "$SUMMARY"
log "annotated profiles in $RESULTS"
