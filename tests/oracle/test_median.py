"""median against OpenCV 4.6 cv2.medianBlur through the CLI, byte for byte.

Every odd ksize class (3 and 5 on sorting networks, 7..99 on the histogram
method) on real photos in 1, 3 and 4 bands, 2 bands (grey + alpha) per
channel, and images smaller than the window (1x1, 2x7, 50x3...). cv2 takes
its own path by size and ksize (sorting networks, Huang's O(r) histogram
below 1 MP up to ksize 15, Perreault's O(1) above), all of them the exact
median with replicate borders, so one larger photo covers the O(1) path at
a small ksize too. tessera leaves alpha alone where cv2 filters it: alpha
is compared with the input instead. Also: tiles smaller than the halo,
every TESSERA_SIMD level, and the ksize messages."""
import os
import tempfile
import unittest

import cv2
import numpy as np

from tessera_cli import BIN, have_binary, max_diff, photo, read_rgb, run

PHOTOS = ["astronaut.png", "chelsea.png", "hubble_deep_field.jpg"]
KSIZES = [3, 5, 7, 9, 11, 15, 21, 31, 51, 75, 99]
SMALL = [(1, 1), (2, 7), (7, 2), (50, 3), (3, 50), (1, 40)]  # (width, height)


def write(path, img):
    """Writes an RGB(A)/gray array as PNG (tessera reads RGB order back)."""
    arr = img
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    cv2.imwrite(path, arr)


def with_alpha(img):
    h, w = img.shape[:2]
    alpha = ((np.arange(h)[:, None] * 7 + np.arange(w)[None, :] * 13) % 251).astype(np.uint8)
    return np.dstack([img, alpha])


@unittest.skipUnless(have_binary(), "tessera binary not built")
class MedianOracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.inputs = {}
        for name in PHOTOS:
            rgb = photo(name)
            cls.inputs[name] = {"rgb": rgb, "gray": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
                                "rgba": with_alpha(rgb)}
            for kind, img in cls.inputs[name].items():
                write(cls.path(name, kind), img)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def path(cls, name, kind):
        return os.path.join(cls.tmp.name, f"{os.path.splitext(name)[0]}-{kind}.png")

    def median(self, pipeline, src, extra=(), env=None):
        out = os.path.join(self.tmp.name, "out.png")
        run("process", "-p", pipeline, src, "-o", out, *extra,
            env=dict(os.environ, **env) if env else None)
        return read_rgb(out)

    def check_bands(self, k, img, src, pipeline=None, extra=(), env=None):
        """median:ksize=k of the PNG `src` (holding `img`) against cv2."""
        got = self.median(pipeline or f"median:ksize={k}", src, extra, env)
        if img.ndim == 3 and img.shape[2] == 4:
            want = cv2.medianBlur(img, k)[:, :, :3]
            self.assertEqual(max_diff(got[:, :, :3], want), 0)
            self.assertEqual(max_diff(got[:, :, 3], img[:, :, 3]), 0, "alpha changed")
        else:
            self.assertEqual(max_diff(got, cv2.medianBlur(img, k)), 0)

    def test_photos_every_ksize_1_3_4_bands(self):
        for name in PHOTOS:
            for k in KSIZES:
                for kind, img in self.inputs[name].items():
                    with self.subTest(photo=name, ksize=k, bands=kind):
                        self.check_bands(k, img, self.path(name, kind))

    def test_two_bands_per_channel(self):
        """grey + alpha (grayscale of RGBA): the grey band is cv2's median of
        the grey image, alpha passes through (cv2 reads the PNG as RGBA)."""
        for name in PHOTOS[:2]:
            gray, rgba = self.inputs[name]["gray"], self.inputs[name]["rgba"]
            for k in [3, 5, 9, 51, 99]:
                with self.subTest(photo=name, ksize=k):
                    got = self.median(f"grayscale|median:ksize={k}", self.path(name, "rgba"))
                    want = cv2.medianBlur(gray, k)
                    if got.ndim == 3 and got.shape[2] == 4:
                        got = got[:, :, [0, 3]]
                    self.assertEqual(got.shape, gray.shape + (2,))
                    self.assertEqual(max_diff(got[:, :, 0], want), 0)
                    self.assertEqual(max_diff(got[:, :, 1], rgba[:, :, 3]), 0)

    def test_images_smaller_than_the_window(self):
        rng = np.random.default_rng(16)
        for w, h in SMALL:
            for bands in (1, 3, 4):
                img = rng.integers(0, 256, (h, w, bands) if bands > 1 else (h, w), np.uint8)
                src = os.path.join(self.tmp.name, f"small-{w}x{h}x{bands}.png")
                write(src, img)
                for k in KSIZES:
                    with self.subTest(size=f"{w}x{h}", bands=bands, ksize=k):
                        self.check_bands(k, img, src)

    def test_large_photo_opencv_constant_time_path(self):
        """Above 4 MP cv2 takes its O(1) path from ksize 7 on."""
        big = cv2.resize(self.inputs["hubble_deep_field.jpg"]["rgb"], (2400, 1800))
        src = os.path.join(self.tmp.name, "big.png")
        write(src, big)
        for k in (7, 51):
            with self.subTest(ksize=k):
                self.check_bands(k, big, src)

    def test_tiles_threads_and_simd_levels_change_nothing(self):
        name = "chelsea.png"
        for k in (3, 5, 15, 99):
            for extra in (("--tile", "16", "--threads", "3"), ("--tile", "37", "--threads", "2")):
                with self.subTest(ksize=k, extra=extra):
                    self.check_bands(k, self.inputs[name]["rgba"], self.path(name, "rgba"),
                                     extra=extra)
            for level in ("scalar", "sse41", "avx2", "avx512", "auto"):
                with self.subTest(ksize=k, simd=level):
                    self.check_bands(k, self.inputs[name]["rgb"], self.path(name, "rgb"),
                                     env={"TESSERA_SIMD": level})

    def test_simd_level_is_reported(self):
        r = run("version", env=dict(os.environ, TESSERA_SIMD="scalar"))
        self.assertIn("simd: scalar", r.stdout)
        r = run("version", env=dict(os.environ, TESSERA_SIMD="no-such-level"))
        self.assertIn("TESSERA_SIMD", r.stderr)

    def test_ksize_errors_name_the_range(self):
        src = self.path("chelsea.png", "rgb")
        out = os.path.join(self.tmp.name, "o.png")
        for k in (4, 98, 1, 101, 0):
            with self.subTest(ksize=k):
                r = run("process", "-p", f"median:ksize={k}", src, "-o", out, check=False)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("ksize", r.stderr)
                self.assertIn("3", r.stderr)
                self.assertIn("99", r.stderr)


if __name__ == "__main__":
    unittest.main()
