#!/usr/bin/env bash
# Real-world data through a Wharf mirror: a small project using serde (derive), anyhow and
# regex is resolved against crates.io with cargo (its own CARGO_HOME in a temporary
# directory), which also downloads the real `.crate` files; every locked crate is published
# into a fresh upstream Wharf with its exact bytes (publish metadata made from the crates.io
# index line and the crate's own Cargo.toml), the upstream is mirrored with `wharf mirror
# sync`, the mirror is served by `wharf serve --data`, and the project is built and run from
# it through source replacement (`[source.crates-io] replace-with`) with `--locked`, so
# cargo checks every `.crate` against the checksums crates.io gave. A second mirror is synced
# straight from crates.io with `--lockfile`, and its blobs must equal the first's.
#
# Exits 0 on success, 77 (with one line on stderr) when crates.io cannot be reached, 1 on
# any failure. Settings: WHARF_BIN (the wharf binary; default target/debug/wharf), KEEP=1
# (keep the temporary directory).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WHARF="${WHARF_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/wharf}"
[ -x "$WHARF" ] || { echo "mirror-real-crates: $WHARF is missing; run cargo build -p wharf-cli --bin wharf or set WHARF_BIN" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wharf-real-crates.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '[mirror-real-crates] %s\n' "$*" >&2; }

# serve DATA LOG — starts `wharf serve` on a free loopback port; sets SERVED (its base URL)
# and SERVED_PID.
serve() {
  : >"$2" # exists before the loop reads it (the server opens it in the background)
  "$WHARF" serve --data "$1" --listen 127.0.0.1:0 >/dev/null 2>>"$2" &
  SERVED_PID=$!
  PIDS+=("$SERVED_PID")
  SERVED=""
  local waited=0
  while [ -z "$SERVED" ] && [ $waited -lt 600 ]; do
    SERVED=$(sed -n 's/^wharf: serving on \([^ ]*\).*/\1/p' "$2" | head -n1)
    sleep 0.1; waited=$((waited + 1))
  done
  [ -n "$SERVED" ] || { echo "wharf serve did not start; see $2" >&2; exit 1; }
}

# 1. Resolve and download the real crates with cargo.
export CARGO_HOME="$WORK/cargo-home"
mkdir -p "$CARGO_HOME" "$WORK/app/src"
cat >"$WORK/app/Cargo.toml" <<'TOML'
[package]
name = "real-app"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
anyhow = "1"
regex = "1"
serde = { version = "1", features = ["derive"] }
TOML
cat >"$WORK/app/src/main.rs" <<'RUST'
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Crate { name: String }

fn main() -> anyhow::Result<()> {
    let re = regex::Regex::new(r"^[a-z][a-z0-9_-]*$")?;
    let krate = Crate { name: "serde".to_owned() };
    anyhow::ensure!(re.is_match(&krate.name), "not a crate name: {krate:?}");
    println!("ok {}", krate.name);
    Ok(())
}
RUST
if ! (cd "$WORK/app" && cargo generate-lockfile --quiet 2>"$WORK/lock.log" && cargo fetch --quiet 2>>"$WORK/lock.log"); then
  echo "mirror-real-crates: skipped: crates.io is unreachable ($(tail -n1 "$WORK/lock.log"))" >&2
  exit 77
fi
cache=$(echo "$CARGO_HOME"/registry/cache/*/)
log "cargo locked $(grep -c '^source = "registry+' "$WORK/app/Cargo.lock") crates from crates.io"

# 2. A fresh upstream Wharf holding exactly those crates, bytes unchanged.
serve "$WORK/upstream" "$WORK/upstream.log"
UP=$SERVED UP_PID=$SERVED_PID
python3 - "$WORK/app/Cargo.lock" "$cache" "$UP" "$(cat "$WORK/upstream/admin-token")" <<'PY'
import hashlib, io, json, struct, sys, tarfile, tomllib, urllib.request, urllib.error

lock_path, cache, upstream, token = sys.argv[1:5]
lock = tomllib.load(open(lock_path, "rb"))

def index_path(name):
    n = name.lower()
    if len(n) <= 2: return f"{len(n)}/{n}"
    if len(n) == 3: return f"3/{n[0]}/{n}"
    return f"{n[:2]}/{n[2:4]}/{n}"

def metadata(line, manifest):
    package = manifest.get("package", {})
    deps = []
    for d in line["deps"]:
        dep = {"name": d.get("package", d["name"]), "version_req": d["req"],
               "features": d["features"], "optional": d["optional"],
               "default_features": d["default_features"], "target": d["target"],
               "kind": d["kind"]}
        if "package" in d:
            dep["explicit_name_in_toml"] = d["name"]
        deps.append(dep)
    features = dict(line.get("features", {}))
    features.update(line.get("features2", {}))
    license = package.get("license")
    return {"name": line["name"], "vers": line["vers"], "deps": deps, "features": features,
            "authors": [], "description": package.get("description"), "documentation": None,
            "homepage": None, "readme": None, "readme_file": None, "keywords": [],
            "categories": [], "license": license,
            "license_file": None if license else package.get("license-file"),
            "repository": None, "badges": {}, "links": line.get("links"),
            "rust_version": line.get("rust_version")}

published = 0
for pkg in lock["package"]:
    if not pkg.get("source", "").startswith("registry+"):
        continue
    name, vers = pkg["name"], pkg["version"]
    crate = open(f"{cache}/{name}-{vers}.crate", "rb").read()
    assert hashlib.sha256(crate).hexdigest() == pkg["checksum"], f"{name} {vers}: cache differs from the lockfile"
    with urllib.request.urlopen(f"https://index.crates.io/{index_path(name)}") as r:
        line = next(json.loads(l) for l in r.read().decode().splitlines() if json.loads(l)["vers"] == vers)
    with tarfile.open(fileobj=io.BytesIO(crate), mode="r:gz") as tar:
        manifest = tomllib.load(tar.extractfile(f"{name}-{vers}/Cargo.toml"))
    meta = json.dumps(metadata(line, manifest)).encode()
    body = struct.pack("<I", len(meta)) + meta + struct.pack("<I", len(crate)) + crate
    request = urllib.request.Request(f"{upstream}/api/v1/crates/new", data=body, method="PUT",
                                     headers={"Authorization": token})
    try:
        urllib.request.urlopen(request).read()
    except urllib.error.HTTPError as e:
        sys.exit(f"publishing {name} {vers} into the upstream failed: {e.code} {e.read().decode()}")
    published += 1
print(f"published {published} real crates into the upstream", file=sys.stderr)
PY

# 3. Mirror the upstream, serve the mirror, and stop the upstream.
"$WHARF" mirror sync --from "sparse+$UP/index/" --data "$WORK/mirror" | tee "$WORK/sync.txt" >&2
kill "$UP_PID"; wait "$UP_PID" 2>/dev/null || true
serve "$WORK/mirror" "$WORK/mirror.log"
MIRROR=$SERVED

# 4. Build and run the project from the mirror alone, with cargo checking every checksum.
export CARGO_HOME="$WORK/cargo-home-mirror"
mkdir -p "$CARGO_HOME"
cat >"$CARGO_HOME/config.toml" <<TOML
[source.crates-io]
replace-with = "wharf-mirror"

[source.wharf-mirror]
registry = "sparse+$MIRROR/index/"
TOML
said=$(cd "$WORK/app" && CARGO_TARGET_DIR="$WORK/target" cargo run --quiet --locked 2>"$WORK/build.log") \
  || { cat "$WORK/build.log" >&2; echo "mirror-real-crates: the build from the mirror failed" >&2; exit 1; }
[ "$said" = "ok serde" ] || { echo "mirror-real-crates: the program printed '$said'" >&2; exit 1; }
log "built and ran the project from the mirror: $said"

# 5. The same crates mirrored straight from crates.io by the lockfile: identical blobs.
"$WHARF" mirror sync --from sparse+https://index.crates.io/ --data "$WORK/direct" \
  --lockfile "$WORK/app/Cargo.lock" | tee "$WORK/direct.txt" >&2
if ! diff <(cd "$WORK/mirror/current/blobs/sha256" && ls) <(cd "$WORK/direct/current/blobs/sha256" && ls) >&2; then
  echo "mirror-real-crates: the two mirrors hold different blobs" >&2; exit 1
fi
echo "mirror-real-crates: ok ($(head -n1 "$WORK/sync.txt"))"
