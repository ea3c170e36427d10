#!/usr/bin/python3
"""Checks that the engine library links only what it may (issue 10 point 5).

Usage: check_link_deps.py LIBTESSERA.so EMBED_ENGINE

Reads the NEEDED entries of the shared engine library and of a program that
embeds it alone (readelf -d), and fails when either names a library outside
the engine's allowance (codecs, jansson, libc, libm, pthreads) or any of the
service's (SQLite, hiredis, libsodium, zstd, libmicrohttpd, libzip, GnuTLS,
libcurl, libpq). Then runs the program on a test image, so the check is of a
working embedding, not only of a link. Prints "ok NAME" / "FAIL NAME" lines
like the C unit tests.
"""
import os
import re
import subprocess
import sys
import tempfile

ALLOWED = re.compile(r"^lib(c|m|pthread|dl|rt|gcc_s|asan|tsan|ubsan|lsan|stdc\+\+|jpeg|spng|png16|gif|webp|webpdemux|webpmux|sharpyuv|"
                     r"tiff|exif|heif|jansson|tessera)\.so(\.\d+)*$|^ld-linux.*$")
SERVICE = ("sqlite", "hiredis", "sodium", "zstd", "microhttpd", "zip", "gnutls", "curl", "pq",
           "tessera_service")
failed = 0
cases = 0


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def case(name, ok, detail=""):
    global failed, cases
    cases += 1
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)
    failed += 0 if ok else 1


def main():
    lib, prog = sys.argv[1], sys.argv[2]
    for label, path in (("libtessera.so", lib), ("embed_engine", prog)):
        libs = needed(path)
        case(f"{label}_has_needed", bool(libs), "readelf found no NEEDED entry")
        bad = [n for n in libs if not ALLOWED.match(n)]
        case(f"{label}_only_engine_libraries", not bad, f"unexpected: {bad} (all: {libs})")
        service = [n for n in libs if any(s in n for s in SERVICE)]
        case(f"{label}_no_service_library", not service, f"links {service}")
    data = os.environ.get("TSR_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "data"))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.png")
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(lib))
        r = subprocess.run([prog, os.path.join(data, "coffee.png"), "grayscale|gaussian-blur", out],
                           capture_output=True, text=True, env=env)
        case("embed_engine_runs", r.returncode == 0 and os.path.getsize(out) > 0 if
             os.path.exists(out) else False, r.stderr)
    print(f"{cases} tests, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
