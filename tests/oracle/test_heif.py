"""HEIF (HEIC) and AVIF through the CLI against Debian's libheif and libavif
tools (tests/tools.py finds each; a missing one fails the test, naming the
package).

Test files are made here from the photos in tests/data: HEIC and AVIF by
heif-enc (libheif-examples: 8, 10 and 12 bits, alpha, a 1x1 grid wrapper for
odd sizes), AVIF by avifenc (libavif-bin: 10 bits, monochrome, lossless,
irot/imir, an EXIF Orientation next to irot as phones write it). heif-enc
1.15 writes no irot/imir, so HEICs with them are made by editing the boxes
(heif_files.py). Sources go through cv2 first: heif-enc copies a PNG's ICC
profile and heif-convert then fails on chelsea's "known incorrect sRGB".

Bounds: tessera's decode equals heif-convert's (libheif 1.15, the same
library) exactly, 10/12-bit files compared with heif-convert's 16-bit PNG
narrowed to its high byte; lossless AVIFs equal their source exactly, and
irot/imir give numpy's turns of the unturned decode exactly. What tessera
writes is read back by heif-convert (equal to tessera's own decode) and by
avifdec (libavif + dav1d, its own YUV->RGB: PSNR against the source).
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

import heif_files as hf  # noqa: E402
from test_codecs import DATA, HAVE_BIN, max_diff, psnr, run  # noqa: E402
from test_orientation import exif_blob, upright  # noqa: E402

# EXIF orientation -> the irot (quarter turns anticlockwise) and imir (0 =
# top-bottom, 1 = left-right, the standard's current meaning and libheif
# 1.15's) that libheif writes for it.
TURNS = {1: [], 2: [(b"imir", 1)], 3: [(b"irot", 2)], 4: [(b"imir", 0)],
         5: [(b"irot", 3), (b"imir", 1)], 6: [(b"irot", 3)], 7: [(b"irot", 3), (b"imir", 0)],
         8: [(b"irot", 1)]}


def tool(name, *args):
    r = subprocess.run([tools.find(name), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "%s %s: %s" % (name, " ".join(args), (r.stdout + r.stderr)[-800:])


def load(path):
    with open(path, "rb") as f:
        return f.read()


def read(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)  # UNCHANGED: no EXIF turn by cv2
    assert img is not None, path
    return (img >> 8).astype(np.uint8) if img.dtype == np.uint16 else img


@unittest.skipUnless(HAVE_BIN, "tessera binary not built")
class HeifOracle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tsr_heif_")
        photo = cv2.imread(os.path.join(DATA, "chelsea.png"))
        alpha = cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA)
        alpha[:, :, 3] = np.arange(photo.shape[1], dtype=np.uint8)[None, :]
        deep = (photo.astype(np.uint16) * 257 + 123).astype(np.uint16)
        cls.src = {"photo": photo, "alpha": alpha, "deep": deep,
                   "coffee": cv2.imread(os.path.join(DATA, "coffee.png")),
                   "small": np.ascontiguousarray(photo[40:120, 100:196])}
        for name, img in cls.src.items():
            cv2.imwrite(cls.path(name + ".png"), img)
        cls.files = {}
        for out, args in (("photo.heic", ["photo"]), ("photo.avif", ["-A", "photo"]),
                          ("even.heic", ["coffee"]), ("alpha.heic", ["alpha"]),
                          ("alpha.avif", ["-A", "alpha"]), ("deep10.heic", ["-b", "10", "deep"]),
                          ("deep12.heic", ["-b", "12", "deep"]),
                          ("deep12.avif", ["-A", "-b", "12", "deep"]),
                          ("small.heic", ["-q", "90", "small"])):
            tool("heif-enc", *args[:-1], "-o", cls.path(out), cls.path(args[-1] + ".png"))
        for out, args in (("deep10.avif", ["-d", "10", "deep"]),
                          ("gray.avif", ["-y", "400", "photo"]),
                          ("lossless.avif", ["-l", "photo"]),
                          ("lossless_alpha.avif", ["-l", "alpha"])):
            tool("avifenc", "-s", "9", *args[:-1], cls.path(args[-1] + ".png"), cls.path(out))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    def decode(self, path, *extra):
        """Tessera's decode of `path` (the lossless PNG it writes, as cv2 reads it)."""
        out = path + ".tsr.png"
        r = run("process", "-p", "invert|invert", path, "-o", out, *extra)
        self.assertEqual(r.returncode, 0, "%s: %s" % (path, r.stderr))
        return read(out)

    def reference(self, path):
        """heif-convert's decode of `path` (16-bit PNGs narrowed to the high byte)."""
        out = path + ".ref.png"
        tool("heif-convert", "--quiet", path, out)
        return read(out)

    def info(self, path):
        r = run("info", path, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_decode_equals_heif_convert(self):
        """Bound: exactly equal (max abs diff 0) for every file, bit depth and layout."""
        want = {"photo.heic": ("heif", 3, 8), "photo.avif": ("avif", 3, 8),
                "even.heic": ("heif", 3, 8), "alpha.heic": ("heif", 4, 8),
                "alpha.avif": ("avif", 4, 8), "deep10.heic": ("heif", 3, 10),
                "deep12.heic": ("heif", 3, 12), "deep12.avif": ("avif", 3, 12),
                "deep10.avif": ("avif", 3, 10), "gray.avif": ("avif", 3, 8),
                "lossless.avif": ("avif", 3, 8), "lossless_alpha.avif": ("avif", 4, 8)}
        for name, (fmt, bands, bits) in want.items():
            with self.subTest(name=name):
                path = self.path(name)
                got = self.decode(path)
                self.assertEqual(max_diff(got, self.reference(path)), 0)
                info = self.info(path)
                shape = self.src["coffee" if name == "even.heic" else "photo"].shape
                self.assertEqual((info["format"], info["bands"], info["bit_depth"]),
                                 (fmt, bands, bits))
                self.assertEqual((info["height"], info["width"]), shape[:2])
                self.assertEqual(info["orientation"], 1)
        gray = self.decode(self.path("gray.avif"))  # monochrome: RGB with equal channels
        self.assertTrue((gray[:, :, 0] == gray[:, :, 1]).all())
        self.assertTrue((gray[:, :, 1] == gray[:, :, 2]).all())

    def test_lossless_avif_exact(self):
        self.assertEqual(max_diff(self.decode(self.path("lossless.avif")), self.src["photo"]), 0)
        got = self.decode(self.path("lossless_alpha.avif"))
        self.assertEqual(max_diff(got, self.src["alpha"]), 0)

    def test_heic_irot_imir_applied_once(self):
        """irot/imir added to a heif-enc HEIC for each EXIF orientation: the
        decode is numpy's upright view of the stored pixels, equals
        heif-convert's, and `info` gives the turned size with orientation 1."""
        base_path = self.path("small.heic")
        base = self.decode(base_path)
        data = load(base_path)
        for o, props in TURNS.items():
            with self.subTest(orientation=o):
                path = self.path("turned%d.heic" % o)
                with open(path, "wb") as f:
                    f.write(hf.add_properties(data, [(k, bytes([v])) for k, v in props]))
                got = self.decode(path)
                self.assertEqual(max_diff(got, upright(base, o)), 0)
                self.assertEqual(max_diff(got, self.reference(path)), 0)
                info = self.info(path)
                self.assertEqual((info["height"], info["width"]), got.shape[:2])
                self.assertEqual(info["orientation"], 1)
                tiled = self.decode(path, "--tile", "32")
                self.assertEqual(max_diff(tiled, got), 0)

    def test_exif_orientation_not_applied_on_top(self):
        """A HEIC from a JPEG with EXIF Orientation 6 keeps the EXIF (heif-enc
        1.15 writes no irot): tessera shows the stored pixels, as libheif does.
        With irot added as a phone writes it (both), it turns once, not twice."""
        ok, jpeg = cv2.imencode(".jpg", self.src["small"], [cv2.IMWRITE_JPEG_QUALITY, 95])
        jpg = self.path("exif6.jpg")
        with open(jpg, "wb") as f:
            f.write(hf.jpeg_with_exif(jpeg.tobytes(), 6))
        heic = self.path("exif6.heic")
        tool("heif-enc", "-q", "90", "-o", heic, jpg)
        stored = self.decode(heic)
        self.assertEqual(stored.shape[:2], self.src["small"].shape[:2])
        self.assertEqual(max_diff(stored, self.reference(heic)), 0)
        self.assertEqual(self.info(heic)["orientation"], 1)
        phone = self.path("phone.heic")
        with open(phone, "wb") as f:
            f.write(hf.add_properties(load(heic), [(b"irot", bytes([3]))]))
        self.assertEqual(max_diff(self.decode(phone), upright(stored, 6)), 0)
        # The same from avifenc, losslessly: irot 3 plus an EXIF block with Orientation 6.
        exif = self.path("exif6.bin")
        with open(exif, "wb") as f:
            f.write(exif_blob(6, big_endian=True))
        avif = self.path("phone.avif")
        tool("avifenc", "-s", "9", "-l", "--irot", "3", "--exif", exif, self.path("photo.png"),
             avif)
        self.assertEqual(max_diff(self.decode(avif), upright(self.src["photo"], 6)), 0)

    def test_avifenc_irot_imir(self):
        for args, want in ((["--irot", "1"], np.rot90(self.src["photo"], 1)),
                           (["--imir", "0"], self.src["photo"][::-1]),
                           (["--imir", "1"], self.src["photo"][:, ::-1])):
            with self.subTest(args=args):
                path = self.path("t%s%s.avif" % tuple(args))
                tool("avifenc", "-s", "9", "-l", *args, self.path("photo.png"), path)
                self.assertEqual(max_diff(self.decode(path), want), 0)

    def write(self, src, fmt, *extra):
        out = self.path("out_%s_%s.%s" % (os.path.basename(src), "_".join(extra), fmt))
        r = run("process", "-p", "invert|invert", src, "-o", out, "--format", fmt, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def test_avif_written_reads_back(self):
        """tessera's AVIF: avifdec (an independent decoder) and heif-convert
        read it; PSNR over 30 dB (about 36.7 dB at the default quality 60),
        smaller than a fifth of the PNG; alpha kept."""
        for name in ("photo", "alpha"):
            with self.subTest(source=name):
                src = self.path(name + ".png")
                out = self.write(src, "avif")
                self.assertEqual(self.info(out)["format"], "avif")
                self.assertLess(os.path.getsize(out), os.path.getsize(src) / 5)
                mine = self.decode(out)
                self.assertEqual(max_diff(mine, self.reference(out)), 0)
                dec = self.path(name + "_avifdec.png")
                tool("avifdec", out, dec)
                back = read(dec)
                self.assertEqual(back.shape, self.src[name].shape)
                self.assertGreater(psnr(back[:, :, :3], self.src[name][:, :, :3]), 30)
                if name == "alpha":
                    self.assertGreater(psnr(back[:, :, 3], self.src[name][:, :, 3]), 30)

    def test_heic_written_reads_back(self):
        src = self.path("photo.png")
        out = self.write(src, "heic")
        self.assertEqual(self.info(out)["format"], "heif")
        back = self.reference(out)
        self.assertEqual(back.shape, self.src["photo"].shape)
        self.assertGreater(psnr(back, self.src["photo"]), 30)
        self.assertEqual(max_diff(self.decode(out), back), 0)

    def test_lossless_written(self):
        """--lossless: 4:4:4 with the identity matrix; heif-convert and tessera
        give the source back exactly, alpha included."""
        for fmt in ("avif", "heic"):
            for name in ("photo", "alpha"):
                with self.subTest(fmt=fmt, source=name):
                    out = self.write(self.path(name + ".png"), fmt, "--lossless", "--speed", "9")
                    self.assertEqual(max_diff(self.reference(out), self.src[name]), 0)
                    self.assertEqual(max_diff(self.decode(out), self.src[name]), 0)

    def test_quality_and_speed(self):
        src = self.path("photo.png")
        sizes = {q: os.path.getsize(self.write(src, "avif", "--quality", q, "--speed", "9"))
                 for q in ("20", "90")}
        self.assertLess(sizes["20"], sizes["90"])
        fast = load(self.write(src, "heic", "--speed", "9"))
        slow = load(self.write(src, "heic", "--speed", "3"))
        self.assertNotEqual(fast, slow)
        for flag, value in (("--quality", "0"), ("--quality", "101"), ("--speed", "0"),
                            ("--speed", "10"), ("--speed", "fast")):
            with self.subTest(flag=flag, value=value):
                out = self.path("bad.avif")
                r = run("process", "-p", "invert", src, "-o", out, flag, value)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("%s must be a whole number from" % flag, r.stderr)
                self.assertFalse(os.path.exists(out))

    def refused(self, data, name, text, code=3):
        """Writes `data`, runs the CLI on it: exit `code`, `text` in the message, no output."""
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(data)
        out = self.path(name + ".out.png")
        r = run("process", "-p", "invert", path, "-o", out)
        self.assertEqual(r.returncode, code, "%s: %s" % (name, r.stderr))
        self.assertIn(text, r.stderr)
        self.assertFalse(os.path.exists(out))
        return r.stderr

    def test_hostile_files(self):
        """Cut at several points, flipped in the boxes, sizes over the
        limits, a grid bomb: exit 3 with a message and no output."""
        for name in ("photo.heic", "photo.avif"):
            data = load(self.path(name))
            for cut in (20, 100, len(data) // 10, len(data) // 2, len(data) * 9 // 10,
                        len(data) - 1):
                with self.subTest(name=name, cut=cut):
                    self.refused(data[:cut], "cut%d_%s" % (cut, name), "truncated or corrupt")
            meta = hf.find(data, b"meta")
            flipped = bytearray(data)
            flipped[meta.start + 3] ^= 0x40  # the meta box's size
            with self.subTest(name=name, flip="meta size"):
                self.refused(bytes(flipped), "flip_" + name, "corrupt")
            with self.subTest(name=name, size="30000x30000"):
                self.refused(hf.patch_ispe(data, 30000, 30000), "big_" + name,
                             "14 GB in one buffer is more than the single-buffer limit")
            with self.subTest(name=name, size="40000x100"):
                self.refused(hf.patch_ispe(data, 40000, 100), "wide_" + name,
                             "exceeds the maximum image size 32768x32768")
        # heif-enc wraps odd sizes in a 1x1 grid: its canvas made 30000x30000, ispe kept.
        bomb = hf.patch_grid(load(self.path("photo.heic")), 30000, 30000)
        self.refused(bomb, "bomb.heic", "grid image: 14 GB in one buffer is more than")

    def test_random_flips_never_crash(self):
        """Byte flips anywhere: exit 0 with an image, or 3 with a message and
        none; never a signal (dav1d and libde265 may print to stderr)."""
        rng = np.random.default_rng(15)
        for name in ("small.heic", "photo.avif"):
            data = load(self.path(name))
            for i in range(20):
                bad = bytearray(data)
                for at in rng.integers(0, len(data), 3):
                    bad[at] ^= int(rng.integers(1, 256))
                path = self.path("rnd%d_%s" % (i, name))
                with open(path, "wb") as f:
                    f.write(bad)
                out = path + ".png"
                r = run("process", "-p", "invert", path, "-o", out)
                self.assertIn(r.returncode, (0, 3), "%s: %s" % (path, r.stderr))
                self.assertEqual(os.path.exists(out), r.returncode == 0)

    def test_detected_by_content_not_name(self):
        heic_named_png = self.path("looks.png")
        shutil.copy(self.path("photo.heic"), heic_named_png)
        self.assertEqual(self.info(heic_named_png)["format"], "heif")
        png_named_heic = self.path("looks.heic")
        shutil.copy(self.path("photo.png"), png_named_heic)
        self.assertEqual(self.info(png_named_heic)["format"], "png")


if __name__ == "__main__":
    unittest.main()
