#!/usr/bin/env bash
# Source on the GPU machine after scripts/device_env.sh: unpacks .gpu/ (see pack_gpu_build.sh)
# into build-packed/ and puts its libraries and yaml-cpp 0.7 on the loader path.
mkdir -p build-packed /opt/cortex-deps
tar -C build-packed -xzf .gpu/cortex-gpu.tgz
for f in .gpu/deps/*.deb; do dpkg -x "$f" /opt/cortex-deps; done
export LD_LIBRARY_PATH="$PWD/build-packed/lib:/opt/cortex-deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
echo "packed build of $(cat .gpu/commit) ($(wc -l < .gpu/dirty) modified files)"
