#!/usr/bin/env bash
# The whole test suite: the README's test command, and exactly what .ci/run runs.
#
#   scripts/test.sh            everything
#   STAGES="core loom" scripts/test.sh   a subset (names below)
#
# Stages: fmt clippy core loom aarch64 e2e shm-leaks. Each prints its own
# runner's summary; the last line counts stages passed and failed.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh || { echo "setup failed"; exit 1; }
eval "$(scripts/ros_env.sh)"
export LD_LIBRARY_PATH="${RENOIR_ROS_LIBS:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Every segment a test creates starts with this prefix, so the leak check at
# the end sees exactly what the suite left behind.
export RENOIR_SHM_PREFIX="${RENOIR_SHM_PREFIX:-renoirtest}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
STAGES="${STAGES:-fmt clippy core loom aarch64 e2e shm-leaks}"
# Segments under the test prefix belong to earlier, interrupted runs of this
# suite (no product process uses it): start from none, so the leak check at
# the end judges only this run.
rm -f /dev/shm/"${RENOIR_SHM_PREFIX}"* 2>/dev/null || true

passed=0; failed=0; failed_names=()
stage() {
  local name="$1"; shift
  case " $STAGES " in *" $name "*) ;; *) return 0 ;; esac
  echo "=== stage $name: $*"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "=== stage $name ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "=== stage $name FAILED ($((SECONDS - t0)) s)"
  fi
}

run_core() {
  # bench/tests/native.rs loads librmw_renoir.so into rcl processes; a test
  # build does not produce the cdylib, so build it first.
  cargo build -p rmw_renoir || return 1
  if command -v cargo-nextest >/dev/null; then
    cargo nextest run --workspace --no-fail-fast
  else
    cargo test --workspace --no-fail-fast
  fi
}

run_loom() {
  # Loom explores interleavings; preemptions are bounded so the run is too.
  local tests; tests=$(ls renoir_core/tests/loom_*.rs 2>/dev/null | xargs -rn1 basename | sed 's/\.rs$//')
  [ -n "$tests" ] || { echo "no loom tests"; return 1; }
  local args=(); for t in $tests; do args+=(--test "$t"); done
  RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR="$ROOT/target/loom" \
    timeout 900 cargo test -p renoir_core --release "${args[@]}"
}

enable_binfmt_aarch64() {
  # Multi-process tests re-exec their own (aarch64) binary; with binfmt_misc
  # the kernel hands such an exec to qemu-aarch64 as well. Needs root.
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && return 0
  [ -e /proc/sys/fs/binfmt_misc/register ] ||
    mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || return 1
  local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  [ -f "$conf" ] && [ -w /proc/sys/fs/binfmt_misc/register ] || return 1
  grep -v '^#' "$conf" | head -n1 > /proc/sys/fs/binfmt_misc/register 2>/dev/null
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]
}

run_aarch64() {
  # Cross-build the core and run all its tests under qemu-aarch64 (user
  # mode). Without binfmt_misc, child processes cannot be exec'd under qemu,
  # so tests then see RENOIR_NO_SPAWN=1 and run their single-process part.
  export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
  if enable_binfmt_aarch64; then
    echo "aarch64: binfmt_misc enabled, multi-process tests run under qemu too"
  else
    echo "aarch64: no binfmt_misc here: multi-process tests skipped (RENOIR_NO_SPAWN=1)"
    export RENOIR_NO_SPAWN=1
  fi
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64" \
  CARGO_TARGET_DIR="$ROOT/target/aarch64" \
    timeout 1500 cargo test -p renoir_core --target aarch64-unknown-linux-gnu --no-fail-fast
}

run_e2e() {
  cargo build --release -p rmw_renoir || return 1
  # tests/test_native.py runs this example against rclpy subscribers.
  cargo build --release -p renoir_core --example native_camera || return 1
  export RENOIR_RMW_LIB="$ROOT/target/release/librmw_renoir.so"
  local py="${RENOIR_ROS_PREFIX}/bin/python"
  [ -x "$py" ] || py=python3
  timeout 1500 "$py" -m pytest -q tests
}

shm_leaks() {
  local left; left=$(ls /dev/shm 2>/dev/null | grep "^${RENOIR_SHM_PREFIX}" || true)
  if [ -n "$left" ]; then echo "segments left in /dev/shm:"; echo "$left"; return 1; fi
  echo "no segments left in /dev/shm with prefix ${RENOIR_SHM_PREFIX}"
}

stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets -- -D warnings
stage core run_core
stage loom run_loom
stage aarch64 run_aarch64
stage e2e run_e2e
stage shm-leaks shm_leaks

[ "$failed" -eq 0 ] || echo "failed stages: ${failed_names[*]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
