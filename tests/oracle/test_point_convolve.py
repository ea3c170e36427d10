"""Point, convolve and global-histogram ops against OpenCV 4.6 (cv2) through the CLI.

Byte-exact where the op promises it; gaussian-blur and box-blur must be within 1
(they are byte-exact today). Tessera images are RGB: every reference below is
per-channel or converts with RGB2GRAY, so channel order needs no swap."""
import json
import os
import tempfile
import unittest

import cv2
import numpy as np

from tessera_cli import DATA, have_binary, max_diff, photo, process, run

PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "hubble_deep_field.jpg"]


def per_channel(fn, img):
    if img.ndim == 2:
        return fn(img)
    return np.dstack([fn(np.ascontiguousarray(img[:, :, c])) for c in range(img.shape[2])])


def sobel_abs(img, dx, dy):
    return per_channel(lambda c: np.abs(cv2.Sobel(c, cv2.CV_16S, dx, dy)).astype(np.int32), img)


def round_away(t):
    """Rounds halves away from zero (C's round()), to uint8."""
    return np.where(t >= 0, np.floor(t + 0.5), -np.floor(-t + 0.5)).astype(np.uint8)


# (pipeline, reference on an RGB uint8 array, allowed max abs diff)
CASES = [
    ("invert", cv2.bitwise_not, 0),
    ("grayscale", lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), 0),
    ("brightness", lambda a: np.clip(a.astype(int) + 60, 0, 255).astype(np.uint8), 0),
    ("brightness:delta=-80", lambda a: np.clip(a.astype(int) - 80, 0, 255).astype(np.uint8), 0),
    ("threshold", lambda a: np.where(a >= 127, 255, 0).astype(np.uint8), 0),
    ("threshold:value=200", lambda a: np.where(a >= 200, 255, 0).astype(np.uint8), 0),
    ("contrast:factor=1.7", lambda a: round_away(np.clip((a.astype(float) - 128) * 1.7 + 128, 0, 255)),
     0),
    ("contrast:factor=0.3", lambda a: round_away((a.astype(float) - 128) * 0.3 + 128), 0),
    ("gamma:gamma=2.2",
     lambda a: np.floor(255 * (a / 255.0) ** (1 / 2.2) + 0.5).astype(np.uint8), 0),
    ("sharpen", lambda a: cv2.filter2D(a, -1, np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
                                                       np.float32)), 0),
    ("convolve:kernel=1 2 1 2 4 2 1 2 1,divisor=1",
     lambda a: cv2.filter2D(a, -1, np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32)), 0),
    ("convolve:kernel=-1 -1 -1 -1 8 -1 -1 -1 -1,offset=128",
     lambda a: cv2.filter2D(a, -1, np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float32),
                            delta=128), 0),
    ("convolve:kernel=" + " ".join(str(v) for v in range(-12, 13)) + ",divisor=1",
     lambda a: cv2.filter2D(a, -1, np.arange(-12, 13, dtype=np.float32).reshape(5, 5)), 0),
    ("convolve:kernel=1 1 1 1 1 1 1 1 1",  # divisor 0 = kernel sum 9: within 1 of the float path
     lambda a: cv2.filter2D(a, -1, np.ones((3, 3), np.float32) / 9), 1),
    ("median", lambda a: cv2.medianBlur(a, 3), 0),
    ("median:ksize=5", lambda a: cv2.medianBlur(a, 5), 0),
    ("gaussian-blur", lambda a: cv2.GaussianBlur(a, (5, 5), 0), 1),
    ("gaussian-blur:sigma=2", lambda a: cv2.GaussianBlur(a, (0, 0), 2), 1),
    ("gaussian-blur:sigma=1.5,ksize=7", lambda a: cv2.GaussianBlur(a, (7, 7), 1.5), 1),
    ("gaussian-blur:ksize=15", lambda a: cv2.GaussianBlur(a, (15, 15), 0), 1),
    ("gaussian-blur:sigma=2,ksize=5", lambda a: cv2.GaussianBlur(a, (5, 5), 2), 1),
    ("box-blur", lambda a: cv2.blur(a, (3, 3)), 1),
    ("box-blur:ksize=5", lambda a: cv2.blur(a, (5, 5)), 1),
    ("box-blur:ksize=21", lambda a: cv2.blur(a, (21, 21)), 1),
    ("sobel:direction=x", lambda a: np.clip(sobel_abs(a, 1, 0), 0, 255).astype(np.uint8), 0),
    ("sobel:direction=y", lambda a: np.clip(sobel_abs(a, 0, 1), 0, 255).astype(np.uint8), 0),
    ("sobel", lambda a: np.clip(sobel_abs(a, 1, 0) + sobel_abs(a, 0, 1), 0, 255).astype(np.uint8),
     0),
    ("equalize", lambda a: per_channel(cv2.equalizeHist, a), 0),
    ("grayscale|equalize", lambda a: cv2.equalizeHist(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)), 0),
    ("grayscale|threshold-otsu",
     lambda a: cv2.threshold(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), 0, 255,
                             cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1], 0),
]


@unittest.skipUnless(have_binary(), "tessera binary not built")
class PointConvolveOracleTest(unittest.TestCase):
    """Each case on each photo; the worst difference per pipeline is printed."""

    @classmethod
    def setUpClass(cls):
        cls.photos = {name: photo(name) for name in PHOTOS}
        cls.worst = {}

    @classmethod
    def tearDownClass(cls):
        for pipe, d in cls.worst.items():
            print(f"  max abs diff {d}  {pipe}")

    def check_case(self, pipe, ref, allowed, extra=()):
        for name, img in self.photos.items():
            with self.subTest(pipeline=pipe, photo=name):
                got = process(pipe, img, extra=extra)
                want = ref(img)
                d = max_diff(got, want)
                self.worst[pipe] = max(self.worst.get(pipe, 0), d)
                self.assertLessEqual(d, allowed, f"{pipe} on {name}")

    def test_cases(self):
        for pipe, ref, allowed in CASES:
            self.check_case(pipe, ref, allowed)

    def test_small_tiles_and_threads_change_nothing(self):
        for pipe, ref, allowed in CASES[::3]:
            self.check_case(pipe, ref, allowed, extra=("--tile", "16", "--threads", "3"))

    def test_point_ops_at_every_simd_level(self):
        """Tables (contrast, gamma) and closed forms (invert, brightness,
        threshold) give the same bytes at every TESSERA_SIMD level, on RGBA
        (alpha kept), with tiles whose rows are not a multiple of any vector
        width; so does grayscale's luma on RGB."""
        rgb = self.photos["coffee.png"]
        alpha = (np.arange(rgb.shape[0] * rgb.shape[1]) % 253).astype(np.uint8)
        rgba = np.dstack([rgb, alpha.reshape(rgb.shape[:2])])
        points = [c for c in CASES if c[0].split(":")[0] in
                  ("invert", "brightness", "threshold", "contrast", "gamma")]
        self.assertEqual(len(points), 8)
        for pipe, ref, _ in points:
            for level in ("scalar", "sse41", "avx2", "avx512"):
                with self.subTest(pipeline=pipe, simd=level):
                    got = process(pipe, rgba, extra=("--tile", "37"),
                                  env={"TESSERA_SIMD": level})
                    self.assertEqual(max_diff(got[:, :, :3], ref(rgb)), 0)
                    self.assertEqual(max_diff(got[:, :, 3], alpha.reshape(rgb.shape[:2])), 0)
        for level in ("scalar", "sse41", "avx2", "avx512"):
            with self.subTest(pipeline="grayscale", simd=level):
                got = process("grayscale", rgb, extra=("--tile", "37"), env={"TESSERA_SIMD": level})
                self.assertEqual(max_diff(got, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)), 0)

    def test_box_blur_is_exact(self):
        """box-blur's running vertical sum (separable.c) gives cv2.blur's bytes
        exactly, in small tiles too, on both of OpenCV's divisions (fixed
        point up to 16x16 boxes, double above)."""
        img = self.photos["chelsea.png"]
        for k in (3, 9, 15, 17, 31):
            for extra in ((), ("--tile", "16", "--threads", "3")):
                with self.subTest(ksize=k, extra=extra):
                    got = process(f"box-blur:ksize={k}", img, extra=extra)
                    self.assertEqual(max_diff(got, cv2.blur(img, (k, k))), 0)

    def test_alpha_is_unchanged(self):
        rgb = self.photos["chelsea.png"]
        alpha = (np.arange(rgb.shape[0] * rgb.shape[1]) % 251).astype(np.uint8)
        rgba = np.dstack([rgb, alpha.reshape(rgb.shape[:2])])
        for pipe in ["invert", "gaussian-blur:sigma=2", "median:ksize=5", "equalize", "sobel",
                     "threshold-otsu", "box-blur:ksize=7"]:
            with self.subTest(pipeline=pipe):
                got = process(pipe, rgba)
                self.assertEqual(got.shape, rgba.shape)
                self.assertEqual(max_diff(got[:, :, 3], rgba[:, :, 3]), 0)
        got = process("grayscale", rgba)  # gray+alpha; cv2 reads such a PNG as RGBA
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if got.shape[2] == 4:
            for c in range(3):
                self.assertEqual(max_diff(got[:, :, c], gray), 0)
            got = got[:, :, [0, 3]]
        self.assertEqual(got.shape, rgb.shape[:2] + (2,))
        self.assertEqual(max_diff(got[:, :, 0], gray), 0)
        self.assertEqual(max_diff(got[:, :, 1], rgba[:, :, 3]), 0)

    def test_otsu_reports_its_threshold(self):
        img = self.photos["coffee.png"]
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        t, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        with tempfile.TemporaryDirectory() as d:
            src, out, rep = (os.path.join(d, n) for n in ("in.png", "out.png", "r.json"))
            cv2.imwrite(src, gray)
            run("process", "-p", "threshold-otsu", src, "-o", out, "--report", rep)
            with open(rep) as f:
                report = json.load(f)
        self.assertEqual(report["ops"][0]["op"], "threshold-otsu")
        self.assertEqual(report["ops"][0]["result"]["threshold"], int(t))

    def test_parameter_errors(self):
        src = os.path.join(DATA, "chelsea.png")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "o.png")
            for pipe, word in [("gaussian-blur:ksize=4", "ksize"),
                               ("box-blur:ksize=8", "ksize"),
                               ("median:ksize=4", "ksize"),
                               ("convolve:kernel=1 2 3 4", "kernel"),
                               ("brightness:delta=300", "delta")]:
                with self.subTest(pipeline=pipe):
                    r = run("process", "-p", pipe, src, "-o", out, check=False)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn(word, r.stderr)


if __name__ == "__main__":
    unittest.main()
