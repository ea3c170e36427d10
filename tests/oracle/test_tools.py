"""tests/tools.py, the finder of the external programs the tests run: a fake
`convert` first on PATH is refused with one clear message, and the real
ImageMagick is still found (and works) at its Debian path."""
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import cv2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
import tools  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
FAKE_SAYS = "convert: a stand-in, not ImageMagick"


class ToolsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tsr_tools_")
        self.bin = os.path.join(self.tmp, "bin")
        os.mkdir(self.bin)
        self.fake = self.script("convert", 'echo "%s"; echo called >> %s/calls; exit 1' % (
            FAKE_SAYS, self.tmp))
        # The fake first on PATH, and nothing cached from earlier look-ups.
        patches = [mock.patch.dict(os.environ, PATH=self.bin + os.pathsep + os.environ["PATH"]),
                   mock.patch.dict(tools._cache, clear=True)]
        for p in patches:
            p.start()
            self.addCleanup(p.stop)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def script(self, name, body):
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def without_imagemagick(self):
        """As on a machine without Debian's imagemagick: its paths are absent."""
        gone = tuple(os.path.join(self.tmp, "absent", os.path.basename(p))
                     for p in tools.TOOLS["convert"].paths)
        return mock.patch.dict(tools.TOOLS, convert=dataclasses.replace(
            tools.TOOLS["convert"], paths=gone))

    def calls(self):
        path = os.path.join(self.tmp, "calls")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return len(f.read().split())

    def test_fake_first_on_path_is_not_used(self):
        self.assertEqual(subprocess.run(["sh", "-c", "command -v convert"], capture_output=True,
                                        text=True).stdout.strip(), self.fake)
        real = tools.find("convert")
        self.assertTrue(os.path.isabs(real), real)
        self.assertIn(real, tools.TOOLS["convert"].paths)
        self.assertFalse(os.path.samefile(real, self.fake))
        self.assertEqual(self.calls(), 0, "the fake on PATH was run")
        banner = subprocess.run([real, "-version"], capture_output=True, text=True).stdout
        self.assertIn("ImageMagick", banner)
        # And it is the real thing: a PNG through BMP comes back with the same pixels.
        bmp = os.path.join(self.tmp, "chelsea.bmp")
        subprocess.run([real, os.path.join(DATA, "chelsea.png"), bmp], check=True)
        want = cv2.imread(os.path.join(DATA, "chelsea.png"), cv2.IMREAD_COLOR)
        got = cv2.imread(bmp, cv2.IMREAD_COLOR)
        self.assertIsNotNone(got)
        self.assertTrue((want == got).all())

    def test_fake_refused_with_one_clear_message(self):
        with self.assertRaises(tools.ToolError) as cm:
            tools.find("convert", path=self.fake)
        msg = str(cm.exception)
        self.assertIsInstance(cm.exception, AssertionError)  # a test failure, not a skip
        self.assertFalse(cm.exception.missing)
        self.assertNotIn("\n", msg)
        for part in ("convert: needs ImageMagick", "Debian package imagemagick", self.fake,
                     FAKE_SAYS):
            self.assertIn(part, msg)

    def test_without_imagemagick_names_what_is_on_path(self):
        with self.without_imagemagick():
            with self.assertRaises(tools.ToolError) as cm:
                tools.find("convert")
        msg = str(cm.exception)
        self.assertFalse(cm.exception.missing)
        self.assertIn("first on PATH " + self.fake, msg)
        self.assertIn(FAKE_SAYS, msg)
        self.assertIn("Debian package imagemagick", msg)

    def test_nothing_at_all_is_missing(self):
        os.unlink(self.fake)
        with self.without_imagemagick(), mock.patch.dict(os.environ, PATH=self.bin):
            path, error = tools.check("convert")
        self.assertIsNone(path)
        self.assertTrue(error.missing)
        self.assertIn("not installed", str(error))
        self.assertIn("no convert on PATH", str(error))
        self.assertIn("Debian package imagemagick", str(error))

    def test_other_magick_refused(self):
        gm = self.script("gm-convert", 'echo "GraphicsMagick 1.4 2020-01-01 Q16"')
        path, error = tools.check("convert", path=gm)
        self.assertIsNone(path)
        self.assertIn("GraphicsMagick", str(error))

    def test_answer_is_cached_and_needs_fails_each_time(self):
        for _ in range(2):
            self.assertRaises(tools.ToolError, tools.find, "convert", path=self.fake)
        self.assertEqual(self.calls(), 1)

        with self.without_imagemagick():
            @tools.needs("convert")
            def body():
                raise RuntimeError("ran without convert")
            for _ in range(2):
                self.assertRaises(tools.ToolError, body)

    def test_every_tool_is_checked(self):
        """Every tool the tests run is installed by scripts/install-deps.sh test."""
        root = os.path.dirname(os.path.dirname(DATA))
        with open(os.path.join(root, "scripts", "install-deps.sh")) as f:
            text = f.read()
        for tool in tools.TOOLS.values():
            with self.subTest(tool=tool.name):
                self.assertRegex(text, r"(pkgs=\"|\s)%s(\s|\")" % tool.package)
                self.assertTrue(all(os.path.isabs(p) for p in tool.paths))


if __name__ == "__main__":
    unittest.main()
