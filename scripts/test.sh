#!/usr/bin/env bash
# Runs every check and test of the project. This is the README's test command and
# what CI runs; it installs what it needs: the Python tools go into .venv (pinned
# in tests/python/requirements.txt), the TypeScript ones into tests/typescript
# (npm ci from its lockfile), nats-server from Debian's packages (apt-get). Needs a
# Rust toolchain, python3 (3.11+), node (20+).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The NATS tests start a real nats-server (Debian's package), and make TLS
# certificates with openssl.
if { ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; } || ! command -v openssl >/dev/null; then
    step "installing nats-server and openssl (Debian packages)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server openssl >/dev/null
fi
# Debian puts it in /usr/sbin, which is not on every user's PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

step "formatting"
cargo fmt --all -- --check

step "generated code is in sync with schema/messages.yaml"
cargo run --quiet --locked -p acton-codegen -- schema/messages.yaml --check

step "clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "clippy on the runtime without IPC, with JSON-only IPC, and with NATS but no MessagePack"
cargo clippy -p acton-reactive --all-targets --locked -- -D warnings
cargo clippy -p acton-reactive --all-targets --features ipc --locked -- -D warnings
cargo clippy -p acton-reactive --all-targets --features nats --locked -- -D warnings

step "tests (all features)"
cargo test --workspace --all-features --locked

step "tests (default features)"
cargo test --workspace --locked

step "API docs build without warnings (broken intra-doc links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --workspace --all-features --locked

step "benchmarks build"
cargo bench --workspace --all-features --no-run --locked

step "Python tools (pinned, into .venv)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
step "Python: pip-install the generated package (generated/python)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./generated/python

PYTHON_SOURCES=(codegen/templates/python tests/python tests/readme generated/python/messages codegen/tests/snapshots/python/shop examples/desk/clients)
step "Python: ruff format, ruff check, mypy --strict"
.venv/bin/ruff format --check "${PYTHON_SOURCES[@]}"
.venv/bin/ruff check "${PYTHON_SOURCES[@]}"
.venv/bin/mypy --strict "${PYTHON_SOURCES[@]}"

step "Python: pytest (vectors, and the client against a desk-server process)"
cargo build --locked --quiet -p desk --bins
# Wherever cargo puts its output (CARGO_TARGET_DIR, .cargo/config), ask it.
target_dir="$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
export ACTON_DESK_SERVER="$target_dir/debug/desk-server"
test -x "$ACTON_DESK_SERVER"
# The published crate's example Python client, from its package (tests/published).
cargo fetch --locked --manifest-path tests/published/Cargo.toml
published_dir="$(cargo metadata --locked --format-version 1 --manifest-path tests/published/Cargo.toml | python3 -c 'import json, os, sys; print(next(os.path.dirname(p["manifest_path"]) for p in json.load(sys.stdin)["packages"] if p["name"] == "acton-reactive"))')"
export ACTON_REACTIVE10_PYTHON="$published_dir/examples/ipc_client_libraries/python/acton_ipc.py"
test -f "$ACTON_REACTIVE10_PYTHON"
.venv/bin/python -m pytest -q tests/python

step "TypeScript tools (npm ci, from the lockfile)"
(cd tests/typescript && npm ci --no-audit --no-fund --loglevel=error)

step "TypeScript: tsc --strict, then node --test (vectors, and clients against a desk-server process)"
(
  cd tests/typescript
  # The generated package builds on its own (its tsconfig: strict, .d.ts output).
  package_build="$(mktemp -d)"
  npx tsc -p ../../generated/typescript --outDir "$package_build" --typeRoots ./node_modules/@types
  test -f "$package_build/index.d.ts" && test -f "$package_build/client.d.ts"
  rm -rf "$package_build"
  # The tests, the runtime template, the generated package and the every-feature snapshot.
  rm -rf dist
  npx tsc -p .
  node --test dist/tests/typescript/
)

step "acton-gen new: a new project builds, serves, and answers actonctl, Python and TypeScript"
bash scripts/new-project.sh

step "every code block of README.md and of the generated READMEs, as written (the main job, scripts/demo.sh, among them)"
# Shortened where a block runs for minutes (benchmarks, soak, fuzzing); the rules
# are in tests/readme/run_blocks.py.
ACTON_TEST_COMMAND=scripts/test.sh .venv/bin/python tests/readme/run_blocks.py

step "generative naming test: hostile schemas are rejected with a position, or compile in Rust, Python and TypeScript"
# Fixed seeds keep CI deterministic; scripts/hostile.sh COUNT SEED explores more.
bash scripts/hostile.sh 100 1
bash scripts/hostile.sh 100 2

printf '\nall checks passed\n'
