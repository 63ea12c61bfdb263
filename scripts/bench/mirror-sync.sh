#!/usr/bin/env bash
# Mirror sync: `wharf mirror sync` of an upstream Wharf holding PACKAGES × VERSIONS versions
# with blobs (seeded by `wharf-load seed`), against a plain parallel download of the same
# files in the same run (`curl --parallel --compressed`, PARALLEL connections: the 256
# snapshot bins, config.json, every index file and every blob, written to disk; like the sync,
# curl asks for gzip and decompresses what the upstream compresses), then an incremental sync
# after about 1 % more versions were published (new packages, `wharf-load seed --prefix t`),
# repeated INCREMENTS times (the first incremental sync makes a new copy; the later ones bring
# the spare copy up to date), and a sync with nothing changed. The sync checks the upstream's signed log as it always does
# against a Wharf upstream (root key trusted on first use). The CPU time (user + sys) of each
# run is recorded too (GNU time), as the machine may be shared.
#
# Settings (environment): PACKAGES (1000), VERSIONS (3), PARALLEL (8, also the sync's
# --jobs), RUNS (3: full sync and plain download alternate, medians reported), CHANGE (new
# versions per incremental sync; 1 % of PACKAGES × VERSIONS), INCREMENTS (3), WHARF_PORT
# (18483), RESULTS (output directory), TMPDIR (where the data directories go), WHARF_BIN /
# WHARF_LOAD_BIN (saved binaries) with SKIP_BUILD=1 (no cargo build), BASELINE_BIN (another
# `wharf` binary, e.g. the previous commit's: each run then also times a full sync by it,
# alternating with the others, against the same upstream, for a before/after in one run; and
# its incremental syncs of a mirror of its own, alternating with this binary's).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
LOAD="${WHARF_LOAD_BIN:-$LOAD}"

PACKAGES=${PACKAGES:-1000}
VERSIONS=${VERSIONS:-3}
PARALLEL=${PARALLEL:-8}
RUNS=${RUNS:-3}
WHARF_PORT=${WHARF_PORT:-18483}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/mirror-sync-$(date -u +%Y%m%dT%H%M%SZ)}

ensure_tools curl:curl /usr/bin/time:time
build_release
begin_work mirror-bench
URL="http://127.0.0.1:$WHARF_PORT"
INDEX="sparse+$URL/index/"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

data="$WORK/upstream"
logfile="$RESULTS/wharf.log"
start_wharf "$data" "$WHARF_PORT" "$logfile"
token=$(cat "$data/admin-token")
log "seeding $PACKAGES packages × $VERSIONS versions"
"$LOAD" seed --url "$URL" --token "$token" --packages "$PACKAGES" --versions "$VERSIONS" \
  >"$RESULTS/seed.txt" 2>&1 || die "seeding failed; see $RESULTS/seed.txt"

# The plain download's list: what a full sync fetches, as curl config lines.
cpu_of() { awk '{ printf "%.2f", $1 + $2 }' "$1"; } # cpu_of TIMEFILE → user + sys seconds
sync_once() { # sync_once DIR [BINARY] → seconds on stdout; CPU seconds in $WORK/cpu
  local start end
  start=$(now)
  /usr/bin/time -f '%U %S' -o "$WORK/time" \
    "${2:-$WHARF}" mirror sync --from "$INDEX" --data "$1" --jobs "$PARALLEL" >"$RESULTS/sync-$(basename "$1").txt" 2>"$RESULTS/sync-$(basename "$1").err" \
    || die "sync failed; see $RESULTS/sync-$(basename "$1").txt and .err"
  end=$(now)
  cpu_of "$WORK/time" >"$WORK/cpu"
  elapsed "$start" "$end"
}
reference="$WORK/reference"
sync_once "$reference" >/dev/null
copy="$reference/current"
versions=$(find "$copy/index" -type f ! -name config.json -exec cat {} + | wc -l)
bytes=$(du -sb --apparent-size "$copy/blobs/sha256/." | cut -f1) # the copy links the shared store
{
  for bin in $(seq 0 255); do printf 'url = "%s/index/.wharf/bins/%02x"\noutput = "bins-%02x"\n' "$URL" "$bin" "$bin"; done
  echo "url = \"$URL/index/config.json\""; echo 'output = "config.json"'
  (cd "$copy/index" && find . -type f ! -name config.json | sed 's|^\./||') | while read -r path; do
    printf 'url = "%s/index/%s"\noutput = "index-%s"\n' "$URL" "$path" "${path//\//_}"
  done
  (cd "$copy/blobs/sha256" && ls) | while read -r hex; do
    printf 'url = "%s/blobs/sha256/%s"\noutput = "blob-%s"\n' "$URL" "$hex" "$hex"
  done
} >"$WORK/urls.curl"
files=$(grep -c '^url' "$WORK/urls.curl")
log "$versions versions, $files files, $bytes blob bytes"

plain_once() { # plain_once DIR → seconds on stdout
  local start end
  mkdir -p "$1"
  start=$(now)
  (cd "$1" && /usr/bin/time -f '%U %S' -o "$WORK/time" \
    curl --silent --fail --compressed --parallel --parallel-max "$PARALLEL" --config "$WORK/urls.curl" 2>/dev/null) \
    || die "the plain download failed"
  end=$(now)
  cpu_of "$WORK/time" >"$WORK/cpu"
  elapsed "$start" "$end"
}

full=() plain=() full_cpu=() plain_cpu=() base=() base_cpu=()
for run in $(seq 1 "$RUNS"); do
  plain+=("$(plain_once "$WORK/plain-$run")")
  plain_cpu+=("$(cat "$WORK/cpu")")
  if [ -n "${BASELINE_BIN:-}" ]; then
    base+=("$(sync_once "$WORK/base-$run" "$BASELINE_BIN")")
    base_cpu+=("$(cat "$WORK/cpu")")
    log "run $run: baseline full sync ${base[-1]} s (CPU ${base_cpu[-1]} s)"
  fi
  full+=("$(sync_once "$WORK/full-$run")")
  full_cpu+=("$(cat "$WORK/cpu")")
  rm -rf "$WORK/plain-$run" "$WORK/full-$run" "$WORK/base-$run"
  log "run $run: plain ${plain[-1]} s (CPU ${plain_cpu[-1]} s), full sync ${full[-1]} s (CPU ${full_cpu[-1]} s)"
done

# About 1 % more versions (CHANGE), in new packages; then the incremental sync of the
# reference copy (and of the baseline's own mirror), INCREMENTS times.
extra=${CHANGE:-$(( (PACKAGES * VERSIONS + 99) / 100 ))}
[ -n "${BASELINE_BIN:-}" ] && sync_once "$WORK/base-reference" "$BASELINE_BIN" >/dev/null
incremental_rows=()
for round in $(seq 1 "${INCREMENTS:-3}"); do
  "$LOAD" seed --url "$URL" --token "$token" --packages "$extra" --versions 1 --prefix "t${round}x" \
    >>"$RESULTS/seed.txt" 2>&1 || die "seeding the change failed"
  if [ -n "${BASELINE_BIN:-}" ]; then
    base_incremental=$(sync_once "$WORK/base-reference" "$BASELINE_BIN")
    incremental_rows+=("| baseline \`$(basename "$BASELINE_BIN")\` incremental sync $round after $extra new versions | $base_incremental | | $(cat "$WORK/cpu") |")
  fi
  incremental=$(sync_once "$reference")
  incremental_said=$(head -n2 "$RESULTS/sync-reference.txt" | tr '\n' ' ')
  incremental_rows+=("| incremental sync $round after $extra new versions | $incremental | $incremental_said | $(cat "$WORK/cpu") |")
  log "incremental sync $round: $incremental s (CPU $(cat "$WORK/cpu") s)"
done
unchanged=$(sync_once "$reference")
unchanged_cpu=$(cat "$WORK/cpu")
unchanged_said=$(head -n2 "$RESULTS/sync-reference.txt" | tr '\n' ' ')

full_median=$(printf '%s\n' "${full[@]}" | median)
plain_median=$(printf '%s\n' "${plain[@]}" | median)
{
  echo "# Mirror sync"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); upstream: \`wharf-load seed --packages $PACKAGES --versions $VERSIONS\` ($versions versions, $files files incl. 256 bins, $bytes blob bytes); $PARALLEL connections; $RUNS runs, median."
  echo
  machine_info "$WORK"
  echo
  echo "| what | seconds | runs | CPU user+sys s (runs) |"
  echo "|---|---:|---|---|"
  echo "| plain parallel download (\`curl --parallel --compressed --parallel-max $PARALLEL\`, same files) | $plain_median | ${plain[*]} | ${plain_cpu[*]} |"
  echo "| \`wharf mirror sync --jobs $PARALLEL\`, empty mirror | $full_median | ${full[*]} | ${full_cpu[*]} |"
  echo "| ratio sync / plain | $(awk -v a="$full_median" -v b="$plain_median" 'BEGIN { printf "%.2f", a / b }') | | |"
  if [ -n "${BASELINE_BIN:-}" ]; then
    base_median=$(printf '%s\n' "${base[@]}" | median)
    echo "| baseline \`$(basename "$BASELINE_BIN")\` full sync, same runs | $base_median | ${base[*]} | ${base_cpu[*]} |"
  fi
  printf '%s\n' "${incremental_rows[@]}"
  echo "| sync with nothing changed | $unchanged | $unchanged_said | $unchanged_cpu |"
} >"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
