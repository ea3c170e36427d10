"""Edge ops against OpenCV 4.6: canny byte-exact with cv2.Canny, hough-lines
the same (rho, theta) list as cv2.HoughLines, in the same order."""
import json
import os
import tempfile
import unittest

import cv2
import numpy as np

from tessera_cli import BIN, DATA, have_binary, max_diff, process, run

PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "hubble_deep_field.jpg"]
THRESHOLDS = [(100, 200), (50, 150), (0, 0), (200, 100), (10.7, 30.2)]


def bgr(name):
    return cv2.imread(os.path.join(DATA, name), cv2.IMREAD_COLOR)


def report_lines(pipeline, path, extra=()):
    """Runs `pipeline` on file `path` and returns the hough-lines result of its report."""
    with tempfile.TemporaryDirectory() as d:
        out, rep = os.path.join(d, "out.png"), os.path.join(d, "report.json")
        run("process", "-p", pipeline, path, "-o", out, "--report", rep, *extra)
        with open(rep) as f:
            ops = json.load(f)["ops"]
    hough = [op for op in ops if op["op"] == "hough-lines"]
    assert len(hough) == 1, ops
    return [(l["rho"], l["theta"], l["votes"]) for l in hough[0]["result"]["lines"]]


def cv_lines(edges, rho, theta_deg, threshold):
    lines = cv2.HoughLines(edges, rho, theta_deg * np.pi / 180, threshold)
    return [] if lines is None else [(float(l[0][0]), float(l[0][1])) for l in lines]


@unittest.skipUnless(have_binary(), "tessera binary not built (set TESSERA_BIN)")
class CannyTest(unittest.TestCase):
    def test_colour_byte_exact(self):
        for name in PHOTOS:
            ref_img = bgr(name)
            for low, high in THRESHOLDS:
                for tile in ("16", "37", "256"):
                    with self.subTest(photo=name, low=low, high=high, tile=tile):
                        got = process(f"canny:low={low},high={high}",
                                      path=os.path.join(DATA, name), extra=("--tile", tile))
                        ref = cv2.Canny(ref_img, low, high)
                        self.assertEqual(got.shape, ref.shape)
                        self.assertEqual(max_diff(got, ref), 0)

    def test_gray_byte_exact(self):
        for name in PHOTOS:
            gray = cv2.cvtColor(bgr(name), cv2.COLOR_BGR2GRAY)
            for low, high in THRESHOLDS:
                with self.subTest(photo=name, low=low, high=high):
                    got = process(f"canny:low={low},high={high}", gray, extra=("--tile", "23"))
                    self.assertEqual(max_diff(got, cv2.Canny(gray, low, high)), 0)

    def test_rgba_ignores_alpha(self):
        img = bgr("coffee.png")
        rgba = cv2.cvtColor(img, cv2.COLOR_BGR2RGBA)
        rgba[:, :, 3] = np.arange(rgba.shape[1], dtype=np.uint8)[None, :] * 7
        got = process("canny", rgba, extra=("--tile", "31"))
        self.assertEqual(max_diff(got, cv2.Canny(img, 100, 200)), 0)

    def test_threads_and_tiles_identical(self):
        path = os.path.join(DATA, "astronaut.png")
        first = process("canny:low=30,high=90", path=path, extra=("--tile", "16", "--threads", "1"))
        for tile, threads in (("17", "2"), ("64", "4"), ("512", "3")):
            got = process("canny:low=30,high=90", path=path,
                          extra=("--tile", tile, "--threads", threads))
            self.assertEqual(max_diff(got, first), 0)


@unittest.skipUnless(have_binary(), "tessera binary not built (set TESSERA_BIN)")
class HoughLinesTest(unittest.TestCase):
    def assert_same_lines(self, got, ref):
        self.assertEqual(len(got), len(ref))
        for i, (g, r) in enumerate(zip(got, ref)):
            self.assertAlmostEqual(g[0], r[0], delta=1e-4, msg=f"line {i} rho")
            self.assertAlmostEqual(g[1], r[1], delta=1e-4, msg=f"line {i} theta")

    def test_data_mode_matches_opencv(self):
        cases = [(150, 1, 1), (100, 1, 1), (60, 0.5, 2), (120, 1.5, 0.7), (80, 2, 0.5)]
        with tempfile.TemporaryDirectory() as d:
            for name in PHOTOS + ["rocket.jpg"]:
                edges = cv2.Canny(cv2.cvtColor(bgr(name), cv2.COLOR_BGR2GRAY), 100, 200)
                path = os.path.join(d, "edges.png")
                cv2.imwrite(path, edges)
                for threshold, rho, theta in cases:
                    with self.subTest(photo=name, threshold=threshold, rho=rho, theta=theta):
                        got = report_lines(f"hough-lines:mode=data,threshold={threshold},"
                                           f"rho={rho},theta={theta},max_lines=10000", path,
                                           extra=("--tile", "37"))
                        ref = cv_lines(edges, rho, theta, threshold)[:10000]
                        self.assert_same_lines(got, ref)

    def test_canny_then_hough_default(self):
        """The seed reference: HoughLines(Canny(gray,100,200), 1, pi/180, 150), first 100."""
        with tempfile.TemporaryDirectory() as d:
            for name in ["rocket.jpg", "coffee.png"]:
                gray = cv2.cvtColor(bgr(name), cv2.COLOR_BGR2GRAY)
                path = os.path.join(d, "gray.png")
                cv2.imwrite(path, gray)
                for thr in (150, 90):
                    with self.subTest(photo=name, threshold=thr):
                        got = report_lines(f"canny|hough-lines:mode=data,threshold={thr}", path)
                        ref = cv_lines(cv2.Canny(gray, 100, 200), 1, 1, thr)[:100]
                        self.assert_same_lines(got, ref)

    def test_draw_mode(self):
        with tempfile.TemporaryDirectory() as d:
            gray = cv2.cvtColor(bgr("rocket.jpg"), cv2.COLOR_BGR2GRAY)
            edges = cv2.Canny(gray, 100, 200)
            path = os.path.join(d, "edges.png")
            cv2.imwrite(path, edges)
            lines = report_lines("hough-lines", path)
            self.assertGreater(len(lines), 0)
            out = process("hough-lines", path=path, extra=("--tile", "29"))
            self.assertEqual(out.shape, edges.shape + (3,))
            h, w = edges.shape
            ys, xs = np.mgrid[0:h, 0:w]
            on = np.zeros(edges.shape, bool)
            for rho, theta, _ in lines:
                t = np.float32(theta)
                on |= np.abs(xs * np.cos(np.float64(t)) + ys * np.sin(np.float64(t))
                             - np.float64(np.float32(rho))) <= 0.5
            red = (out[:, :, 0] == 255) & (out[:, :, 1] == 0) & (out[:, :, 2] == 0)
            # Every pixel on a line is red; every other pixel keeps its gray value.
            self.assertTrue(red[on].all())
            for c in range(3):
                self.assertEqual(max_diff(out[:, :, c][~on], edges[~on]), 0)

    def test_bad_params(self):
        path = os.path.join(DATA, "chelsea.png")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "o.png")
            r = run("process", "-p", "hough-lines:theta=0", path, "-o", out, check=False)
            self.assertEqual(r.returncode, 2)
            self.assertIn("theta", r.stderr)
            r = run("process", "-p", "canny:low=-1", path, "-o", out, check=False)
            self.assertEqual(r.returncode, 2)
            self.assertIn("low", r.stderr)


if __name__ == "__main__":
    unittest.main()
