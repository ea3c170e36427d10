"""Geometry ops against OpenCV 4.6 (cv2) through the CLI.

rotate = cv2.warpAffine with cv2.getRotationMatrix2D((w/2, h/2), angle, 1), INTER_LINEAR,
black fill; resize = cv2.resize (linear, area, lanczos4, nearest, cubic); rotate90/180/270
and flip = cv2.rotate / cv2.flip; crop = slicing; thumbnail = cv2.resize INTER_AREA to the
fitted size. All are byte-exact today; the allowed differences are the promises (linear
and area within 1, lanczos within 2). The reference input is tessera's own decode (an
identity crop written as PNG) so JPEG decoder settings cannot differ. Per case the worst
difference and the share of differing samples are printed."""
import os
import tempfile
import unittest

import cv2
import numpy as np

from tessera_cli import DATA, have_binary, max_diff, process, run

PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "hubble_deep_field.jpg"]
INTERP = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4,
          "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC}
ALLOWED = {"linear": 1, "area": 1, "lanczos": 2, "nearest": 0, "cubic": 2}


def warp(img, angle, expand=False):
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    size = (w, h)
    if expand:  # the documented canvas: round(h|sin| + w|cos|) x round(h|cos| + w|sin|)
        a = np.deg2rad(angle)
        c, s = abs(np.cos(a)), abs(np.sin(a))
        size = (int(np.floor(h * s + w * c + 0.5)), int(np.floor(h * c + w * s + 0.5)))
        m[0, 2] += size[0] / 2 - w / 2
        m[1, 2] += size[1] / 2 - h / 2
    return cv2.warpAffine(img, m, size)


def resize_scale(interp, s):
    return lambda a: cv2.resize(a, None, fx=s, fy=s, interpolation=INTERP[interp])


def resize_to(interp, w, h):
    return lambda a: cv2.resize(a, (w, h), interpolation=INTERP[interp])


def thumb(box_w, box_h):
    def ref(a):
        h, w = a.shape[:2]
        s = min(box_w / w, box_h / h, 1.0)
        size = (max(1, int(np.floor(w * s + 0.5))), max(1, int(np.floor(h * s + 0.5))))
        return a if size == (w, h) else cv2.resize(a, size, interpolation=cv2.INTER_AREA)
    return ref


# (pipeline, reference on an RGB uint8 array, allowed max abs diff)
CASES = [(f"rotate:angle={a}", (lambda a: lambda img: warp(img, a))(a), 1)
         for a in (30, 45, 90, -17.5)]
CASES += [
    ("rotate:angle=30,expand=true", lambda img: warp(img, 30, True), 1),
    ("rotate:angle=-100,expand=true", lambda img: warp(img, -100, True), 1),
    ("rotate90", lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE), 0),
    ("rotate180", lambda a: cv2.rotate(a, cv2.ROTATE_180), 0),
    ("rotate270", lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE), 0),
    ("flip", lambda a: cv2.flip(a, 1), 0),
    ("flip:axis=vertical", lambda a: cv2.flip(a, 0), 0),
    ("flip:axis=both", lambda a: cv2.flip(a, -1), 0),
    ("crop:x=17,y=31,width=201,height=99", lambda a: a[31:130, 17:218], 0),
    ("thumbnail:width=160", thumb(160, 160), 1),
    ("thumbnail:width=300,height=100", thumb(300, 100), 1),
]
for interp in ("linear", "area", "lanczos", "nearest", "cubic"):
    for s in (0.5, 0.37, 1.7):
        CASES.append((f"resize:scale={s},interp={interp}", resize_scale(interp, s),
                      ALLOWED[interp]))
    CASES.append((f"resize:width=300,height=211,interp={interp}", resize_to(interp, 300, 211),
                  ALLOWED[interp]))
CASES.append(("resize:width=333", lambda a: cv2.resize(
    a, (333, int(np.floor(a.shape[0] * 333 / a.shape[1] + 0.5)))), 1))
CASES.append(("resize:scale=0.9", resize_scale("linear", 0.9), 1))


@unittest.skipUnless(have_binary(), "tessera binary not built")
class GeometryOracleTest(unittest.TestCase):
    """Each case on each photo; the worst difference per pipeline is printed."""

    @classmethod
    def setUpClass(cls):
        cls.photos = {name: process("crop", path=os.path.join(DATA, name)) for name in PHOTOS}
        cls.worst = {}

    @classmethod
    def tearDownClass(cls):
        for pipe, (d, share) in cls.worst.items():
            print(f"  max abs diff {d}  differing {100 * share:.4f}%  {pipe}")

    def check_case(self, pipe, ref, allowed, extra=()):
        for name, img in self.photos.items():
            with self.subTest(pipeline=pipe, photo=name):
                got = process(pipe, img, extra=extra)
                want = ref(img)
                d = max_diff(got, want)
                share = float(np.mean(got != want))
                old = self.worst.get(pipe, (0, 0.0))
                self.worst[pipe] = (max(old[0], d), max(old[1], share))
                self.assertLessEqual(d, allowed, f"{pipe} on {name}")

    def test_cases(self):
        for pipe, ref, allowed in CASES:
            self.check_case(pipe, ref, allowed)

    def test_small_tiles_and_threads_change_nothing(self):
        for pipe, ref, allowed in CASES[::4]:
            self.check_case(pipe, ref, allowed, extra=("--tile", "16", "--threads", "3"))

    def test_alpha_rotates_with_the_image(self):
        rgb = self.photos["chelsea.png"]
        alpha = (np.arange(rgb.shape[0] * rgb.shape[1]) % 251).astype(np.uint8)
        rgba = np.dstack([rgb, alpha.reshape(rgb.shape[:2])])
        for pipe, ref in [("rotate:angle=30", lambda a: warp(a, 30)),
                          ("resize:scale=0.37", resize_scale("linear", 0.37)),
                          ("rotate90", lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE))]:
            with self.subTest(pipeline=pipe):
                got = process(pipe, rgba)
                self.assertEqual(got.shape[2], 4)
                self.assertEqual(max_diff(got, ref(rgba)), 0)

    def test_rotate_and_resize_every_simd_level_is_exact(self):
        """rotate's and the linear resize's SSE4.1 paths and their scalar
        twins (rotate_span.c, resample_hpass.c) give cv2.warpAffine's and
        cv2.resize's bytes on 1, 3 and 4 bands, with small tiles."""
        rgb = self.photos["chelsea.png"]
        alpha = (np.arange(rgb.shape[0] * rgb.shape[1]) % 253).astype(np.uint8)
        inputs = {"grey": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), "rgb": rgb,
                  "rgba": np.dstack([rgb, alpha.reshape(rgb.shape[:2])])}
        with tempfile.TemporaryDirectory() as d:
            for kind, img in inputs.items():
                path = os.path.join(d, kind + ".png")
                cv2.imwrite(path, img if img.ndim == 2 else cv2.cvtColor(
                    img, cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA))
                cases = [(f"rotate:angle={a}" + (",expand=true" if e else ""),
                          warp(img, a, e)) for a, e in ((30, False), (-17.5, False), (200, True))]
                cases += [(f"resize:scale={f},interp=linear", resize_scale("linear", f)(img))
                          for f in (0.9, 0.37, 1.7)]
                for pipe, want in cases:
                    for level in ("scalar", "sse41", "avx2", "avx512"):
                        with self.subTest(kind=kind, pipeline=pipe, simd=level):
                            out = os.path.join(d, "out.png")
                            run("process", "-p", pipe, path, "-o", out, "--tile", "48",
                                env=dict(os.environ, TESSERA_SIMD=level))
                            got = cv2.imread(out, cv2.IMREAD_UNCHANGED)
                            if got.ndim == 3:
                                got = cv2.cvtColor(got, cv2.COLOR_BGR2RGB if got.shape[2] == 3
                                                   else cv2.COLOR_BGRA2RGBA)
                            self.assertEqual(max_diff(got, want), 0)

    def test_bad_parameters_exit_2(self):
        img = os.path.join(DATA, "chelsea.png")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "o.png")
            for pipe, words in [("resize", "scale"), ("resize:scale=2,width=10", "scale"),
                                ("crop:x=500", "crop")]:
                with self.subTest(pipeline=pipe):
                    r = run("process", "-p", pipe, img, "-o", out, check=False)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn(words, r.stderr)


if __name__ == "__main__":
    unittest.main()
