#!/usr/bin/env bash
# Sparse-index serving: Wharf against nginx serving byte-identical files at the same paths.
#
# Builds `wharf` in release, starts it on a temporary data directory on 127.0.0.1, seeds it
# through the publish API, downloads every index file into a tree that nginx serves at the
# same /index/... paths, configured as an administrator would for a static index (as many
# worker processes as Wharf has HTTP workers, a reuseport listener like Wharf's, sendfile,
# tcp_nopush, open_file_cache, access log off, keepalive, default ETags, no gzip), then runs
# wrk rounds alternating wharf, nginx, wharf, nginx… for
#   (a) plain GETs (200), and
#   (b) conditional GETs carrying each server's own ETag in If-None-Match (304),
# with random paths from the same list. Prints per-round figures, medians and wharf/nginx
# ratios, and keeps raw wrk output under $RESULTS. Everything it starts is stopped on exit.
#
# Settings (environment): PACKAGES (2000), VERSIONS (4), ROUNDS (3), DURATION (10s),
# WARMUP (3s), THREADS (2), CONNECTIONS (64), WHARF_PORT (18480), NGINX_PORT (18481),
# NGINX_OPEN_FILE_CACHE (1; 0 leaves nginx's open_file_cache off), RESULTS (output directory),
# WHARF_BIN (a saved wharf binary to measure) with SKIP_BUILD=1 (no cargo build),
# WHARF_EXTRA_ARGS (more `wharf serve` flags, e.g. "--yield-every 0"),
# PERF_STAT (1: also count, with `perf stat` on the server processes during each round, context
# switches, CPU migrations and system calls per request, by kind, and wrk's own CPU time per
# request; kept in $RESULTS/perf-*.csv and summed up in $RESULTS/perf.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=${PACKAGES:-2000}
VERSIONS=${VERSIONS:-4}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-2}
# PINNED=1 gives each side its own core, so neither waits for the other's time slice:
# servers run one worker on CPU 1 (wharf --workers 1, nginx worker_processes 1) and wrk runs
# one thread on CPU 0. Without it, both share both cores as the scheduler sees fit.
SERVER_TASKSET="" LOAD_TASKSET="" SERVER_WORKERS=${SERVER_WORKERS:-}
if [ "${PINNED:-0}" = 1 ]; then
  SERVER_TASKSET="taskset -c 1" LOAD_TASKSET="taskset -c 0" SERVER_WORKERS=1 THREADS=1
fi
CONNECTIONS=${CONNECTIONS:-64}
# After the saturating rounds, the same rounds with every connection pausing PACE_MS after each
# answer (about CONNECTIONS / PACE_MS thousand requests per second): latency at equal load.
# Empty to skip.
PACE_MS=${PACE_MS-2}
WHARF_PORT=${WHARF_PORT:-18480}
NGINX_PORT=${NGINX_PORT:-18481}
NGINX_OPEN_FILE_CACHE=${NGINX_OPEN_FILE_CACHE:-1}
RESULTS=${RESULTS:-$TARGET_DIR/bench-results/index-vs-nginx-$(date -u +%Y%m%dT%H%M%SZ)}
LUA="$ROOT/scripts/bench/random-index.lua"

ensure_tools nginx:nginx-light wrk:wrk curl:curl
build_release
begin_work index-bench

WHARF_URL="http://127.0.0.1:$WHARF_PORT"
NGINX_URL="http://127.0.0.1:$NGINX_PORT"

log "starting wharf on $WHARF_URL (data in $WORK/data)"
start_wharf "$WORK/data" "$WHARF_PORT" "$RESULTS/wharf.log"
# nginx gets as many worker processes as Wharf reports HTTP worker threads.
WORKERS=$(curl -s "$WHARF_URL/metrics" | awk '$1 == "wharf_http_workers" { print $2 }')
[ -n "$WORKERS" ] && [ "$WORKERS" -gt 0 ] || die "no wharf_http_workers in $WHARF_URL/metrics"
TOKEN=$("$WHARF" token create --data "$WORK/data" --user bench 2>>"$RESULTS/wharf.log" | tail -n1)

log "seeding $PACKAGES packages × $VERSIONS versions"
"$LOAD" seed --url "$WHARF_URL" --token "$TOKEN" --packages "$PACKAGES" --versions "$VERSIONS" \
  --paths-out "$WORK/paths.txt" 2>>"$RESULTS/seed.log" | tee -a "$RESULTS/seed.log" >&2

log "mirroring the index for nginx"
"$LOAD" fetch-index --url "$WHARF_URL" --paths "$WORK/paths.txt" --out "$WORK/www" \
  --etags-out "$WORK/wharf-etags.tsv" >&2
chmod -R a+rX "$WORK/www"
chmod a+x "$WORK"

mkdir -p "$WORK/nginx/tmp"
# open_file_cache keeps every file's descriptor, size and mtime, so a request costs no
# open()/fstat(): room for every file, nothing expires during a run.
OPEN_FILE_CACHE=""
if [ "$NGINX_OPEN_FILE_CACHE" = 1 ]; then
  OPEN_FILE_CACHE="open_file_cache max=$((PACKAGES * 2 + 1000)) inactive=600s;
    open_file_cache_valid 600s; open_file_cache_min_uses 1; open_file_cache_errors on;"
fi
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    gzip off;
    etag on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    default_type text/plain;
    types { }
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    $OPEN_FILE_CACHE
    server {
        listen 127.0.0.1:$NGINX_PORT reuseport;
        root $WORK/www;
        location /index/ { }
    }
}
CONF
port_free "$NGINX_PORT" || die "port $NGINX_PORT is in use; set NGINX_PORT"
log "starting nginx on $NGINX_URL"
$SERVER_TASKSET nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
NGINX_PID=$!
FIRST_PATH=$(head -n1 "$WORK/paths.txt")
wait_http "$NGINX_URL/index/$FIRST_PATH" 30 || die "nginx did not start; see $WORK/nginx/error.log"

log "checking both servers send the same bytes"
"$LOAD" fetch-index --url "$NGINX_URL" --paths "$WORK/paths.txt" --out "$WORK/www-check" \
  --etags-out "$WORK/nginx-etags.tsv" >&2
diff -r -q "$WORK/www/index" "$WORK/www-check/index" >/dev/null \
  || die "nginx and wharf serve different bytes"

# A conditional GET with each server's own ETag must be 304, a plain GET 200.
check_status() {
  local url=$1 etag=$2 want_plain=200 want_conditional=304 got
  got=$(curl -s -o /dev/null -w '%{http_code}' "$url")
  [ "$got" = "$want_plain" ] || die "GET $url answered $got"
  got=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url")
  [ "$got" = "$want_conditional" ] || die "conditional GET $url answered $got"
}
check_status "$WHARF_URL/index/$FIRST_PATH" "$(head -n1 "$WORK/wharf-etags.tsv" | cut -f2)"
check_status "$NGINX_URL/index/$FIRST_PATH" "$(head -n1 "$WORK/nginx-etags.tsv" | cut -f2)"

FILES=$(wc -l <"$WORK/paths.txt")
BYTES=$(find "$WORK/www/index" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")
LINES=$(find "$WORK/www/index" -type f -exec cat {} + | wc -l)
{
  echo "# Sparse index: wharf vs nginx"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $FILES index files, $LINES lines, $BYTES bytes"
  echo "(mean file $((BYTES / FILES)) bytes, mean line $((BYTES / LINES)) bytes)."
  echo
  machine_info "$WORK"
  echo "- pinned (servers on CPU 1, one worker; wrk on CPU 0): ${PINNED:-0}"
  echo "- server workers: wharf $WORKERS HTTP worker threads, nginx $WORKERS worker processes"
  echo "- paced rounds (\`mode@paced\`): every connection pauses ${PACE_MS:-(skipped)} ms after each answer"
  echo "- wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up per server and mode)"
  echo "- nginx $(nginx -v 2>&1 | cut -d/ -f2): sendfile, tcp_nopush, reuseport, access log off," \
    "open_file_cache $([ "$NGINX_OPEN_FILE_CACHE" = 1 ] && echo on || echo off)"
  echo
} >"$RESULTS/summary.md"

# run_wrk SERVER MODE DURATION OUT — one wrk run; prints its WRK_RESULT line plus the server's
# CPU time per request (user + system of every server process, from /proc), which is less
# disturbed than req/s when other work shares the machine.
run_wrk() {
  local server=$1 mode=${2%@*} duration=$3 out=$4 url list pids before after result requests pace=0
  [ "$2" != "$mode" ] && pace=$PACE_MS
  if [ "$server" = wharf ]; then
    url=$WHARF_URL list=$WORK/wharf-etags.tsv pids=$WHARF_PID
  else
    url=$NGINX_URL list=$WORK/nginx-etags.tsv pids=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
  fi
  local perf_pid="" perf_out=${out%.txt}.perf.csv wrk_perf=()
  if [ "$PERF_STAT" = 1 ]; then
    # shellcheck disable=SC2086 # one argument per process id
    perf stat -x, -o "$perf_out" -e "$PERF_EVENTS" -e sched:sched_switch --filter "$VOLUNTARY" \
      -p "$(echo $pids | tr ' ' ',')" &
    perf_pid=$!
    wrk_perf=(perf stat -x, -o "${out%.txt}.wrk-perf.csv" -e task-clock,context-switches --)
  fi
  # shellcheck disable=SC2086 # one argument per process id
  before=$(cpu_ticks $pids)
  WRK_PACE_MS=$pace $LOAD_TASKSET timeout 120 "${wrk_perf[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" \
    -d"$duration" --timeout 5s --latency -s "$LUA" "$url" -- "$list" "$mode" >"$out" 2>&1 \
    || die "wrk failed; see $out"
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
  fi
  result=$(grep '^WRK_RESULT' "$out") || die "no result in $out"
  requests=$(result_field "$result" requests)
  echo "$result cpu_us_per_req=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
    'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
  [ -n "$perf_pid" ] && per_request_counts "$2" "$server" "$requests" "$perf_out" \
    "${out%.txt}.wrk-perf.csv"
  return 0
}

# What PERF_STAT=1 counts on the server processes: CPU, scheduling, and the system calls an
# answer can make (reading, writing, waiting for events, yielding the core, waking threads).
PERF_STAT=${PERF_STAT:-0}
PERF_EVENTS="task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter"
for call in read recvfrom write writev sendto sendfile64 epoll_wait epoll_pwait epoll_ctl \
  sched_yield futex setsockopt; do
  PERF_EVENTS="$PERF_EVENTS,syscalls:sys_enter_$call"
done
PERF_TABLE="$RESULTS/perf.tsv"
# Context switches are counted by perf for every thread of the servers, including threads that
# start or end during a round (perf follows a thread's children and keeps an ended thread's
# count; per-thread counters read from /proc lose both). `context-switches` is all of them;
# the filtered `sched:sched_switch` counts the voluntary ones, where the thread was going to
# sleep: its state is a sleeping one (S, D, … below 256; 0 is running, 256 preempted), the
# kernel's own test for `voluntary_ctxt_switches`. Involuntary = all − voluntary.
VOLUNTARY='prev_state > 0 && prev_state < 256'
# per_request_counts MODE SERVER REQUESTS SERVER_CSV WRK_CSV — appends one row of per-request
# counts to $PERF_TABLE.
per_request_counts() {
  local mode=$1 server=$2 requests=$3
  awk -F, -v mode="$mode" -v server="$server" -v n="$requests" -v wrk="$5" '
    function event(name) { sub(/^(raw_)?syscalls:sys_enter_?/, "", name); return name == "" ? "syscalls" : name }
    FILENAME != wrk && $3 != "" && $1 ~ /^[0-9.]+$/ { v[event($3)] = $1 }
    FILENAME == wrk && $3 == "task-clock" { wrk_ms = $1 }
    FILENAME == wrk && $3 == "context-switches" { wrk_cs = $1 }
    END {
      voluntary = v["sched:sched_switch"]
      printf "%s\t%s\t%.2f\t%.3f\t%.3f\t%.3f\t%.4f\t%.3f", mode, server, v["task-clock"] * 1000 / n,
        v["context-switches"] / n, voluntary / n, (v["context-switches"] - voluntary) / n,
        v["cpu-migrations"] / n, v["syscalls"] / n
      split("read recvfrom write writev sendto sendfile64 epoll_wait epoll_pwait epoll_ctl sched_yield futex setsockopt", calls, " ")
      for (i = 1; i in calls; i++) printf "\t%.3f", v[calls[i]] / n
      printf "\t%.2f\t%.3f\n", wrk_ms * 1000 / n, wrk_cs / n
    }' "$4" "$5" >>"$PERF_TABLE"
}

TABLE="$RESULTS/rounds.tsv"
if [ "$PERF_STAT" = 1 ]; then
  command -v perf >/dev/null || die "PERF_STAT=1 needs perf (Debian package linux-perf)"
  printf 'mode\tserver\tcpu_us\tctx_switches\tvoluntary\tinvoluntary\tmigrations\tsyscalls\tread\trecvfrom\twrite\twritev\tsendto\tsendfile64\tepoll_wait\tepoll_pwait\tepoll_ctl\tsched_yield\tfutex\tsetsockopt\twrk_cpu_us\twrk_ctx_switches\n' >"$PERF_TABLE"
fi
printf 'mode\tround\tserver\trps\tp50_us\tp99_us\tnon_2xx_3xx\tsocket_errors\tcpu_us_per_req\n' >"$TABLE"
MODES="plain conditional${PACE_MS:+ plain@paced conditional@paced}"
for mode in $MODES; do
  for server in wharf nginx; do
    log "warm-up: $server, $mode"
    PERF_STAT=0 run_wrk "$server" "$mode" "$WARMUP" "$RESULTS/warmup-$mode-$server.txt" >/dev/null
  done
  for round in $(seq 1 "$ROUNDS"); do
    for server in wharf nginx; do
      line=$(run_wrk "$server" "$mode" "$DURATION" "$RESULTS/$mode-$round-$server.txt")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$round" "$server" \
        "$(result_field "$line" rps)" "$(result_field "$line" p50_us)" \
        "$(result_field "$line" p99_us)" "$(result_field "$line" non_2xx_3xx)" \
        "$(result_field "$line" socket_errors)" "$(result_field "$line" cpu_us_per_req)" >>"$TABLE"
      log "$mode round $round $server: $line"
    done
  done
done

# The medians over this run's rounds, one line per mode, for index-vs-nginx-runs.sh.
MEDIANS="$RESULTS/medians.tsv"
printf 'mode\twharf_rps\tnginx_rps\tratio\twharf_p99_us\tnginx_p99_us\twharf_cpu_us\tnginx_cpu_us\n' >"$MEDIANS"
column_of() { awk -F'\t' -v m="$1" -v s="$2" -v c="$3" 'NR > 1 && $1 == m && $3 == s { print $c }' "$TABLE"; }
{
  echo "| mode | round | server | req/s | p50 µs | p99 µs | non-2xx/3xx | socket errors | server CPU µs/req |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$TABLE"
  echo
  echo "| mode | wharf median req/s | nginx median req/s | ratio | wharf median p99 µs | nginx median p99 µs | wharf median CPU µs/req | nginx median CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for mode in $MODES; do
    w_rps=$(column_of "$mode" wharf 4 | median)
    n_rps=$(column_of "$mode" nginx 4 | median)
    w_p99=$(column_of "$mode" wharf 6 | median)
    n_p99=$(column_of "$mode" nginx 6 | median)
    w_cpu=$(column_of "$mode" wharf 9 | median)
    n_cpu=$(column_of "$mode" nginx 9 | median)
    ratio=$(awk -v a="$w_rps" -v b="$n_rps" 'BEGIN { printf "%.2f", a / b }')
    echo "| $mode | $w_rps | $n_rps | $ratio× | $w_p99 | $n_p99 | $w_cpu | $n_cpu |"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$w_rps" "$n_rps" "$ratio" \
      "$w_p99" "$n_p99" "$w_cpu" "$n_cpu" >>"$MEDIANS"
  done
} >>"$RESULTS/summary.md"
if [ "$PERF_STAT" = 1 ]; then
  {
    echo
    echo "Per request, counted by \`perf stat\` on the server processes during the measured rounds (median over rounds; wrk's own CPU time and context switches last):"
    echo
    head -n1 "$PERF_TABLE" | awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n|"; for (i = 1; i <= NF; i++) printf "---|"; printf "\n" }'
    for mode in $MODES; do
      for server in wharf nginx; do
        awk -F'\t' -v m="$mode" -v s="$server" 'NR > 1 && $1 == m && $2 == s' "$PERF_TABLE" >"$WORK/perf-rows"
        [ -s "$WORK/perf-rows" ] || continue
        printf '| %s | %s |' "$mode" "$server"
        columns=$(head -n1 "$PERF_TABLE" | awk -F'\t' '{ print NF }')
        for c in $(seq 3 "$columns"); do
          printf ' %s |' "$(cut -f"$c" "$WORK/perf-rows" | median)"
        done
        echo
      done
    done
  } >"$RESULTS/perf.md"
  cat "$RESULTS/perf.md" >>"$RESULTS/summary.md"
fi
cat "$RESULTS/summary.md"
log "raw output in $RESULTS"
