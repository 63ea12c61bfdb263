#!/usr/bin/env bash
# Times cargo and Wharf resolving the same real case from the same committed index data, in one
# run, and prints the ratio (target: Wharf at least 20x faster).
#
# - cargo: `cargo generate-lockfile --offline` with a CARGO_HOME whose crates-io source is replaced
#   by a local registry holding the unpacked `fixtures/resolver/index.tar.gz` (no .crate files),
#   timed with hyperfine (warm-up runs first; each run is a whole cargo process).
# - Wharf, two ways: the `wharf resolve` binary (release build, whole process, Cargo.lock output)
#   timed by the same hyperfine run, and the criterion bench `resolver/benches/real_case.rs`
#   (in process, fresh LocalIndex per iteration, so reading and parsing the index is included).
#
# Usage: scripts/resolver-fixtures/bench-vs-cargo.sh [CASE]   (default: the largest solvable case, popular-88)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
fixtures="$repo/fixtures/resolver"

largest_case() {
    python3 - "$fixtures/cases" <<'PY'
import json, pathlib, sys
best = max(
    (len(json.loads((d / "expected.json").read_text()).get("packages", [])), d.name)
    for d in pathlib.Path(sys.argv[1]).iterdir() if (d / "expected.json").is_file()
)
print(best[1])
PY
}

case="${1:-$(largest_case)}"
[[ -f "$fixtures/cases/$case/Cargo.toml" ]] || { echo "no case named $case" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install -y hyperfine)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/registry/index" "$work/project/src" "$work/home"
tar -xzf "$fixtures/index.tar.gz" -C "$work/registry/index"
cp "$fixtures/cases/$case/Cargo.toml" "$work/project/Cargo.toml"
: > "$work/project/src/lib.rs"
cat > "$work/home/config.toml" <<TOML
[source.crates-io]
replace-with = "wharf-fixture"

[source.wharf-fixture]
local-registry = "$work/registry"
TOML

echo "case: $case ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["packages"]))' "$fixtures/cases/$case/expected.json") packages in cargo's lock file)"
echo "cargo: $(cargo --version)"

cargo build --release -p wharf-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
wharf="$target_dir/release/wharf"

CARGO_HOME="$work/home" hyperfine --style basic --warmup 3 --runs 20 \
    --export-json "$work/processes.json" \
    -n cargo "cargo generate-lockfile --offline --manifest-path $work/project/Cargo.toml" \
    -n wharf "$wharf resolve --index-dir $work/registry/index --manifest $work/project/Cargo.toml --format cargo-lock"

cargo bench -p wharf-resolver --bench real_case -- --noplot "real_case/$case"
estimates="$target_dir/criterion/real_case/$case/new/estimates.json"

python3 - "$work/processes.json" "$estimates" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
cargo, cli = results["cargo"], results["wharf"]
criterion = json.load(open(sys.argv[2]))
in_process_ms = criterion["median"]["point_estimate"] / 1e6


def describe(result):
    cpu = (result["user"] + result["system"]) * 1e3
    return (f"median {result['median'] * 1e3:.1f} ms, mean {result['mean'] * 1e3:.1f} ms, "
            f"min {result['min'] * 1e3:.1f} ms wall ({len(result['times'])} runs), {cpu:.1f} ms CPU")


def ratio(label, cargo_ms, wharf_ms):
    value = cargo_ms / wharf_ms
    print(f"ratio cargo / wharf ({label}): {value:.1f}x ({'meets' if value >= 20 else 'misses'} the 20x target)")


cargo_cpu = (cargo["user"] + cargo["system"]) * 1e3
cli_cpu = (cli["user"] + cli["system"]) * 1e3
print(f"cargo generate-lockfile --offline: {describe(cargo)}")
print(f"wharf resolve (process, Cargo.lock out): {describe(cli)}")
print(f"wharf resolve (criterion, in process, parse included): median {in_process_ms:.2f} ms")
# Medians resist the outliers a shared machine produces; CPU time resists its load.
ratio("process, median wall", cargo["median"], cli["median"])
ratio("process, CPU time", cargo_cpu, cli_cpu)
ratio("criterion median vs cargo median", cargo["median"] * 1e3, in_process_ms)
PY
