"""Animated GIF and WebP through `tessera process` (issue 15 point 1),
checked against readers that are not tessera's:

- the test animations are made in setUpClass from real photos (crops of
  tests/data/astronaut.png that move a little each frame) by ImageMagick
  (GIF: `convert -delay ... -loop 3`, and `-layers Optimize` for a GIF whose
  later frames are small transparent patches) and by libwebp's img2webp
  (lossless WebP with per-frame durations and a loop count);
- frame counts, delays and loop counts of the outputs are read with
  ImageMagick's identify (GIF delays: `%T`, in hundredths; `Iterations`,
  the number of plays), libwebp's webpmux -info (WebP durations, loop)
  and Pillow (`loop`, `duration`); a GIF's NETSCAPE2.0 value n is n + 1
  plays, a WebP's loop count is the plays (0 = forever in both);
- per-frame pixels: frame i of the input is extracted with ImageMagick
  (`-coalesce`, which composes it as a browser shows it), run through
  `tessera process` alone, and compared with frame i of the animated
  output, read with Pillow (WebP) or ImageMagick (GIF). Lossless WebP must
  be equal. GIF output is palette-quantised: a frame whose result has at
  most 256 colours (gray pipelines, canny, invert of a GIF frame) keeps
  them exactly and must be equal; other frames are compared with the
  result of the same quantiser, `tessera process` of the frame alone into
  a still GIF, which must be equal too (both go through one palette
  method, gif_write.c), and with the unquantised PNG within a PSNR bound;
- the composition of an optimised GIF (disposal, transparent patches)
  equals ImageMagick's `-coalesce` frame by frame;
- `--frame N` picks frame N; without it a one-frame format is refused with
  a message saying why; a one-frame GIF is a still image;
- bombs: more frames than max_frames, and a small file whose frames add
  up to more canvas pixels than max_total_pixels, are refused (exit 3)
  before any frame is decoded.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import cv2
import numpy as np
from PIL import Image, ImageSequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
import tools  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(REPO, "tests", "data")
BIN = os.environ.get("TESSERA_BIN", os.path.join(REPO, "build", "src", "cli", "tessera"))
if not os.path.isabs(BIN):
    BIN = os.path.join(REPO, BIN)

GIF_DELAYS_CS = [10, 25, 40, 15]   # hundredths of a second, per frame
WEBP_DELAYS_MS = [80, 120, 250, 60]
GIF_LOOP, WEBP_LOOP = 3, 2
FRAMES = 4


def tool(name, *args, **kw):
    return subprocess.run([tools.find(name), *args], check=True, capture_output=True, text=True,
                          **kw).stdout


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)


def read_png(path):
    """RGB or RGBA array (cv2 reads BGR; turned to RGB to match Pillow)."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    if img.ndim == 2:
        return np.stack([img] * 3, axis=2)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def rgb_visible(a):
    """(RGB, alpha) with colour zeroed where alpha is 0 (nobody sees it)."""
    if a.shape[2] == 3:
        return a, np.full(a.shape[:2], 255, np.uint8)
    alpha = a[:, :, 3]
    return np.where(alpha[:, :, None] == 0, 0, a[:, :, :3]), alpha


def assert_same(test, got, want, what):
    g, ga = rgb_visible(got)
    w, wa = rgb_visible(want)
    test.assertEqual(g.shape, w.shape, what)
    test.assertTrue((ga == wa).all(), "%s: alpha differs" % what)
    diff = int(np.abs(g.astype(int) - w.astype(int)).max())
    test.assertEqual(diff, 0, "%s: max abs diff %d" % (what, diff))


def psnr(a, b):
    mse = np.mean((a[:, :, :3].astype(float) - b[:, :, :3].astype(float)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def gif_bomb(width, height, frames):
    """A GIF of `frames` 1x1 frames on a width x height screen: a few bytes
    per frame, width*height pixels per composed frame."""
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b"\x3b"


class Animation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tsr_anim_")
        photo = cv2.imread(os.path.join(DATA, "astronaut.png"))
        cls.frames = []
        for i in range(FRAMES):  # 200x150 crops moving right and down
            path = os.path.join(cls.tmp, "src%d.png" % i)
            cv2.imwrite(path, photo[40 + 9 * i:190 + 9 * i, 60 + 13 * i:260 + 13 * i])
            cls.frames.append(path)
        cls.gif = cls.path("anim.gif")
        args = []
        for delay, path in zip(GIF_DELAYS_CS, cls.frames):
            args += ["-delay", str(delay), path]
        tool("convert", *args, "-loop", str(GIF_LOOP), cls.gif)
        cls.opt_gif = cls.path("optimised.gif")
        tool("convert", cls.gif, "-layers", "Optimize", cls.opt_gif)
        cls.webp = cls.path("anim.webp")
        args = ["-loop", str(WEBP_LOOP), "-lossless"]
        for delay, path in zip(WEBP_DELAYS_MS, cls.frames):
            args += ["-d", str(delay), path]
        tool("img2webp", *args, "-o", cls.webp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.tmp, name)

    def process(self, pipeline, src, out, *extra, code=0):
        r = run("process", "-p", pipeline, src, "-o", out, *extra)
        self.assertEqual(r.returncode, code, r.stderr)
        return r

    def coalesce(self, src, stem):
        """Every frame of `src` composed by ImageMagick, as PNG paths."""
        pattern = self.path(stem + "-%d.png")
        tool("convert", src, "-coalesce", pattern)
        paths = []
        while os.path.exists(pattern % len(paths)):
            paths.append(pattern % len(paths))
        return paths

    def pil_frames(self, path):
        with Image.open(path) as im:
            info = dict(im.info)
            frames = [(np.array(f.convert("RGBA")), f.info.get("duration"))
                      for f in ImageSequence.Iterator(im)]
        return frames, info

    # ---------- frame count, delays, loop count ----------

    def test_gif_keeps_frames_delays_and_loop(self):
        out = self.path("blur.gif")
        self.process("gaussian-blur:sigma=1.5", self.gif, out)
        delays = tool("identify", "-format", "%T\n", out).split()
        self.assertEqual([int(d) for d in delays], GIF_DELAYS_CS)
        verbose = tool("identify", "-verbose", out)
        self.assertEqual(re.findall(r"Iterations: (\d+)", verbose), [str(GIF_LOOP)] * FRAMES)
        # Pillow gives the raw NETSCAPE2.0 value: repeats after the first
        # play, which ImageMagick's `-loop 3` writes as 2 and reads as 3
        _, info = self.pil_frames(out)
        self.assertEqual(info.get("loop"), GIF_LOOP - 1)

    def test_webp_keeps_frames_delays_and_loop(self):
        out = self.path("blur.webp")
        self.process("gaussian-blur:sigma=1.5", self.webp, out, "--lossless")
        text = tool("webpmux", "-info", out)
        self.assertIn("Number of frames: %d" % FRAMES, text)
        self.assertRegex(text, r"Loop Count\s*:\s*%d\b" % WEBP_LOOP)
        rows = re.findall(r"^\s*\d+:\s+(\d+)\s+(\d+)\s+\w+\s+\d+\s+\d+\s+(\d+)", text, re.M)
        self.assertEqual([int(r[2]) for r in rows], WEBP_DELAYS_MS)
        frames, info = self.pil_frames(out)
        self.assertEqual([d for _, d in frames], WEBP_DELAYS_MS)
        self.assertEqual(info.get("loop"), WEBP_LOOP)

    def test_gif_to_webp_and_back(self):
        webp = self.path("from_gif.webp")
        self.process("invert", self.gif, webp)
        frames, info = self.pil_frames(webp)
        self.assertEqual([d for _, d in frames], [10 * d for d in GIF_DELAYS_CS])
        self.assertEqual(info.get("loop"), GIF_LOOP)
        gif = self.path("from_webp.gif")
        self.process("invert", self.webp, gif)
        delays = tool("identify", "-format", "%T\n", gif).split()
        self.assertEqual([int(d) for d in delays], [(d + 5) // 10 for d in WEBP_DELAYS_MS])

    def test_info_lists_delays_and_loop(self):
        import json
        for path, delays, plays in ((self.gif, [10 * d for d in GIF_DELAYS_CS], GIF_LOOP),
                                    (self.webp, WEBP_DELAYS_MS, WEBP_LOOP)):
            with self.subTest(path=os.path.basename(path)):
                r = run("info", "--json", path)
                self.assertEqual(r.returncode, 0, r.stderr)
                doc = json.loads(r.stdout)
                self.assertEqual((doc["frames"], doc["delays_ms"], doc["loop_count"]),
                                 (FRAMES, delays, plays))
                r = run("info", path)
                self.assertIn("delays (ms): " + " ".join(map(str, delays)), r.stdout)
                self.assertIn("plays:       %d times (loop count %d)" % (plays, plays), r.stdout)

    # ---------- per-frame pixels ----------

    def test_webp_lossless_frames_equal_frames_run_alone(self):
        """Every frame goes through the whole pipeline: GLOBAL ops (equalize,
        canny) reduce over that frame, so frame i of the output equals
        frame i processed alone."""
        sources = self.coalesce(self.webp, "webp_in")
        self.assertEqual(len(sources), FRAMES)
        for pipeline in ("gaussian-blur:sigma=2|equalize", "grayscale|canny", "rotate:angle=7"):
            with self.subTest(pipeline=pipeline):
                out = self.path("frames.webp")
                self.process(pipeline, self.webp, out, "--lossless")
                frames, _ = self.pil_frames(out)
                self.assertEqual(len(frames), FRAMES)
                for i, src in enumerate(sources):
                    alone = self.path("alone%d.png" % i)
                    self.process(pipeline, src, alone)
                    assert_same(self, frames[i][0], read_png(alone), "frame %d" % i)

    def test_gif_frames_equal_frames_run_alone(self):
        sources = self.coalesce(self.gif, "gif_in")
        self.assertEqual(len(sources), FRAMES)
        # at most 256 colours per result frame: the palette is exact
        for pipeline in ("grayscale|equalize", "threshold-otsu", "invert"):
            with self.subTest(pipeline=pipeline):
                out = self.path("exact.gif")
                self.process(pipeline, self.gif, out)
                got = self.coalesce(out, "exact_out")
                for i, src in enumerate(sources):
                    alone = self.path("alone%d.png" % i)
                    self.process(pipeline, src, alone)
                    assert_same(self, read_png(got[i]), read_png(alone), "frame %d" % i)

    def test_gif_quantised_frames_equal_the_same_quantiser(self):
        """A blur makes thousands of colours: each frame is median-cut; it
        equals the frame run alone into a still GIF (one palette method),
        and stays within 30 dB of the unquantised result."""
        sources = self.coalesce(self.gif, "gif_q_in")
        out = self.path("quantised.gif")
        self.process("gaussian-blur:sigma=2", self.gif, out)
        got = self.coalesce(out, "q_out")
        for i, src in enumerate(sources):
            still = self.path("still%d.gif" % i)
            self.process("gaussian-blur:sigma=2", src, still)
            assert_same(self, read_png(got[i]), read_png(self.coalesce(still, "s%d" % i)[0]),
                        "frame %d" % i)
            png = self.path("still%d.png" % i)
            self.process("gaussian-blur:sigma=2", src, png)
            self.assertGreater(psnr(read_png(got[i]), read_png(png)), 30, "frame %d" % i)

    def test_optimised_gif_composes_like_imagemagick(self):
        """Later frames of the optimised GIF are small patches with a
        transparent index over the previous frames: tessera's composed
        frames equal ImageMagick's -coalesce."""
        want = self.coalesce(self.opt_gif, "opt_in")
        self.assertEqual(len(want), FRAMES)
        for i, path in enumerate(want):
            got = self.path("opt%d.png" % i)
            self.process("invert|invert", self.opt_gif, got, "--frame", str(i))
            assert_same(self, read_png(got), read_png(path), "frame %d" % i)

    # ---------- choosing a frame ----------

    def test_frame_option_picks_that_frame(self):
        sources = self.coalesce(self.webp, "pick_in")
        for i in (0, 2):
            out = self.path("pick%d.png" % i)
            self.process("equalize", self.webp, out, "--frame", str(i))
            alone = self.path("pick_alone%d.png" % i)
            self.process("equalize", sources[i], alone)
            assert_same(self, read_png(out), read_png(alone), "frame %d" % i)
        r = self.process("invert", self.webp, self.path("x.png"), "--frame", "4", code=2)
        self.assertIn("frame 4 does not exist: the input has 4 frames (0..3)", r.stderr)

    def test_one_frame_format_needs_a_choice(self):
        for fmt in ("jpeg", "png"):
            out = self.path("one." + fmt)
            r = self.process("invert", self.gif, out, code=2)
            self.assertIn("input has 4 frames; %s holds one: choose --frame N (0..3) or an "
                          "animated format (gif, webp)" % fmt.upper(), r.stderr)
            self.assertFalse(os.path.exists(out))

    def test_one_frame_gif_is_a_still_image(self):
        out = self.path("chelsea.png")
        self.process("invert", os.path.join(DATA, "chelsea.gif"), out)
        self.assertEqual(read_png(out).shape[:2], (300, 451))

    # ---------- bombs ----------

    def test_frame_count_cap(self):
        path = self.path("many.gif")
        with open(path, "wb") as f:
            f.write(gif_bomb(1, 1, 10001))
        r = self.process("invert", path, self.path("many_out.gif"), code=3)
        self.assertIn("limit of 10000 frames", r.stderr)

    def test_total_pixels_cap(self):
        """300 frames of 1 pixel each on a 4096x4096 screen: 6 kB that would
        decode to 5 GP; the default cap of tessera process is 4.3 GP."""
        path = self.path("bomb.gif")
        with open(path, "wb") as f:
            f.write(gif_bomb(4096, 4096, 300))
        self.assertLess(os.path.getsize(path), 8000)
        r = self.process("invert", path, self.path("bomb_out.gif"), code=3)
        self.assertRegex(r.stderr, r"frames of 4096x4096 are [\d.]+ GP in all, more than the "
                                   r"limit of 4\.29\d* GP for all frames")
        r = run("info", path)
        self.assertEqual(r.returncode, 3, r.stderr)


if __name__ == "__main__":
    unittest.main()
