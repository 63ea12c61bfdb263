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

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Garage, single node, in $WORK/garage; sets GARAGE_PID and the AWS_* variables.
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
  RUST_LOG=garage=warn "${G[@]}" server >"$RESULTS/garage.log" 2>&1 &
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
