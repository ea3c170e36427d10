#!/usr/bin/env bash
# Installs the Debian 12 packages tessera needs (as root), or prints the exact
# apt-get line to run. Usage: scripts/install-deps.sh [build|test|bench]...
set -euo pipefail

build_pkgs="gcc g++ meson ninja-build pkg-config clang-format
  libjpeg62-turbo-dev libspng-dev libpng-dev libgif-dev libwebp-dev libtiff-dev libexif-dev
  libjansson-dev libsqlite3-dev libpq-dev libsodium-dev libmicrohttpd-dev libzip-dev libcurl4-openssl-dev
  libhiredis-dev libzstd-dev libgnutls28-dev libxml2-dev ocl-icd-opencl-dev opencl-c-headers
  libheif-dev"
# Every external program a test runs comes from one of these (tests/tools.py
# finds each by its absolute path and checks its version banner):
# imagemagick (convert, identify): the codec oracle tests (GIF, layouts OpenCV does not write);
# redis-server, redis-tools (redis-cli): the fleet tests; iproute2 (ip): workers in network
# namespaces; curl, openssl: the TLS tests; time (/usr/bin/time): peak memory in the CLI tests;
# git, clang-format (build group): the format check;
# chromium, nodejs and npm: the browser test (tests/browser, playwright-core from npm);
# nodejs and npm also run s3rver, the S3-compatible server of the S3 client tests (tests/s3);
# libnss3-tools (certutil): its TLS part trusts a test CA in an NSS database;
# pocl-opencl-icd: the OpenCL backend's tests run on PoCL's CPU device (clinfo lists it);
# prometheus (promtool): checks and unit-tests the alert rules of deploy/monitoring/;
# libtiff-tools (tiffinfo, tiffdump): an independent reader of pyramidal TIFF levels;
# webp (img2webp, webpmux) and python3-pil: the animation tests make animated WebPs with
# libwebp's own tools and read frames, delays and loop counts back with them and Pillow;
# libheif-examples (heif-enc, heif-convert): makes the HEIC/AVIF test files and is the
# reference decoder of the HEIF oracle tests; libavif-bin (avifenc, avifdec): AVIFs with
# irot/imir, EXIF, 10 bits, monochrome, and a second, independent AVIF decoder (libavif +
# dav1d) that reads the AVIFs tessera writes;
# postgresql (PostgreSQL 15: initdb, postgres, psql, pg_dump, pg_restore under
# /usr/lib/postgresql/15/bin): the throw-away clusters of tests/pg/pgcluster.py;
# haproxy: the load balancer in front of three coordinators (tests/ha)
# clang and libc6-dev-arm64-cross: the NEON kernels built for arm64 (tests/oracle/test_simd_arm64.py)
test_pkgs="imagemagick redis-server redis-tools iproute2 curl openssl python3 python3-opencv
  python3-numpy python3-yaml python3-pil webp time git chromium nodejs npm libnss3-tools
  pocl-opencl-icd clinfo prometheus libtiff-tools libheif-examples libavif-bin postgresql
  haproxy clang libc6-dev-arm64-cross"
bench_pkgs="libvips-tools libvips-dev imagemagick graphicsmagick libopencv-dev g++ time"

want=""
for group in "${@:-build}"; do
  case "$group" in
    build) want="$want $build_pkgs" ;;
    test) want="$want $build_pkgs $test_pkgs" ;;
    bench) want="$want $build_pkgs $bench_pkgs" ;;
    *) echo "install-deps: unknown group '$group' (build, test, bench)" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  # A Node.js that ships its own npm (e.g. NodeSource's nodejs, which
  # conflicts with Debian's npm package) already satisfies nodejs and npm.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "tessera needs these Debian packages; run as root:" >&2
  echo "  apt-get update && apt-get install -y$missing" >&2
  exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
  # Only the browser test needs chromium: without it that test is skipped
  # (scripts/run_tests.py says so), everything else still runs.
  case " $missing " in
    *" chromium "*)
      echo "install-deps: chromium could not be installed; the browser test will be skipped" >&2
      apt-get install -y -qq --no-install-recommends ${missing/ chromium/} >/dev/null ;;
    *) exit 1 ;;
  esac
fi
