#!/usr/bin/env bash
# Downloads (here, not on the GPU machine, which has no package registry) the .debs that
# scripts/device_env.sh unpacks there. Pass .deb in the device run's carry list.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deb && cd .deb
apt-get download libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev libopenblas0 libgfortran5 \
  prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
