#!/usr/bin/env bash
# Failover drill: three `wharf serve` nodes on one PostgreSQL database and one blob store,
# behind HAProxy configured as packaging/haproxy/wharf.cfg (its addresses changed to
# loopback ports, nothing else), all on this machine. Under a bounded load of index reads and
# publishes through HAProxy, one node is killed with SIGKILL and started again, then all
# three are restarted one by one (SIGTERM, start, wait for /ready). Prints:
#   - requests failed / total, reads and publishes, through the balancer;
#   - acknowledged publishes lost: every publish answered 200 must be served afterwards by
#     every node;
#   - time to visibility: a publish acknowledged by one node until another serves it;
#   - before the drill, index GETs per second from one node directly and through HAProxy
#     (spread over the three nodes), alternating round by round (THROUGHPUT_ROUNDS, 0 skips).
# Blobs go to a Garage bucket when `garage` is installed, else to one directory every node
# links as its `blobs/` (a shared file system).
#
# Settings (environment): LOAD_SECONDS (60), READERS (8 concurrent index reads),
# PUBLISHERS (2), SEED (200 packages published before the load), VISIBILITY_SAMPLES (20),
# THROUGHPUT_ROUNDS (3), THROUGHPUT_SECONDS (10), THROUGHPUT_READERS (32 connections),
# PROFILE (debug or release binaries; debug by default, built with `cargo build`),
# RESULTS (output directory), WHARF_BIN / WHARF_LOAD_BIN with SKIP_BUILD=1, GARAGE.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

LOAD_SECONDS=${LOAD_SECONDS:-60}
READERS=${READERS:-8}
PUBLISHERS=${PUBLISHERS:-2}
SEED=${SEED:-200}
VISIBILITY_SAMPLES=${VISIBILITY_SAMPLES:-20}
THROUGHPUT_ROUNDS=${THROUGHPUT_ROUNDS:-3}
THROUGHPUT_SECONDS=${THROUGHPUT_SECONDS:-10}
THROUGHPUT_READERS=${THROUGHPUT_READERS:-32}
PROFILE=${PROFILE:-debug}
WHARF="${WHARF_BIN:-$TARGET_DIR/$PROFILE/wharf}"
LOAD="${WHARF_LOAD_BIN:-$TARGET_DIR/$PROFILE/wharf-load}"
GARAGE=${GARAGE:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/failover-$(date -u +%Y%m%dT%H%M%SZ)}
HAPROXY_EXAMPLE="$ROOT/packaging/haproxy/wharf.cfg"

ensure_tools curl:curl haproxy:haproxy
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building wharf and wharf-load ($PROFILE)"
  flags=()
  [ "$PROFILE" = release ] && flags=(--release)
  (cd "$ROOT" && cargo build "${flags[@]}" --locked -p wharf-cli -p wharf-bench --bins) >&2
fi
begin_work failover
NODE_PIDS=("" "" "")
HAPROXY_PID=""
GARAGE_PID=""
cleanup() {
  local pid
  for pid in "${NODE_PIDS[@]}" "$HAPROXY_PID" "$GARAGE_PID"; do
    [ -n "$pid" ] && stop_pid "$pid" KILL
  done
  stop_postgres
  end_work
}
trap cleanup EXIT

start_postgres
STORE_ARGS=()
if [ -x "$GARAGE" ]; then
  GARAGE_LOG="$RESULTS/garage.log" start_garage
  STORE_ARGS=(--storage s3://wharf/failover)
  BLOBS="a Garage bucket ($("$GARAGE" --version 2>/dev/null | head -1))"
else
  mkdir -p "$WORK/shared-blobs"
  BLOBS="one directory every node links as its blobs/ (garage is not installed)"
fi

PORTS=("$(free_port)" "$(free_port)" "$(free_port)")
LB_PORT=$(free_port)
STATS_PORT=$(free_port)
LB="http://127.0.0.1:$LB_PORT"

# start_node N — starts node N (0-based) on its data directory; waits for its /ready.
start_node() {
  local n=$1 data="$WORK/node$1"
  mkdir -p "$data"
  if [ ${#STORE_ARGS[@]} -eq 0 ] && [ ! -e "$data/blobs" ]; then
    ln -s "$WORK/shared-blobs" "$data/blobs"
  fi
  "$WHARF" serve --data "$data" --listen "127.0.0.1:${PORTS[$n]}" --public-url "$LB" \
    --database "$PG_URL" "${STORE_ARGS[@]}" >>"$RESULTS/node$n.log" 2>&1 &
  NODE_PIDS[n]=$!
  wait_http "http://127.0.0.1:${PORTS[$n]}/ready" 120 \
    || die "node $n did not become ready; see $RESULTS/node$n.log"
}

start_node 0
for n in 1 2; do
  mkdir -p "$WORK/node$n"
  cp -a "$WORK/node0/keys" "$WORK/node$n/keys"
  start_node "$n"
done
TOKEN=$(tr -d '\n' <"$WORK/node0/admin-token")
log "three nodes ready on ports ${PORTS[*]}"

# HAProxy with the example's settings, on loopback ports.
sed -e "s/^    bind :8080$/    bind 127.0.0.1:$LB_PORT/" \
  -e "s/^    bind 127.0.0.1:8404$/    bind 127.0.0.1:$STATS_PORT/" \
  -e "s/^    server node1 .*/    server node1 127.0.0.1:${PORTS[0]}/" \
  -e "s/^    server node2 .*/    server node2 127.0.0.1:${PORTS[1]}/" \
  -e "s/^    server node3 .*/    server node3 127.0.0.1:${PORTS[2]}/" \
  "$HAPROXY_EXAMPLE" >"$WORK/haproxy.cfg"
for port in "$LB_PORT" "${PORTS[@]}"; do
  grep -q "127.0.0.1:$port" "$WORK/haproxy.cfg" || die "the HAProxy example changed: no place for port $port"
done
haproxy -c -q -f "$WORK/haproxy.cfg" || die "haproxy -c refused the configuration"
haproxy -db -f "$WORK/haproxy.cfg" >"$RESULTS/haproxy.log" 2>&1 &
HAPROXY_PID=$!
wait_http "$LB/ready" 30 || die "HAProxy does not answer; see $RESULTS/haproxy.log"
sleep 5 # two health checks mark every node up

log "seeding $SEED packages through HAProxy"
"$LOAD" publish --url "$LB" --token "$TOKEN" --concurrency 4 --count "$SEED" --prefix seed \
  --paths-out "$WORK/seed.paths" >"$RESULTS/seed.txt" 2>&1 || die "seeding failed; see $RESULTS/seed.txt"

# Index GETs of the seeded files, one node directly against HAProxy in front of all three,
# alternating; each line of throughput.tsv: round, target, reads/s, p50 ms, p99 ms, failed.
: >"$WORK/throughput.tsv"
for round in $(seq 1 "$THROUGHPUT_ROUNDS"); do
  for target in node1 haproxy; do
    url="http://127.0.0.1:${PORTS[0]}"
    [ "$target" = haproxy ] && url="$LB"
    out="$RESULTS/throughput-$round-$target.txt"
    "$LOAD" read-load --url "$url" --paths "$WORK/seed.paths" --seconds "$THROUGHPUT_SECONDS" \
      --concurrency "$THROUGHPUT_READERS" >"$out" 2>&1 || die "read load failed; see $out"
    line=$(grep '^RESULT' "$out") || die "no read result; see $out"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$target" "$(result_field "$line" per_second)" \
      "$(result_field "$line" p50_ms)" "$(result_field "$line" p99_ms)" \
      "$(result_field "$line" failed)" >>"$WORK/throughput.tsv"
    log "round $round, $target: $(result_field "$line" per_second) reads/s"
  done
done

log "load: $READERS readers and $PUBLISHERS publishers through HAProxy for $LOAD_SECONDS s"
"$LOAD" read-load --url "$LB" --paths "$WORK/seed.paths" --seconds "$LOAD_SECONDS" \
  --concurrency "$READERS" >"$RESULTS/reads.txt" 2>&1 &
READS_PID=$!
(
  batch=0
  end=$((SECONDS + LOAD_SECONDS))
  while [ $SECONDS -lt "$end" ]; do
    batch=$((batch + 1))
    "$LOAD" publish --url "$LB" --token "$TOKEN" --concurrency "$PUBLISHERS" --count 20 \
      --prefix "load$batch" --paths-out "$WORK/acked-$batch.paths" >"$RESULTS/publish-$batch.txt" 2>&1 || true
  done
) &
PUBLISHES_PID=$!

# stop_node N SIGNAL — stops node N (waits for it to exit).
stop_node() {
  stop_pid "${NODE_PIDS[$1]}" "$2"
  NODE_PIDS[$1]=""
}

sleep $((LOAD_SECONDS / 6))
log "SIGKILL node2"
stop_node 1 KILL
sleep $((LOAD_SECONDS / 6))
log "starting node2 again"
start_node 1
sleep 5
for n in 0 1 2; do
  log "rolling restart: node$((n + 1))"
  stop_node "$n" TERM
  start_node "$n"
  sleep 5 # HAProxy needs two good checks to send it traffic again
done
wait "$READS_PID" || true
wait "$PUBLISHES_PID" || true
log "load finished"

reads=$(grep '^RESULT' "$RESULTS/reads.txt") || die "no read result; see $RESULTS/reads.txt"
read_total=$(result_field "$reads" total)
read_failed=$(result_field "$reads" failed)
pub_total=0
pub_failed=0
for out in "$RESULTS"/publish-*.txt; do
  line=$(grep '^RESULT' "$out") || continue
  pub_total=$((pub_total + $(result_field "$line" count)))
  pub_failed=$((pub_failed + $(result_field "$line" non_200)))
done
cat "$WORK"/seed.paths "$WORK"/acked-*.paths 2>/dev/null | sort -u >"$WORK/acked.paths"
acked=$(wc -l <"$WORK/acked.paths")

# lost_on PORT — how many acknowledged packages the node on PORT does not serve.
lost_on() {
  local port=$1 config="$WORK/check-$1.curl"
  sed "s|.*|url = \"http://127.0.0.1:$port/index/&\"\noutput = \"/dev/null\"|" "$WORK/acked.paths" >"$config"
  curl -s -K "$config" -w '%{http_code}\n' | grep -vc '^200$' || true
}
lost=""
for n in 0 1 2; do
  lost="$lost node$((n + 1))=$(lost_on "${PORTS[$n]}")"
done

# Time to visibility: a publish acknowledged by node A until node B serves it.
: >"$WORK/visibility.ms"
for i in $(seq 1 "$VISIBILITY_SAMPLES"); do
  from=$((i % 3))
  to=$(((i + 1) % 3))
  "$LOAD" publish --url "http://127.0.0.1:${PORTS[$from]}" --token "$TOKEN" --count 1 \
    --prefix "visible$i" >/dev/null 2>&1 || die "publish for the visibility sample failed"
  acked_at=$(date +%s%N)
  path="$(printf 'visible%s-0' "$i" | awk '{ n = $0; printf "%s/%s/%s", substr(n, 1, 2), substr(n, 3, 2), n }')"
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORTS[$to]}/index/$path")" = 200 ]; do
    [ $(( ($(date +%s%N) - acked_at) / 1000000 )) -lt 30000 ] || die "node $to never served $path"
  done
  echo $(( ($(date +%s%N) - acked_at) / 1000000 )) >>"$WORK/visibility.ms"
done
vis_median=$(median <"$WORK/visibility.ms")
vis_max=$(sort -g "$WORK/visibility.ms" | tail -n1)

total=$((read_total + pub_total))
failed=$((read_failed + pub_failed))
{
  echo "# Failover drill: three nodes on PostgreSQL behind HAProxy"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $PROFILE build; blobs in $BLOBS; $(haproxy -v | head -1)."
  echo "$LOAD_SECONDS s of load through HAProxy: $READERS index readers, $PUBLISHERS publishers"
  echo "(batches of 20); node2 SIGKILLed at $((LOAD_SECONDS / 6)) s and started again, then a"
  echo "rolling restart of all three (SIGTERM, start, /ready, 5 s)."
  echo
  machine_info "$WORK"
  echo
  echo "| | value |"
  echo "|---|---|"
  echo "| requests failed / total | $failed / $total ($(awk -v f="$failed" -v t="$total" 'BEGIN { printf "%.3f", t ? 100 * f / t : 0 }') %) |"
  echo "| index reads failed / total | $read_failed / $read_total |"
  echo "| publishes failed / total | $pub_failed / $pub_total |"
  echo "| acknowledged publishes (seed + load) | $acked |"
  echo "| acknowledged publishes not served afterwards |$lost |"
  echo "| time to visibility across nodes, median / max of $VISIBILITY_SAMPLES | $vis_median ms / $vis_max ms |"
  if [ -s "$WORK/throughput.tsv" ]; then
    echo
    echo "Index GETs before the drill ($THROUGHPUT_READERS connections, $THROUGHPUT_SECONDS s per round):"
    echo
    echo "| round | target | reads/s | p50 ms | p99 ms | failed |"
    echo "|---:|---|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$WORK/throughput.tsv"
    node=$(awk -F'\t' '$2 == "node1" { print $3 }' "$WORK/throughput.tsv" | median)
    lb=$(awk -F'\t' '$2 == "haproxy" { print $3 }' "$WORK/throughput.tsv" | median)
    echo
    echo "Medians: one node $node reads/s, through HAProxy $lb reads/s ($(awk -v a="$lb" -v b="$node" 'BEGIN { printf "%.2f", b ? a / b : 0 }')×)."
  fi
} >"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
