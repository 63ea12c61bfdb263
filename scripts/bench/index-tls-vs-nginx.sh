#!/usr/bin/env bash
# Sparse-index serving over TLS: Wharf's own HTTPS (`wharf serve --tls-cert --tls-key`)
# against nginx serving byte-identical files at the same paths with the same certificate.
#
# Builds `wharf` in release, seeds a temporary data directory through the publish API (plain
# HTTP), downloads every index file into a tree nginx serves at the same /index/... paths,
# restarts wharf with TLS, and starts nginx configured as an administrator would for static
# files over TLS: the same worker count as wharf, sendfile, open_file_cache,
# ssl_session_cache, HTTP/2 on, keep-alive without a request limit, access log off, no gzip.
# Both use one ECDSA P-256 certificate made here with openssl. Then h2load rounds alternate
# wharf, nginx, wharf, nginx… for
#   (a) HTTP/1.1 (`h2load --h1`, one request in flight per connection), and
#   (b) HTTP/2 (ALPN h2, STREAMS requests in flight per connection),
# GETting the index files in a shuffled order (the same order for both servers). Prints per-round
# req/s, p50/p99 latency (from h2load's per-request log), failures and each server's CPU time
# per request, medians and wharf/nginx ratios, and keeps raw output under $RESULTS.
# Everything it starts is stopped on exit.
#
# Settings (environment): PACKAGES (2000), VERSIONS (4), ROUNDS (3), DURATION (10s),
# WARMUP (2s), THREADS (1, h2load threads), CONNECTIONS (32), STREAMS (10, HTTP/2 streams in
# flight per connection), SERVER_WORKERS (the number of cores; wharf --workers and nginx
# worker_processes), WHARF_PORT (18490), NGINX_PORT (18491), RESULTS (output directory),
# WHARF_BIN (a saved wharf binary to measure) with SKIP_BUILD=1 (no cargo build).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=${PACKAGES:-2000}
VERSIONS=${VERSIONS:-4}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
STREAMS=${STREAMS:-10}
SERVER_WORKERS=${SERVER_WORKERS:-$(nproc)}
WHARF_PORT=${WHARF_PORT:-18490}
NGINX_PORT=${NGINX_PORT:-18491}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/index-tls-vs-nginx-$(date -u +%Y%m%dT%H%M%SZ)}

ensure_tools nginx:nginx-light h2load:nghttp2-client curl:curl openssl:openssl
build_release
begin_work index-tls-bench

log "seeding $PACKAGES packages × $VERSIONS versions over plain HTTP"
start_wharf "$WORK/data" "$WHARF_PORT" "$RESULTS/wharf.log"
PLAIN_URL="http://127.0.0.1:$WHARF_PORT"
TOKEN=$("$WHARF" token create --data "$WORK/data" --user bench 2>>"$RESULTS/wharf.log" | tail -n1)
"$LOAD" seed --url "$PLAIN_URL" --token "$TOKEN" --packages "$PACKAGES" --versions "$VERSIONS" \
  --paths-out "$WORK/paths.txt" 2>>"$RESULTS/seed.log" | tee -a "$RESULTS/seed.log" >&2
log "mirroring the index for nginx"
"$LOAD" fetch-index --url "$PLAIN_URL" --paths "$WORK/paths.txt" --out "$WORK/www" \
  --etags-out "$WORK/etags.tsv" >&2
chmod -R a+rX "$WORK/www"
chmod a+x "$WORK"
stop_pid "$WHARF_PID"
WHARF_PID=""

log "making a certificate for 127.0.0.1"
mkdir -p "$WORK/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
chmod a+r "$WORK/tls/key.pem" "$WORK/tls/cert.pem"
chmod a+x "$WORK/tls"
CA="$WORK/tls/cert.pem"

# wait_https URL SECONDS — waits until URL answers 200 over TLS with this script's certificate.
wait_https() {
  local url=$1 deadline=$((SECONDS + $2))
  until [ "$(curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

WHARF_URL="https://127.0.0.1:$WHARF_PORT"
NGINX_URL="https://127.0.0.1:$NGINX_PORT"
log "starting wharf with TLS on $WHARF_URL ($SERVER_WORKERS workers)"
port_free "$WHARF_PORT" || die "port $WHARF_PORT is in use; set WHARF_PORT"
"$WHARF" serve --data "$WORK/data" --listen "127.0.0.1:$WHARF_PORT" --workers "$SERVER_WORKERS" \
  --tls-cert "$WORK/tls/cert.pem" --tls-key "$WORK/tls/key.pem" >>"$RESULTS/wharf.log" 2>&1 &
WHARF_PID=$!
wait_https "$WHARF_URL/ready" 120 || die "wharf did not become ready over TLS; see $RESULTS/wharf.log"

# `http2 on` arrived in nginx 1.25.1; older ones take it as a `listen` parameter.
NGINX_VERSION=$(nginx -v 2>&1 | sed 's|.*nginx/||; s| .*||')
if [ "$(printf '%s\n1.25.1\n' "$NGINX_VERSION" | sort -V | head -n1)" = 1.25.1 ]; then
  LISTEN="listen 127.0.0.1:$NGINX_PORT ssl; http2 on;"
else
  LISTEN="listen 127.0.0.1:$NGINX_PORT ssl http2;"
fi
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes $SERVER_WORKERS;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    gzip off;
    etag on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1h;
    default_type text/plain;
    types { }
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        $LISTEN
        ssl_certificate $WORK/tls/cert.pem;
        ssl_certificate_key $WORK/tls/key.pem;
        root $WORK/www;
        location /index/ { }
    }
}
CONF
port_free "$NGINX_PORT" || die "port $NGINX_PORT is in use; set NGINX_PORT"
log "starting nginx $NGINX_VERSION on $NGINX_URL ($SERVER_WORKERS workers)"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
NGINX_PID=$!
FIRST_PATH=$(head -n1 "$WORK/paths.txt")
wait_https "$NGINX_URL/index/$FIRST_PATH" 30 || die "nginx did not start; see $WORK/nginx/error.log"

log "checking both servers speak HTTP/2 and HTTP/1.1 and send the same bytes"
for url in "$WHARF_URL" "$NGINX_URL"; do
  got=$(curl -s --cacert "$CA" --http2 -o /dev/null -w '%{http_version}' "$url/index/$FIRST_PATH")
  [ "$got" = 2 ] || die "$url did not answer over HTTP/2 (got HTTP/$got)"
  got=$(curl -s --cacert "$CA" --http1.1 -o /dev/null -w '%{http_version}' "$url/index/$FIRST_PATH")
  [ "$got" = 1.1 ] || die "$url did not answer over HTTP/1.1 (got HTTP/$got)"
done
while read -r path; do
  cmp -s <(curl -sf --cacert "$CA" "$WHARF_URL/index/$path") \
    <(curl -sf --cacert "$CA" "$NGINX_URL/index/$path") \
    || die "wharf and nginx send different bytes for /index/$path"
done < <(head -n 50 "$WORK/paths.txt")

# The same shuffled order of every index file for both servers (h2load takes scheme, host
# and port from the first line only, so one list serves both).
shuf --random-source=<(yes) "$WORK/paths.txt" | sed "s|^|$WHARF_URL/index/|" >"$WORK/uris.txt"

FILES=$(wc -l <"$WORK/paths.txt")
BYTES=$(find "$WORK/www/index" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")
{
  echo "# Sparse index over TLS: wharf vs nginx"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $FILES index files, $BYTES bytes (mean file $((BYTES / FILES)) bytes)."
  echo
  machine_info "$WORK"
  echo "- workers: $SERVER_WORKERS each (wharf --workers, nginx worker_processes)"
  echo "- certificate: ECDSA P-256, self-signed; TLS 1.3 as negotiated by h2load"
  echo "- h2load -t$THREADS -c$CONNECTIONS -D $DURATION (after a $WARMUP warm-up per server and mode);"
  echo "  http1: --h1, one request in flight per connection; http2: -m$STREAMS streams per connection"
  echo "- nginx $NGINX_VERSION: sendfile, open_file_cache, ssl_session_cache shared:SSL:10m, HTTP/2 on"
  echo
} >"$RESULTS/summary.md"

# seconds DURATION — h2load's duration (e.g. 10s) as a number of seconds.
seconds() { echo "${1%s}"; }

# run_h2load SERVER MODE DURATION OUT — one h2load run; prints a RESULT line with req/s,
# p50/p99 µs (from the per-request log), failed requests and the server's CPU time per request.
run_h2load() {
  local server=$1 mode=$2 duration=$3 out=$4 port pids before after requests proto=()
  if [ "$server" = wharf ]; then
    port=$WHARF_PORT pids=$WHARF_PID
  else
    port=$NGINX_PORT pids=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
  fi
  if [ "$mode" = http1 ]; then proto=(--h1 -m 1); else proto=(-m "$STREAMS"); fi
  # shellcheck disable=SC2086 # one argument per process id
  before=$(cpu_ticks $pids)
  timeout 120 h2load "${proto[@]}" -t "$THREADS" -c "$CONNECTIONS" -D "$(seconds "$duration")" \
    --connect-to "127.0.0.1:$port" --log-file "$out.requests" -i "$WORK/uris.txt" >"$out" 2>&1 \
    || die "h2load failed; see $out"
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  grep -q "Application protocol: $([ "$mode" = http1 ] && echo http/1.1 || echo h2)" "$out" \
    || die "h2load did not use $mode; see $out"
  requests=$(awk '/^requests:/ { print $8 }' "$out")
  [ "${requests:-0}" -gt 0 ] || die "no successful requests in $out"
  awk -F'\t' '$2 >= 200 && $2 < 400 { print $3 }' "$out.requests" | sort -n >"$out.latency"
  printf 'RESULT rps=%s p50_us=%s p99_us=%s failed=%s cpu_us_per_req=%s\n' \
    "$(awk '/^finished in/ { print $4 }' "$out")" \
    "$(awk '{ v[NR] = $1 } END { print v[int(NR * 0.50) + 1] }' "$out.latency")" \
    "$(awk '{ v[NR] = $1 } END { print v[int(NR * 0.99) + 1] }' "$out.latency")" \
    "$(awk '/^requests:/ { print $10 + $12 + $14 }' "$out")" \
    "$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
      'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
  rm -f "$out.requests" "$out.latency"
}

TABLE="$RESULTS/rounds.tsv"
printf 'mode\tround\tserver\trps\tp50_us\tp99_us\tfailed\tcpu_us_per_req\n' >"$TABLE"
MODES="http1 http2"
for mode in $MODES; do
  for server in wharf nginx; do
    log "warm-up: $server, $mode"
    run_h2load "$server" "$mode" "$WARMUP" "$RESULTS/warmup-$mode-$server.txt" >/dev/null
  done
  for round in $(seq 1 "$ROUNDS"); do
    for server in wharf nginx; do
      line=$(run_h2load "$server" "$mode" "$DURATION" "$RESULTS/$mode-$round-$server.txt")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$round" "$server" \
        "$(result_field "$line" rps)" "$(result_field "$line" p50_us)" \
        "$(result_field "$line" p99_us)" "$(result_field "$line" failed)" \
        "$(result_field "$line" cpu_us_per_req)" >>"$TABLE"
      log "$mode round $round $server: $line"
    done
  done
done

column_of() { awk -F'\t' -v m="$1" -v s="$2" -v c="$3" 'NR > 1 && $1 == m && $3 == s { print $c }' "$TABLE"; }
{
  echo "| mode | round | server | req/s | p50 µs | p99 µs | failed | server CPU µs/req |"
  echo "|---|---|---|---:|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$TABLE"
  echo
  echo "| mode | wharf median req/s | nginx median req/s | ratio | wharf median p99 µs | nginx median p99 µs | wharf median CPU µs/req | nginx median CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for mode in $MODES; do
    w_rps=$(column_of "$mode" wharf 4 | median)
    n_rps=$(column_of "$mode" nginx 4 | median)
    ratio=$(awk -v a="$w_rps" -v b="$n_rps" 'BEGIN { printf "%.2f×", a / b }')
    echo "| $mode | $w_rps | $n_rps | $ratio | $(column_of "$mode" wharf 6 | median) |" \
      "$(column_of "$mode" nginx 6 | median) | $(column_of "$mode" wharf 8 | median) |" \
      "$(column_of "$mode" nginx 8 | median) |"
  done
} >>"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
