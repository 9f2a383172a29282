#!/usr/bin/env bash
# Runs every check and test of the project. This is the README's test command and
# what CI runs; it installs what it needs (nothing beyond the Rust toolchain yet).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "formatting"
cargo fmt --all -- --check

step "generated code is in sync with schema/messages.yaml"
cargo run --quiet --locked -p acton-codegen -- schema/messages.yaml --check

step "clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "clippy on the runtime without IPC and with JSON-only IPC"
cargo clippy -p acton-reactive --all-targets --locked -- -D warnings
cargo clippy -p acton-reactive --all-targets --features ipc --locked -- -D warnings

step "tests (all features)"
cargo test --workspace --all-features --locked

step "tests (default features)"
cargo test --workspace --locked

step "benchmarks build"
cargo bench --workspace --all-features --no-run --locked

step "fuzz targets build (cargo check; running them needs cargo-fuzz)"
cargo check --manifest-path runtime/fuzz/Cargo.toml --locked --bins

printf '\nall checks passed\n'
