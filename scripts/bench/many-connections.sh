#!/usr/bin/env bash
# 10,000 keep-alive connections on one node: Wharf against nginx serving byte-identical index
# files, with the same load generator in the same run.
#
# Builds `wharf`, `wharf-load` and `wharf-many-conns` in release, starts wharf on a temporary
# data directory on 127.0.0.1 (default settings: it raises its own open-file limit and its
# connection cap follows), seeds it through the publish API, mirrors every index file into a
# tree nginx serves at the same /index/... paths, then alternates wharf, nginx, wharf, nginx…
# rounds of `wharf-many-conns`: CONNECTIONS keep-alive connections opened first, then RATE
# index GETs per second spread evenly across them (each connection asks once every
# CONNECTIONS / RATE seconds), WARMUP unmeasured, DURATION measured. For each round it reports
# the load generator's p50/p99 (from when each request was due), the server's peak RSS while
# the connections were held (VmRSS from /proc, all nginx processes summed) and its CPU time per
# request (user + system from /proc/PID/stat over the whole round). Everything it starts is
# stopped on exit; raw output stays under $RESULTS.
#
# Settings (environment): CONNECTIONS (10000), RATE (2000), WARMUP (10s), DURATION (30s),
# ROUNDS (2), PACKAGES (2000), VERSIONS (4), WHARF_PORT (18490), NGINX_PORT (18491),
# LOAD_THREADS (1), RESULTS (output directory), WHARF_BIN, LOAD_BIN and MANY_BIN with
# SKIP_BUILD=1 (saved binaries of wharf, wharf-load and wharf-many-conns).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CONNECTIONS=${CONNECTIONS:-10000}
RATE=${RATE:-2000}
WARMUP=${WARMUP:-10s}
DURATION=${DURATION:-30s}
ROUNDS=${ROUNDS:-2}
PACKAGES=${PACKAGES:-2000}
VERSIONS=${VERSIONS:-4}
WHARF_PORT=${WHARF_PORT:-18490}
NGINX_PORT=${NGINX_PORT:-18491}
LOAD_THREADS=${LOAD_THREADS:-1}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/many-connections-$(date -u +%Y%m%dT%H%M%SZ)}
MANY="${MANY_BIN:-$TARGET_DIR/release/wharf-many-conns}"
LOAD="${LOAD_BIN:-$LOAD}"

ensure_tools nginx:nginx-light curl:curl
build_release
[ -x "$MANY" ] || die "no $MANY; build it with cargo build --release -p wharf-bench"
# The load generator holds one descriptor per connection, like each server.
ulimit -Sn "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((CONNECTIONS + 256)) ] \
  || die "the open-file limit $(ulimit -n) is below $((CONNECTIONS + 256)); raise the hard limit (ulimit -Hn)"
begin_work many-conns

WHARF_URL="http://127.0.0.1:$WHARF_PORT"
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
log "starting wharf on $WHARF_URL (data in $WORK/data)"
start_wharf "$WORK/data" "$WHARF_PORT" "$RESULTS/wharf.log"
grep -m1 'open-file limit' "$RESULTS/wharf.log" >&2 || true
WORKERS=$(curl -s "$WHARF_URL/metrics" | awk '$1 == "wharf_http_workers" { print $2 }')
CAP=$(curl -s "$WHARF_URL/metrics" | awk '$1 == "wharf_connections_max" { print $2 }')
[ "$CAP" -gt "$CONNECTIONS" ] || die "wharf's connection cap ($CAP) is not above $CONNECTIONS"
TOKEN=$("$WHARF" token create --data "$WORK/data" --user bench 2>>"$RESULTS/wharf.log" | tail -n1)

log "seeding $PACKAGES packages × $VERSIONS versions"
"$LOAD" seed --url "$WHARF_URL" --token "$TOKEN" --packages "$PACKAGES" --versions "$VERSIONS" \
  --paths-out "$WORK/paths.txt" >>"$RESULTS/seed.log" 2>&1
"$LOAD" fetch-index --url "$WHARF_URL" --paths "$WORK/paths.txt" --out "$WORK/www" \
  --etags-out "$WORK/wharf-etags.tsv" >&2
chmod -R a+rX "$WORK/www"
chmod a+x "$WORK"

mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes $WORKERS;
worker_rlimit_nofile $((CONNECTIONS * 2 + 1024));
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections $((CONNECTIONS + 1024)); }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    gzip off;
    etag on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    default_type text/plain;
    types { }
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    open_file_cache max=$((PACKAGES * 2 + 1000)) inactive=600s;
    open_file_cache_valid 600s; open_file_cache_min_uses 1; open_file_cache_errors on;
    server {
        listen 127.0.0.1:$NGINX_PORT reuseport backlog=16384;
        root $WORK/www;
        location /index/ { }
    }
}
CONF
port_free "$NGINX_PORT" || die "port $NGINX_PORT is in use; set NGINX_PORT"
log "starting nginx on $NGINX_URL"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
NGINX_PID=$!
wait_http "$NGINX_URL/index/$(head -n1 "$WORK/paths.txt")" 30 \
  || die "nginx did not start; see $WORK/nginx/error.log"

# rss_kib PID... — resident set size of the processes now, in KiB.
rss_kib() {
  local pid total=0
  for pid in "$@"; do
    total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# run_round SERVER OUT — one load round; prints its MANY_RESULT line plus the server's peak RSS
# (MiB) and CPU µs per request sent.
run_round() {
  local server=$1 out=$2 url pids before after peak=0 rss load_pid result sent
  if [ "$server" = wharf ]; then
    url=$WHARF_URL pids=$WHARF_PID
  else
    url=$NGINX_URL pids="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
  fi
  # shellcheck disable=SC2086 # one argument per process id
  before=$(cpu_ticks $pids)
  "$MANY" --url "$url" --paths "$WORK/paths.txt" --connections "$CONNECTIONS" --rate "$RATE" \
    --warmup "$WARMUP" --duration "$DURATION" --threads "$LOAD_THREADS" >"$out" 2>&1 &
  load_pid=$!
  while kill -0 "$load_pid" 2>/dev/null; do
    # shellcheck disable=SC2086
    rss=$(rss_kib $pids)
    [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.5
  done
  wait "$load_pid" || die "wharf-many-conns failed against $server; see $out"
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  result=$(grep '^MANY_RESULT' "$out") || die "no result in $out"
  sent=$(result_field "$result" sent)
  echo "$result rss_peak_mib=$((peak / 1024)) cpu_us_per_req=$(awk -v t=$((after - before)) \
    -v hz="$(getconf CLK_TCK)" -v n="$sent" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')"
}

{
  echo "# $CONNECTIONS keep-alive connections: wharf vs nginx"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $(wc -l <"$WORK/paths.txt") index files; $CONNECTIONS connections" \
    "held open, $RATE index GETs/s spread across them, $WARMUP warm-up + $DURATION measured per round."
  echo
  machine_info "$WORK"
  echo "- wharf: default settings ($WORKERS HTTP workers, connection cap $CAP, idle timeout 75 s)"
  echo "- nginx $(nginx -v 2>&1 | cut -d/ -f2): $WORKERS worker processes, sendfile, open_file_cache, access log off"
  echo "- load: \`wharf-many-conns --connections $CONNECTIONS --rate $RATE\` ($LOAD_THREADS thread) on the same machine"
  echo
  echo "| round | server | measured requests | errors | p50 ms | p99 ms | max ms | peak RSS MiB | CPU µs/req |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
} >"$RESULTS/summary.md"

for round in $(seq 1 "$ROUNDS"); do
  for server in wharf nginx; do
    line=$(run_round "$server" "$RESULTS/$server-$round.txt")
    log "round $round $server: $line"
    ms() { awk -v us="$(result_field "$line" "$1")" 'BEGIN { printf "%.1f", us / 1000 }'; }
    echo "| $round | $server | $(result_field "$line" requests) | $(result_field "$line" errors) |" \
      "$(ms p50_us) | $(ms p99_us) | $(ms max_us) | $(result_field "$line" rss_peak_mib) |" \
      "$(result_field "$line" cpu_us_per_req) |" >>"$RESULTS/summary.md"
  done
done
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
