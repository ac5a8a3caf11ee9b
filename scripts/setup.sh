#!/usr/bin/env bash
# Install what this project needs and is missing, idempotently:
# Debian packages (libclang for bindgen, aarch64 cross tools + qemu-user,
# libpython3.11 for programs linked to the PyPI rcl), the Rust aarch64 target,
# and ROS 2 Jazzy from PyPI into .ros-venv when no ROS 2 is sourced.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in libclang-dev clang gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libpython3.11 python3-venv; do
  have_pkg "$p" || need_pkgs+=("$p")
done
# python3-venv is only needed when the python3 on PATH cannot make a venv.
if python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need_pkgs=("${need_pkgs[@]/python3-venv}")
fi
mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sed '/^$/d')
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_pkgs[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi
if command -v rustup >/dev/null && ! rustup target list --installed | grep -q aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu >&2
fi

"$ROOT/scripts/ros_env.sh" --install-only
