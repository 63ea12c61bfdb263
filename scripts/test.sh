#!/usr/bin/env bash
# Runs every test of the workspace: formatting, dependency hygiene, lints, unit, integration,
# property, snapshot and end-to-end tests (real `wharf serve` + real cargo), doc tests, and that
# the API docs build without warnings.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest" >&2
  cargo install cargo-nextest --locked
fi

# Dependency checkers, pinned to versions that build with the pinned toolchain (1.95).
# Installed when missing or at another version; each install is a build of a few minutes.
install_pinned() { # CRATE VERSION
  if ! cargo "${1#cargo-}" --version 2>/dev/null | grep -qwF "$2"; then
    echo "installing $1 $2" >&2
    cargo install --locked "$1@$2"
  fi
}
install_pinned cargo-machete 0.9.2
install_pinned cargo-deny 0.20.2
# Garage, the real S3 server the S3 blob storage tests start (test-support/src/garage.rs);
# a build of 12–15 minutes on two idle cores, so it runs beside the checks and builds below
# and is waited for before the tests run.
garage_install=""
if ! garage --version 2>/dev/null | grep -qwF "2.5.0"; then
  echo "installing garage 2.5.0 in the background (log: target/garage-install.log)" >&2
  mkdir -p target
  cargo install --locked garage@2.5.0 >target/garage-install.log 2>&1 &
  garage_install=$!
fi

# Programs the packaging tests check Wharf's operator files with (tests/e2e/operations_*.rs):
# systemd-analyze (systemd), haproxy, promtool (prometheus); the browser tests use chromium and
# chromedriver (chromium-driver). Debian packages, installed when missing.
install_debian() { # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2 (for $1)" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2"
}
install_debian systemd-analyze systemd
install_debian haproxy haproxy
install_debian promtool prometheus
# The web UI's browser tests (tests/e2e/web_browser.rs) drive Chromium through chromedriver.
install_debian chromium chromium
install_debian chromedriver chromium-driver
# The PostgreSQL metadata backend's tests start throwaway clusters (test-support/src/postgres.rs)
# with Debian's initdb and postgres, which live outside PATH.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing postgresql (for initdb and postgres)" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
# Unused dependencies, in the workspace's members (the projects under fixtures/ are data).
read -r -a members <<<"$(sed -n 's/^members = \[\(.*\)\]$/\1/p' Cargo.toml | tr -d '",')"
cargo machete --skip-target-dir "${members[@]}"
# Licenses, duplicate and wildcard dependencies, and where crates come from (deny.toml says
# why the advisories check is not run here).
cargo deny --locked check --hide-inclusion-graph bans licenses sources
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests run the `wharf` binary itself.
cargo build --workspace --locked --bins
cargo test --workspace --locked --doc
# Doc comments must render: no broken intra-doc links, no stray HTML.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --locked --no-deps
if [ -n "$garage_install" ] && ! wait "$garage_install"; then
  echo "installing garage failed; its log: target/garage-install.log" >&2
  tail -n 20 target/garage-install.log >&2
  exit 1
fi
cargo nextest run --workspace --locked --no-fail-fast
