#!/usr/bin/env bash
# Sparse-index serving against nginx, repeated: RUNS full runs of index-vs-nginx.sh in each
# layout, alternating the layouts run by run (shared, pinned, shared, pinned…), then the
# median over the runs of each run's medians: req/s of both servers, their ratio and their
# p99, for 200s (`plain`), 304s (`conditional`) and, unless PACE_MS is empty, the same at
# equal offered load (`@paced`). A single run on two shared cores can land anywhere in a wide
# range; the median of three full runs, each with its own seed data, nginx and warm-ups, is
# the figure to quote. The server CPU time per request of both sides (from /proc, user +
# system) and their ratio are printed too: on a machine shared with other work they move far
# less than req/s.
#
# The comparison as quoted in BENCHMARKS.md (release build first):
#   RUNS=3 ROUNDS=1 DURATION=6s PACE_MS= scripts/bench/index-vs-nginx-runs.sh
# The last lines printed are a Markdown table, ready to paste.
#
# Settings (environment): RUNS (3), LAYOUTS ("shared pinned"; `shared` lets both sides use
# every core, `pinned` is PINNED=1: servers on CPU 1, wrk on CPU 0), RESULTS (output
# directory); everything else (ROUNDS, DURATION, PACKAGES, PACE_MS, NGINX_OPEN_FILE_CACHE,
# WHARF_BIN with SKIP_BUILD=1, WHARF_EXTRA_ARGS, PERF_STAT, …) goes through to
# index-vs-nginx.sh; with PERF_STAT=1 each run's per-request counts are in its perf.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

COMMAND="$(env | grep -E '^(RUNS|LAYOUTS|ROUNDS|DURATION|PACKAGES|PACE_MS|NGINX_OPEN_FILE_CACHE|CONNECTIONS|PERF_STAT|WHARF_EXTRA_ARGS)=' |
  sort | sed -E 's/^([A-Z_]+)=(.*)$/\1="\2"/' | tr '\n' ' ')$0"
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
RUNS=${RUNS:-3}
LAYOUTS=${LAYOUTS:-shared pinned}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/index-vs-nginx-runs-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RESULTS"

build_release
for layout in $LAYOUTS; do
  case $layout in
    shared | pinned) ;;
    *) die "unknown layout \`$layout\` in LAYOUTS; use shared and/or pinned" ;;
  esac
done

for run in $(seq 1 "$RUNS"); do
  for layout in $LAYOUTS; do
    log "run $run of $RUNS, $layout"
    pinned=0
    [ "$layout" = pinned ] && pinned=1
    PINNED=$pinned SKIP_BUILD=1 RESULTS="$RESULTS/$layout-$run" \
      "$ROOT/scripts/bench/index-vs-nginx.sh" >"$RESULTS/$layout-$run.out" \
      2> >(tee "$RESULTS/$layout-$run.log" >&2) \
      || die "run $run ($layout) failed; see $RESULTS/$layout-$run.log"
  done
done

# field_over_runs LAYOUT MODE COLUMN — that column of every run's medians.tsv, one per line.
field_over_runs() {
  local run
  for run in $(seq 1 "$RUNS"); do
    awk -F'\t' -v m="$2" -v c="$3" 'NR > 1 && $1 == m { print $c }' "$RESULTS/$1-$run/medians.tsv"
  done
}
# cpu_ratio_over_runs LAYOUT MODE — nginx's CPU time per request over Wharf's, one run per line.
cpu_ratio_over_runs() {
  paste <(field_over_runs "$1" "$2" 7) <(field_over_runs "$1" "$2" 8) |
    awk '{ printf "%.2f\n", $2 / $1 }'
}
MODES=$(awk -F'\t' 'NR > 1 { print $1 }' "$RESULTS/${LAYOUTS%% *}-1/medians.tsv")
{
  echo "# Sparse index: wharf vs nginx, median of $RUNS runs per layout"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); load average at start $LOAD_AT_START; each run's own summary is in $RESULTS/<layout>-<run>/summary.md."
  echo "Command: \`$COMMAND\`"
  echo "Every figure is the median over the runs of that run's median over its rounds."
  echo
  echo "| layout | mode | wharf req/s | nginx req/s | ratio | ratio per run | wharf p99 µs | nginx p99 µs | wharf CPU µs/req | nginx CPU µs/req | CPU ratio (nginx/wharf) |"
  echo "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"
  for layout in $LAYOUTS; do
    for mode in $MODES; do
      per_run=$(field_over_runs "$layout" "$mode" 4 | paste -sd' ')
      echo "| $layout | $mode | $(field_over_runs "$layout" "$mode" 2 | median)" \
        "| $(field_over_runs "$layout" "$mode" 3 | median)" \
        "| $(field_over_runs "$layout" "$mode" 4 | median)× | $per_run" \
        "| $(field_over_runs "$layout" "$mode" 5 | median)" \
        "| $(field_over_runs "$layout" "$mode" 6 | median)" \
        "| $(field_over_runs "$layout" "$mode" 7 | median)" \
        "| $(field_over_runs "$layout" "$mode" 8 | median)" \
        "| $(cpu_ratio_over_runs "$layout" "$mode" | median)× |"
    done
  done
  if [ "${PERF_STAT:-0}" = 1 ]; then
    for layout in $LAYOUTS; do
      for run in $(seq 1 "$RUNS"); do
        echo
        echo "Per-request counts, $layout run $run:"
        cat "$RESULTS/$layout-$run/perf.md"
      done
    done
  fi
} >"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
