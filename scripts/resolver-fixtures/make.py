#!/usr/bin/env python3
"""Builds the real-index fixture for the resolver's differential tests.

Steps (all in a temporary directory, nothing outside the repository is changed):

1. With a fresh CARGO_HOME, run `cargo generate-lockfile` online for every case manifest in
   `fixtures/resolver/cases/<case>/Cargo.toml`. Cargo downloads exactly the index files its
   resolver asks for and keeps them in its sparse-index cache.
2. Convert that cache into a sparse tree: `<index path of the package>` holding one JSON line per
   version, byte for byte as the registry served it.
3. Compute the reference: with another fresh CARGO_HOME whose `crates-io` source is replaced by a
   `local-registry` whose `index/` is that tree (and which holds no `.crate` files), run
   `cargo generate-lockfile` per case again, and record the (name, version) set of the lock file
   (root excluded) in `expected.json`, or `unsolvable` with cargo's message.
4. Pack the tree as `fixtures/resolver/index.tar.gz` (stable order, zeroed times and owners, so
   re-running with the same cache gives the same bytes).

With `--extend`, the committed archive is the starting tree and only cases without an
`expected.json` are locked online; index files the archive already holds keep their committed bytes
(so the references of the existing cases stay as they are) and only files it lacks are added.

Usage: scripts/resolver-fixtures/make.py [--reuse-tree DIR | --extend] [--keep-temp]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "resolver"
CASES = FIXTURE / "cases"
ARCHIVE = FIXTURE / "index.tar.gz"
CACHE_VERSION = 3
# Cases may name packages that exist nowhere, on purpose; those names start with this prefix.
INTENDED_MISSING_PREFIX = "wharf-fixture-"
MISSING = re.compile(r"no matching package named `([^`]+)` found")
# Rounds of "fetch what the reference run found missing" before giving up.
MAX_FETCH_ROUNDS = 10


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "Cargo.toml").is_file())


def project_copy(case: Path, work: Path) -> Path:
    """A buildable copy of the case: its manifest plus an empty library."""
    dest = work / case.name
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "src").mkdir(parents=True)
    shutil.copy(case / "Cargo.toml", dest / "Cargo.toml")
    (dest / "src" / "lib.rs").write_text("")
    return dest


def run_cargo(project: Path, cargo_home: Path, extra: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_")}
    env["CARGO_HOME"] = str(cargo_home)
    env["CARGO_TERM_COLOR"] = "never"
    env["CARGO_NET_RETRY"] = "5"
    cmd = ["cargo", "generate-lockfile", "--manifest-path", str(project / "Cargo.toml")] + (extra or [])
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)


def parse_cache_file(data: bytes) -> list[tuple[str, bytes]]:
    """Cargo's sparse-index cache: u8 cache version, u32 LE index version, validator NUL,
    then repeated `version NUL json-line NUL`."""
    if len(data) < 5 or data[0] != CACHE_VERSION:
        raise ValueError(f"unexpected cache version {data[:1]!r}")
    rest = data[5:]
    end = rest.index(b"\0")
    parts = rest[end + 1 :].split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    if len(parts) % 2:
        raise ValueError("odd number of cache fields")
    return [(parts[i].decode(), parts[i + 1]) for i in range(0, len(parts), 2)]


def cache_to_tree(cargo_home: Path, tree: Path, keep_existing: bool = False) -> int:
    caches = list((cargo_home / "registry" / "index").glob("*/.cache"))
    if len(caches) != 1:
        raise SystemExit(f"expected one registry cache, found {caches}")
    cache = caches[0]
    count = 0
    for file in sorted(cache.rglob("*")):
        if not file.is_file() or file.name == "config.json":
            continue
        rel = file.relative_to(cache)
        records = parse_cache_file(file.read_bytes())
        if not records:
            continue
        lines = [line for _, line in records]
        for line in lines:
            json.loads(line)
        out = tree / rel
        if keep_existing and out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"".join(line + b"\n" for line in lines))
        count += 1
    return count


def local_registry_home(home: Path, registry: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        "[source.crates-io]\n"
        'replace-with = "wharf-fixture"\n\n'
        "[source.wharf-fixture]\n"
        f'local-registry = "{registry}"\n'
    )


def locked_packages(lock_path: Path) -> list[list[str]]:
    lock = tomllib.loads(lock_path.read_text())
    picks = {(p["name"], p["version"]) for p in lock.get("package", []) if "source" in p}
    return [list(p) for p in sorted(picks)]


def clean_message(stderr: str, project: Path, registry: Path) -> str:
    text = stderr.replace(str(project), "<case>").replace(str(registry), "<registry>")
    lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith(("Updating", "Locking", "Adding"))]
    return "\n".join(lines)


def write_reference(tree: Path, work: Path) -> set[str]:
    """Runs cargo per case on the tree; returns the packages cargo asked for but the tree lacks."""
    missing: set[str] = set()
    registry = work / "local-registry"
    if registry.exists():
        shutil.rmtree(registry)
    registry.mkdir()
    shutil.copytree(tree, registry / "index")
    for case in case_dirs():
        home = work / "home-ref" / case.name
        local_registry_home(home, registry)
        project = project_copy(case, work / "ref")
        result = run_cargo(project, home)
        if result.returncode == 0:
            expected = {"solvable": True, "packages": locked_packages(project / "Cargo.lock")}
            summary = f"{len(expected['packages'])} packages"
        else:
            expected = {"solvable": False, "cargo_error": clean_message(result.stderr, project, registry)}
            summary = "unsolvable: " + expected["cargo_error"].splitlines()[0]
            name = MISSING.search(expected["cargo_error"])
            if name and not name.group(1).startswith(INTENDED_MISSING_PREFIX):
                missing.add(name.group(1))
        (case / "expected.json").write_text(render_expected(expected))
        print(f"{case.name}: {summary}", file=sys.stderr)
    return missing


def fetch_online(names: set[str], work: Path, home: Path) -> None:
    """Lets cargo download the index files of `names` (and their newest closure) into `home`."""
    project = work / "fetch"
    if project.exists():
        shutil.rmtree(project)
    (project / "src").mkdir(parents=True)
    (project / "src" / "lib.rs").write_text("")
    deps = "".join(f'{name} = "*"\n' for name in sorted(names))
    (project / "Cargo.toml").write_text(
        '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2024"\n\n[dependencies]\n' + deps
    )
    result = run_cargo(project, home)
    print(f"fetched {sorted(names)}: {'ok' if result.returncode == 0 else result.stderr.strip()}", file=sys.stderr)


def render_expected(expected: dict) -> str:
    """JSON with one package per line, so diffs of the reference stay readable."""
    if not expected["solvable"]:
        return json.dumps(expected, indent=1) + "\n"
    rows = ",\n".join("  " + json.dumps(pair) for pair in expected["packages"])
    return '{\n "solvable": true,\n "packages": [\n' + rows + "\n ]\n}\n"


def unpack(tree: Path) -> None:
    with tarfile.open(ARCHIVE, mode="r:gz") as tar:
        tar.extractall(tree, filter="data")


def extend(work: Path, tree: Path) -> None:
    """Adds the index files of the cases without a reference to the committed tree."""
    unpack(tree)
    new_cases = [case for case in case_dirs() if not (case / "expected.json").exists()]
    if not new_cases:
        raise SystemExit("--extend: every case already has an expected.json; add a case first")
    online_home = work / "home-online"
    online_home.mkdir()
    for case in new_cases:
        result = run_cargo(project_copy(case, work / "online"), online_home)
        print(f"online {case.name}: {'ok' if result.returncode == 0 else result.stderr.strip()}", file=sys.stderr)
    for _ in range(MAX_FETCH_ROUNDS):
        print(f"{cache_to_tree(online_home, tree, keep_existing=True)} index files added", file=sys.stderr)
        missing = write_reference(tree, work)
        if not missing:
            return
        fetch_online(missing, work, online_home)
    raise SystemExit(f"still missing after {MAX_FETCH_ROUNDS} rounds: {sorted(missing)}")


def pack(tree: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(str(file.relative_to(tree)))
            data = file.read_bytes()
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    with open(ARCHIVE, "wb") as out:
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
            gz.write(buf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse-tree", type=Path, help="skip the online step and use this sparse tree")
    parser.add_argument("--extend", action="store_true", help="add only the new cases' files to the committed tree")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wharf-resolver-fixtures-"))
    try:
        tree = work / "tree"
        if args.extend:
            extend(work, tree)
        elif args.reuse_tree:
            shutil.copytree(args.reuse_tree, tree)
            missing = write_reference(tree, work)
            if missing:
                raise SystemExit(f"the reused tree lacks {sorted(missing)}")
        else:
            online_home = work / "home-online"
            online_home.mkdir()
            for case in case_dirs():
                result = run_cargo(project_copy(case, work / "online"), online_home)
                status = "ok" if result.returncode == 0 else "failed (expected for unsolvable cases)"
                print(f"online {case.name}: {status}", file=sys.stderr)
            for _ in range(MAX_FETCH_ROUNDS):
                if tree.exists():
                    shutil.rmtree(tree)
                print(f"{cache_to_tree(online_home, tree)} index files", file=sys.stderr)
                missing = write_reference(tree, work)
                if not missing:
                    break
                # Cargo backtracked into versions whose dependencies the online run never needed.
                fetch_online(missing, work, online_home)
            else:
                raise SystemExit(f"still missing after {MAX_FETCH_ROUNDS} rounds: {sorted(missing)}")
        pack(tree)
        print(f"wrote {ARCHIVE} ({ARCHIVE.stat().st_size} bytes)", file=sys.stderr)
    finally:
        if args.keep_temp:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
