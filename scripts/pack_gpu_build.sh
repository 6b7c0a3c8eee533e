#!/usr/bin/env bash
# Packs a CUDA build made on this (Debian 12) machine for the GPU machine (Ubuntu 24.04), so a
# device call can skip its own multi-minute nvcc build: stripped binaries and libraries in one
# tarball plus the Debian libraries the device image lacks at the same sonames (yaml-cpp 0.7;
# OpenBLAS and prometheus-cpp come from .deb/ as for device builds). Also copies the
# MC_Maze_Small export into .data/ (git-ignored) because ../shared does not travel.
#   bash scripts/pack_gpu_build.sh [BUILD_DIR]      -> .gpu/  (pass ".gpu" and ".deb" in carry)
# On the device: source scripts/device_env.sh && source scripts/unpack_gpu_build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cudak}
rm -rf .gpu && mkdir -p .gpu/stage/bin .gpu/stage/lib .gpu/deps
cp "$build"/bin/* .gpu/stage/bin/
cp "$build"/lib/*.so .gpu/stage/lib/
strip --strip-unneeded .gpu/stage/bin/* .gpu/stage/lib/*.so
tar -C .gpu/stage -czf .gpu/cortex-gpu.tgz bin lib
rm -rf .gpu/stage
(cd .gpu/deps && apt-get download libyaml-cpp0.7 > /dev/null)
git rev-parse HEAD > .gpu/commit  # HEAD when packed: build the tree first (cmake --build)
git status --short --untracked-files=no > .gpu/dirty
if [ -d ../shared/data/mc_maze_small ]; then mkdir -p .data && cp -r ../shared/data/mc_maze_small .data/; fi
du -sh .gpu .data 2>/dev/null || true
