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
# a build of about half an hour on two cores.
if ! garage --version 2>/dev/null | grep -qwF "2.5.0"; then
  echo "installing garage 2.5.0" >&2
  cargo install --locked garage@2.5.0
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
cargo nextest run --workspace --locked --no-fail-fast
