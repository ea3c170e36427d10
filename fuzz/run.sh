#!/bin/sh
# Runs every libFuzzer target of build-fuzz/ for SECONDS each, JOBS at a
# time, from its seed corpus. New inputs go to fuzz/findings/<target>/corpus,
# crashes, leaks and timeouts to fuzz/findings/<target>/ (gitignored); logs
# to fuzz/findings/<target>.log. Ends with one line per target:
# "<target>: N execs, M findings". Usage: fuzz/run.sh [SECONDS] [JOBS] [BUILD]
# (FUZZ_TARGETS="decode_heif decode_avif" runs only those)
set -u
SECONDS_EACH=${1:-600}
JOBS=${2:-2}
BUILD=${3:-build-fuzz}
cd "$(dirname "$0")/.." || exit 1
TARGETS=${FUZZ_TARGETS:-"decode_jpeg decode_png decode_gif decode_webp decode_tiff decode_bmp decode_pnm decode_heif decode_avif pipeline task http s3_xml"}
for t in $TARGETS; do
    [ -x "$BUILD/fuzz/fuzz_$t" ] || { echo "missing $BUILD/fuzz/fuzz_$t: build with" \
        "CC=clang CXX=clang++ meson setup $BUILD -Dfuzz=true" >&2; exit 2; }
    mkdir -p "fuzz/findings/$t/corpus"
done
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
# Leaks that are the system libraries' own (x265, dav1d through libheif): tests/lsan.supp.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in $TARGETS; do echo "$t"; done | xargs -P "$JOBS" -I{} sh -c \
    "$BUILD/fuzz/fuzz_{} -max_total_time=$SECONDS_EACH -timeout=10 -rss_limit_mb=2048 \
     -print_final_stats=1 -artifact_prefix=fuzz/findings/{}/ \
     fuzz/findings/{}/corpus fuzz/corpus/{} > fuzz/findings/{}.log 2>&1"
status=0
for t in $TARGETS; do
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/findings/$t.log" |
        grep -o '[0-9]*$' | tail -1)
    found=$(find "fuzz/findings/$t" -maxdepth 1 -type f | wc -l)
    [ "$found" -eq 0 ] || status=1
    echo "$t: ${execs:-?} execs, $found findings"
done
exit $status
