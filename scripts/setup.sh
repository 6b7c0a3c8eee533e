#!/usr/bin/env bash
# Installs the Debian 12 packages Cortex Engine needs, skipping those already present.
# Idempotent; run as root (or with sudo available).
set -euo pipefail

packages=(build-essential cmake pkg-config ccache libboost-dev nlohmann-json3-dev libhdf5-dev libyaml-cpp-dev
          doctest-dev prometheus-cpp-dev libopenblas-dev curl python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
else
  echo "setup: all packages present"
fi

if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA toolkit found at /usr/local/cuda ($(/usr/local/cuda/bin/nvcc --version | tail -1))"
else
  echo "setup: no CUDA toolkit at /usr/local/cuda; building the CPU backend only"
fi
