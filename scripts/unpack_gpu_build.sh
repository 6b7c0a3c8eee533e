#!/usr/bin/env bash
# Source on the GPU machine after scripts/device_env.sh: unpacks .gpu/ (see pack_gpu_build.sh)
# into build-packed/, puts its libraries and yaml-cpp 0.7 on the loader path and points
# CORTEX_SOURCE_DIR at this checkout. Returns
# non-zero (it is sourced, so it does not exit) when anything fails to unpack.
packed_deps=/opt/cortex-packed-deps
rm -rf build-packed && mkdir -p build-packed "$packed_deps" || return 1
tar -C build-packed -xzf .gpu/cortex-gpu.tgz || { echo "cannot unpack .gpu/cortex-gpu.tgz"; return 1; }
for f in .gpu/deps/*.deb; do dpkg -x "$f" "$packed_deps" || { echo "cannot unpack $f"; return 1; }; done
export LD_LIBRARY_PATH="$PWD/build-packed/lib:$packed_deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
# The binaries were built in another checkout: tests that read repository files look here.
export CORTEX_SOURCE_DIR=$PWD
echo "packed build of $(cat .gpu/commit) ($(wc -l < .gpu/dirty) modified tracked files when packed)"
