#!/usr/bin/env bash
# Builds tessera and runs the OpenCL throughput table on this machine's
# first GPU (NVIDIA's OpenCL ICD, or any other vendor's), in under five
# minutes: bench/cl_throughput against the CPU backend, transfers included
# and excluded. Needs the build packages (scripts/install-deps.sh build)
# and an OpenCL ICD for the GPU (on NVIDIA: the driver's libnvidia-opencl,
# registered in /etc/OpenCL/vendors/nvidia.icd). Nothing is installed here.
#
# usage: bench/gpu.sh [--size WxH] [--runs N] [--threads N]   (default 3840x2160, 3, all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
size=3840x2160 runs=3 threads=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: bench/gpu.sh [--size WxH] [--runs N] [--threads N]" >&2; exit 2 ;;
  esac
done
for tool in meson ninja cc pkg-config; do
  command -v "$tool" >/dev/null || { echo "gpu.sh: $tool is missing (scripts/install-deps.sh build)" >&2; exit 1; }
done
ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1 || echo "gpu.sh: warning: no ICD in /etc/OpenCL/vendors" >&2
[ -d build-gpu ] || meson setup build-gpu --buildtype=release >/dev/null
ninja -C build-gpu bench/cl_throughput src/cli/tessera >/dev/null
./build-gpu/src/cli/tessera info --devices
# The first GPU in the listing, else device 0.
device=$(./build-gpu/src/cli/tessera info --devices --json | python3 -c '
import json, sys
devs = [d for p in json.load(sys.stdin)["platforms"] for d in p["devices"]]
gpus = [d["index"] for d in devs if d["type"] == "gpu"]
print(gpus[0] if gpus else (devs[0]["index"] if devs else -1))')
[ "$device" -ge 0 ] || { echo "gpu.sh: no OpenCL device" >&2; exit 1; }
photo=../shared/testdata/hubble_deep_field.jpg
[ -f "$photo" ] || photo=tests/data/astronaut.png
export TESSERA_CL_CACHE=${TESSERA_CL_CACHE:-$PWD/build-gpu/cl-cache}
timeout 270 ./build-gpu/bench/cl_throughput "$photo" --size "$size" --runs "$runs" \
  --threads "$threads" --device "$device"
