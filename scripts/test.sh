#!/usr/bin/env bash
# Runs every test of the workspace: lints, formatting, unit, integration and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked --bins
cargo nextest run --workspace --locked --no-fail-fast
cargo test --workspace --locked --doc
