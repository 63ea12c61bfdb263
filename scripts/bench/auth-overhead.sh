#!/usr/bin/env bash
# What `--auth-required` costs on sparse-index GETs: the same `wharf` binary on the same data,
# public and then requiring a token (every request carrying a valid one, as cargo sends it),
# in alternating rounds of plain (200) and conditional (304) GETs of random index files.
# Prints per-round figures and medians, and keeps raw wrk output under $RESULTS.
#
# Settings (environment): PACKAGES (2000), VERSIONS (4), ROUNDS (3), DURATION (8s),
# WARMUP (2s), THREADS (2), CONNECTIONS (64), WHARF_PORT (18483), RESULTS (output directory),
# WHARF_BIN (a saved wharf binary to measure) with SKIP_BUILD=1 (no cargo build).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=${PACKAGES:-2000}
VERSIONS=${VERSIONS:-4}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
WHARF_PORT=${WHARF_PORT:-18483}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/auth-overhead-$(date -u +%Y%m%dT%H%M%SZ)}
LUA="$ROOT/scripts/bench/random-index.lua"
URL="http://127.0.0.1:$WHARF_PORT"

ensure_tools wrk:wrk curl:curl
build_release
begin_work auth-bench

# serve public|auth — (re)starts wharf on the benchmark's data in the given mode.
serve() {
  [ -n "$WHARF_PID" ] && stop_pid "$WHARF_PID"
  WHARF_PID=""
  if [ "$1" = auth ]; then
    WHARF_AUTH_REQUIRED=true start_wharf "$WORK/data" "$WHARF_PORT" "$RESULTS/wharf.log"
  else
    start_wharf "$WORK/data" "$WHARF_PORT" "$RESULTS/wharf.log"
  fi
}

serve public
TOKEN=$("$WHARF" token create --data "$WORK/data" --user bench 2>>"$RESULTS/wharf.log" | tail -n1)
log "seeding $PACKAGES packages × $VERSIONS versions"
"$LOAD" seed --url "$URL" --token "$TOKEN" --packages "$PACKAGES" --versions "$VERSIONS" \
  --paths-out "$WORK/paths.txt" 2>>"$RESULTS/seed.log" | tee -a "$RESULTS/seed.log" >&2
"$LOAD" fetch-index --url "$URL" --paths "$WORK/paths.txt" --etags-out "$WORK/etags.tsv" >&2

serve auth
FIRST=$(head -n1 "$WORK/paths.txt")
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/index/$FIRST")" = 401 ] \
  || die "the auth-required server answered an anonymous GET without 401"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $TOKEN" "$URL/index/$FIRST")" = 200 ] \
  || die "the auth-required server refused the token"

{
  echo "# Sparse index: public vs --auth-required"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $(wc -l <"$WORK/paths.txt") index files; same binary, same data."
  echo
  machine_info "$WORK"
  echo "- wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up per mode)"
  echo
} >"$RESULTS/summary.md"

# run_wrk ACCESS MODE DURATION OUT — one wrk run against the running server.
run_wrk() {
  local access=$1 mode=$2 duration=$3 out=$4 before after result token=""
  [ "$access" = auth ] && token=$TOKEN
  before=$(cpu_ticks "$WHARF_PID")
  WRK_AUTH_TOKEN=$token timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" \
    --timeout 5s --latency -s "$LUA" "$URL" -- "$WORK/etags.tsv" "$mode" >"$out" 2>&1 \
    || die "wrk failed; see $out"
  after=$(cpu_ticks "$WHARF_PID")
  result=$(grep '^WRK_RESULT' "$out") || die "no result in $out"
  [ "$(result_field "$result" non_2xx_3xx)" = 0 ] || die "some answers were errors; see $out"
  echo "$result cpu_us_per_req=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    -v n="$(result_field "$result" requests)" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
}

TABLE="$RESULTS/rounds.tsv"
printf 'mode\tround\taccess\trps\tp50_us\tp99_us\tcpu_us_per_req\n' >"$TABLE"
for round in $(seq 1 "$ROUNDS"); do
  for access in public auth; do
    serve "$access"
    for mode in plain conditional; do
      run_wrk "$access" "$mode" "$WARMUP" "$RESULTS/warmup-$round-$access-$mode.txt" >/dev/null
      line=$(run_wrk "$access" "$mode" "$DURATION" "$RESULTS/$mode-$round-$access.txt")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$round" "$access" \
        "$(result_field "$line" rps)" "$(result_field "$line" p50_us)" \
        "$(result_field "$line" p99_us)" "$(result_field "$line" cpu_us_per_req)" >>"$TABLE"
      log "$mode round $round $access: $line"
    done
  done
done

column_of() { awk -F'\t' -v m="$1" -v a="$2" -v c="$3" 'NR > 1 && $1 == m && $3 == a { print $c }' "$TABLE"; }
{
  echo "| mode | round | access | req/s | p50 µs | p99 µs | server CPU µs/req |"
  echo "|---|---|---|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$TABLE"
  echo
  echo "| mode | public median req/s | auth median req/s | auth/public | public median CPU µs/req | auth median CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|"
  for mode in plain conditional; do
    p_rps=$(column_of "$mode" public 4 | median)
    a_rps=$(column_of "$mode" auth 4 | median)
    ratio=$(awk -v a="$a_rps" -v b="$p_rps" 'BEGIN { printf "%.2f", a / b }')
    echo "| $mode | $p_rps | $a_rps | $ratio | $(column_of "$mode" public 7 | median) | $(column_of "$mode" auth 7 | median) |"
  done
} >>"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
