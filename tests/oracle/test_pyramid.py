"""Multi-resolution outputs of `tessera process`: pyramidal TIFF (--pyramid)
and Deep Zoom (--format dzi / dzi-png, or an OUT.dzi name).

Pyramid: libtiff's tiffinfo and tiffdump and ImageMagick's identify (found by
tests/tools.py, never skipped) must each see every level with its size,
256x256 tiles and NewSubfileType 1 on the reduced pages; page 0 holds exactly
the pixels of the plain TIFF output, and page n the 2x2 box reduction of page
n-1 computed here with numpy ((a+b+c+d+2)>>2, the edge copied at odd sides).

Deep Zoom: the XML's fields, levels 0 (1x1) .. ceil(log2(longest side)), the
tile count of each level, edge tiles' sizes, the one-pixel overlap, and the
pixels of every PNG tile against the levels computed here (byte-exact), and
of JPEG tiles (close). The layout is that of `vips dzsave` (docs/formats.md
says how it was compared). Memory stays bounded: GNU time's peak RSS while
writing a 6000x4000 pyramid and DZI stays near that of the plain output.
"""
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

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
SAME = "brightness:delta=0"  # a pipeline that keeps the pixels
DZI_NS = "{http://schemas.microsoft.com/deepzoom/2008}"


def run(*args, check=True):
    r = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError("tessera %s exited %d: %s" % (" ".join(map(str, args)),
                                                           r.returncode, r.stderr))
    return r


def halve(a):
    """One 2x2 box reduction, the odd last row and column copied."""
    if a.shape[0] % 2:
        a = np.concatenate([a, a[-1:]], axis=0)
    if a.shape[1] % 2:
        a = np.concatenate([a, a[:, -1:]], axis=1)
    a = a.astype(np.uint32)
    return ((a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2] + 2) >> 2).astype(
        np.uint8)


def tiff_pages(path):
    """Every page of an uncompressed 8-bit contiguous TIFF (tiles or strips),
    read here from the IFDs, as arrays (H, W) or (H, W, bands): a reader that
    does nothing to alpha (OpenCV's RGBA path does)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"II*\0", "little-endian classic TIFF"
    sizes = {3: (2, "H"), 4: (4, "I")}
    at, pages = struct.unpack_from("<I", data, 4)[0], []
    while at:
        count = struct.unpack_from("<H", data, at)[0]
        tags = {}
        for i in range(count):
            tag, kind, n, value = struct.unpack_from("<HHI4s", data, at + 2 + 12 * i)
            size, code = sizes.get(kind, (1, "B"))
            raw = value if size * n <= 4 else data[struct.unpack("<I", value)[0]:][:size * n]
            tags[tag] = struct.unpack_from("<%d%s" % (n, code), raw)
        at = struct.unpack_from("<I", data, at + 2 + 12 * count)[0]
        assert tags.get(259, (1,))[0] == 1 and set(tags[258]) == {8}
        w, h, bands = tags[256][0], tags[257][0], tags.get(277, (1,))[0]
        img = np.zeros((h, w, bands), np.uint8)
        if 322 in tags:  # tiles
            tw, th = tags[322][0], tags[323][0]
            across = -(-w // tw)
            for t, off in enumerate(tags[324]):
                x, y = t % across * tw, t // across * th
                tile = np.frombuffer(data, np.uint8, tw * th * bands, off).reshape(th, tw, bands)
                img[y:y + th, x:x + tw] = tile[:min(th, h - y), :min(tw, w - x)]
        else:
            rps = tags.get(278, (h,))[0]
            for s, off in enumerate(tags[273]):
                rows = min(rps, h - s * rps)
                img[s * rps:s * rps + rows] = np.frombuffer(
                    data, np.uint8, rows * w * bands, off).reshape(rows, w, bands)
        pages.append(img[..., 0] if bands == 1 else img)
    return pages


def to_rgb(img):
    """cv2's BGR(A) as the RGB(A) order TIFF stores."""
    if img.ndim == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    return img


def test_image(d, width, height, channels=3, name="in.png"):
    """A photo resized to width x height (with alpha when channels is 4)."""
    img = cv2.resize(cv2.imread(os.path.join(DATA, "astronaut.png")), (width, height),
                     interpolation=cv2.INTER_LINEAR)
    if channels == 1:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif channels == 4:
        alpha = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
        img = np.dstack([img, alpha])
    path = os.path.join(d, name)
    cv2.imwrite(path, img)
    return path, img


def tile_span(i, side):
    return i * 254 - (1 if i else 0), min(side, (i + 1) * 254 + 1)


@unittest.skipUnless(HAVE_BIN, "tessera binary not built")
class PyramidTiffTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def pyramid(self, width, height, channels=3):
        src, img = test_image(self.d, width, height, channels)
        out = os.path.join(self.d, "p.tif")
        run("process", "-p", SAME, src, "-o", out, "--format", "tiff", "--pyramid")
        return out, img

    @staticmethod
    def expected_sizes(width, height):
        sizes = [(width, height)]
        while max(sizes[-1]) > 256:
            w, h = sizes[-1]
            sizes.append(((w + 1) // 2, (h + 1) // 2))
        return sizes

    @tools.needs("tiffinfo", "tiffdump", "identify")
    def test_levels_seen_by_libtiff_and_imagemagick(self):
        out, _ = self.pyramid(1111, 757)
        sizes = self.expected_sizes(1111, 757)
        self.assertEqual(sizes, [(1111, 757), (556, 379), (278, 190), (139, 95)])
        info = subprocess.run([tools.find("tiffinfo"), out], capture_output=True, text=True,
                              check=True).stdout
        self.assertEqual(info.count("TIFF Directory at offset"), len(sizes), info)
        found = [tuple(map(int, m)) for m in
                 re.findall(r"Image Width: (\d+) Image Length: (\d+)", info)]
        self.assertEqual(found, sizes)
        self.assertEqual(info.count("Tile Width: 256 Tile Length: 256"), len(sizes))
        self.assertEqual(info.count("Subfile Type: reduced-resolution image"), len(sizes) - 1)
        dump = subprocess.run([tools.find("tiffdump"), out], capture_output=True, text=True,
                              check=True).stdout
        dirs = dump.split("Directory ")[1:]
        self.assertEqual(len(dirs), len(sizes))
        self.assertNotIn("SubFileType", dirs[0])
        for d in dirs[1:]:
            self.assertIn("SubFileType (254) LONG (4) 1<1>", d)
        for d, (w, h) in zip(dirs, sizes):
            tiles = math.ceil(w / 256) * math.ceil(h / 256)
            self.assertRegex(d, r"TileOffsets \(324\) LONG \(4\) %d<" % tiles)
        ident = subprocess.run([tools.find("identify"), "-format", "%w %h\n", out],
                               capture_output=True, text=True, check=True).stdout.split("\n")
        self.assertEqual([tuple(map(int, line.split())) for line in ident if line], sizes)

    def test_level_pixels(self):
        """Page 0 equals the plain TIFF output (and the input); page n the box
        reduction of page n-1."""
        for channels in (3, 1, 4):
            with self.subTest(channels=channels):
                out, img = self.pyramid(1030, 601, channels)
                flat = os.path.join(self.d, "flat.tif")
                run("process", "-p", SAME, os.path.join(self.d, "in.png"), "-o", flat)
                pages = tiff_pages(out)
                sizes = self.expected_sizes(1030, 601)
                self.assertEqual([(p.shape[1], p.shape[0]) for p in pages], sizes)
                np.testing.assert_array_equal(pages[0], tiff_pages(flat)[0])
                np.testing.assert_array_equal(pages[0], to_rgb(img))
                level = pages[0]
                for n, page in enumerate(pages[1:], 1):
                    level = halve(level)
                    np.testing.assert_array_equal(page, level, "page %d" % n)

    def test_small_image_is_one_tiled_page(self):
        out, img = self.pyramid(200, 120)
        pages = tiff_pages(out)
        self.assertEqual(len(pages), 1)
        np.testing.assert_array_equal(pages[0], to_rgb(img))

    def test_tessera_reads_its_pyramid_back(self):
        out, img = self.pyramid(700, 500)
        back = os.path.join(self.d, "back.png")
        run("process", "-p", SAME, out, "-o", back)
        np.testing.assert_array_equal(cv2.imread(back, cv2.IMREAD_UNCHANGED), img)

    def test_pyramid_needs_tiff(self):
        src, _ = test_image(self.d, 64, 64)
        for fmt in ("png", "dzi"):
            r = run("process", "-p", SAME, src, "-o", os.path.join(self.d, "x." + fmt),
                    "--format", fmt, "--pyramid", check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--pyramid", r.stderr)


@unittest.skipUnless(HAVE_BIN, "tessera binary not built")
class DeepZoomTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def check_dzi(self, img, dzi, ext, exact):
        """Checks NAME.dzi and NAME_files against the levels of img."""
        root = ET.parse(dzi).getroot()
        self.assertEqual(root.tag, DZI_NS + "Image")
        self.assertEqual((root.get("TileSize"), root.get("Overlap"), root.get("Format")),
                         ("254", "1", ext))
        size = root.find(DZI_NS + "Size")
        h, w = img.shape[:2]
        self.assertEqual((size.get("Width"), size.get("Height")), (str(w), str(h)))
        files = dzi[:-4] + "_files"
        top = math.ceil(math.log2(max(w, h)))
        self.assertEqual(sorted(os.listdir(files), key=int), [str(i) for i in range(top + 1)])
        level = img
        for n in range(top, -1, -1):
            lh, lw = level.shape[:2]
            self.assertEqual((lw, lh), (math.ceil(w / 2 ** (top - n)), math.ceil(h / 2 ** (top - n))))
            cols, rows = math.ceil(lw / 254), math.ceil(lh / 254)
            names = sorted(os.listdir(os.path.join(files, str(n))))
            self.assertEqual(names, sorted("%d_%d.%s" % (c, r, ext) for c in range(cols)
                                           for r in range(rows)), "level %d" % n)
            for c in range(cols):
                for r in range(rows):
                    (x0, x1), (y0, y1) = tile_span(c, lw), tile_span(r, lh)
                    tile = cv2.imread(os.path.join(files, str(n), "%d_%d.%s" % (c, r, ext)),
                                      cv2.IMREAD_UNCHANGED)
                    want = level[y0:y1, x0:x1]
                    self.assertEqual(tile.shape[:2], want.shape[:2], "tile %d/%d_%d" % (n, c, r))
                    if exact:
                        np.testing.assert_array_equal(tile, want, "tile %d/%d_%d" % (n, c, r))
                    elif min(want.shape[:2]) >= 16:  # JPEG blurs the colour of tiny tiles
                        err = np.abs(tile.astype(int) - want.astype(int)).mean()
                        self.assertLess(err, 10, "tile %d/%d_%d" % (n, c, r))
            level = halve(level)
        return top

    def test_png_tiles_exact(self):
        src, img = test_image(self.d, 1000, 530)
        out = os.path.join(self.d, "deep.dzi")
        run("process", "-p", SAME, src, "-o", out, "--format", "dzi-png")
        top = self.check_dzi(img, out, "png", exact=True)
        self.assertEqual(top, 10)
        files = os.path.join(self.d, "deep_files")
        # Edge and overlap: the first column of tiles is 255 wide, inner ones 256, the last the rest.
        widths = [cv2.imread(os.path.join(files, "10", "%d_0.png" % c)).shape[1] for c in range(4)]
        self.assertEqual(widths, [255, 256, 256, 1000 - 3 * 254 + 1])
        a = cv2.imread(os.path.join(files, "10", "0_0.png"))
        b = cv2.imread(os.path.join(files, "10", "1_0.png"))
        np.testing.assert_array_equal(a[:, -2:], b[:, :2])  # two shared columns
        self.assertEqual(sorted(os.listdir(self.d)), ["deep.dzi", "deep_files", "in.png"])

    def test_jpeg_tiles_and_name(self):
        """An OUT.dzi name picks Deep Zoom with JPEG tiles; gray and alpha images too."""
        for channels in (3, 1, 4):
            with self.subTest(channels=channels):
                src, img = test_image(self.d, 600, 700, channels, name="in%d.png" % channels)
                out = os.path.join(self.d, "j%d.dzi" % channels)
                run("process", "-p", SAME, src, "-o", out, "--quality", "95")
                self.check_dzi(img if channels != 4 else img[..., :3], out, "jpg", exact=False)

    def test_existing_folder_refused_and_nothing_left(self):
        src, _ = test_image(self.d, 300, 300)
        os.mkdir(os.path.join(self.d, "x_files"))
        r = run("process", "-p", SAME, src, "-o", os.path.join(self.d, "x.dzi"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("x_files exists", r.stderr)
        self.assertEqual(sorted(os.listdir(self.d)), ["in.png", "x_files"])
        self.assertEqual(os.listdir(os.path.join(self.d, "x_files")), [])

    def test_folder_output_and_one_pixel(self):
        src, img = test_image(self.d, 1, 1)
        outdir = os.path.join(self.d, "o")
        os.mkdir(outdir)
        run("process", "-p", SAME, src, "-o", outdir, "--format", "dzi-png")
        self.assertEqual(sorted(os.listdir(outdir)), ["in.dzi", "in_files"])
        self.assertEqual(self.check_dzi(img, os.path.join(outdir, "in.dzi"), "png", True), 0)


@unittest.skipUnless(HAVE_BIN, "tessera binary not built")
class BoundedMemoryTest(unittest.TestCase):
    @tools.needs("time")
    def test_peak_memory_near_the_plain_output(self):
        """A 6000x4000 RGB image (69 MiB of pixels): the pyramid and DZI writers
        hold bands of rows, not levels, so their peak RSS stays within a small
        margin of the plain tiled-free TIFF output's."""
        with tempfile.TemporaryDirectory() as d:
            src, _ = test_image(d, 6000, 4000, name="big.tif")
            image_mb = 6000 * 4000 * 3 / 2 ** 20

            def peak(*extra, out="o.tif"):
                p = subprocess.run([tools.find("time"), "-f", "%M", BIN, "process", "-p", "invert",
                                    src, "-o", os.path.join(d, out), "--threads", "2", *extra],
                                   capture_output=True, text=True, timeout=600)
                self.assertEqual(p.returncode, 0, p.stderr)
                return int(p.stderr.strip().splitlines()[-1]) / 1024

            plain = peak()
            pyramid = peak("--pyramid", out="p.tif")
            dzi = peak(out="o.dzi")
            print("\n    peak RSS: plain %.0f MiB, pyramid %.0f MiB, dzi %.0f MiB, image %.0f MiB"
                  % (plain, pyramid, dzi, image_mb), end=" ")
            self.assertLess(pyramid, plain + 0.25 * image_mb)
            self.assertLess(dzi, plain + 0.25 * image_mb)


if __name__ == "__main__":
    unittest.main()
