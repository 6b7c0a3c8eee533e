#!/usr/bin/env bash
# Source on the GPU machine (Ubuntu image without OpenBLAS and prometheus-cpp): unpacks
# the Debian packages carried in .deb/ (fetch them here with scripts/fetch_device_debs.sh)
# into /opt/cortex-deps and points pkg-config, CMake and the loader at them.
deps=/opt/cortex-deps
if [ ! -f "$deps/.unpacked" ]; then  # a marker, not the folder: a half-done unpack is redone
  mkdir -p "$deps"
  for f in .deb/*.deb; do
    case "$f" in *libgfortran5*) ldconfig -p | grep -q libgfortran.so.5 && continue ;; esac
    dpkg -x "$f" "$deps"
  done
  for pc in $(find "$deps" -name '*.pc'); do sed -i "s|=/usr|=$deps/usr|g" "$pc"; done
  touch "$deps/.unpacked"
fi
export PKG_CONFIG_PATH="$deps/usr/lib/x86_64-linux-gnu/openblas-pthread/pkgconfig:$deps/usr/lib/x86_64-linux-gnu/pkgconfig:${PKG_CONFIG_PATH:-}"
export CMAKE_PREFIX_PATH="$deps/usr:${CMAKE_PREFIX_PATH:-}"
export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu/openblas-pthread:$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
