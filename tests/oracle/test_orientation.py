"""EXIF orientation of TIFF and WebP against OpenCV 4.6 and numpy.

OpenCV 4.6 turns TIFFs upright by their Orientation tag (274) in
cv2.imread, so tessera's decode of a TIFF is compared byte-exact with
cv2.imread of the same file. It ignores the EXIF chunk of WebP, so a WebP's
decode is compared with the stored pixels turned by numpy (np.rot90, flips)
for each orientation; TIFFs are checked against numpy as well.

The files are made here: cv2-written TIFFs get their first IFD rewritten at
the end of the file with an Orientation entry; cv2-written lossless WebPs
are wrapped in a VP8X container with an EXIF chunk (a bare TIFF structure,
little- or big-endian, with one Orientation entry). Decoding goes through
'tessera process -p invert|invert' (the row reader, whole and tiled) and
'tessera info --json' must report the tag with the stored size.
"""
import json
import os
import shutil
import struct
import tempfile
import unittest

import cv2
import numpy as np

from orient_files import tiff_with_orientation
from test_codecs import DATA, HAVE_BIN, run

# numpy's view of EXIF orientation: what shows the stored array upright.
UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
    8: lambda a: np.rot90(a, 1),
}


def upright(a, o):
    return np.ascontiguousarray(UPRIGHT[o](a))


def exif_blob(o, big_endian):
    """A bare EXIF TIFF structure whose IFD0 holds Orientation = o."""
    if big_endian:
        return b"MM\x00\x2a" + struct.pack(">IHHHIHH", 8, 1, 274, 3, 1, o, 0) + b"\x00" * 4
    return b"II\x2a\x00" + struct.pack("<IHHHIHH", 8, 1, 274, 3, 1, o, 0) + b"\x00" * 4


def riff_chunk(tag, payload):
    return tag + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")


def webp_with_exif(data, exif, width, height, alpha):
    """A simple WebP's bitstream in a VP8X container with an EXIF chunk."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] in (b"VP8 ", b"VP8L")
    flags = 0x08 | (0x10 if alpha else 0)
    vp8x = (bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") +
            (height - 1).to_bytes(3, "little"))
    body = b"WEBP" + riff_chunk(b"VP8X", vp8x) + data[12:] + riff_chunk(b"EXIF", exif)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@unittest.skipUnless(HAVE_BIN, "tessera binary not built")
class OrientationOracle(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tsr_orient_")
        photo = cv2.imread(os.path.join(DATA, "chelsea.png"), cv2.IMREAD_UNCHANGED)
        self.bgr = np.ascontiguousarray(photo[40:141, 60:223])  # 163x101: not square
        self.bgra = cv2.cvtColor(self.bgr, cv2.COLOR_BGR2BGRA)
        self.bgra[:, :, 3] = np.arange(self.bgr.shape[1], dtype=np.uint8)[None, :]
        self.gray = cv2.cvtColor(self.bgr, cv2.COLOR_BGR2GRAY)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def decode(self, path, *extra):
        """Tessera's decode of `path` (as cv2 reads the PNG tessera writes)."""
        out = os.path.join(self.tmp, "decoded.png")
        r = run("process", "-p", "invert|invert", path, "-o", out, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        img = cv2.imread(out, cv2.IMREAD_UNCHANGED)
        self.assertIsNotNone(img)
        return img

    def check_info(self, path, o, stored):
        r = run("info", path, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        self.assertEqual(info["orientation"], o)
        self.assertEqual((info["width"], info["height"]), (stored.shape[1], stored.shape[0]))

    def check_decode(self, path, want):
        for extra in ((), ("--tile", "32")):
            got = self.decode(path, *extra)
            self.assertEqual(got.shape, want.shape, extra)
            self.assertTrue(np.array_equal(got, want), "%s: pixels differ" % (extra,))

    def test_tiff_matches_cv2(self):
        for name, img in (("bgr", self.bgr), ("gray", self.gray), ("bgra", self.bgra)):
            ok, enc = cv2.imencode(".tif", img)
            self.assertTrue(ok)
            for o in range(1, 9):
                with self.subTest(image=name, orientation=o):
                    data = tiff_with_orientation(enc.tobytes(), o)
                    path = self.write("o%d_%s.tif" % (o, name), data)
                    want = cv2.imread(path, cv2.IMREAD_UNCHANGED)
                    self.assertTrue(np.array_equal(want, upright(img, o)), "cv2 vs numpy")
                    self.check_decode(path, want)
                    self.check_info(path, o, img)

    def test_webp_matches_numpy(self):
        for name, img in (("bgr", self.bgr), ("bgra", self.bgra)):
            ok, enc = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])  # lossless
            self.assertTrue(ok)
            # The stored pixels as cv2 decodes the plain file (lossless, but
            # colour under fully transparent pixels is not kept).
            stored = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
            h, w = img.shape[:2]
            for o in range(1, 9):
                for big_endian in (False, True):
                    with self.subTest(image=name, orientation=o, big_endian=big_endian):
                        data = webp_with_exif(enc.tobytes(), exif_blob(o, big_endian), w, h,
                                              img.shape[2] == 4)
                        path = self.write("o%d_%s.webp" % (o, name), data)
                        self.check_decode(path, upright(stored, o))
                        self.check_info(path, o, img)


if __name__ == "__main__":
    unittest.main()
