#!/usr/bin/env bash
# The generative naming test: random schemas drawn from hostile identifier sets
# (keywords of Rust, Python and TypeScript, names the generated code and its
# runtimes use, pairs that meet after case conversion) must be rejected with
# located diagnostics, or generate code that passes clippy -D warnings, mypy
# --strict (and imports), and tsc --strict.
#
#   scripts/hostile.sh [COUNT] [SEED]     (defaults: 80 schemas, seed 1)
#
# Called by scripts/test.sh after its Python and TypeScript tools are installed
# (.venv, tests/typescript/node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-80}"
seed="${2:-1}"
out="$PWD/target/hostile"

cargo run --quiet --locked -p acton-codegen --example hostile -- --out "$out" --count "$count" --seed "$seed"
mapfile -t accepted < "$out/accepted.txt"

echo "hostile: Rust (clippy -D warnings on every accepted schema's module)"
ACTON_HOSTILE_DIR="$out" cargo clippy --quiet --locked -p acton-codegen-hostile -- -D warnings

echo "hostile: Python (mypy --strict, ruff check, then import each package)"
(
  cd "$out"
  mkdir -p python
  for stem in "${accepted[@]}"; do
    rm -rf "python/$stem"
    cp -r "$stem/python/$stem" "python/$stem"
  done
  cd python
  ../../../.venv/bin/mypy --strict --no-incremental "${accepted[@]}"
  # Imports are recorded as the code is built: ruff finds none unused or missing.
  ../../../.venv/bin/ruff check --config ../../../ruff.toml --quiet "${accepted[@]}"
  for stem in "${accepted[@]}"; do
    ../../../.venv/bin/python -c "import $stem, $stem.client, $stem.types"
  done
)

echo "hostile: TypeScript (tsc --strict over every package)"
(
  cd "$out"
  mkdir -p typescript
  includes=""
  for stem in "${accepted[@]}"; do
    includes="$includes\"../$stem/typescript/src/*.ts\","
  done
  cat > typescript/tsconfig.json <<JSON
{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2022", "DOM", "ESNext.Disposable"],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noUncheckedIndexedAccess": true,
    "noImplicitOverride": true,
    "noFallthroughCasesInSwitch": true,
    "noUnusedLocals": true,
    "noEmit": true,
    "types": ["node"],
    "typeRoots": ["../../../tests/typescript/node_modules/@types"]
  },
  "include": [${includes%,}]
}
JSON
  ../../tests/typescript/node_modules/.bin/tsc -p typescript
)
echo "hostile: ${#accepted[@]} generated packages compile in all three languages"
