#!/usr/bin/env bash
# Runs every cargo-fuzz target of runtime/fuzz for SECONDS each, then prints one
# summary line per target (runs executed, crashes found). Exits non-zero when any
# target crashed (the crash input is kept under runtime/fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh SECONDS
#
# Installs cargo-fuzz when it is missing. Runs on stable Rust: cargo-fuzz needs
# nightly flags (sanitizers), which RUSTC_BOOTSTRAP=1 unlocks (see the README's
# Fuzzing section). All targets are built once (`cargo fuzz build`), then each
# binary is run directly, so every target fuzzes the same build even while the
# sources change (`cargo fuzz run` would rebuild before each). Each target starts
# from its seeds in runtime/fuzz/corpus/<target> when present; what the fuzzer
# finds goes to a work corpus outside git (runtime/fuzz/target/corpus/<target>,
# or $FUZZ_WORK_DIR/<target>), which later runs start from too.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 SECONDS   (libFuzzer time per target)" >&2
  exit 2
}
[ "$#" -eq 1 ] || usage
seconds="$1"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
fuzz_dir="$PWD/runtime/fuzz"
work_dir="${FUZZ_WORK_DIR:-$fuzz_dir/target/corpus}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

cd "$fuzz_dir"
mapfile -t targets < <(cargo fuzz list)
[ "${#targets[@]}" -gt 0 ] || { echo "no fuzz targets in $fuzz_dir" >&2; exit 1; }

echo "==> building ${#targets[@]} fuzz targets: ${targets[*]}"
cargo fuzz build
host="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="${CARGO_TARGET_DIR:-$fuzz_dir/target}/$host/release"
# What `cargo fuzz run` sets for AddressSanitizer builds.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
# The live-server targets keep connections open across inputs. A connection's
# outbound BytesMut, once written out and advanced to its end, points one past
# its allocation, which LeakSanitizer cannot see, so it reports the buffer as a
# "direct leak" while it is still in use (it is reclaimed on the next write or
# on drop). Only allocations made by BytesMut are exempt: a leaked owner (an Arc
# cycle, a forgotten task) is still reported through its own allocation.
cat >"$logs/lsan.supp" <<'SUPP'
leak:<bytes::bytes_mut::BytesMut>::
SUPP
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$logs/lsan.supp:print_suppressions=0"

summaries=()
crashed=0
for target in "${targets[@]}"; do
  corpus=("$work_dir/$target")
  mkdir -p "${corpus[0]}"
  seeds="$fuzz_dir/corpus/$target"
  if [ -d "$seeds" ]; then
    corpus+=("$seeds")
  fi
  echo "==> fuzzing $target for ${seconds}s (corpus: ${corpus[*]})"
  log="$logs/$target.log"
  artifacts_dir="$fuzz_dir/artifacts/$target"
  mkdir -p "$artifacts_dir"
  status=0
  # libFuzzer adds new inputs to the first corpus directory only: the seeds stay as
  # they are. A single input running for 60 s counts as a crash (a hang).
  "$bin_dir/$target" -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
    -artifact_prefix="$artifacts_dir/" "${corpus[@]}" 2>&1 | tee "$log" || status=$?

  # "Done N runs in S second(s)" when the time ran out; otherwise the last "#N"
  # status line is how far it got.
  runs="$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -n 1)"
  if [ -z "$runs" ]; then
    runs="$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1 runs/p' "$log" | tail -n 1)"
    runs="${runs:-0 runs}"
  fi
  crashes="$(grep -c 'Test unit written to' "$log" || true)"
  line="$target: $runs, $crashes crash(es)"
  if [ "$crashes" -gt 0 ]; then
    crashed=1
    inputs="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tr '\n' ' ')"
    line="$line, input: ${inputs}(reproduce: cd runtime/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target INPUT)"
  elif [ "$status" -ne 0 ]; then
    crashed=1
    line="$line, but it exited with status $status without saving an input"
  fi
  summaries+=("$line")
done

echo
echo "==> fuzz summary (${seconds}s per target)"
printf '%s\n' "${summaries[@]}"
exit "$crashed"
