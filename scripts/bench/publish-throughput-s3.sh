#!/usr/bin/env bash
# Publish throughput with blobs on the local disk vs in an S3 bucket (Garage on loopback,
# with data_fsync and metadata_fsync on, so both sides acknowledge only what is on disk).
# `wharf-load publish` against `wharf serve`, 1 and 16 publishers, rounds alternating local
# and S3 in the same run, each on a fresh data directory (and a fresh prefix in the bucket).
#
# Settings (environment): COUNT (500 publishes per run), CONCURRENCIES ("1 16"),
# RUNS (2 rounds), WHARF_PORT (18483), RESULTS (output directory), TMPDIR (where data
# directories and Garage's files go), SETTLE_SECONDS (5), WHARF_BIN / WHARF_LOAD_BIN
# (binaries to measure) with SKIP_BUILD=1, GARAGE (the garage program; `cargo install
# garage --locked` installs it).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

COUNT=${COUNT:-500}
CONCURRENCIES=${CONCURRENCIES:-"1 16"}
RUNS=${RUNS:-2}
WHARF_PORT=${WHARF_PORT:-18483}
SETTLE_SECONDS=${SETTLE_SECONDS:-5}
export SETTLE_SECONDS
GARAGE=${GARAGE:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/publish-throughput-s3-$(date -u +%Y%m%dT%H%M%SZ)}

[ -x "$GARAGE" ] || die "garage is not installed: run \`cargo install garage --locked\`"
ensure_tools curl:curl
build_release
begin_work publish-s3-bench
URL="http://127.0.0.1:$WHARF_PORT"

start_garage
trap 'stop_pid "$GARAGE_PID"; end_work' EXIT

{
  echo "# Publish throughput: blobs on the local disk vs on S3 (Garage on loopback)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $COUNT publishes per run, a fresh data directory per run,"
  echo "rounds alternating local and S3. $("$GARAGE" --version 2>/dev/null | head -1)."
  echo
  machine_info "$WORK"
  echo
  echo "| publishers | round | blobs | publishes/s | p50 ms | p99 ms | non-200 |"
  echo "|---:|---:|---|---:|---:|---:|---:|"
} >"$RESULTS/summary.md"

for run in $(seq 1 "$RUNS"); do
  for concurrency in $CONCURRENCIES; do
    for backend in local s3; do
      name="$backend-c$concurrency-r$run"
      data="$WORK/data-$name"
      logfile="$RESULTS/wharf-$name.log"
      WHARF_EXTRA_ARGS=""
      [ "$backend" = s3 ] && WHARF_EXTRA_ARGS="--storage s3://wharf/$name"
      export WHARF_EXTRA_ARGS
      settle_disk "$WORK"
      log "round $run, $concurrency publisher(s), blobs on $backend"
      start_wharf "$data" "$WHARF_PORT" "$logfile"
      token=$("$WHARF" token create --data "$data" --user bench 2>>"$logfile" | tail -n1)
      out="$RESULTS/publish-$name.txt"
      "$LOAD" publish --url "$URL" --token "$token" --concurrency "$concurrency" \
        --count "$COUNT" --prefix "$name" >"$out" 2>&1 || die "publishes failed; see $out"
      line=$(grep '^RESULT' "$out") || die "no result in $out"
      stop_pid "$WHARF_PID"
      WHARF_PID=""
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$concurrency" "$run" "$backend" \
        "$(result_field "$line" per_second)" "$(result_field "$line" p50_ms)" \
        "$(result_field "$line" p99_ms)" "$(result_field "$line" non_200)" >>"$RESULTS/summary.md"
    done
  done
done
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
