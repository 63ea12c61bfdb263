#!/usr/bin/env bash
# Server time of the web UI's package page on a generated ecosystem, with the catalogue API's
# JSON package page of the same packages as the same-run baseline.
#
# It generates `gen-ecosystem --plugins $PLUGINS --seed 7`, publishes it (and its yanks) to a
# fresh `wharf serve`, downloads a few blobs so charts have bars, then fetches the HTML page
# `/packages/NAME` and the JSON `/api/wharf/v1/catalogue/packages/NAME` of $PAGES packages,
# alternating the two, $ROUNDS rounds, over one keep-alive connection per round. Server time
# is curl's time to first byte minus its pre-transfer time (loopback, connection reused).
#
# Usage: scripts/bench/web-page.sh                 (release build)
#        PROFILE=dev scripts/bench/web-page.sh     (debug build, quicker to build)
#        PLUGINS=500 PAGES=50 ROUNDS=10 scripts/bench/web-page.sh
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "$0")/lib.sh"

PLUGINS=${PLUGINS:-500}
PAGES=${PAGES:-50}
ROUNDS=${ROUNDS:-10}
PORT=${WHARF_PORT:-18093}
PROFILE=${PROFILE:-release}
RESULTS="$TARGET_DIR/bench-results/web-page-$(date -u +%Y%m%dT%H%M%SZ)"
if [ "$PROFILE" = dev ]; then
  BIN_DIR="$TARGET_DIR/debug"
  BUILD_FLAGS=()
else
  BIN_DIR="$TARGET_DIR/release"
  BUILD_FLAGS=(--release)
fi
WHARF="${WHARF_BIN:-$BIN_DIR/wharf}"
GEN="$BIN_DIR/gen-ecosystem"

ensure_tools curl:curl
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building wharf and gen-ecosystem ($PROFILE)"
  (cd "$ROOT" && cargo build "${BUILD_FLAGS[@]}" --locked -p wharf-cli --bin wharf \
    -p wharf-bench --bin gen-ecosystem) >&2
fi
begin_work web-page
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "build: $PROFILE; plugins: $PLUGINS; pages: $PAGES; rounds: $ROUNDS"
} | tee "$RESULTS/summary.md"

"$GEN" --plugins "$PLUGINS" --seed 7 --out "$WORK/eco" >&2
start_wharf "$WORK/data" "$PORT" "$RESULTS/wharf.log"
URL="http://127.0.0.1:$PORT"
TOKEN=$("$WHARF" token create --data "$WORK/data" --user bench 2>>"$RESULTS/wharf.log" | tail -n1)

log "publishing $(find "$WORK/eco/publish" -type f | wc -l) versions"
for body in $(find "$WORK/eco/publish" -type f | sort); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: $TOKEN" \
    --data-binary "@$body" "$URL/api/v1/crates/new")
  [ "$code" = 200 ] || die "publishing $body answered $code"
done
while read -r name version; do
  curl -s -o /dev/null -X DELETE -H "Authorization: $TOKEN" \
    "$URL/api/v1/crates/$name/$version/yank"
done <"$WORK/eco/yanked.txt"

# The packages measured: every (PLUGINS/PAGES)-th name of the catalogue, by name.
mapfile -t NAMES < <(curl -s "$URL/api/wharf/v1/catalogue/search?per_page=100&page=1" \
  | grep -o '"name":"[^"]*"' | cut -d'"' -f4 | head -n "$PAGES")
[ ${#NAMES[@]} -gt 0 ] || die "the catalogue listed no packages"
# Some downloads, so pages have stats to draw.
for name in "${NAMES[@]:0:10}"; do
  curl -s -o /dev/null "$URL/api/v1/crates/$name/$(curl -s "$URL/api/wharf/v1/catalogue/packages/$name" \
    | grep -o '"latest":"[^"]*"' | cut -d'"' -f4)/download" || true
done

: >"$RESULTS/samples.txt"
for round in $(seq "$ROUNDS"); do
  config="$WORK/round-$round.curl"
  : >"$config"
  for name in "${NAMES[@]}"; do
    printf 'url = "%s/packages/%s"\noutput = "/dev/null"\n' "$URL" "$name" >>"$config"
    printf 'url = "%s/api/wharf/v1/catalogue/packages/%s"\noutput = "/dev/null"\n' "$URL" "$name" >>"$config"
  done
  curl -s -K "$config" -w '%{http_code} %{url_effective} %{time_pretransfer} %{time_starttransfer}\n' \
    >>"$RESULTS/samples.txt"
done
grep -v '^200 ' "$RESULTS/samples.txt" && die "some pages did not answer 200"

percentiles() { # LABEL PATTERN
  awk -v pattern="$2" '$2 ~ pattern { printf "%.3f\n", ($4 - $3) * 1000 }' "$RESULTS/samples.txt" \
    | sort -n | awk -v label="$1" '
      { v[NR] = $1 }
      END {
        p50 = v[int((NR - 1) * 0.50 + 0.5) + 1];
        p99 = v[int((NR - 1) * 0.99 + 0.5) + 1];
        printf "%-34s samples=%d p50=%.2f ms p99=%.2f ms max=%.2f ms\n", label, NR, p50, p99, v[NR]
      }'
}
{
  percentiles "HTML package page (/packages/N)" ':[0-9]+/packages/'
  percentiles "JSON package page (baseline)" '/api/wharf/v1/catalogue/packages/'
  echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$RESULTS/summary.md"
log "results in $RESULTS"
