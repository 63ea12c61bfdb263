#!/usr/bin/env bash
# Backup and restore time of a registry of a few thousand versions: `wharf admin backup`
# taken while the server runs, and `wharf admin restore` (unpack, verify every member, open
# the registry, rebuild every index file, verify index files, blobs and the signed log),
# against a baseline measured in the same run on the same data directory: `sqlite3 .backup`
# of the database plus `tar --zstd` of the blobs and keys, and their plain unpacking (no
# checks at all).
#
# Settings (environment): PACKAGES (1000), VERSIONS (3 per package), RUNS (3),
# WHARF_PORT (18485), RESULTS (output directory), TMPDIR (where the data directories go),
# PROFILE (release; `debug` measures target/debug binaries, labelled as such),
# WHARF_BIN / WHARF_LOAD_BIN with SKIP_BUILD=1 (saved binaries, no cargo build).
set -euo pipefail
PROFILE=${PROFILE:-release}
TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/target}"
export WHARF_BIN="${WHARF_BIN:-$TARGET_DIR/$PROFILE/wharf}"
export WHARF_LOAD_BIN="${WHARF_LOAD_BIN:-$TARGET_DIR/$PROFILE/wharf-load}"
source "$(dirname "$0")/lib.sh"

PACKAGES=${PACKAGES:-1000}
VERSIONS=${VERSIONS:-3}
RUNS=${RUNS:-3}
WHARF_PORT=${WHARF_PORT:-18485}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/backup-$(date -u +%Y%m%dT%H%M%SZ)}

ensure_tools curl:curl sqlite3:sqlite3 zstd:zstd
if [ "$PROFILE" = release ]; then
  build_release
elif [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --locked -p wharf-cli -p wharf-bench --bins) >&2
fi
begin_work backup-bench
URL="http://127.0.0.1:$WHARF_PORT"
data="$WORK/data"
logfile="$RESULTS/wharf.log"

# seconds COMMAND... — runs COMMAND (output to $RESULTS/last.txt) and prints its wall time.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >"$RESULTS/last.txt" 2>&1 || { cat "$RESULTS/last.txt" >&2; die "failed: $*"; }
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f\n", e - s }'
}

baseline_backup() {
  sqlite3 "$data/wharf.db" ".backup '$1.db'"
  tar --zstd -cf "$1.tar.zst" -C "$data" blobs keys admin-token
}

baseline_restore() {
  mkdir -p "$2"
  cp "$1.db" "$2/wharf.db"
  tar --zstd -xf "$1.tar.zst" -C "$2"
}

log "starting wharf ($PROFILE) and seeding $PACKAGES packages × $VERSIONS versions"
start_wharf "$data" "$WHARF_PORT" "$logfile"
token=$("$WHARF" token create --data "$data" --user bench 2>>"$logfile" | tail -n1)
"$LOAD" seed --url "$URL" --token "$token" --packages "$PACKAGES" --versions "$VERSIONS" \
  >"$RESULTS/seed.txt" 2>&1 || { cat "$RESULTS/seed.txt" >&2; die "seeding failed"; }
versions=$(sqlite3 "$data/wharf.db" 'SELECT count(*) FROM versions')
data_bytes=$(du -sb "$data" | cut -f1)

{
  echo "# Backup and restore ($PROFILE build)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $versions versions, data directory $data_bytes bytes;"
  echo "the server runs (idle) during every backup. Median of $RUNS runs."
  echo
  machine_info "$WORK"
  echo
} >"$RESULTS/summary.md"

declare -a wb wr bb br
for run in $(seq 1 "$RUNS"); do
  settle_disk "$WORK"
  wb+=("$(seconds "$WHARF" admin backup --data "$data" --out "$WORK/wharf-$run.backup")")
  grep '^backup' "$RESULTS/last.txt" >>"$RESULTS/backup-lines.txt"
  wr+=("$(seconds "$WHARF" admin restore "$WORK/wharf-$run.backup" --data "$WORK/restored-$run")")
  grep -q '^restore clean' "$RESULTS/last.txt" || die "restore $run is not clean"
  bb+=("$(seconds baseline_backup "$WORK/base-$run")")
  br+=("$(seconds baseline_restore "$WORK/base-$run" "$WORK/base-restored-$run")")
  log "run $run: wharf backup ${wb[-1]} s, restore ${wr[-1]} s; baseline ${bb[-1]} s, ${br[-1]} s"
  wharf_size=$(stat -c %s "$WORK/wharf-$run.backup")
  base_size=$(($(stat -c %s "$WORK/base-$run.db") + $(stat -c %s "$WORK/base-$run.tar.zst")))
  rm -rf "$WORK/restored-$run" "$WORK/base-restored-$run"
done

{
  echo "| | backup s | restore s | file bytes |"
  echo "|---|---:|---:|---:|"
  echo "| \`wharf admin backup\` / \`restore\` (verified, index rebuilt, log checked) | $(printf '%s\n' "${wb[@]}" | median) | $(printf '%s\n' "${wr[@]}" | median) | $wharf_size |"
  echo "| baseline: \`sqlite3 .backup\` + \`tar --zstd\` / \`cp\` + \`tar -x\` (no checks) | $(printf '%s\n' "${bb[@]}" | median) | $(printf '%s\n' "${br[@]}" | median) | $base_size |"
  echo
  echo "Last backup's summary: $(tail -n1 "$RESULTS/backup-lines.txt")"
} >>"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
