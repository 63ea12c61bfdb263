#!/usr/bin/env bash
# `wharf verify --all` against a release `wharf serve` seeded through the real publish API
# with PACKAGES packages × VERSIONS versions (every publish logged and signed). Reports how
# long seeding took, then RUNS timed `wharf verify --all` runs on a fresh state directory
# (first use: no kept checkpoint) and RUNS with the state kept by the run before (the
# consistency proof path), plus one named package, and the bytes of the log's leaves.
#
# Settings (environment): PACKAGES (1000), VERSIONS (10), RUNS (3), WHARF_PORT (18483),
# RESULTS (output directory), SKIP_BUILD=1 (use the release binaries already built),
# WHARF_BIN and LOAD_BIN (other `wharf` and `wharf-load` binaries, with SKIP_BUILD=1).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
LOAD=${LOAD_BIN:-$LOAD}

PACKAGES=${PACKAGES:-1000}
VERSIONS=${VERSIONS:-10}
RUNS=${RUNS:-3}
WHARF_PORT=${WHARF_PORT:-18483}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/verify-all-$(date -u +%Y%m%dT%H%M%SZ)}

ensure_tools curl:curl bc:bc
build_release
begin_work verify-bench
URL="http://127.0.0.1:$WHARF_PORT"
start_wharf "$WORK/data" "$WHARF_PORT" "$WORK/wharf.log"
TOKEN=$(cat "$WORK/data/admin-token")

log "seeding $PACKAGES packages × $VERSIONS versions"
start=$(date +%s.%N)
"$LOAD" seed --url "$URL" --token "$TOKEN" --packages "$PACKAGES" --versions "$VERSIONS" \
  --concurrency 8 >"$WORK/seed.log" 2>&1 || die "seeding failed; see $WORK/seed.log"
seed_seconds=$(echo "$(date +%s.%N) - $start" | bc)
"$WHARF" admin root-key export --data "$WORK/data" >"$WORK/root.pub"
leaves=$(curl -s "$URL/api/wharf/v1/log/checkpoint" | sed -n 2p)
leaf_bytes=0
for ((s = 0; s < leaves; s += 256)); do
  n=$(curl -s "$URL/api/wharf/v1/log/leaves?start=$s&end=$((s + 256))" | wc -c)
  leaf_bytes=$((leaf_bytes + n))
done

# timed_verify STATE ARGS... — seconds of one `wharf verify` run (it must pass).
timed_verify() {
  local state=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  "$WHARF" verify --index-url "sparse+$URL/index/" --root-key "$WORK/root.pub" \
    --state "$state" "$@" >"$WORK/verify.out" || die "verification failed: $(head -3 "$WORK/verify.out")"
  t1=$(date +%s.%N)
  printf '%.2f\n' "$(echo "$t1 - $t0" | bc)"
}

fresh=() kept=()
for run in $(seq 1 "$RUNS"); do
  fresh+=("$(timed_verify "$WORK/state-fresh-$run" --all)")
  kept+=("$(timed_verify "$WORK/state-kept" --all)")
  log "run $run: fresh ${fresh[-1]} s, kept ${kept[-1]} s: $(tail -1 "$WORK/verify.out")"
done
name=$(curl -s "$URL/api/wharf/v1/log/leaves?start=0&end=1" \
  | sed -n 's/.*\\nname: \([^\\]*\)\\n.*/\1/p')
one=$(timed_verify "$WORK/state-kept" "$name")

{
  echo "# wharf verify --all"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $PACKAGES packages × $VERSIONS versions, $leaves log leaves."
  echo
  machine_info "$WORK"
  echo
  echo "- seeding through the publish API (8 publishers): $(printf '%.1f' "$seed_seconds") s"
  echo "- the log's leaves as served (JSON pages of 256): $leaf_bytes bytes"
  echo "- \`wharf verify --all\`, fresh state, median of $RUNS: $(printf '%s\n' "${fresh[@]}" | median) s (runs: ${fresh[*]})"
  echo "- \`wharf verify --all\`, kept state, median of $RUNS: $(printf '%s\n' "${kept[@]}" | median) s (runs: ${kept[*]})"
  echo "- \`wharf verify $name\` (one package, with inclusion proofs), kept state: $one s"
} | tee "$RESULTS/summary.md"
