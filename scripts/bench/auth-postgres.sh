#!/usr/bin/env bash
# Authenticated sparse-index GETs on a node whose metadata is in PostgreSQL
# (`--auth-required`, every request carrying a valid token): two `wharf` binaries, e.g. one
# built before a change and one after, each on its own database of the same cluster seeded
# with the same packages (a newer schema is refused by an older binary), in alternating rounds.
# Prints per-round figures and medians, and keeps raw wrk output under $RESULTS.
#
# Settings (environment): WHARF_BEFORE and WHARF_BIN (the two binaries, required; debug builds
# are fine, with WHARF_LOAD_BIN naming a wharf-load and SKIP_BUILD=1), PACKAGES (500),
# VERSIONS (2), ROUNDS (3), DURATION (8s), WARMUP (2s), THREADS (2), CONNECTIONS (32),
# WHARF_PORT (18484), RESULTS (output directory).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=${PACKAGES:-500}
VERSIONS=${VERSIONS:-2}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
WHARF_PORT=${WHARF_PORT:-18484}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/auth-postgres-$(date -u +%Y%m%dT%H%M%SZ)}
LUA="$ROOT/scripts/bench/random-index.lua"
URL="http://127.0.0.1:$WHARF_PORT"
BEFORE=${WHARF_BEFORE:?set WHARF_BEFORE to the binary measured first in each round}
AFTER=$WHARF

ensure_tools wrk:wrk curl:curl
build_release
begin_work auth-postgres
start_postgres
trap 'end_work; stop_postgres' EXIT

# serve WHICH [public] — (re)starts the binary WHICH (before|after) as a node on its own
# database and data, requiring a token unless `public` is given.
serve() {
  [ -n "$WHARF_PID" ] && stop_pid "$WHARF_PID"
  WHARF_PID=""
  local auth=true binary=$AFTER
  [ "$1" = before ] && binary=$BEFORE
  [ "${2:-}" = public ] && auth=false
  WHARF="$binary" WHARF_AUTH_REQUIRED=$auth WHARF_DATABASE="${DATABASE[$1]}" \
    start_wharf "$WORK/$1" "$WHARF_PORT" "$RESULTS/wharf-$1.log"
}

declare -A DATABASE TOKEN
for which in before after; do
  DATABASE[$which]=$(pg_database "wharf_$which")
  serve "$which" public
  binary=$AFTER
  [ "$which" = before ] && binary=$BEFORE
  TOKEN[$which]=$(WHARF_DATABASE="${DATABASE[$which]}" "$binary" token create --data "$WORK/$which" \
    --user bench 2>>"$RESULTS/wharf-$which.log" | tail -n1)
  log "seeding $PACKAGES packages × $VERSIONS versions through $which"
  "$LOAD" seed --url "$URL" --token "${TOKEN[$which]}" --packages "$PACKAGES" \
    --versions "$VERSIONS" --paths-out "$WORK/paths-$which.txt" 2>>"$RESULTS/seed.log" \
    | tee -a "$RESULTS/seed.log" >&2
  "$LOAD" fetch-index --url "$URL" --paths "$WORK/paths-$which.txt" \
    --etags-out "$WORK/etags-$which.tsv" >&2
  serve "$which"
  FIRST=$(head -n1 "$WORK/paths-$which.txt")
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/index/$FIRST")" = 401 ] \
    || die "the auth-required server answered an anonymous GET without 401"
done

{
  echo "# Authenticated sparse-index GETs on PostgreSQL: $BEFORE vs $AFTER"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $(wc -l <"$WORK/paths-after.txt") index files on each database."
  echo
  machine_info "$WORK"
  echo "- wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up per round)"
  echo
} >"$RESULTS/summary.md"

# run_wrk WHICH DURATION OUT — one wrk run of plain GETs with the token against the running
# server WHICH.
run_wrk() {
  local which=$1 duration=$2 out=$3 before after result
  before=$(cpu_ticks "$WHARF_PID")
  WRK_AUTH_TOKEN=${TOKEN[$which]} timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" \
    --timeout 5s --latency -s "$LUA" "$URL" -- "$WORK/etags-$which.tsv" plain >"$out" 2>&1 \
    || die "wrk failed; see $out"
  after=$(cpu_ticks "$WHARF_PID")
  result=$(grep '^WRK_RESULT' "$out") || die "no result in $out"
  [ "$(result_field "$result" non_2xx_3xx)" = 0 ] || die "some answers were errors; see $out"
  echo "$result cpu_us_per_req=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    -v n="$(result_field "$result" requests)" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
}

TABLE="$RESULTS/rounds.tsv"
printf 'round\tbinary\trps\tp50_us\tp99_us\tcpu_us_per_req\n' >"$TABLE"
for round in $(seq 1 "$ROUNDS"); do
  for which in before after; do
    serve "$which"
    run_wrk "$which" "$WARMUP" "$RESULTS/warmup-$round-$which.txt" >/dev/null
    line=$(run_wrk "$which" "$DURATION" "$RESULTS/plain-$round-$which.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$which" "$(result_field "$line" rps)" \
      "$(result_field "$line" p50_us)" "$(result_field "$line" p99_us)" \
      "$(result_field "$line" cpu_us_per_req)" >>"$TABLE"
    log "round $round $which: $line"
  done
done

column_of() { awk -F'\t' -v b="$1" -v c="$2" 'NR > 1 && $2 == b { print $c }' "$TABLE"; }
{
  echo "| round | binary | req/s | p50 µs | p99 µs | server CPU µs/req |"
  echo "|---|---|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$TABLE"
  echo
  b_rps=$(column_of before 3 | median)
  a_rps=$(column_of after 3 | median)
  echo "| | before | after | after/before |"
  echo "|---|---:|---:|---:|"
  echo "| median req/s | $b_rps | $a_rps | $(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN { printf "%.2f", a / b }') |"
  echo "| median server CPU µs/req | $(column_of before 6 | median) | $(column_of after 6 | median) | |"
} >>"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
