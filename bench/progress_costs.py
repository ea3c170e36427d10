#!/usr/bin/env python3
"""Measures the work-unit constants of src/service/work_cost.c: seconds of
one core per megapixel to decode and to encode each format, and per
256x256 tile of compute for the reference pipeline, on this machine.

Each case is one `tessera process --threads 1` run, the minimum of --runs
runs, on a photo-like image of each size:

  start-up    = time(16x16 PNM, crop to 16x16 -> PNM)
  decode(F)   = time(F, crop to its last 16x16 -> PNM) - start-up
                (the rows above the crop are decoded and dropped)
  encode(F)   = time(PNM, brightness:delta=0 -> F) - time(PNM, crop -> PNM)
                (the same run less its encoding; the look-up table op is
                nearly free)
  tile        = (time(PNM, reference -> PNM) - time(PNM, brightness -> PNM)) / tiles

  op tile(op) = (time(PNM, op -> PNM) - time(PNM, brightness -> PNM)) / tiles
                (--ops: every op at its defaults, or the parameters it needs)

    /usr/bin/python3 bench/progress_costs.py [--tessera build/src/cli/tessera] [--runs 3] [--ops]

Needs Debian's python3 with cv2 and numpy (tests use the same).
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMATS = ["jpeg", "png", "webp", "tiff", "bmp"]
EXT = {"jpeg": "jpg", "png": "png", "webp": "webp", "tiff": "tif", "bmp": "bmp", "pnm": "ppm"}
CHEAP = "brightness:delta=0"
REFERENCE = "gaussian-blur:sigma=2"
TILE = 256
# Each op at its defaults, or with the parameters it needs (--ops).
OPS = ["grayscale", "invert", "brightness", "contrast", "gamma", "threshold",
       "gaussian-blur:sigma=2", "box-blur", "median", "sharpen",
       "convolve:kernel=0 -1 0 -1 5 -1 0 -1 0", "sobel", "canny", "hough-lines",
       "rotate:angle=30", "rotate90", "rotate180", "rotate270", "flip", "resize:scale=0.5",
       "equalize", "threshold-otsu"]


def photo(w, h, seed=1):
    """A photo-like image: smooth gradients, some texture, a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 97 + c) * np.cos(y / 131 - c) for c in range(3)], -1)
    small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3)).astype(np.float32)
    img += 0.3 * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w]
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def timed(binary, pipeline, src, dst, runs):
    best = None
    for _ in range(runs):
        t0 = time.monotonic()
        subprocess.run([binary, "process", "--threads", "1", "-p", pipeline, src, "-o", dst],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = time.monotonic() - t0
        best = t if best is None else min(best, t)
    return best


def measure(binary, sizes, runs):
    out = {"decode_s_mp": {}, "encode_s_mp": {}, "tile_s": None, "sizes": sizes}
    with tempfile.TemporaryDirectory() as tmp:
        dec = {f: [] for f in ["pnm"] + FORMATS}
        enc = {f: [] for f in ["pnm"] + FORMATS}
        tile = []
        tiny = os.path.join(tmp, "tiny.ppm")
        cv2.imwrite(tiny, photo(16, 16))
        null = os.path.join(tmp, "out.ppm")
        crop16 = "crop:x=0,y=0,width=16,height=16"
        t_start = timed(binary, crop16, tiny, null, runs)
        for w, h in sizes:
            mp = w * h / 1e6
            img = photo(w, h)
            crop = "crop:x=%d,y=%d,width=16,height=16" % (w - 16, h - 16)
            base = os.path.join(tmp, "in.ppm")
            cv2.imwrite(base, img)
            t_read = timed(binary, crop, base, null, runs)  # start-up + decode(PNM)
            t_cheap = timed(binary, CHEAP, base, null, runs)
            t_ref = timed(binary, REFERENCE, base, null, runs)
            tiles = ((w + TILE - 1) // TILE) * ((h + TILE - 1) // TILE)
            tile.append((t_ref - t_cheap) / tiles)
            for f in ["pnm"] + FORMATS:
                src = base if f == "pnm" else os.path.join(tmp, "in." + EXT[f])
                if f != "pnm":
                    cv2.imwrite(src, img, [cv2.IMWRITE_JPEG_QUALITY, 90] if f == "jpeg" else [])
                dec[f].append(max(0.0, timed(binary, crop, src, null, runs) - t_start) / mp)
                dst = os.path.join(tmp, "out." + EXT[f])
                enc[f].append(max(0.0, timed(binary, CHEAP, base, dst, runs) - t_read) / mp)
        for f in dec:
            out["decode_s_mp"][f] = round(sum(dec[f]) / len(dec[f]), 4)
            out["encode_s_mp"][f] = round(sum(enc[f]) / len(enc[f]), 4)
        out["tile_s"] = round(sum(tile) / len(tile), 5)
    return out


def measure_ops(binary, size, runs):
    """Compute seconds of one core per 256x256 tile of input for each op,
    less the look-up-table op's (start-up, decode and encode cancel out)."""
    w, h = size
    tiles = ((w + TILE - 1) // TILE) * ((h + TILE - 1) // TILE)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.ppm")
        cv2.imwrite(src, photo(w, h))
        null = os.path.join(tmp, "out.ppm")
        t_cheap = timed(binary, CHEAP, src, null, runs)
        for op in OPS:
            t = timed(binary, op, src, null, runs)
            out[op.split(":")[0]] = round(max(0.0, t - t_cheap) / tiles, 6)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tessera", default=os.path.join(ROOT, "build", "src", "cli", "tessera"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="1024x1024,2048x2048",
                    help="comma-separated WxH sizes (default 1024x1024,2048x2048)")
    ap.add_argument("--ops", action="store_true",
                    help="per-op tile seconds instead, on the last size")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    if args.ops:
        print(json.dumps(measure_ops(args.tessera, sizes[-1], args.runs), indent=2))
        return
    print(json.dumps(measure(args.tessera, sizes, args.runs), indent=2))


if __name__ == "__main__":
    main()
