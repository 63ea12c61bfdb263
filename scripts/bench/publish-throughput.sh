#!/usr/bin/env bash
# Publish throughput: `wharf-load publish` against a release `wharf serve`, once per
# concurrency level and metadata database, each on a fresh data directory (and a fresh
# PostgreSQL database). After each run the server is killed with SIGKILL and restarted, and
# every acknowledged publish must still be in the index (an acknowledged publish is durable:
# storage fsyncs the blob and commits SQLite with synchronous=FULL, or PostgreSQL with its
# default synchronous_commit, before answering).
#
# Settings (environment): COUNT (2000 publishes per run), CONCURRENCIES ("1 16"),
# RUNS (1 per concurrency), DATABASES ("sqlite": the embedded database; "sqlite postgres"
# adds a throwaway PostgreSQL cluster on this machine, see start_postgres in lib.sh, runs
# alternating), WHARF_PORT (18482), RESULTS (output directory),
# TMPDIR (where the data directories go: put it on the disk you want to measure),
# SETTLE_SECONDS (20: idle disk time before each run, see settle_disk in lib.sh),
# WHARF_BIN (a saved wharf binary to measure) with SKIP_BUILD=1 (no cargo build),
# SIGN=1 (every release signed with a publisher key registered first: `wharf-load --sign`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

COUNT=${COUNT:-2000}
CONCURRENCIES=${CONCURRENCIES:-"1 16"}
RUNS=${RUNS:-1}
DATABASES=${DATABASES:-sqlite}
WHARF_PORT=${WHARF_PORT:-18482}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/publish-throughput-$(date -u +%Y%m%dT%H%M%SZ)}

ensure_tools curl:curl
build_release
begin_work publish-bench
URL="http://127.0.0.1:$WHARF_PORT"
case " $DATABASES " in
  *" postgres "*)
    start_postgres
    trap 'stop_postgres; end_work' EXIT
    ;;
esac

{
  echo "# Publish throughput${SIGN:+ (signed releases)}"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $COUNT publishes per run, a fresh data directory per run."
  echo
  machine_info "$WORK"
  echo
  echo "| publishers | run | database | publishes/s | p50 ms | p99 ms | non-200 | present after SIGKILL + restart |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|"
} >"$RESULTS/summary.md"

for concurrency in $CONCURRENCIES; do
  for run in $(seq 1 "$RUNS"); do
   for database in $DATABASES; do
    name="$database-c$concurrency-r$run"
    data="$WORK/data-$name"
    logfile="$RESULTS/wharf-$name.log"
    WHARF_EXTRA_ARGS=""
    [ "$database" = postgres ] && WHARF_EXTRA_ARGS="--database $(pg_database "bench_c${concurrency}_r$run")"
    export WHARF_EXTRA_ARGS
    settle_disk "$WORK"
    log "run $run with $concurrency publisher(s) on $database: starting wharf on $URL"
    start_wharf "$data" "$WHARF_PORT" "$logfile"
    # shellcheck disable=SC2086 # WHARF_EXTRA_ARGS is empty or `--database URL`
    token=$("$WHARF" token create --data "$data" $WHARF_EXTRA_ARGS --user bench 2>>"$logfile" | tail -n1)
    out="$RESULTS/publish-$name.txt"
    status=0
    "$LOAD" publish --url "$URL" --token "$token" --concurrency "$concurrency" --count "$COUNT" \
      --prefix "c$concurrency" --paths-out "$data.paths" ${SIGN:+--sign} >"$out" 2>&1 || status=$?
    cat "$out" >&2
    line=$(grep '^RESULT' "$out") || die "no result in $out"
    stop_pid "$WHARF_PID" KILL
    WHARF_PID=""
    start_wharf "$data" "$WHARF_PORT" "$logfile"
    present=$("$LOAD" fetch-index --url "$URL" --paths "$data.paths" \
      --etags-out "$data.etags" 2>>"$out" | sed -n 's/^fetched \([0-9]*\) .*/\1/p') \
      || die "acknowledged publishes are missing after a restart; see $out"
    stop_pid "$WHARF_PID"
    WHARF_PID=""
    printf '| %s | %s | %s | %s | %s | %s | %s | %s of %s |\n' "$concurrency" "$run" "$database" \
      "$(result_field "$line" per_second)" "$(result_field "$line" p50_ms)" \
      "$(result_field "$line" p99_ms)" "$(result_field "$line" non_200)" \
      "$present" "$(wc -l <"$data.paths")" >>"$RESULTS/summary.md"
    [ "$status" -eq 0 ] || die "some publishes were refused; see $out"
   done
  done
done
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
