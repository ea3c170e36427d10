"""The NEON paths of the SIMD kernels (docs/internals/simd.md) are compiled
only on arm64, so on this x86-64 machine nothing else would notice them
break. Every source under src/ that has an `__aarch64__` branch is built
for arm64 here with clang (`--target=aarch64-linux-gnu -fsyntax-only`,
-Wall -Wextra -Werror, against Debian's arm64 C library headers from
libc6-dev-arm64-cross), and the build must really see NEON: arm_neon.h's
types in the preprocessed source. They run on an arm64 machine only.
"""
import os
import subprocess
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
import tools  # noqa: E402

ARM64_LIBC = "/usr/aarch64-linux-gnu/include"
FLAGS = ["--target=aarch64-linux-gnu", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra",
         "-Werror", "-isystem", ARM64_LIBC, "-I", os.path.join(REPO, "src"),
         "-I", os.path.join(REPO, "include")]


def arm64_sources():
    """src/ C files with an arm64 branch, relative to the repository."""
    found = []
    for root, _, files in os.walk(os.path.join(REPO, "src")):
        for name in files:
            if name.endswith(".c"):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    if "__aarch64__" in f.read():
                        found.append(os.path.relpath(path, REPO))
    return sorted(found)


class Arm64Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.clang = tools.find("clang")
        if not os.path.exists(os.path.join(ARM64_LIBC, "stdlib.h")):
            raise AssertionError("no arm64 C library headers in %s: apt-get install "
                                 "libc6-dev-arm64-cross" % ARM64_LIBC)

    def test_neon_sources_build_for_arm64(self):
        sources = arm64_sources()
        # the median kernels and the level detection at least (simd.md's table)
        for must in ("src/util/simd.c", "src/ops/convolve/median_sortnet.c",
                     "src/ops/convolve/median_hist.c"):
            self.assertIn(must, sources)
        for src in sources:
            with self.subTest(src=src):
                r = subprocess.run([self.clang, *FLAGS, "-fsyntax-only", src], cwd=REPO,
                                   capture_output=True, text=True, timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        for src in ("src/ops/convolve/median_sortnet.c", "src/ops/convolve/median_hist.c"):
            with self.subTest(neon=src):
                r = subprocess.run([self.clang, *FLAGS, "-E", src], cwd=REPO,
                                   capture_output=True, text=True, timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr[-3000:])
                self.assertIn("uint8x16_t", r.stdout, "the NEON branch was not compiled")

    def test_a_broken_neon_line_fails(self):
        # the check is real: a NEON call with a wrong argument type fails it
        bad = "#include <arm_neon.h>\nint f(void) { return vaddvq_u8(1.5); }\n"
        r = subprocess.run([self.clang, *FLAGS, "-fsyntax-only", "-x", "c", "-"], cwd=REPO,
                           input=bad, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
