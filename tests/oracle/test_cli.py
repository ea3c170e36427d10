"""The tessera CLI: process, info, ops, exit codes, progress bar, memory bound."""
import json
import os
import pty
import subprocess
import sys
import tempfile
import unittest

import cv2
import numpy as np

from tessera_cli import BIN, DATA, ROOT, have_binary, photo, process, read_rgb, run

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
import tools  # noqa: E402


@unittest.skipUnless(have_binary(), "tessera binary not built")
class CliTest(unittest.TestCase):
    def test_process_one_file_and_formats(self):
        with tempfile.TemporaryDirectory() as d:
            for ext, fmt in [("png", "png"), ("jpg", "jpeg"), ("webp", "webp"), ("tif", "tiff"),
                             ("bmp", "bmp"), ("ppm", "pnm")]:
                out = os.path.join(d, "out." + ext)
                run("process", "-p", "invert", os.path.join(DATA, "chelsea.png"), "-o", out)
                info = json.loads(run("info", "--json", out).stdout)
                self.assertEqual(info["format"], fmt)
                self.assertEqual((info["width"], info["height"]), (451, 300))

    def test_process_many_inputs_into_folder(self):
        with tempfile.TemporaryDirectory() as d:
            outdir = os.path.join(d, "results")
            ins = [os.path.join(DATA, n) for n in ("chelsea.png", "coffee.png", "rocket.jpg")]
            run("process", "-p", "grayscale|invert", *ins, "-o", outdir, "--format", "png")
            self.assertEqual(sorted(os.listdir(outdir)), ["chelsea.png", "coffee.png", "rocket.png"])
            img = read_rgb(os.path.join(outdir, "coffee.png"))
            self.assertEqual(img.shape, (400, 600))

    def test_exit_codes(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "o.png")
            src = os.path.join(DATA, "chelsea.png")
            self.assertEqual(run("process", "-p", "nope", src, "-o", out, check=False).returncode, 2)
            self.assertEqual(run("process", "-p", "invert", check=False).returncode, 2)
            self.assertEqual(run("process", "-p", "invert", src, "-o", out, "--tile", "3",
                                 check=False).returncode, 2)
            r = run("process", "-p", "invert", os.path.join(DATA, "truncated.jpg"), "-o", out,
                    check=False)
            self.assertEqual(r.returncode, 3)
            self.assertIn("truncated.jpg", r.stderr)
            self.assertFalse(os.path.exists(out), "no output for a bad input")
            junk = os.path.join(d, "junk.png")
            with open(junk, "wb") as f:
                f.write(b"this is not an image at all" * 10)
            r = run("process", "-p", "invert", junk, "-o", out, check=False)
            self.assertEqual(r.returncode, 3)
            r = run("process", "-p", "invert", os.path.join(d, "missing.png"), "-o", out,
                    check=False)
            self.assertEqual(r.returncode, 4)
            self.assertEqual(run("frobnicate", check=False).returncode, 2)

    def test_bad_input_does_not_stop_the_others(self):
        with tempfile.TemporaryDirectory() as d:
            outdir = os.path.join(d, "o")
            r = run("process", "-p", "invert", os.path.join(DATA, "truncated.jpg"),
                    os.path.join(DATA, "chelsea.png"), "-o", outdir, "--format", "png", check=False)
            self.assertEqual(r.returncode, 3)
            self.assertEqual(os.listdir(outdir), ["chelsea.png"])

    def test_info(self):
        info = json.loads(run("info", "--json", os.path.join(DATA, "anim.gif")).stdout)
        self.assertEqual(info["format"], "gif")
        self.assertEqual(info["frames"], 3)
        text = run("info", os.path.join(DATA, "coffee.webp")).stdout
        self.assertIn("webp", text)
        self.assertIn("600 x 400", text)

    def test_ops_lists_everything(self):
        ops = json.loads(run("ops", "--json").stdout)
        names = {o["name"] for o in ops}
        for want in ["grayscale", "invert", "brightness", "contrast", "gamma", "threshold",
                     "threshold-otsu", "gaussian-blur", "box-blur", "median", "sharpen",
                     "convolve", "sobel", "canny", "hough-lines", "equalize", "rotate",
                     "rotate90", "rotate180", "rotate270", "flip", "resize", "crop", "thumbnail"]:
            self.assertIn(want, names)
        for o in ops:
            self.assertTrue(o["summary"], o["name"])
            for p in o["params"]:
                self.assertTrue(p["doc"], f"{o['name']}.{p['name']}")
        text = run("ops").stdout
        self.assertIn("gaussian-blur", text)
        self.assertIn("sigma", text)

    def test_pipeline_error_names_op_param_range(self):
        r = run("process", "-p", "grayscale|gaussian-blur:sigma=500", os.path.join(DATA, "chelsea.png"),
                "-o", "/tmp/never.png", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("gaussian-blur: sigma must be between", r.stderr)

    def test_rules_refused_before_the_input_is_read(self):
        # issue 12: what a run would refuse is refused when the pipeline is
        # parsed, with the run's words, before the input is even opened
        for pipe, want in (("gaussian-blur:ksize=4", "gaussian-blur: ksize must be odd, got 4"),
                           ("resize:scale=0.5,width=100",
                            "resize: give either scale or width and/or height (not both)"),
                           ("brighten", "unknown operation 'brighten'; did you mean 'brightness'?"),
                           ("flip:axis=vert", "(got 'vert'); did you mean 'vertical'?")):
            r = run("process", "-p", pipe, "/nonexistent/in.png", "-o", "/tmp/never.png",
                    check=False)
            self.assertEqual(r.returncode, 2, (pipe, r.stderr))
            self.assertIn(want, r.stderr)
            self.assertNotIn("nonexistent", r.stderr)

    def test_ops_hints_and_units(self):
        text = run("ops").stdout
        self.assertIn("range 0..100 px", text)
        self.assertIn("Blur strength in pixels; larger is blurrier", text)
        ops = json.loads(run("ops", "--json").stdout)
        for o in ops:
            for p in o["params"]:
                self.assertTrue(p["hint"], f"{o['name']}.{p['name']}")
                self.assertIn(p["unit"], ("", "px", "degrees", "levels", "x", "lines"))

    def test_ops_presets_and_preset_pipelines(self):
        presets = json.loads(run("ops", "--presets", "--json").stdout)
        names = [p["name"] for p in presets]
        for name in ("Edge detection", "Web thumbnail", "Scan clean-up",
                     "The original design's pipeline"):
            self.assertIn(name, names)
        text = run("ops", "--presets").stdout
        for p in presets:
            self.assertIn("%s (preset:%s)" % (p["name"], p["id"]), text)
            self.assertIn(p["pipeline"], text)
        # preset:ID runs exactly the preset's pipeline
        img = photo("chelsea.png")
        edge = next(p for p in presets if p["id"] == "edge-detection")
        self.assertTrue(np.array_equal(process("preset:edge-detection", img),
                                       process(edge["pipeline"], img)))
        with tempfile.TemporaryDirectory() as d:
            r = run("process", "-p", "preset:edge", os.path.join(DATA, "chelsea.png"), "-o",
                    os.path.join(d, "o.png"), check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("did you mean 'edge-detection'?", r.stderr)
        self.assertEqual(run("ops", "--bogus", check=False).returncode, 2)

    def test_operations_doc_is_generated_from_the_registry(self):
        gen = os.path.join(ROOT, "scripts", "gen_ops_doc.py")
        r = subprocess.run(["/usr/bin/python3", gen, "--check", BIN], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_text_and_json_pipelines_give_the_same_bytes(self):
        img = photo("chelsea.png")
        a = process("grayscale|gaussian-blur:sigma=2|canny:low=50,high=150", img)
        b = process('[{"op":"grayscale"},{"op":"gaussian-blur","sigma":2},'
                    '{"op":"canny","low":50,"high":150}]', img)
        self.assertTrue(np.array_equal(a, b))

    def test_threads_and_tiles_do_not_change_bytes(self):
        img = photo("coffee.png")
        pipe = "gaussian-blur:sigma=1.5|rotate:angle=21|sharpen|resize:scale=0.7"
        ref = process(pipe, img, extra=["--threads", "1", "--tile", "65536"])
        for threads, tile in [(2, 16), (4, 37), (3, 128)]:
            out = process(pipe, img, extra=["--threads", str(threads), "--tile", str(tile)])
            self.assertTrue(np.array_equal(ref, out), f"threads {threads} tile {tile}")

    def test_streamed_bands_match_whole_runs(self):
        """Row streaming with bands in flight (threads > 1): each band's
        rows come partly from the band before it and partly from the
        decoder, with rows nobody reads skipped; the bytes must equal a
        whole-image run for stencils, a crop that starts low, and
        down-scalings whose bands leave gaps between the rows they read."""
        tall = cv2.resize(photo("coffee.png"), (300, 2000), interpolation=cv2.INTER_CUBIC)
        for ext in ("png", "bmp"):  # bmp: bottom-up, read backwards in chunks
            with tempfile.TemporaryDirectory() as tmp:
                src = os.path.join(tmp, "tall." + ext)
                cv2.imwrite(src, tall)
                for pipe in ("gaussian-blur:sigma=3|sharpen",
                             "crop:x=10,y=700,width=200,height=500|gaussian-blur:sigma=2",
                             "resize:scale=0.3",
                             "resize:scale=0.1,interp=nearest|median:ksize=3"):
                    ref = process(pipe, path=src, extra=["--threads", "1", "--tile", "65536"])
                    for threads, tile in [(2, 16), (3, 37), (2, 64)]:
                        out = process(pipe, path=src,
                                      extra=["--threads", str(threads), "--tile", str(tile)])
                        self.assertTrue(np.array_equal(ref, out),
                                        f"{ext} {pipe} threads {threads} tile {tile}")

    def test_progress_bar_on_a_terminal(self):
        with tempfile.TemporaryDirectory() as d:
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(BIN, [BIN, "process", "-p", "gaussian-blur:sigma=3|canny", "--tile", "16",
                               os.path.join(DATA, "hubble_deep_field.jpg"), "-o",
                               os.path.join(d, "o.png")])
            out = b""
            while True:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            text = out.decode(errors="replace")
            self.assertIn("100%", text)
            self.assertIn("ETA", text)
            self.assertIn("hubble_deep_field.jpg", text)

    def test_spilled_runs_match_whole_runs(self):
        """--memory-budget 1 runs every plan that cannot stream by row windows
        through temporary files (GLOBAL ops, rotations, several stages): the
        bytes must equal the default run's, which holds these small images
        whole, at any tile size and thread count."""
        src = os.path.join(DATA, "hubble_deep_field.jpg")  # 1000x872
        for pipe in ("rotate:angle=30", "equalize|rotate:angle=-12", "canny",
                     "crop:x=100,y=50,width=700,height=600|rotate:angle=45,expand=true",
                     "gaussian-blur|threshold-otsu|sharpen", "hough-lines:threshold=80,mode=draw"):
            ref = process(pipe, path=src)
            for threads, tile in [(1, 16), (2, 64), (3, 256)]:
                out = process(pipe, path=src, extra=["--memory-budget", "1", "--threads",
                                                     str(threads), "--tile", str(tile)])
                self.assertTrue(np.array_equal(ref, out), f"{pipe} threads {threads} tile {tile}")

    def test_limit_options(self):
        """process takes the limits as options, spelled as serve spells them."""
        src = os.path.join(DATA, "chelsea.png")  # 451x300 RGB, 135300 pixels
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "o.png")
            for flags, message in [
                    (["--max-pixels", "100000"], "135300 pixels is more than the limit of 100000 pixels"),
                    (["--max-width", "400"], "larger than the limit of 400x65500"),
                    (["--max-height", "2e2"], "larger than the limit of 65500x200"),
                    (["--max-file-bytes", "1000"], "is more than the limit of 1 kB"),
                    # the image (406 kB) is over the buffer cap, so the plan spills; the
                    # 256-px map tiles of equalize (up to 197 kB) are still over it
                    (["--max-buffer-bytes", "100000"],
                     "kB in one buffer is more than the single-buffer limit of 100 kB")]:
                r = run("process", "-p", "equalize|rotate:angle=30", src, "-o", out, *flags,
                        check=False)
                self.assertEqual(r.returncode, 3, f"{flags}: {r.stderr}")
                self.assertIn(message, r.stderr, flags)
                self.assertFalse(os.path.exists(out))
            r = run("process", "-p", "invert", os.path.join(DATA, "anim.gif"), "-o", out,
                    "--max-frames", "1", check=False)
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("limit of 1 frames", r.stderr)
            # spilled with 64-px tiles, the run holds no whole image, only tiles: it passes
            run("process", "-p", "equalize|rotate:angle=30", src, "-o", out, "--max-buffer-bytes",
                "100000", "--tile", "64")
            self.assertEqual(read_rgb(out).shape, (300, 451, 3))
            for flag, value in [("--max-pixels", "0"), ("--max-width", "abc"),
                                ("--max-file-bytes", "-5"), ("--memory-budget", "1.5"),
                                ("--max-frames", "")]:
                r = run("process", "-p", "invert", src, "-o", out, flag, value, check=False)
                self.assertEqual(r.returncode, 2, f"{flag} {value}")
                self.assertIn(flag, r.stderr)

    def test_gigapixel_headers_pass_the_defaults(self):
        """A 40000 x 40000 image is within the default limits (4 GP); 65000 x
        65000 is not. Only the header is read."""
        import struct
        import zlib

        def png_header(w, h):
            def chunk(kind, data):
                return (struct.pack(">I", len(data)) + kind + data
                        + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
            return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "big.png")
            with open(path, "wb") as f:
                f.write(png_header(40000, 40000))
            self.assertIn("40000 x 40000", run("info", path).stdout)
            with open(path, "wb") as f:
                f.write(png_header(65000, 65000))
            r = run("info", path, check=False)
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("4.2 GP is more than the limit of 4.0 GP", r.stderr)

    @tools.needs("time")
    def test_peak_memory_far_below_one_image_per_op(self):
        """Six local ops on a 4000x3000 RGB image (34 MiB decoded) peak at about
        the same memory as one op: fused tiles add no full-size intermediates."""
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "big.tif")
            base = cv2.imread(os.path.join(DATA, "astronaut.png"))
            cv2.imwrite(src, cv2.resize(base, (4000, 3000), interpolation=cv2.INTER_LINEAR))
            image_mb = 4000 * 3000 * 3 / 2**20

            def peak(pipe):
                p = subprocess.run([tools.find("time"), "-f", "%M", BIN, "process", "-p", pipe, src,
                                    "-o", os.path.join(d, "o.tif"), "--threads", "2"],
                                   capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stderr)
                return int(p.stderr.strip().splitlines()[-1]) / 1024

            one = peak("invert")
            six = peak("invert|brightness:delta=10|gaussian-blur:sigma=1|sharpen|"
                       "gamma:gamma=1.2|invert")
            # Materialising each op would add a whole image (34 MiB) per op.
            self.assertLess(six, one + 0.5 * image_mb, f"1 op {one:.0f} MiB, 6 ops {six:.0f} MiB")
            self.assertLess(six, 4.5 * image_mb, f"peak {six:.0f} MiB, image {image_mb:.0f} MiB")
            print(f"\n    peak RSS: 1 op {one:.0f} MiB, 6 ops {six:.0f} MiB, image {image_mb:.0f} MiB",
                  end=" ")

if __name__ == "__main__":
    unittest.main()
