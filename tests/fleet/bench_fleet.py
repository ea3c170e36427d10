"""Figures for the Redis fleet (not a test; run by hand):

  TESSERA_BIN=build/src/cli/tessera /usr/bin/python3 tests/fleet/bench_fleet.py

1. throughput of one large image (6000x4000, blur+sharpen) through N fleet
   workers over loopback Redis against a local `tessera serve` with the same
   number of threads, same machine, same job path (decode, run, encode);
2. per-tile overhead of the broker path (a trivial op on many tiles);
3. tasks per second the coordinator schedules (16-pixel tiles, invert).
Prints one line per figure. Every job is timed by the server (job seconds).
BENCH_THREADS (2), BENCH_REPEAT (3) and BENCH_FSYNC (everysec) change the
setup."""
import json
import os
import sys
import tempfile
import time

import cv2

import fleet
from fleet import DATA, Redis, Server, Worker, coordinator

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
# Redis as docs/deploy.md runs it (AOF, fsync every second); "always" is the
# crash tests' setting, "no" turns the AOF off.
FSYNC = os.environ.get("BENCH_FSYNC", "everysec")
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def job_seconds(srv, image_id, pipeline, fmt="bmp"):
    status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": [image_id], "pipeline": pipeline,
                                                       "output": {"format": fmt}})
    assert status == 201, job
    done = srv.wait_job(job["id"], timeout=600)
    assert done["state"] == "succeeded", done
    return done["items"][0]["seconds"], done["tiles_total"]


def best(srv, image_id, pipeline):
    runs = [job_seconds(srv, image_id, pipeline) for _ in range(REPEAT)]
    return min(r[0] for r in runs), runs[0][1]


def measure(srv, images, label):
    out = {}
    for name, (path, pipeline, tile) in images.items():
        _, img, _ = srv.upload(path)
        out[name] = best(srv, img["id"], pipeline)
        print("%-6s %-10s %.3f s  (%d tiles)" % (label, name, out[name][0], out[name][1]),
              flush=True)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="tessera-bench-")
    src = cv2.imread(os.path.join(DATA, "hubble_deep_field.jpg"))
    big = os.path.join(tmp, "big.bmp")
    cv2.imwrite(big, cv2.resize(src, (6000, 4000), interpolation=cv2.INTER_CUBIC))
    small = os.path.join(tmp, "small.bmp")
    cv2.imwrite(small, cv2.resize(src, (2000, 2000), interpolation=cv2.INTER_AREA))
    cases = {"large": (big, "gaussian-blur:sigma=2|sharpen", 256),
             "heavy": (big, "gaussian-blur:sigma=8|median:ksize=5|sharpen", 256),
             "tiny16": (small, "invert", 16)}
    results = {}
    for tile_case in ("large", "heavy", "tiny16"):
        path, pipeline, tile = cases[tile_case]
        one = {tile_case: cases[tile_case]}
        local = Server("--threads", str(THREADS), "--tile", str(tile))
        results[("local", tile_case)] = measure(local, one, "local")[tile_case]
        local.stop()
        for level in ("1", "0"):
            redis = Redis(FSYNC)
            workers = [Worker(redis.url, "--threads", "1", "--compress", level)
                       for _ in range(THREADS)]
            srv = coordinator(redis, "--tile", str(tile), "--compress", level)
            label = "fleet-z" if level == "1" else "fleet-raw"
            results[(label, tile_case)] = measure(srv, one, label)[tile_case]
            srv.stop()
            for w in workers:
                w.stop()
            redis.stop()
    print()
    for label in ("fleet-z", "fleet-raw"):
        for case in ("large", "heavy"):
            lt, n = results[("local", case)]
            ft, _ = results[(label, case)]
            print("%s: %s image (%s) %d workers: %.3f s vs local %.3f s = %.0f%% of local "
                  "throughput" % (label, case, cases[case][1], THREADS, ft, lt, 100 * lt / ft))
        lt, n = results[("local", "tiny16")]
        ft, _ = results[(label, "tiny16")]
        print("%s: %d tiny tiles: %.3f s vs local %.3f s: overhead %.1f us/tile (wall, %d "
              "workers); coordinator scheduled %.0f tasks/s"
              % (label, n, ft, lt, 1e6 * (ft - lt) / n * THREADS, THREADS, n / ft))
    os.system("rm -rf " + tmp)


if __name__ == "__main__":
    sys.exit(main())
