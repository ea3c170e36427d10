"""Figures for the Redis fleet (not a test; run by hand):

  TESSERA_BIN=build/src/cli/tessera /usr/bin/python3 tests/fleet/bench_fleet.py

1. throughput of one large image (6000x4000) through 2 fleet workers over
   loopback Redis against a local `tessera serve` with 2 threads, same
   machine, same job path (decode, run, encode), for a light pipeline
   (blur + sharpen) and a heavy one (blur 8 + median 5 + sharpen), with
   workers of 1 thread (2 worker threads in all, like the local pool) and of
   2 threads (the default on this machine: one per core); raw and zstd
   payloads. Local and fleet jobs alternate, so machine noise hits both;
   the ratio is of the medians;
2. per-tile overhead of the broker path (a trivial op on 16-px tiles);
3. tasks per second the coordinator schedules (the same run).
Every job is timed by the server (job seconds). These change the setup:
BENCH_REPEAT (5); BENCH_FSYNC (everysec: Redis with its AOF; "always" is
the crash tests' setting, "no" turns persistence off, as docs/deploy.md
runs it for throughput); BENCH_SOCKET=unix (workers and coordinator reach
Redis through a Unix socket instead of loopback TCP); BENCH_CASES (any of
light,heavy,tiny), BENCH_WORKERS (fleet workers, and the local server's
threads: 2), BENCH_THREADS (worker threads to try, "1,2") and
BENCH_LEVELS (zstd levels to try, "0,1") pick a subset."""
import os
import statistics
import sys
import tempfile

import cv2

from fleet import DATA, Redis, Server, Worker, coordinator

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
FSYNC = os.environ.get("BENCH_FSYNC", "everysec")
UNIX = os.environ.get("BENCH_SOCKET", "tcp") == "unix"
CASES = os.environ.get("BENCH_CASES", "light,heavy,tiny").split(",")
THREADS = [int(t) for t in os.environ.get("BENCH_THREADS", "1,2").split(",")]
LEVELS = os.environ.get("BENCH_LEVELS", "0,1").split(",")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))  # fleet workers = local threads
LIGHT = "gaussian-blur:sigma=2|sharpen"
HEAVY = "gaussian-blur:sigma=8|median:ksize=5|sharpen"


def job_seconds(srv, image_id, pipeline, fmt="bmp"):
    status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": [image_id], "pipeline": pipeline,
                                                       "output": {"format": fmt}})
    assert status == 201, job
    done = srv.wait_job(job["id"], timeout=600)
    assert done["state"] == "succeeded", done
    return done["items"][0]["seconds"], done["tiles_total"]


class Fleet:
    """redis-server, N workers of T threads and a coordinator."""

    def __init__(self, workers, threads, level, tile):
        self.redis = Redis(FSYNC, unix=UNIX)
        self.workers = [Worker(self.redis.url, "--threads", str(threads), "--compress", level)
                        for _ in range(workers)]
        self.srv = coordinator(self.redis, "--tile", str(tile), "--compress", level)

    def stop(self):
        self.srv.stop()
        for w in self.workers:
            w.stop()
        self.redis.stop()


def compare(path, pipeline, tile, threads, level):
    """Alternates local and fleet jobs; returns (local median, fleet median,
    local min, fleet min, tiles)."""
    local = Server("--threads", str(WORKERS), "--tile", str(tile))
    fleet = Fleet(WORKERS, threads, level, tile)
    try:
        _, a, _ = local.upload(path)
        _, b, _ = fleet.srv.upload(path)
        job_seconds(local, a["id"], pipeline)  # warm both
        job_seconds(fleet.srv, b["id"], pipeline)
        ls, fs = [], []
        for _ in range(REPEAT):
            t, n = job_seconds(local, a["id"], pipeline)
            ls.append(t)
            fs.append(job_seconds(fleet.srv, b["id"], pipeline)[0])
        return statistics.median(ls), statistics.median(fs), min(ls), min(fs), n
    finally:
        local.stop()
        fleet.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="tessera-bench-")
    src = cv2.imread(os.path.join(DATA, "hubble_deep_field.jpg"))
    big = os.path.join(tmp, "big.bmp")
    cv2.imwrite(big, cv2.resize(src, (6000, 4000), interpolation=cv2.INTER_CUBIC))
    small = os.path.join(tmp, "small.bmp")
    cv2.imwrite(small, cv2.resize(src, (2000, 2000), interpolation=cv2.INTER_AREA))
    print("Redis AOF fsync: %s, over %s; %d cores; %d alternating runs each; medians (best)"
          % (FSYNC, "a Unix socket" if UNIX else "loopback TCP", os.cpu_count(), REPEAT))
    for name, pipeline in (("light", LIGHT), ("heavy", HEAVY)):
        if name not in CASES:
            continue
        for threads in THREADS:
            for level in LEVELS:
                lm, fm, lb, fb, n = compare(big, pipeline, 256, threads, level)
                print("%s (%s), 6000x4000, %d tiles of 256, %d workers x %d thread(s), %s: "
                      "local %.3f s (%.3f), fleet %.3f s (%.3f) = %.0f%% of local throughput"
                      % (name, pipeline, n, WORKERS, threads, "zstd 1" if level == "1" else "raw",
                         lm, lb, fm, fb, 100 * lm / fm), flush=True)
    if "tiny" not in CASES:
        os.system("rm -rf " + tmp)
        return 0
    lm, fm, lb, fb, n = compare(small, "invert", 16, 1, "0")
    print("tiny tiles (invert, 2000x2000, %d tiles of 16, %d workers x 1 thread, raw): local "
          "%.3f s, fleet %.3f s: broker overhead %.0f us/tile (wall, %d workers); coordinator "
          "scheduled %.0f tasks/s" % (n, WORKERS, lm, fm, 1e6 * (fm - lm) / n * WORKERS, WORKERS,
                                      n / fm), flush=True)
    os.system("rm -rf " + tmp)


if __name__ == "__main__":
    sys.exit(main())
