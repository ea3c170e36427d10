#!/usr/bin/env python3
"""How honest a job's percent and ETA are: runs a set of jobs (mixed sizes
and formats, several images each, several pipelines) one after the other
on a real `tessera serve`, samples each job's percent and ETA every 100 ms
and reports, for the moment the job passes 25, 50 and 75 %, the ETA error
|eta - actual remaining| / actual remaining (actual remaining: from that
sample to the first sample that shows the job finished).

    python3 bench/eta_accuracy.py [--scale 1.0] [--json out.json]

The binary is TESSERA_BIN (default build/src/cli/tessera), started as
tests/service/harness.py does. Needs Debian's python3 with cv2 and numpy.
tests/service/test_progress.py uses the sampling and error functions.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "service"))
from harness import Server  # noqa: E402

MARKS = (25, 50, 75)
EXT = {"jpeg": "jpg", "png": "png", "webp": "webp", "tiff": "tif", "bmp": "bmp"}

# (images as (width, height, format), pipeline, output format)
JOBS = [
    ([(2048, 2048, "png")] * 4, "gaussian-blur:sigma=2", "png"),
    ([(3000, 2000, "jpeg")] * 3, "grayscale|gaussian-blur:sigma=1", "webp"),
    ([(1024, 1024, "webp")] * 6, "canny:low=100,high=200", "jpeg"),
    ([(1024, 1024, "jpeg"), (2048, 2048, "png"), (3000, 2000, "jpeg")], "gaussian-blur:sigma=3",
     "png"),
    ([(1600, 1600, "png")] * 5, "median:ksize=5", "tiff"),
    ([(2048, 1536, "jpeg")] * 4, "rotate:angle=30", "jpeg"),
    ([(2500, 2500, "tiff")] * 3, "sharpen|contrast:factor=1.2", "png"),
    ([(1200, 900, "bmp")] * 8, "box-blur:ksize=9|equalize", "webp"),
    ([(4000, 3000, "jpeg")] * 2, "gaussian-blur:sigma=2|sobel", "jpeg"),
    ([(1800, 1200, "png"), (1800, 1200, "webp"), (1800, 1200, "jpeg")] * 2,
     "grayscale|threshold-otsu", "png"),
]


def photo(w, h, seed):
    """A photo-like image: smooth gradients, texture and a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 97 + c) * np.cos(y / 131 - c) for c in range(3)], -1)
    small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3)).astype(np.float32)
    img += 0.3 * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w]
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def upload_image(srv, tmp, w, h, fmt, seed):
    path = os.path.join(tmp, "img%d.%s" % (seed, EXT[fmt]))
    cv2.imwrite(path, photo(w, h, seed), [cv2.IMWRITE_JPEG_QUALITY, 90] if fmt == "jpeg" else [])
    status, doc, _ = srv.upload(path)
    assert status == 201, (status, doc)
    return doc["id"]


def sample_job(srv, image_ids, pipeline, output, period=0.1, timeout=600):
    """Submits a job and polls it every `period` seconds until it ends.
    Returns [(seconds since submit, state, percent, eta or None)]."""
    body = {"images": image_ids, "pipeline": pipeline, "output": {"format": output}}
    t0 = time.monotonic()
    status, job, _ = srv.json("POST", "/api/v1/jobs", body)
    assert status == 201, (status, job)
    samples = []
    while time.monotonic() - t0 < timeout:
        status, doc, _ = srv.json("GET", "/api/v1/jobs/" + job["id"])
        assert status == 200, (status, doc)
        samples.append((time.monotonic() - t0, doc["state"], doc["percent"], doc["eta_seconds"]))
        if doc["state"] in ("succeeded", "failed", "cancelled"):
            return samples
        time.sleep(period)
    raise AssertionError("job %s did not finish" % job["id"])


def eta_errors(samples):
    """{mark: relative ETA error} at the first running sample at or past each
    mark with an ETA; a mark the samples never caught running is left out."""
    end = next(t for t, state, _, _ in samples if state == "succeeded")
    out = {}
    for mark in MARKS:
        for t, state, percent, eta in samples:
            if state == "running" and percent >= mark and eta is not None:
                left = end - t
                if left > 0:
                    out[mark] = abs(eta - left) / left
                break
    return out


def longest_stall(samples):
    """The longest time (seconds) a running job's percent stood still."""
    longest, since, last = 0.0, None, None
    for t, state, percent, _ in samples:
        if state != "running":
            continue
        if percent != last:
            since, last = t, percent
        longest = max(longest, t - since)
    return longest


def scaled(images, scale):
    return [(max(64, int(w * scale)), max(64, int(h * scale)), f) for w, h, f in images]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="side scale of every image")
    ap.add_argument("--json", help="write the samples and errors here")
    args = ap.parse_args()
    srv = Server()
    report = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            seed = 0
            for images, pipeline, output in JOBS:
                ids = []
                for w, h, fmt in scaled(images, args.scale):
                    seed += 1
                    ids.append(upload_image(srv, tmp, w, h, fmt, seed))
                samples = sample_job(srv, ids, pipeline, output)
                errs = eta_errors(samples)
                stall = longest_stall(samples)
                report.append({"pipeline": pipeline, "images": len(ids), "output": output,
                               "seconds": round(samples[-1][0], 2), "state": samples[-1][1],
                               "errors": errs, "stall": stall, "samples": samples})
                print("%-36s %d images -> %-4s %6.1f s  stall %4.1f s  %s" % (
                    pipeline, len(ids), output, samples[-1][0], stall,
                    "  ".join("%d%%: %s" % (m, "%.0f%%" % (100 * errs[m]) if m in errs else "-")
                              for m in MARKS)), flush=True)
    finally:
        srv.stop()
    # Jobs under 2 s are mostly sampling error (100 ms of a second is 10 %).
    for label, picked in (("all %d jobs" % len(report), report),
                          ("the jobs of 2 s or more", [r for r in report if r["seconds"] >= 2])):
        if picked:
            print("longest stall of percent over %s: median %.1f s, max %.1f s" % (
                label, statistics.median(r["stall"] for r in picked),
                max(r["stall"] for r in picked)))
        print("median ETA error over %s:" % label)
        for m in MARKS:
            vals = [r["errors"][m] for r in picked if m in r["errors"]]
            if vals:
                print("  at %d%%: %.0f%% (max %.0f%%, %d jobs)" % (
                    m, 100 * statistics.median(vals), 100 * max(vals), len(vals)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
