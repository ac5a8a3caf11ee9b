#!/usr/bin/env bash
# The README's main command: set up whatever is missing (Debian packages,
# ROS 2 Jazzy from PyPI when none is sourced), build, and run the demo:
# an image publisher and an image subscriber, two rclpy processes on
# rmw_renoir, passing 1920x1080 rgb8 frames at 30 Hz with a latency summary.
#
#   scripts/demo.sh [seconds]      (default 10)
#   RENOIR_DEMO=core scripts/demo.sh   the ROS-free core demo instead
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECS="${1:-10}"

bash scripts/setup.sh
eval "$(scripts/ros_env.sh)"

if [ "${RENOIR_DEMO:-ros}" = core ]; then
  cargo build --release -p renoir_core --example camera
  exec cargo run -q --release -p renoir_core --example camera -- "$SECS"
fi

cargo build --release -p rmw_renoir
LIB="$ROOT/target/release/librmw_renoir.so"
export RMW_IMPLEMENTATION=rmw_renoir
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"
# The PyPI rcl is linked straight to rmw_fastrtps_cpp: preload ours so its
# rmw_* symbols win (see docs/rmw.md). A normal ROS 2 install needs only
# RMW_IMPLEMENTATION.
# The preloaded library's own dependencies (librmw, rcutils, ...) must be on
# the loader path before Python starts.
PRELOAD=()
if [ "${RENOIR_ROS_SOURCED:-0}" = 0 ]; then
  export LD_LIBRARY_PATH="${RENOIR_ROS_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  PRELOAD=(env LD_PRELOAD="$LIB")
fi
PY="${RENOIR_ROS_PREFIX}/bin/python"; [ -x "$PY" ] || PY=python3

echo "demo: rclpy image publisher -> subscriber on rmw_renoir, 1920x1080 rgb8 @ 30 Hz, ${SECS} s"
"${PRELOAD[@]}" "$PY" examples/image_sub.py --seconds "$((SECS + 2))" &
SUB=$!
sleep 1
"${PRELOAD[@]}" "$PY" examples/image_pub.py --seconds "$SECS"
wait "$SUB"
