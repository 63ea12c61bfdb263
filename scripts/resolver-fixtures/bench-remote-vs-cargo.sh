#!/usr/bin/env bash
# Times cargo and `wharf resolve` as whole processes on one real case, locally and over HTTP, in
# alternating rounds of one run:
#
# - local: `cargo generate-lockfile --offline` with crates-io replaced by a local registry holding
#   the unpacked `fixtures/resolver/index.tar.gz`, vs `wharf resolve --index-dir` on the same tree;
# - remote cold: nginx serves the same tree on loopback as a sparse index (`config.json` added);
#   cargo with a fresh CARGO_HOME cache (sparse registry replacing crates-io) vs `wharf resolve
#   --index-url --cache-dir` with an emptied cache directory;
# - remote warm: the same with the caches of the previous run kept (cargo revalidates every file
#   it reads: conditional GETs answered 304 by nginx); nginx also serves snapshot bins for the
#   tree (`/.wharf/bins`, `/.wharf/bins/NN`, as a Wharf registry serves them, written here), so
#   Wharf asks for the bin list and uses every cached file it lists unchanged without a request.
#   With BINS=0 no bins are served and Wharf revalidates every file as cargo does.
#
# Each round runs every mode once through hyperfine (RUNS runs per command, one warm-up for the
# local and warm modes); the summary gives the median over all rounds, CPU time and the ratios.
# With PERF=1, `perf stat -e task-clock` counts the local pair too (software counter; the machine
# has no hardware counters); with CALLGRIND=1, valgrind counts the instructions of one local run
# of each, and of one cold remote `wharf resolve` (all threads), whose system calls `strace -f -c`
# also counts. WHARF=path times another `wharf` binary (a debug build, say) instead of the
# release one.
#
# Usage: scripts/resolver-fixtures/bench-remote-vs-cargo.sh [CASE]   (default: popular-88)
#        ROUNDS=3 RUNS=5 PORT=18089 SKIP_BUILD=1 PERF=1 CALLGRIND=1 WHARF=target/debug/wharf
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
fixtures="$repo/fixtures/resolver"
case="${1:-popular-88}"
rounds="${ROUNDS:-3}"
runs="${RUNS:-5}"
port="${PORT:-18089}"
[[ -f "$fixtures/cases/$case/Cargo.toml" ]] || { echo "no case named $case" >&2; exit 1; }
for tool in hyperfine nginx; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install -y $tool)" >&2; exit 1; }
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "port $port is in use; set PORT" >&2; exit 1; }

work=$(mktemp -d)
chmod 755 "$work" # nginx workers run as another user
nginx_pid=""
cleanup() {
    if [[ -n "$nginx_pid" ]]; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/registry/index" "$work/project/src" "$work/home-local" "$work/nginx" "$work/results"
tar -xzf "$fixtures/index.tar.gz" -C "$work/registry/index"
cp "$fixtures/cases/$case/Cargo.toml" "$work/project/Cargo.toml"
: > "$work/project/src/lib.rs"
url="http://127.0.0.1:$port/"
# The snapshot bins of the tree (docs/trust.md): bin = first byte of SHA-256(index path), one
# `<path> <sha256 of the file>` line per file sorted by path; the list is each bin's SHA-256.
mkdir -p "$work/registry/index/.wharf/bins"
if [[ "${BINS:-1}" = 1 ]]; then
    python3 - "$work/registry/index" "$work/registry/bin-list" <<'PY'
import hashlib, os, sys
root, list_path = sys.argv[1], sys.argv[2]
bins = [[] for _ in range(256)]
for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    for name in filenames:
        path = os.path.relpath(os.path.join(dirpath, name), root)
        if path == "config.json":
            continue
        digest = hashlib.sha256(open(os.path.join(dirpath, name), "rb").read()).hexdigest()
        bins[hashlib.sha256(path.encode()).digest()[0]].append(f"{path} {digest}\n")
hashes = []
for number, lines in enumerate(bins):
    text = "".join(sorted(lines))
    open(os.path.join(root, ".wharf", "bins", f"{number:02x}"), "w").write(text)
    hashes.append(hashlib.sha256(text.encode()).hexdigest() + "\n")
open(list_path, "w").write("".join(hashes))
PY
fi
cat > "$work/registry/index/config.json" <<JSON
{"dl": "${url}dl"}
JSON
cat > "$work/home-local/config.toml" <<TOML
[source.crates-io]
replace-with = "wharf-fixture"

[source.wharf-fixture]
local-registry = "$work/registry"
TOML
for home in home-cold home-warm; do
    mkdir -p "$work/$home"
    cat > "$work/$home/config.toml" <<TOML
[source.crates-io]
replace-with = "wharf-fixture"

[source.wharf-fixture]
registry = "sparse+$url"
TOML
done

cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        root $work/registry/index;
        location = /.wharf/bins {
            alias $work/registry/bin-list;
        }
    }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 50); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "${url}config.json" || true)" = 200 ]] && break
    sleep 0.1
done

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release -p wharf-cli --bin wharf
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
wharf="${WHARF:-$target_dir/release/wharf}"
manifest="$work/project/Cargo.toml"
cargo_cmd="cargo generate-lockfile --manifest-path $manifest"
wharf_local="$wharf resolve --index-dir $work/registry/index --manifest $manifest --format cargo-lock"
wharf_remote="$wharf resolve --index-url sparse+$url --manifest $manifest --format cargo-lock"

echo "case: $case ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["packages"]))' "$fixtures/cases/$case/expected.json") packages in cargo's lock file)"
echo "cargo: $(cargo --version); nginx: $(nginx -v 2>&1 | cut -d/ -f2); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# Both tools must agree on the answer before they are timed.
CARGO_HOME="$work/home-local" $cargo_cmd --offline 2>/dev/null
$wharf_local > "$work/wharf.lock"
python3 - "$work/project/Cargo.lock" "$work/wharf.lock" <<'PY'
import sys, tomllib
picks = [{(p["name"], p["version"]) for p in tomllib.load(open(f, "rb"))["package"] if "source" in p} for f in sys.argv[1:]]
if picks[0] != picks[1]:
    sys.exit(f"cargo and wharf differ: {sorted(picks[0] ^ picks[1])}")
print(f"cargo and wharf lock the same {len(picks[0])} packages")
PY

# The remote modes must work too (and their answer must be the local one) before anything is timed.
cp "$work/project/Cargo.lock" "$work/cargo-local.lock"
CARGO_HOME="$work/home-warm" $cargo_cmd 2> "$work/cargo-remote.log" || { cat "$work/cargo-remote.log" >&2; exit 1; }
cmp -s "$work/project/Cargo.lock" "$work/cargo-local.lock" || { echo "cargo's remote lock differs from its local one" >&2; exit 1; }
$wharf_remote --cache-dir "$work/wharf-warm" > "$work/wharf-remote.lock"
cmp -s "$work/wharf-remote.lock" "$work/wharf.lock" || { echo "wharf's remote lock differs from its local one" >&2; exit 1; }
# Wharf keeps its entries as records of one pack file per index (client/src/cache_pack.rs):
# 40-byte headers (magic, kind, key, head and body lengths), then key, head and body.
wharf_entries=$(python3 - "$work/wharf-warm" <<'PY'
import pathlib, struct, sys
keys = set()
for pack in pathlib.Path(sys.argv[1]).glob("*/index.pack"):
    data, at = pack.read_bytes(), 0
    while at + 40 <= len(data) and data[at:at + 4] == b"WPK1":
        kind = data[at + 4]
        key_len, head_len, body_len = struct.unpack_from("<IIQ", data, at + 8)
        key = data[at + 40:at + 40 + key_len]
        if kind == 0:
            keys.add(key)
        elif kind == 1:
            keys.discard(key)
        at += 40 + key_len + head_len + body_len
print(len(keys))
PY
)
echo "index files fetched and cached: cargo $(find "$work/home-warm/registry/index" -path '*/.cache/*' -type f | wc -l), wharf $wharf_entries"

hf() { hyperfine --style basic --shell=none --runs "$runs" "$@" > /dev/null; }
for round in $(seq "$rounds"); do
    echo "round $round/$rounds"
    CARGO_HOME="$work/home-local" hf --warmup 1 --export-json "$work/results/local-$round.json" \
        -n cargo-local "$cargo_cmd --offline" -n wharf-local "$wharf_local"
    CARGO_HOME="$work/home-cold" hf --prepare "rm -rf $work/home-cold/registry" \
        --export-json "$work/results/cold-cargo-$round.json" -n cargo-remote-cold "$cargo_cmd"
    hf --prepare "rm -rf $work/wharf-cold" --export-json "$work/results/cold-wharf-$round.json" \
        -n wharf-remote-cold "$wharf_remote --cache-dir $work/wharf-cold"
    CARGO_HOME="$work/home-warm" hf --warmup 1 --export-json "$work/results/warm-cargo-$round.json" \
        -n cargo-remote-warm "$cargo_cmd"
    hf --warmup 1 --export-json "$work/results/warm-wharf-$round.json" \
        -n wharf-remote-warm "$wharf_remote --cache-dir $work/wharf-warm"
done

python3 - "$work/results" <<'PY'
import json, pathlib, statistics, sys
times, cpu = {}, {}
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
        cpu.setdefault(r["command"], []).append((r["user"] + r["system"]) * 1e3)
med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
for name in ["cargo-local", "wharf-local", "cargo-remote-cold", "wharf-remote-cold", "cargo-remote-warm", "wharf-remote-warm"]:
    t = times[name]
    print(f"{name:18} median {med[name]:8.1f} ms  min {min(t) * 1e3:8.1f} ms  "
          f"CPU {statistics.median(cpu[name]):8.1f} ms  ({len(t)} runs)")
for mode in ["local", "remote-cold", "remote-warm"]:
    print(f"ratio cargo / wharf, {mode}: {med['cargo-' + mode] / med['wharf-' + mode]:.1f}x (median wall)")
print(f"wharf remote cold / wharf local: {med['wharf-remote-cold'] / med['wharf-local']:.2f}x")
print(f"wharf remote warm / wharf local: {med['wharf-remote-warm'] / med['wharf-local']:.2f}x")
PY

if [[ "${PERF:-0}" = 1 ]]; then
    CARGO_HOME="$work/home-local" perf stat -r 10 -e task-clock -- $cargo_cmd --offline 2>&1 >/dev/null | grep -E "task-clock|elapsed"
    perf stat -r 10 -e task-clock -- $wharf_local 2>&1 >/dev/null | grep -E "task-clock|elapsed"
fi
# The instructions counted in callgrind output files (each file's `summary:` line; its
# `totals:` line says the same again).
instructions() {
    grep -h '^summary:' "$@" | awk '{ s += $2 } END { printf "%.0f\n", s }'
}
if [[ "${CALLGRIND:-0}" = 1 ]]; then
    for who in cargo wharf; do
        if [[ $who = cargo ]]; then cmd="$cargo_cmd --offline"; else cmd=$wharf_local; fi
        CARGO_HOME="$work/home-local" valgrind --tool=callgrind --trace-children=yes \
            --callgrind-out-file="$work/callgrind.$who.%p" $cmd > /dev/null 2> "$work/callgrind.$who.log"
        echo "$who instructions (all processes): $(instructions "$work"/callgrind.$who.*)"
    done
    rm -rf "$work/wharf-cold"
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.remote" \
        $wharf_remote --cache-dir "$work/wharf-cold" > /dev/null 2> "$work/callgrind.remote.log"
    echo "wharf remote cold instructions (all threads): $(instructions "$work/callgrind.remote")"
    if command -v strace > /dev/null; then
        for mode in local remote; do
            rm -rf "$work/wharf-cold"
            if [[ $mode = local ]]; then cmd=$wharf_local; else cmd="$wharf_remote --cache-dir $work/wharf-cold"; fi
            strace -f -c -o "$work/strace.$mode" $cmd > /dev/null
            echo "wharf $mode system calls: $(tail -1 "$work/strace.$mode" | awk '{ print $4 }') ($(awk '$NF == "futex" { n = $4 } END { print n + 0 }' "$work/strace.$mode") futex)"
        done
    fi
fi
