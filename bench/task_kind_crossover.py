#!/usr/bin/env python3
"""Where one image stops fitting one worker: the crossover of the planner's
rule (docs/internals/tasks.md). For single-image jobs of growing size, the
same job runs as one image task (one worker reads, processes and writes it)
and as tile tasks (the coordinator decodes, spreads the tiles over every
worker through Redis and encodes), on a fleet of W workers of T threads,
files store shared by all. Prints seconds per job and the ratio.

    python3 bench/task_kind_crossover.py [--workers 2] [--threads 1]
                                         [--sizes 2,8,24,48,96] [--runs 1]

Inputs are photo-like (a real photo resized, with sensor noise), JPEG q90,
generated once under /tmp/tessera-crossover-inputs. Uses the fleet test
harness (tests/fleet/fleet.py): a real redis-server, `tessera worker`s and
a `tessera serve --redis` coordinator; TESSERA_BIN names the binary
(default build/src/cli/tessera).
"""
import argparse
import os
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))
import fleet  # noqa: E402

PIPELINES = {
    "light": "resize:width=1600|sharpen",
    "heavy": "gaussian-blur:sigma=10|median:ksize=5|gaussian-blur:sigma=6|sharpen",
}
INPUTS = "/tmp/tessera-crossover-inputs"


def photo(mpx):
    """A photo-like JPEG of about `mpx` megapixels (3:2), made once."""
    os.makedirs(INPUTS, exist_ok=True)
    path = os.path.join(INPUTS, "photo-%dmp.jpg" % mpx)
    if os.path.exists(path):
        return path
    w = int((mpx * 1e6 * 1.5) ** 0.5)
    h = int(w / 1.5)
    src = cv2.imread(os.path.join(ROOT, "tests", "data", "hubble_deep_field.jpg"))
    img = cv2.resize(src, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    noise = np.random.default_rng(mpx).normal(0, 4.0, img.shape).astype(np.float32)
    cv2.imwrite(path, np.clip(img + noise, 0, 255).astype(np.uint8),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def job_seconds(srv, image_id, pipeline):
    """Wall seconds of one single-image job, submit to succeeded."""
    t0 = time.time()
    status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": [image_id],
                                                       "pipeline": pipeline, "format": "jpeg"})
    assert status == 201, job
    done = srv.wait_job(job["id"], timeout=1800)
    assert done["state"] == "succeeded", done
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", default="2,8,24,48,96", help="megapixels, comma-separated")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tessera-crossover-")
    store = ["--store", "file:" + os.path.join(tmp, "blobs")]
    redis = fleet.Redis(fsync="everysec")
    workers, servers = [], []
    try:
        for _ in range(args.workers):
            workers.append(fleet.Worker(redis.url, "--threads", str(args.threads), *store,
                                        log_dir=tmp))
        for kind in ("image", "tile"):
            servers.append(fleet.coordinator(redis, "--task-kind", kind, *store,
                                             data=os.path.join(tmp, "data-" + kind)))
        print("| image | pipeline | image task (s) | tile tasks (s) | tile / image |")
        print("|---|---|---|---|---|")
        for mpx in [int(s) for s in args.sizes.split(",")]:
            path = photo(mpx)
            ids = [srv.upload(path)[1]["id"] for srv in servers]
            for name, pipeline in PIPELINES.items():
                best = [min(job_seconds(srv, i, pipeline) for _ in range(args.runs))
                        for srv, i in zip(servers, ids)]
                print("| %d MP | %s | %.2f | %.2f | %.2f |"
                      % (mpx, name, best[0], best[1], best[1] / best[0]), flush=True)
    finally:
        for s in servers:
            s.stop()
        for w in workers:
            w.stop(kill=True)
        redis.stop()


if __name__ == "__main__":
    main()
