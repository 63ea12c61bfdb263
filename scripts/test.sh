#!/usr/bin/env bash
# Runs every test of the workspace: formatting, lints, unit, integration, property, snapshot
# and end-to-end tests (real `wharf serve` + real cargo), doc tests, and that the API docs build
# without warnings.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest" >&2
  cargo install cargo-nextest --locked
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests run the `wharf` binary itself.
cargo build --workspace --locked --bins
cargo test --workspace --locked --doc
# Doc comments must render: no broken intra-doc links, no stray HTML.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --locked --no-deps
cargo nextest run --workspace --locked --no-fail-fast
