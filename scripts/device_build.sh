#!/usr/bin/env bash
# On the GPU machine: build with CUDA for sm_90a into build-gpu/ and run the test suite.
# Usage: bash scripts/device_build.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCORTEX_CUDA=ON -DCORTEX_CUDA_ARCH=90a > build-gpu.cmake.log 2>&1 \
  || { cat build-gpu.cmake.log; exit 1; }
cmake --build build-gpu -j16 2>&1 | grep -E "error|warning|Error" || true
cmake --build build-gpu -j16 > /dev/null
(cd build-gpu && ctest --output-on-failure "$@")
