#!/usr/bin/env bash
# Publish throughput: `wharf-load publish` against `wharf serve`, on every combination of
# publishers × metadata database × blob store, each on a fresh data directory (a fresh
# PostgreSQL database, a fresh prefix in the bucket). The combinations of one round run one
# after the other and the rounds repeat, so a change of machine state spreads over all of
# them. After each run the server is killed with SIGKILL and restarted, and every
# acknowledged publish must still be in the index (an acknowledged publish is durable:
# storage fsyncs the blob, or has S3 acknowledge it, and commits SQLite with
# synchronous=FULL, or PostgreSQL with its default synchronous_commit, before answering).
# One summary table holds every run.
#
# Settings (environment): COUNT (2000 publishes per run), CONCURRENCIES ("1 16"),
# RUNS (1 round), DATABASES ("sqlite": the embedded database; "sqlite postgres" adds a
# throwaway PostgreSQL cluster on this machine, see start_postgres in lib.sh),
# BLOBS ("local": blobs on the data directory's disk; "local s3" adds a single-node Garage
# on loopback with data_fsync and metadata_fsync on, see start_garage in lib.sh),
# WHARF_PORT (18482), RESULTS (output directory),
# TMPDIR (where the data directories go: put it on the disk you want to measure),
# SETTLE_SECONDS (20: idle disk time before each run, see settle_disk in lib.sh),
# WHARF_BIN / WHARF_LOAD_BIN (saved binaries to measure) with SKIP_BUILD=1 (no cargo build),
# GARAGE (the garage program; `cargo install garage --locked` installs it),
# SIGN=1 (every release signed with a publisher key registered first: `wharf-load --sign`).
#
# The whole matrix: DATABASES="sqlite postgres" BLOBS="local s3" RUNS=2 \
#   scripts/bench/publish-throughput.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

COUNT=${COUNT:-2000}
CONCURRENCIES=${CONCURRENCIES:-"1 16"}
RUNS=${RUNS:-1}
DATABASES=${DATABASES:-sqlite}
BLOBS=${BLOBS:-local}
GARAGE=${GARAGE:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}
WHARF_PORT=${WHARF_PORT:-18482}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/publish-throughput-$(date -u +%Y%m%dT%H%M%SZ)}

case " $BLOBS " in
  *" s3 "*) [ -x "$GARAGE" ] || die "garage is not installed: run \`cargo install garage --locked\`" ;;
esac
ensure_tools curl:curl
build_release
begin_work publish-bench
URL="http://127.0.0.1:$WHARF_PORT"
GARAGE_PID=""
stop_services() {
  [ -n "$GARAGE_PID" ] && stop_pid "$GARAGE_PID"
  case " $DATABASES " in *" postgres "*) stop_postgres ;; esac
  end_work
}
trap stop_services EXIT
case " $DATABASES " in *" postgres "*) start_postgres ;; esac
case " $BLOBS " in *" s3 "*) start_garage ;; esac

{
  echo "# Publish throughput${SIGN:+ (signed releases)}"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $COUNT publishes per run, a fresh data directory per run,"
  echo "rounds alternating every combination of publishers ($CONCURRENCIES), database ($DATABASES)"
  echo "and blob store ($BLOBS)${GARAGE_PID:+; $("$GARAGE" --version 2>/dev/null | head -1)}."
  echo
  machine_info "$WORK"
  echo
  echo "| publishers | round | database | blobs | publishes/s | p50 ms | p99 ms | non-200 | present after SIGKILL + restart |"
  echo "|---:|---:|---|---|---:|---:|---:|---:|---:|"
} >"$RESULTS/summary.md"

for run in $(seq 1 "$RUNS"); do
  for concurrency in $CONCURRENCIES; do
    for database in $DATABASES; do
      for blobs in $BLOBS; do
        name="$database-$blobs-c$concurrency-r$run"
        data="$WORK/data-$name"
        logfile="$RESULTS/wharf-$name.log"
        db_args=""
        [ "$database" = postgres ] && db_args="--database $(pg_database "bench_${blobs}_c${concurrency}_r$run")"
        WHARF_EXTRA_ARGS="$db_args"
        [ "$blobs" = s3 ] && WHARF_EXTRA_ARGS="$db_args --storage s3://wharf/$name"
        export WHARF_EXTRA_ARGS
        settle_disk "$WORK"
        log "round $run, $concurrency publisher(s), $database, blobs on $blobs: starting wharf on $URL"
        start_wharf "$data" "$WHARF_PORT" "$logfile"
        # shellcheck disable=SC2086 # db_args is empty or `--database URL`
        token=$("$WHARF" token create --data "$data" $db_args --user bench 2>>"$logfile" | tail -n1)
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
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s of %s |\n' "$concurrency" "$run" \
          "$database" "$blobs" "$(result_field "$line" per_second)" \
          "$(result_field "$line" p50_ms)" "$(result_field "$line" p99_ms)" \
          "$(result_field "$line" non_200)" "$present" "$(wc -l <"$data.paths")" >>"$RESULTS/summary.md"
        [ "$status" -eq 0 ] || die "some publishes were refused; see $out"
      done
    done
  done
done
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
