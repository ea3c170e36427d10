"""The hot loops marked `/* simd: auto-vectorised */` still vectorise
(issue 16, point 4): scripts/check_vectorized.py compiles each marked file
with the build's flags (-O3, as released) and GCC's vectorisation report,
and fails on a marked loop the compiler no longer vectorises."""
import os
import subprocess
import sys
import unittest

from tessera_cli import BIN, ROOT

SCRIPT = os.path.join(ROOT, "scripts", "check_vectorized.py")


def build_dir():
    """The build folder of the binary under test (has compile_commands.json)."""
    d = os.path.dirname(os.path.abspath(BIN))
    while d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, "compile_commands.json")):
            return d
        d = os.path.dirname(d)
    return None


class VectorisedTest(unittest.TestCase):
    def test_marked_loops_vectorise(self):
        build = build_dir()
        if build is None:
            self.skipTest("no compile_commands.json above %s" % BIN)
        r = subprocess.run([sys.executable, SCRIPT, build], capture_output=True, text=True,
                           timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("marked loops", r.stdout)


if __name__ == "__main__":
    unittest.main()
