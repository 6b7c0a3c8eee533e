#!/usr/bin/env bash
# Configures and builds into build/ (Release; CUDA when nvcc is present).
# Extra arguments go to cmake's configure step, e.g. -DCORTEX_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${CORTEX_BUILD_DIR:-build}
jobs=${CORTEX_JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${CORTEX_BUILD_TYPE:-Release} "$@" > "$build_dir.configure.log" 2>&1 \
  || { cat "$build_dir.configure.log"; exit 1; }
grep -E "Cortex CUDA backend" "$build_dir.configure.log" || true
cmake --build "$build_dir" -j "$jobs"
