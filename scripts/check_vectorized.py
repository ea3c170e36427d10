#!/usr/bin/env python3
"""Checks that the hot loops marked in the source still auto-vectorise.

A loop is marked by a comment line `/* simd: auto-vectorised */` right
above its `for`. This script compiles every C file under src/ that has a
marker (or includes a loop template, `..._tmpl.h`, that has one), with the flags the build uses (compile_commands.json of BUILD_DIR,
optimisation forced to -O3 and sanitizers dropped, as in a release build)
plus GCC's `-fopt-info-vec-optimized`, and fails when the report does not
say "loop vectorized" for the line below a marker: a change that makes
the compiler give up on a hot loop (an alias, a type, a call) shows up
here instead of as a silent slowdown.

usage: scripts/check_vectorized.py [BUILD_DIR]   (default build-test)
Exit 0 when every marked loop vectorises, 1 otherwise, 2 on bad set-up.
"""
import json
import os
import re
import shlex
import subprocess
import sys

MARKER = "/* simd: auto-vectorised */"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^#include "([^"]+)"')
REPORT = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):\d+: optimized: loop vectorized")


def marked_lines(path):
    """Lines (1-based) of the loops below the markers of one file."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    return [i + 2 for i, text in enumerate(lines) if text.strip() == MARKER]


def marked_sources(src):
    """{path: marked lines} of a C file and of the loop templates it
    includes (`#include "..._tmpl.h"`, compiled once per instruction set:
    each marked loop must vectorise in at least one of them)."""
    out = {src: marked_lines(src)}
    with open(src, encoding="utf-8") as f:
        for text in f:
            m = INCLUDE.match(text)
            header = m and os.path.join(ROOT, "src", m.group(1))
            if header and header.endswith("_tmpl.h") and os.path.exists(header):
                out[header] = marked_lines(header)
    return {path: lines for path, lines in out.items() if lines}


def compile_command(entry):
    """The build's command for one file, made into a vectorisation report run."""
    args = entry.get("arguments") or shlex.split(entry["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MQ", "-MT"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD") or a.startswith("-fsanitize") or re.match(r"^-O[0-3gs]?$", a):
            continue
        out.append(a)
    return out + ["-O3", "-fopt-info-vec-optimized", "-c", "-o", os.devnull]


def check(build_dir):
    path = os.path.join(build_dir, "compile_commands.json")
    try:
        with open(path) as f:
            entries = json.load(f)
    except OSError as e:
        print("check_vectorized: %s: %s" % (path, e), file=sys.stderr)
        return 2
    by_file = {}
    for e in entries:
        src = os.path.normpath(os.path.join(e["directory"], e["file"]))
        if src.startswith(os.path.join(ROOT, "src") + os.sep):
            by_file.setdefault(src, e)
    failures, checked = [], 0
    for src, entry in sorted(by_file.items()):
        want = marked_sources(src)
        if not want:
            continue
        cmd = compile_command(entry)
        r = subprocess.run(cmd, cwd=entry["directory"], capture_output=True, text=True)
        if r.returncode:
            print("check_vectorized: compiling %s failed:\n%s" % (src, r.stderr), file=sys.stderr)
            return 2
        got = {(os.path.normpath(os.path.join(entry["directory"], m.group("file"))),
                int(m.group("line"))) for m in map(REPORT.match, r.stderr.splitlines()) if m}
        for path, lines in sorted(want.items()):
            rel = os.path.relpath(path, ROOT)
            for line in lines:
                checked += 1
                if (path, line) not in got:
                    failures.append("%s:%d: the marked loop no longer vectorises" % (rel, line))
    for f in failures:
        print(f)
    print("check_vectorized: %d marked loops, %d vectorised" % (checked, checked - len(failures)))
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(check(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-test")))
