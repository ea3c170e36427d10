"""The source layout's rules (issue 10, ARCHITECTURE.md section 2), checked on
the tree so they hold after every change:

- arrows between src/ folders point down only:
  util < image < ops < engine < fleet < service < server < cli;
- src/fleet/ is the only code that speaks Redis (includes hiredis);
- the engine (util, image, ops, engine) includes no service-side library;
- no C file in src/ is over 600 lines and no function over 80;
- tests/unit/ has a folder for every src/ folder that has unit tests, and no
  folder that src/ lacks.
"""
import os
import re
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(REPO, "src")
LAYERS = ["util", "image", "ops", "engine", "opencl", "fleet", "service", "server", "cli"]
ENGINE = LAYERS[:4]
SERVICE_HEADERS = ("hiredis", "sqlite3", "sodium", "zstd", "microhttpd", "zip.h", "gnutls", "curl",
                   "libpq", "CL/")
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def c_files(layer):
    for root, _, files in os.walk(os.path.join(SRC, layer)):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(root, f)


def strip_comments_and_strings(text):
    """Comments and string literals blanked, newlines kept (line numbers hold)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"'(\\.|[^'\\\n])*'", "''", text)


def function_lengths(path):
    """(name, lines) of every function definition at file scope."""
    lines = strip_comments_and_strings(read(path)).split("\n")
    depth, start, found = 0, None, []
    for i, line in enumerate(lines):
        for pos, ch in enumerate(line):
            if ch == "{":
                if depth == 0 and re.search(r"\)\s*$", line[:pos]):
                    k = i
                    while k > 0 and not re.match(r"^[A-Za-z]", lines[k]):
                        k -= 1
                    m = re.search(r"(\w+)\s*\(", lines[k])
                    start = (i, m.group(1) if m else "?")
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0 and start:
                    found.append((start[1], i - start[0] + 1))
                    start = None
    return found


class LayoutTest(unittest.TestCase):
    def test_arrows_point_down(self):
        rank = {layer: i for i, layer in enumerate(LAYERS)}
        self.assertEqual(sorted(os.listdir(SRC)), sorted(LAYERS + ["meson.build"]),
                         "src/ holds exactly the layers")
        for layer in LAYERS:
            for path in c_files(layer):
                for target in re.findall(r'#include "([a-z_]+)/', read(path)):
                    if target in rank:
                        self.assertLessEqual(rank[target], rank[layer],
                                             f"{os.path.relpath(path, REPO)} includes {target}/")

    def test_only_the_fleet_speaks_redis(self):
        for layer in LAYERS:
            for path in c_files(layer):
                uses = re.search(r"#include <hiredis/", read(path))
                if layer != "fleet":
                    self.assertIsNone(uses, f"{os.path.relpath(path, REPO)} includes hiredis")

    def test_engine_includes_no_service_library(self):
        for layer in ENGINE:
            for path in c_files(layer):
                for inc in re.findall(r"#include <([^>]+)>", read(path)):
                    self.assertFalse(inc.startswith(SERVICE_HEADERS),
                                     f"{os.path.relpath(path, REPO)} includes <{inc}>")

    def test_file_and_function_sizes(self):
        for layer in LAYERS:
            for path in c_files(layer):
                rel = os.path.relpath(path, REPO)
                n = read(path).count("\n")
                self.assertLessEqual(n, MAX_FILE_LINES, f"{rel}: {n} lines")
                if path.endswith(".c"):
                    for name, length in function_lengths(path):
                        self.assertLessEqual(length, MAX_FUNCTION_LINES, f"{rel}: {name}() {length} lines")

    def test_function_lengths_are_measured(self):
        # the measure itself: a known long function is found at its length
        fd, sample = tempfile.mkstemp(suffix=".c")
        os.close(fd)
        body = "int f(int a,\n      int b) {\n" + "    a++;\n" * 90 + "    return a + b;\n}\n"
        try:
            with open(sample, "w") as f:
                f.write("/* { */\nstatic const char *s = \"}\";\n" + body)
            self.assertEqual(function_lengths(sample), [("f", 93)])
        finally:
            os.unlink(sample)

    def test_unit_tests_mirror_src(self):
        unit = os.path.join(REPO, "tests", "unit")
        for root, dirs, files in os.walk(unit):
            rel = os.path.relpath(root, unit)
            if rel == "." or not any(f.endswith(".c") for f in files):
                continue
            self.assertTrue(os.path.isdir(os.path.join(SRC, rel)),
                            f"tests/unit/{rel} has no src/{rel} to mirror")
        for layer in LAYERS:
            if layer in ("cli",):
                continue  # the command line is tested end to end (tests/oracle, tests/service)
            self.assertTrue(os.path.isdir(os.path.join(unit, layer)), f"no tests/unit/{layer}/")


if __name__ == "__main__":
    unittest.main()
