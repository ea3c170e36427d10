#!/usr/bin/env bash
# Installs the Debian 12 packages tessera needs (as root), or prints the exact
# apt-get line to run. Usage: scripts/install-deps.sh [build|test|bench]...
set -euo pipefail

build_pkgs="gcc g++ meson ninja-build pkg-config clang-format
  libjpeg62-turbo-dev libspng-dev libpng-dev libgif-dev libwebp-dev libtiff-dev libexif-dev
  libjansson-dev"
test_pkgs="python3 python3-opencv python3-numpy time git"
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
apt-get install -y -qq --no-install-recommends $missing >/dev/null
