#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs ctest. GPU cases skip
# cleanly on a machine without a GPU (they still compile when nvcc is present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$(date +%s)
bash scripts/build.sh
echo "build took $(( $(date +%s) - start )) s"
cd "${CORTEX_BUILD_DIR:-build}"
ctest --output-on-failure -j 2 --timeout 900
echo "build and tests took $(( $(date +%s) - start )) s"
