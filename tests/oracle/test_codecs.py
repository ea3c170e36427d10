"""Codec oracle tests: pixels tessera decodes equal OpenCV 4.6's (ImageMagick's
for GIF, which this OpenCV cannot read), and files tessera writes read back
in OpenCV as what was written.

ImageMagick's convert and identify (Debian's imagemagick) are found and
checked by tests/tools.py: without them the tests that need them fail with
one message naming the package; they never skip and never run another
`convert` that happens to be first on PATH.

Runs the CLI at $TESSERA_BIN (default build/src/cli/tessera). The pipeline
'invert|invert' leaves pixels as decoded; PNG output is lossless, so the PNG
tessera writes holds exactly the decoded pixels. OpenCV and tessera's PNG are
both read back with cv2 (BGR order on both sides), so no channel swap is
needed in the comparisons.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
import tools  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(REPO, "tests", "data")
BIN = os.environ.get("TESSERA_BIN", os.path.join(REPO, "build", "src", "cli", "tessera"))
if not os.path.isabs(BIN):
    BIN = os.path.join(REPO, BIN)
HAVE_BIN = os.access(BIN, os.X_OK)


def convert(*args):
    """Runs ImageMagick's convert (tests/tools.py); fails the test without it."""
    subprocess.run([tools.find("convert"), *args], check=True)


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)


def as8(a):
    """16-bit arrays narrowed the way tessera does it (high byte)."""
    return (a >> 8).astype(np.uint8) if a.dtype == np.uint16 else a


def normalise(a, b):
    """Brings two cv2 images to a comparable shape: gray vs colour expands the
    gray one; a missing alpha channel must be opaque on the other side."""
    def channels(x):
        return 1 if x.ndim == 2 else x.shape[2]
    a, b = as8(a), as8(b)
    if channels(a) == 1 and channels(b) >= 3:
        a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if channels(b) == 1 and channels(a) >= 3:
        b = cv2.cvtColor(b, cv2.COLOR_GRAY2BGR)
    if channels(a) == 4 and channels(b) == 3:
        assert (a[:, :, 3] == 255).all(), "alpha not opaque"
        a = a[:, :, :3]
    if channels(b) == 4 and channels(a) == 3:
        assert (b[:, :, 3] == 255).all(), "alpha not opaque"
        b = b[:, :, :3]
    return a, b


def max_diff(a, b):
    a, b = normalise(a, b)
    if a.shape != b.shape:
        raise AssertionError("shapes differ: %s vs %s" % (a.shape, b.shape))
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


def psnr(a, b):
    a, b = normalise(a, b)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@unittest.skipUnless(HAVE_BIN, "tessera binary not built at %s" % BIN)
class CodecOracle(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tsr_codecs_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tmp_path(self, name):
        return os.path.join(self.tmp, name)

    def decode(self, path, *extra):
        """Tessera's decode of `path`, as cv2 reads the lossless PNG it writes
        (`extra`: more options, e.g. --frame 0 for an animation)."""
        out = self.tmp_path("decoded_%s.png" % os.path.basename(path))
        r = run("process", "-p", "invert|invert", path, "-o", out, *extra)
        self.assertEqual(r.returncode, 0, "%s: %s" % (path, r.stderr))
        img = cv2.imread(out, cv2.IMREAD_UNCHANGED)
        self.assertIsNotNone(img)
        return img

    def check_against_cv2(self, path, limit=0):
        want = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        self.assertIsNotNone(want, path)
        d = max_diff(self.decode(path), want)
        self.assertLessEqual(d, limit, "%s: max abs diff %d" % (os.path.basename(path), d))
        return d

    def test_png_photos_exact(self):
        for name in ("astronaut.png", "coffee.png", "chelsea.png", "palette_color.png"):
            with self.subTest(name=name):
                self.check_against_cv2(os.path.join(DATA, name))

    def test_jpeg_photos_within_one(self):
        for name in ("hubble_deep_field.jpg", "rocket.jpg"):
            with self.subTest(name=name):
                self.check_against_cv2(os.path.join(DATA, name), limit=1)

    def test_webp_exact(self):
        self.check_against_cv2(os.path.join(DATA, "coffee.webp"))

    @tools.needs("convert")
    def test_gif_against_imagemagick(self):
        for name in ("chelsea.gif", "anim.gif"):
            with self.subTest(name=name):
                ref = self.tmp_path("ref_%s.png" % name)
                convert(os.path.join(DATA, name) + "[0]", "PNG32:" + ref)
                want = cv2.imread(ref, cv2.IMREAD_UNCHANGED)
                # an animation into PNG needs its frame chosen (formats.md#animations)
                self.assertEqual(max_diff(self.decode(os.path.join(DATA, name), "--frame", "0"),
                                          want), 0)

    def test_cv2_written_files_exact(self):
        """BMP, TIFF, PNM and 16-bit PNG files written by OpenCV."""
        src = cv2.imread(os.path.join(DATA, "chelsea.png"), cv2.IMREAD_UNCHANGED)
        gray = cv2.cvtColor(src, cv2.COLOR_BGR2GRAY)
        bgra = cv2.cvtColor(src, cv2.COLOR_BGR2BGRA)
        bgra[:, :, 3] = np.arange(src.shape[1], dtype=np.uint8)[None, :]
        wide = (src.astype(np.uint16) * 257 + 123).astype(np.uint16)
        cases = {
            "c.bmp": src, "g.bmp": gray, "c.tif": src, "g.tif": gray, "a.tif": bgra,
            "c.ppm": src, "g.pgm": gray, "w.png": wide, "wg.png": wide[:, :, 0],
            "wa.png": cv2.cvtColor(wide, cv2.COLOR_BGR2BGRA), "a.png": bgra,
            "w.tif": wide, "w.ppm": wide,
        }
        for name, img in cases.items():
            with self.subTest(name=name):
                path = self.tmp_path(name)
                self.assertTrue(cv2.imwrite(path, img))
                self.check_against_cv2(path)

    @tools.needs("convert")
    def test_imagemagick_variants_exact(self):
        """Layouts OpenCV does not write: interlaced PNG, tiled/planar/deflate
        TIFF, palette and alpha BMP, ASCII PNM."""
        src = os.path.join(DATA, "coffee.png")
        cases = {
            "interlaced.png": ["-interlace", "PNG"],
            "gray_interlaced.png": ["-colorspace", "Gray", "-interlace", "PNG"],
            "tiled.tif": ["-define", "tiff:tile-geometry=64x64"],
            "planar.tif": ["-interlace", "Plane"],
            "deflate.tif": ["-compress", "Zip"],
            "sixteen.tif": ["-depth", "16"],
            "palette.bmp": ["-colors", "200", "-type", "Palette", "-compress", "None"],
            "alpha.bmp": ["-alpha", "set", "-channel", "A", "-fx", "i/w", "+channel"],
            "rgb565.bmp": ["-define", "bmp:subtype=RGB565"],
            "ascii.ppm": ["-compress", "None"],
            "ascii.pgm": ["-colorspace", "Gray", "-compress", "None"],
            "bitmap.pbm": ["-colorspace", "Gray", "-threshold", "50%"],
        }
        for name, args in cases.items():
            with self.subTest(name=name):
                path = self.tmp_path(name)
                fmt = "BMP3:" if name == "palette.bmp" else ""
                convert(src, *args, fmt + path)
                # OpenCV 4.6 reads RGB565 BMPs with V5 headers unreliably
                # (None on some runs): ImageMagick decides there, within its
                # 16-bit quantum rounding.
                unreliable = name == "rgb565.bmp"
                want = None if unreliable else cv2.imread(path, cv2.IMREAD_UNCHANGED)
                if want is None:  # a layout OpenCV cannot read: ImageMagick decides
                    ref = self.tmp_path(name + ".ref.png")
                    convert(path, ref)
                    want = cv2.imread(ref, cv2.IMREAD_UNCHANGED)
                d = max_diff(self.decode(path), want)
                self.assertLessEqual(d, 1 if unreliable else 0, "%s: max abs diff %d" % (name, d))

    @tools.needs("convert")
    def test_jpeg_variants_within_one(self):
        """CMYK (Adobe, inverted), progressive and gray JPEGs against OpenCV."""
        src = os.path.join(DATA, "astronaut.png")
        cases = {
            "cmyk.jpg": ["-colorspace", "CMYK"],
            "progressive.jpg": ["-interlace", "JPEG"],
            "gray.jpg": ["-colorspace", "Gray"],
            "subsampled.jpg": ["-sampling-factor", "4:2:0", "-quality", "70"],
        }
        for name, args in cases.items():
            with self.subTest(name=name):
                path = self.tmp_path(name)
                convert(src, *args, path)
                self.check_against_cv2(path, limit=1)

    @tools.needs("convert")
    def test_animated_webp_first_frame(self):
        path = self.tmp_path("anim.webp")
        convert(os.path.join(DATA, "anim.gif"), path)
        ref = self.tmp_path("anim_ref.png")
        convert(path + "[0]", "PNG32:" + ref)
        self.assertEqual(max_diff(self.decode(path, "--frame", "0"),
                                  cv2.imread(ref, cv2.IMREAD_UNCHANGED)), 0)
        r = run("info", path, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["frames"], 3)

    @tools.needs("identify")
    def test_info_json_matches_identify(self):
        for name in sorted(os.listdir(DATA)):
            path = os.path.join(DATA, name)
            if not os.path.isfile(path) or name.endswith(".md") or name == "truncated.jpg":
                continue
            with self.subTest(name=name):
                r = run("info", path, "--json")
                self.assertEqual(r.returncode, 0, r.stderr)
                info = json.loads(r.stdout)
                ident = subprocess.run([tools.find("identify"), "-format", "%w %h\n", path],
                                       capture_output=True, text=True, check=True)
                frames = ident.stdout.split()
                self.assertEqual((info["width"], info["height"]),
                                 (int(frames[0]), int(frames[1])))
                self.assertEqual(info["frames"], len(frames) // 2)

    def test_encoders(self):
        """Every format tessera writes reads back in OpenCV (GIF: ImageMagick)."""
        src_path = os.path.join(DATA, "chelsea.png")
        src = cv2.imread(src_path, cv2.IMREAD_UNCHANGED)
        for fmt, min_psnr in (("png", None), ("bmp", None), ("tiff", None), ("pnm", None),
                              ("jpeg", 30), ("webp", 30), ("gif", 22)):
            with self.subTest(fmt=fmt):
                out = self.tmp_path("enc." + fmt)
                r = run("process", "-p", "invert|invert", src_path, "-o", out, "--format", fmt)
                self.assertEqual(r.returncode, 0, r.stderr)
                if fmt == "gif":
                    convert(out, out + ".png")
                    back = cv2.imread(out + ".png", cv2.IMREAD_UNCHANGED)
                else:
                    back = cv2.imread(out, cv2.IMREAD_UNCHANGED)
                self.assertIsNotNone(back, fmt)
                if min_psnr is None:
                    self.assertEqual(max_diff(back, src), 0)
                else:
                    self.assertGreater(psnr(back, src), min_psnr)

    def test_jpeg_quality_changes_size(self):
        src = os.path.join(DATA, "coffee.png")
        sizes = []
        for q in (20, 95):
            out = self.tmp_path("q%d.jpg" % q)
            r = run("process", "-p", "invert|invert", src, "-o", out, "--format", "jpeg",
                    "--quality", str(q))
            self.assertEqual(r.returncode, 0, r.stderr)
            sizes.append(os.path.getsize(out))
        self.assertLess(sizes[0], sizes[1])

    def test_bad_inputs_exit_3(self):
        bad = [os.path.join(DATA, "truncated.jpg")]
        bad += [os.path.join(DATA, "bad", n) for n in sorted(os.listdir(os.path.join(DATA, "bad")))
                if not n.endswith(".py") and n != "png_bomb.png"]  # a bomb only under low limits
        for path in bad:
            with self.subTest(name=os.path.basename(path)):
                out = self.tmp_path("bad_out.png")
                r = run("process", "-p", "invert", path, "-o", out)
                self.assertEqual(r.returncode, 3, "%s: %s" % (path, r.stderr))
                self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
