# Helpers shared by the benchmark scripts; sourced, not run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WHARF="${WHARF_BIN:-$TARGET_DIR/release/wharf}"
LOAD="${WHARF_LOAD_BIN:-$TARGET_DIR/release/wharf-load}"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ensure_tools "cmd:debian-package" ... — installs the packages of missing commands with apt-get.
ensure_tools() {
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 \
    || die "could not install ${missing[*]}"
}

# Release builds of `wharf` and `wharf-load` (skipped with SKIP_BUILD=1, e.g. to measure a
# saved binary given as WHARF_BIN).
build_release() {
  [ "${SKIP_BUILD:-0}" = 1 ] && return 0
  log "building wharf and wharf-load (release)"
  (cd "$ROOT" && cargo build --release --locked -p wharf-cli -p wharf-bench --bins) >&2
}

# begin_work NAME — creates $RESULTS and a temporary $WORK directory, and arranges that on
# exit the servers this script started ($WHARF_PID, $NGINX_PID) are stopped and $WORK removed.
begin_work() {
  mkdir -p "$RESULTS"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/wharf-$1.XXXXXX")
  WHARF_PID=""
  NGINX_PID=""
  trap end_work EXIT
  trap 'exit 130' INT TERM
}

# end_work — what begin_work runs on exit.
end_work() {
  [ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID" QUIT
  [ -n "$WHARF_PID" ] && stop_pid "$WHARF_PID"
  rm -rf "$WORK"
}

# port_free PORT — true when nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http URL SECONDS — waits until URL answers 200.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# start_wharf DATA_DIR PORT LOG — starts `wharf serve` on loopback (with WHARF_EXTRA_ARGS, if
# set, e.g. `--storage s3://bucket/prefix`); sets WHARF_PID.
start_wharf() {
  local data=$1 port=$2 logfile=$3
  port_free "$port" || die "port $port is in use; set WHARF_PORT"
  # shellcheck disable=SC2086 # SERVER_TASKSET is empty or a `taskset -c CPUS` prefix
  ${SERVER_TASKSET:-} "$WHARF" serve --data "$data" --listen "127.0.0.1:$port" \
    ${SERVER_WORKERS:+--workers "$SERVER_WORKERS"} ${WHARF_EXTRA_ARGS:-} >>"$logfile" 2>&1 &
  WHARF_PID=$!
  wait_http "http://127.0.0.1:$port/ready" 120 || die "wharf did not become ready; see $logfile"
}

# stop_pid PID [SIGNAL] — stops a process this script started and waits for it.
stop_pid() {
  local pid=$1 signal=${2:-TERM}
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null && [ $waited -lt 150 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null || true
}

# machine_info DIR — the machine and the filesystem DIR is on, as Markdown list items.
machine_info() {
  local dir=$1
  echo "- CPU: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "- memory: $(free -h | awk '/^Mem:/ {print $2}')"
  echo "- kernel: $(uname -r)"
  echo "- filesystem of the data directory: $(df -T "$dir" | awk 'NR == 2 {print $2 " on " $1}')"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# median — the median of the numbers on stdin (mean of the middle two for an even count).
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) { print v[(NR + 1) / 2] } else { printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }
  }'
}

# cpu_ticks PID... — user + system CPU time of the processes so far, in clock ticks.
cpu_ticks() {
  local pid total=0
  for pid in "$@"; do
    total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}

# settle_disk DIR — flushes dirty data, waits (up to 60 s) until the disk holding DIR has
# written nothing for two seconds in a row, then leaves it idle for SETTLE_SECONDS more (20 by
# default), so a measurement does not pay for the I/O of whatever ran before it. On the 2-vCPU
# virtual machines of BENCHMARKS.md, one-publisher runs started right after another run were
# 20-30 % slower than runs after 25 s of idle disk, though the disk statistics showed no
# writes in between: the virtual disk itself needs the rest.
settle_disk() {
  local dev before after quiet=0 waited=0
  dev=$(basename "$(df --output=source "$1" | tail -n1)")
  sync
  before=$(awk -v d="$dev" '$3 == d { print $10 }' /proc/diskstats)
  [ -n "$before" ] || return 0
  while [ $quiet -lt 2 ] && [ $waited -lt 60 ]; do
    sleep 1
    waited=$((waited + 1))
    after=$(awk -v d="$dev" '$3 == d { print $10 }' /proc/diskstats)
    if [ "$after" = "$before" ]; then quiet=$((quiet + 1)); else quiet=0; fi
    before=$after
  done
  sleep "${SETTLE_SECONDS:-20}"
  log "disk $dev settled after $((waited + ${SETTLE_SECONDS:-20}))s"
}

# result_field LINE KEY — the value of KEY=value in a RESULT line.
result_field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_garage — Garage (the program $GARAGE), single node, in $WORK/garage, with a bucket
# `wharf` and a key for it; sets GARAGE_PID and exports the AWS_* variables.
start_garage() {
  local dir="$WORK/garage" rpc s3 admin node key
  rpc=$(free_port) s3=$(free_port) admin=$(free_port)
  mkdir -p "$dir"
  cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$admin"
EOF
  G=("$GARAGE" -c "$dir/garage.toml")
  RUST_LOG=garage=warn "${G[@]}" server >"${GARAGE_LOG:-$RESULTS/garage.log}" 2>&1 &
  GARAGE_PID=$!
  for _ in $(seq 1 100); do "${G[@]}" status >/dev/null 2>&1 && break; sleep 0.2; done
  node=$("${G[@]}" status | awk "/127.0.0.1:$rpc/{print \$1}" | head -1)
  "${G[@]}" layout assign -z dc1 -c 10G "$node" >/dev/null
  "${G[@]}" layout apply --version 1 >/dev/null
  for _ in $(seq 1 50); do "${G[@]}" bucket create wharf >/dev/null 2>&1 && break; sleep 0.2; done
  key=$("${G[@]}" key create wharf-key)
  "${G[@]}" bucket allow --read --write --owner wharf --key wharf-key >/dev/null
  export AWS_ENDPOINT_URL="http://127.0.0.1:$s3" AWS_REGION=garage AWS_ALLOW_HTTP=true
  AWS_ACCESS_KEY_ID=$(sed -n 's/^ *Key ID: *//p' <<<"$key")
  AWS_SECRET_ACCESS_KEY=$(sed -n 's/^ *Secret key: *//p' <<<"$key")
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  log "garage serving S3 on $AWS_ENDPOINT_URL"
}


# start_postgres — a throwaway PostgreSQL cluster (Debian's initdb and postgres, trust
# authentication, loopback only, database `wharf`), as the tests' `PostgresServer` starts
# one; as root the server runs as `nobody`. Sets PG_DIR, PG_PID, PG_PORT, PG_BIN and PG_URL.
start_postgres() {
  local bin port run=()
  bin=${WHARF_POSTGRES_BIN:-$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)}
  [ -x "$bin/initdb" ] || die "PostgreSQL is not installed: run \`apt-get install postgresql\`"
  PG_BIN=$bin
  PG_DIR=$(mktemp -d "/tmp/wharf-pg.XXXXXX")
  if [ "$(id -u)" -eq 0 ]; then
    chown nobody "$PG_DIR"
    run=(setpriv "--reuid=$(id -u nobody)" "--regid=$(id -g nobody)" --clear-groups)
  fi
  port=$(free_port)
  "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -U wharf --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || die "initdb failed; see $PG_DIR/initdb.log"
  "${run[@]}" "$bin/postgres" -D "$PG_DIR/data" -p "$port" -k "$PG_DIR" \
    -c listen_addresses=127.0.0.1 -c max_connections=200 >"$PG_DIR/postgres.log" 2>&1 &
  PG_PID=$!
  for _ in $(seq 1 100); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U wharf wharf || die "createdb failed; see $PG_DIR/postgres.log"
  PG_PORT=$port
  PG_URL="postgres://wharf@127.0.0.1:$port/wharf"
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') serving $PG_URL"
}

# pg_database NAME — creates database NAME in the cluster of start_postgres; prints its URL.
pg_database() {
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U wharf "$1" || die "createdb $1 failed"
  echo "postgres://wharf@127.0.0.1:$PG_PORT/$1"
}

# stop_postgres — stops what start_postgres started and removes its files.
stop_postgres() {
  [ -n "${PG_PID:-}" ] && stop_pid "$PG_PID" INT
  [ -n "${PG_DIR:-}" ] && rm -rf "$PG_DIR"
  PG_PID=""
}
