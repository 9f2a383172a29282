#!/usr/bin/env bash
# `acton-gen new NAME` writes a project that builds and serves as written: this
# creates one in a temporary directory, builds it, starts its server, and calls it
# with actonctl and with the project's own generated Python and TypeScript
# clients. Called by scripts/test.sh (after the Python and TypeScript tools are
# installed: .venv, tests/typescript/node_modules).
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

cargo build --quiet --locked -p acton-codegen -p actonctl
target_dir="$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
"$target_dir/debug/acton-gen" new hello-acton --dir "$work"
project="$work/hello-acton"

echo "new project: cargo build (as written)"
CARGO_TARGET_DIR="$target_dir/new-project" cargo build --quiet --manifest-path "$project/Cargo.toml"
socket="$work/hello.sock"
"$target_dir/new-project/debug/hello-acton" "$socket" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.1; done
test -S "$socket"

echo "new project: actonctl"
answer="$("$target_dir/debug/actonctl" --socket "$socket" call greeter.greet '{"name": "Ada"}')"
test "$answer" = '{"text":"Hello, Ada."}'
status=0
"$target_dir/debug/actonctl" --socket "$socket" call greeter.greet '{"name": ""}' 2> "$work/error" || status=$?
test "$status" -eq 4
grep -q "NobodyToGreet" "$work/error"

echo "new project: its generated Python client"
(cd "$project/clients/python" && "$root/.venv/bin/python" - "$socket" <<'PY'
import asyncio
import sys

from hello_acton import GreeterClient, NobodyToGreet


async def main(socket: str) -> None:
    async with await GreeterClient.connect(socket) as greeter:
        assert (await greeter.greet(name="Py", excited=True)).text == "Hello, Py!"
        try:
            await greeter.greet(name=" ")
        except NobodyToGreet:
            pass
        else:
            raise AssertionError("an empty name is NobodyToGreet")


asyncio.run(main(sys.argv[1]))
PY
)
"$root/.venv/bin/mypy" --strict "$project/clients/python/hello_acton" > /dev/null

echo "new project: its generated TypeScript client (tsc --strict, then node)"
mkdir -p "$project/clients/typescript/node_modules"
ln -s "$root/tests/typescript/node_modules/@types" "$project/clients/typescript/node_modules/@types"
"$root/tests/typescript/node_modules/.bin/tsc" -p "$project/clients/typescript" --outDir "$work/js"
cat > "$work/js/try.mjs" <<'JS'
import { GreeterClient } from "./index.js";
const greeter = await GreeterClient.connect(process.argv[2]);
const greeting = await greeter.greet({ name: "Node" });
greeter.close();
if (greeting.text !== "Hello, Node.") throw new Error(`got ${greeting.text}`);
JS
echo '{"type": "module"}' > "$work/js/package.json"
node "$work/js/try.mjs" "$socket"
echo "new project: builds, serves, and answers actonctl, Python and TypeScript"
