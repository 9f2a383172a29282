#!/usr/bin/env bash
# The main job: generate the code of the example schema (schema/messages.yaml),
# start the example server (desk-server) on a socket of its own, and drive it from
# the generated Rust, Python and TypeScript clients (Python and TypeScript where
# python3 3.11+ and node 20+ with npm exist), printing what each did.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

banner() { printf '\n== %s\n' "$*"; }

banner "generate (acton-gen schema/messages.yaml)"
cargo run --quiet -p acton-codegen -- schema/messages.yaml
cargo build --quiet -p desk --bins -p actonctl
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || echo "$root/target")"

socket="$work/desk.sock"
banner "start the example server: desk-server --socket $socket"
"$target_dir/debug/desk-server" --socket "$socket" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.1; done
test -S "$socket" || { cat "$work/server.log"; exit 1; }

banner "Rust client (generated/rust, examples/desk/src/bin/desk-demo.rs)"
"$target_dir/debug/desk-demo" --connect "$socket"

if command -v python3 > /dev/null && python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  banner "Python client (generated/python, examples/desk/clients/demo.py)"
  PYTHONPATH="$root/generated/python" python3 examples/desk/clients/demo.py "$socket"
else
  banner "Python client: skipped (needs python3 3.11 or newer)"
fi

if command -v node > /dev/null && command -v npm > /dev/null; then
  banner "TypeScript client (generated/typescript, examples/desk/clients/demo.ts)"
  if [ ! -x tests/typescript/node_modules/.bin/tsc ]; then
    (cd tests/typescript && npm ci --no-audit --no-fund --loglevel=error)
  fi
  mkdir -p "$work/ts/src" "$work/ts/node_modules"
  cp generated/typescript/src/*.ts examples/desk/clients/demo.ts "$work/ts/src/"
  ln -s "$root/tests/typescript/node_modules/@types" "$work/ts/node_modules/@types"
  ln -s "$root/tests/typescript/node_modules/@msgpack" "$work/ts/node_modules/@msgpack"
  cat > "$work/ts/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022", "lib": ["ES2022", "DOM", "ESNext.Disposable"],
    "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true,
    "types": ["node"], "rootDir": "src", "outDir": "dist"
  },
  "include": ["src"]
}
JSON
  echo '{"type": "module"}' > "$work/ts/package.json"
  tests/typescript/node_modules/.bin/tsc -p "$work/ts"
  node "$work/ts/dist/demo.js" "$socket"
else
  banner "TypeScript client: skipped (needs node and npm)"
fi

banner "from the shell: actonctl --socket $socket call calculator.add '{\"a\": 40, \"b\": 2}'"
"$target_dir/debug/actonctl" --socket "$socket" call calculator.add '{"a": 40, "b": 2}'

banner "done: one Rust server, driven from Rust, Python, TypeScript and the shell"
