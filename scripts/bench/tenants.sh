#!/usr/bin/env bash
# What tenancy costs: index GETs (wrk with random-index.lua) and publishes (`wharf-load
# publish`) against two release `wharf serve` processes in the same run: `one`, a plain
# registry with no tenants (its default paths), and `many`, a server with 100 tenants, measured
# on one of them under /t/<tenant>/. Rounds alternate one, many, one, many… so drift of a shared
# machine hits both alike; the medians over the rounds and their ratio (many / one) are printed
# as a Markdown table. Target: tenancy costs under 10 % (ratio above 0.90 for req/s and
# publishes/s).
#
#   scripts/bench/tenants.sh                       # as quoted in BENCHMARKS.md
#
# Settings (environment): TENANTS (100), PACKAGES (2000 index files seeded per registry),
# VERSIONS (3), ROUNDS (3), DURATION (6s per wrk round), THREADS (1), CONNECTIONS (32),
# PUBLISHES (200 per publish round), PUBLISHERS (4), ONE_PORT (18490), MANY_PORT (18491),
# RESULTS (output directory), WHARF_BIN / WHARF_LOAD_BIN with SKIP_BUILD=1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TENANTS=${TENANTS:-100}
PACKAGES=${PACKAGES:-2000}
VERSIONS=${VERSIONS:-3}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
PUBLISHES=${PUBLISHES:-200}
PUBLISHERS=${PUBLISHERS:-4}
ONE_PORT=${ONE_PORT:-18490}
MANY_PORT=${MANY_PORT:-18491}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/tenants-$(date -u +%Y%m%dT%H%M%SZ)}
LUA="$ROOT/scripts/bench/random-index.lua"
COMMAND="$(env | grep -E '^(TENANTS|PACKAGES|VERSIONS|ROUNDS|DURATION|CONNECTIONS|PUBLISHES|PUBLISHERS)=' | sort | tr '\n' ' ')$0"

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
ensure_tools wrk:wrk curl:curl
build_release
begin_work tenants-bench
ONE_URL="http://127.0.0.1:$ONE_PORT"
MANY_URL="http://127.0.0.1:$MANY_PORT"
MEASURED=$(printf 'tenant%03d' $(((TENANTS + 1) / 2)))

log "starting the plain registry on $ONE_URL"
start_wharf "$WORK/one" "$ONE_PORT" "$RESULTS/one.log"
ONE_PID=$WHARF_PID
log "starting the registry with $TENANTS tenants on $MANY_URL"
start_wharf "$WORK/many" "$MANY_PORT" "$RESULTS/many.log"
MANY_PID=$WHARF_PID
WHARF_PID=""
stop_both() {
  stop_pid "$ONE_PID"
  stop_pid "$MANY_PID"
  rm -rf "$WORK"
}
trap stop_both EXIT
for i in $(seq 1 "$TENANTS"); do
  "$WHARF" tenant create --data "$WORK/many" "$(printf 'tenant%03d' "$i")" 2>>"$RESULTS/many.log"
done
wait_http "$MANY_URL/t/$(printf 'tenant%03d' "$TENANTS")/index/config.json" 120 \
  || die "the server did not pick up the tenants; see $RESULTS/many.log"

ONE_TOKEN=$("$WHARF" token create --data "$WORK/one" --user bench 2>>"$RESULTS/one.log" | tail -n1)
MANY_TOKEN=$("$WHARF" token create --data "$WORK/many" --tenant "$MEASURED" --user bench \
  2>>"$RESULTS/many.log" | tail -n1)
# base URL, token, index prefix and list of each side
side_url() { if [ "$1" = one ]; then echo "$ONE_URL"; else echo "$MANY_URL/t/$MEASURED"; fi; }
side_token() { if [ "$1" = one ]; then echo "$ONE_TOKEN"; else echo "$MANY_TOKEN"; fi; }
side_pid() { if [ "$1" = one ]; then echo "$ONE_PID"; else echo "$MANY_PID"; fi; }
side_host() { if [ "$1" = one ]; then echo "$ONE_URL"; else echo "$MANY_URL"; fi; }
side_prefix() { if [ "$1" = one ]; then echo "/index/"; else echo "/t/$MEASURED/index/"; fi; }

for side in one many; do
  log "seeding $PACKAGES packages × $VERSIONS versions into $side"
  "$LOAD" seed --url "$(side_url $side)" --token "$(side_token $side)" --packages "$PACKAGES" \
    --versions "$VERSIONS" --paths-out "$WORK/$side-paths.txt" >>"$RESULTS/seed.log" 2>&1
  "$LOAD" fetch-index --url "$(side_url $side)" --paths "$WORK/$side-paths.txt" \
    --etags-out "$WORK/$side-etags.tsv" >>"$RESULTS/seed.log" 2>&1
done

# index_round SIDE OUT — one wrk run of plain GETs; prints rps and CPU µs per request.
index_round() {
  local side=$1 out=$2 pid before after result requests
  pid=$(side_pid "$side")
  before=$(cpu_ticks "$pid")
  WRK_INDEX_PREFIX=$(side_prefix "$side") timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" \
    -d"$DURATION" --timeout 5s --latency -s "$LUA" "$(side_host "$side")" -- "$WORK/$side-etags.tsv" \
    >"$out" 2>&1 || die "wrk failed; see $out"
  after=$(cpu_ticks "$pid")
  result=$(grep '^WRK_RESULT' "$out") || die "no result in $out"
  requests=$(result_field "$result" requests)
  echo "$(result_field "$result" rps) $(result_field "$result" non_2xx_3xx)" \
    "$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
      'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
}

# publish_round SIDE ROUND OUT — PUBLISHES new packages; prints publishes/s.
publish_round() {
  local side=$1 round=$2 out=$3
  "$LOAD" publish --url "$(side_url "$side")" --token "$(side_token "$side")" \
    --concurrency "$PUBLISHERS" --count "$PUBLISHES" --prefix "r$round" >"$out" 2>&1 \
    || die "publishes failed; see $out"
  result_field "$(grep '^RESULT' "$out")" per_second
}

TABLE="$RESULTS/rounds.tsv"
printf 'round\tside\tindex_rps\tnon_2xx_3xx\tcpu_us_per_req\tpublishes_per_s\n' >"$TABLE"
for side in one many; do
  log "warm-up: $side"
  DURATION=2s index_round "$side" "$RESULTS/warmup-$side.txt" >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
  for side in one many; do
    read -r rps bad cpu < <(index_round "$side" "$RESULTS/index-$round-$side.txt")
    pps=$(publish_round "$side" "$round" "$RESULTS/publish-$round-$side.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$side" "$rps" "$bad" "$cpu" "$pps" >>"$TABLE"
    log "round $round $side: $rps index req/s ($bad not 2xx/3xx, $cpu µs CPU/req), $pps publishes/s"
  done
done

column_of() { awk -F'\t' -v s="$1" -v c="$2" 'NR > 1 && $2 == s { print $c }' "$TABLE"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b / a }'; }
one_rps=$(column_of one 3 | median) many_rps=$(column_of many 3 | median)
one_cpu=$(column_of one 5 | median) many_cpu=$(column_of many 5 | median)
one_pps=$(column_of one 6 | median) many_pps=$(column_of many 6 | median)
{
  echo "# Tenancy: one registry against one tenant of $TENANTS"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); command: \`$COMMAND\`; rounds alternate one, many."
  echo
  machine_info "$WORK" | grep -v '^- load average'
  echo "- load average at start: $LOAD_AT_START; at end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine)"
  echo
  echo "| measure | one registry | tenant of $TENANTS | ratio (tenant / one) |"
  echo "|---|---:|---:|---:|"
  echo "| index GETs, req/s (median of $ROUNDS) | $one_rps | $many_rps | $(ratio "$one_rps" "$many_rps") |"
  echo "| index GETs, server CPU µs/req | $one_cpu | $many_cpu | $(ratio "$one_cpu" "$many_cpu") |"
  echo "| publishes/s, $PUBLISHERS publishers (median of $ROUNDS) | $one_pps | $many_pps | $(ratio "$one_pps" "$many_pps") |"
} | tee "$RESULTS/summary.md"
