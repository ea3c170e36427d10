"""The Redis fleet end to end: a real redis-server (AOF) on a random loopback
port, real `tessera worker` processes, a `tessera serve --redis` coordinator
with no local workers. Outputs must be byte-identical to the local executor
(`tessera process` and a local `tessera serve`) whatever the worker count,
tile size or failures (killed and stalled workers, a poison tile, a Redis
restart, a coordinator restart). Leases are short (--lease-ms) so the
failure tests are quick; every wait is bounded."""
import os
import shutil
import random
import signal
import subprocess
import tempfile
import time
import unittest

import cv2
import numpy as np

import fleet
from fleet import BIN, DATA, Server, Worker, coordinator

LEASE = "1000"
PIPELINES = [
    "invert|brightness:delta=-30|gaussian-blur:sigma=2|sharpen",  # point + stencil
    "rotate:angle=33|resize:scale=0.7,interp=lanczos",  # geometric
    "equalize|threshold-otsu",  # GLOBAL: histogram, Otsu
    "grayscale|canny:low=50,high=150|hough-lines:threshold=60,mode=draw",  # GLOBAL: canny, hough
]
# Seconds of work on big_image() on every machine this runs on: a 9x9
# integer convolution costs about as much per pixel as it did before the
# median got fast, with a small halo, so tile and image tasks both last.
# Tests that kill things "mid-job" rely on it; keep it several seconds long.
KERNEL_9X9 = " ".join(str(9 - abs(4 - r) - abs(4 - c)) for r in range(9) for c in range(9))
HEAVY = "|".join(["gaussian-blur:sigma=10|median:ksize=5|gaussian-blur:sigma=6|sharpen"]
                 + ["convolve:kernel=" + KERNEL_9X9] * 12)
# As long on a 3000x2616 image (~13 core-seconds at tile 64) with a small
# halo (46 px), so each tile task's payload, and the AOF a test copies while
# Redis writes it, stay small.
SMALL_HALO = "|".join(["gaussian-blur:sigma=2"] + ["convolve:kernel=" + KERNEL_9X9] * 10)


def decode(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def local_process(pipeline, path, tile=64):
    """The local executor's output as a decoded array."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.png")
        r = subprocess.run([BIN, "process", "-p", pipeline, path, "-o", out, "--tile", str(tile)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return cv2.imread(out, cv2.IMREAD_UNCHANGED)


def run_job(srv, image_ids, pipeline, timeout=120):
    status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": image_ids, "pipeline": pipeline})
    assert status == 201, (status, job)
    return job["id"], srv.wait_job(job["id"], timeout=timeout)


def result(srv, job_id, image_id):
    status, _, body = srv.request("GET", "/api/v1/jobs/%s/result/%s" % (job_id, image_id))
    assert status == 200, status
    return decode(body)


def big_image(tmp, size=(1500, 1308)):
    """hubble_deep_field scaled to 1500x1308 (default): 504 tiles of 64."""
    img = cv2.imread(os.path.join(DATA, "hubble_deep_field.jpg"))
    img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
    path = os.path.join(tmp, "big-%dx%d.png" % size)
    cv2.imwrite(path, img)
    return path


class FleetTest(fleet.FleetCase):
    TMP_PREFIX = "tessera-fleet-"

    def start_workers(self, n, *args, env=None):
        for _ in range(n):
            self.workers.append(Worker(self.redis.url, "--threads", "1", "--lease-ms", LEASE,
                                       "--block-ms", "500", *args, env=env, log_dir=self.tmp))

    def start_coordinator(self, *args, data=None):
        srv = coordinator(self.redis, "--lease-ms", LEASE, *args, data=data)
        self.servers.append(srv)
        return srv

    def assert_drained(self):
        """Nothing pending, nothing left in the tasks stream."""
        deadline = time.time() + 10
        while time.time() < deadline:
            pending = self.redis.cli("XPENDING", "tessera:default:tasks", "workers").split()
            left = self.redis.cli("XLEN", "tessera:default:tasks").strip()
            if pending and pending[0] == "0" and left == "0":
                return
            time.sleep(0.2)
        self.fail("tasks left in Redis: XPENDING %s, XLEN %s" % (pending, left))

    def test_identical_to_local_for_workers_and_tiles(self):
        path = os.path.join(DATA, "chelsea.png")
        want = {p: local_process(p, path) for p in PIPELINES}
        # A local `tessera serve` (no Redis) gives the same bytes too.
        local = Server()
        self.servers.append(local)
        _, img, _ = local.upload(path)
        for p in PIPELINES:
            job_id, done = run_job(local, [img["id"]], p)
            self.assertEqual(done["state"], "succeeded", done)
            self.assertTrue(np.array_equal(result(local, job_id, img["id"]), want[p]), p)
        started = 0
        pairs = 0
        for n in (1, 2, 4):
            # Worker 2 posts raw results, the others zstd ones.
            self.start_workers(n - started, *(["--compress", "0"] if n == 2 else []))
            started = n
            for tile in (16, 64, 256):
                # Tasks alternate between raw (written straight from the
                # rows) and zstd, so every tile size and worker count sees both.
                level = "0" if pairs % 2 == 0 else "1"
                pairs += 1
                srv = self.start_coordinator("--tile", str(tile), "--compress", level)
                _, img, _ = srv.upload(path)
                for p in PIPELINES:
                    job_id, done = run_job(srv, [img["id"]], p)
                    self.assertEqual(done["state"], "succeeded", (n, tile, p, done))
                    got = result(srv, job_id, img["id"])
                    self.assertTrue(np.array_equal(got, want[p]),
                                    "workers %d, tile %d, compress %s, %s: output differs"
                                    % (n, tile, level, p))
                srv.stop()
                self.servers.remove(srv)
        self.assert_drained()
        done = sum(int(w.alive()) for w in self.workers)
        self.assertEqual(done, 4)

    def test_kill9_random_workers_every_second(self):
        path = big_image(self.tmp)
        want = local_process(HEAVY, path)
        self.start_workers(3)
        srv = self.start_coordinator("--tile", "64")
        _, img, _ = srv.upload(path)
        status, job, _ = srv.json("POST", "/api/v1/jobs",
                                  {"images": [img["id"]], "pipeline": HEAVY})
        self.assertEqual(status, 201, job)
        kills = 0
        deadline = time.time() + 180
        rnd = random.Random(4)
        while time.time() < deadline:
            _, doc, _ = srv.json("GET", "/api/v1/jobs/" + job["id"])
            if doc["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(1.0)
            w = rnd.choice(self.workers)
            w.restart()  # kill -9, then a fresh worker takes its place
            kills += 1
        done = srv.wait_job(job["id"], timeout=60)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertGreaterEqual(done["tiles_total"], 200)
        self.assertGreaterEqual(kills, 2, "the job ended before the workers were killed")
        self.assertTrue(np.array_equal(result(srv, job["id"], img["id"]), want))
        self.assert_drained()

    def test_dead_workers_tiles_taken_over_while_the_queue_is_full(self):
        """kill -9 of a worker while two jobs keep the queue full: the busy
        workers take its tiles over once their lease (1 s) has passed, not
        when the queue runs dry, and not by the coordinator's resend timer
        (10 minutes here). Both jobs finish with the local bytes."""
        path = big_image(self.tmp, (3000, 2616))  # 1 974 tiles of 64 per job
        want = local_process(HEAVY, path)
        self.start_workers(3)
        srv = self.start_coordinator("--tile", "64", "--resend-ms", "600000")
        _, img, _ = srv.upload(path)
        jobs = []
        for _ in range(2):
            status, job, _ = srv.json("POST", "/api/v1/jobs",
                                      {"images": [img["id"]], "pipeline": HEAVY})
            self.assertEqual(status, 201, job)
            jobs.append(job["id"])
        time.sleep(1.0)
        victim = self.workers[0]
        victim.proc.kill()
        victim.proc.wait(10)
        killed = time.time()
        taken_over = None
        while time.time() - killed < 20:
            n = self.redis.cli("HGET", "tessera:default:stats", "reclaims").strip()
            if n and int(n) >= 1:
                taken_over = time.time() - killed
                break
            time.sleep(0.05)
        states = [srv.json("GET", "/api/v1/jobs/" + j)[1]["state"] for j in jobs]
        self.assertIsNotNone(taken_over, "no tile was taken over")
        self.assertLess(taken_over, 4.0, "taken over only after %.1f s" % taken_over)
        self.assertIn("running", states, "the queue ran dry before the take-over: %s" % states)
        for j in jobs:
            done = srv.wait_job(j, timeout=120)
            self.assertEqual(done["state"], "succeeded", done)
            self.assertTrue(np.array_equal(result(srv, j, img["id"]), want))
        self.assert_drained()

    def test_sigstop_past_lease_late_result_dropped(self):
        path = big_image(self.tmp)
        want = local_process(HEAVY, path)
        self.start_workers(2)
        srv = self.start_coordinator("--tile", "64")
        _, img, _ = srv.upload(path)
        status, job, _ = srv.json("POST", "/api/v1/jobs",
                                  {"images": [img["id"]], "pipeline": HEAVY})
        self.assertEqual(status, 201, job)
        time.sleep(0.5)
        stalled = self.workers[0]
        me = stalled.text().split(" as ", 1)[1].split()[0] + "/0"
        for _ in range(50):  # stop it while it holds a task
            stalled.signal(signal.SIGSTOP)
            time.sleep(0.05)
            summary = self.redis.cli("XPENDING", "tessera:default:tasks", "workers")
            if me in summary.split():
                break
            stalled.signal(signal.SIGCONT)
            time.sleep(0.02)
        else:
            self.fail("the worker never held a task")
        time.sleep(3 * int(LEASE) / 1000.0)  # its task is reclaimed and finished elsewhere
        stalled.signal(signal.SIGCONT)
        done = srv.wait_job(job["id"], timeout=120)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue(np.array_equal(result(srv, job["id"], img["id"]), want))
        time.sleep(0.5)
        log = srv.log_text()
        self.assertIn("dropped a late or duplicate result", log)
        self.assert_drained()

    def test_poison_tile_fails_its_job_only(self):
        big = big_image(self.tmp)
        env = {"TESSERA_TEST_CRASH_TILE": "40"}
        self.start_workers(3, env=env)
        srv = self.start_coordinator("--tile", "64")
        _, a, _ = srv.upload(big)
        _, b, _ = srv.upload(os.path.join(DATA, "chelsea.png"))  # 8x5 = 40 tiles: 0..39
        want_b = local_process("gaussian-blur:sigma=2|sharpen", os.path.join(DATA, "chelsea.png"))
        with fleet.supervised(self.workers):
            status, ja, _ = srv.json("POST", "/api/v1/jobs",
                                     {"images": [a["id"]], "pipeline": "gaussian-blur:sigma=2"})
            self.assertEqual(status, 201)
            status, jb, _ = srv.json("POST", "/api/v1/jobs", {"images": [b["id"]],
                                                              "pipeline": "gaussian-blur:sigma=2|sharpen"})
            self.assertEqual(status, 201)
            da = srv.wait_job(ja["id"], timeout=120)
            db = srv.wait_job(jb["id"], timeout=120)
        self.assertEqual(db["state"], "succeeded", db)
        self.assertTrue(np.array_equal(result(srv, jb["id"], b["id"]), want_b))
        self.assertEqual(da["state"], "failed", da)
        msg = da["error"] or da["items"][0]["error"]
        self.assertIn("image " + a["id"], msg)
        self.assertIn("tile 40 failed 5 times", msg)
        self.assertIn("dead stream", msg)
        dead = self.redis.cli("XRANGE", "tessera:default:dead", "-", "+")
        self.assertIn("attempts", dead)
        self.assert_drained()

    def restart_redis_mid_job(self, *coord_args, came_back_empty=False):
        """Runs HEAVY on 2 workers, kills Redis a second into the job and
        starts it again; the job must finish with the local bytes and leave
        nothing pending. Returns the coordinator."""
        path = big_image(self.tmp)
        want = local_process(HEAVY, path)
        self.start_workers(2)
        srv = self.start_coordinator("--tile", "64", *coord_args)
        _, img, _ = srv.upload(path)
        status, job, _ = srv.json("POST", "/api/v1/jobs",
                                  {"images": [img["id"]], "pipeline": HEAVY})
        self.assertEqual(status, 201, job)
        time.sleep(1.0)
        _, doc, _ = srv.json("GET", "/api/v1/jobs/" + job["id"])
        self.assertEqual(doc["state"], "running", doc)
        self.redis.kill()
        time.sleep(1.0)
        self.redis.start()
        if came_back_empty:
            self.assertEqual(self.redis.cli("DBSIZE").strip(), "0")
        done = srv.wait_job(job["id"], timeout=60 if came_back_empty else 120)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue(np.array_equal(result(srv, job["id"], img["id"]), want))
        self.assert_drained()
        return srv

    def test_readyz_follows_redis(self):
        """/readyz fails while the coordinator's Redis is down (its last
        poll failed), naming it, and recovers when Redis is back."""
        srv = self.start_coordinator()

        def ready(want):
            deadline = time.time() + 15
            while True:
                status, doc, _ = srv.json("GET", "/readyz", token=None)
                if status == want or time.time() > deadline:
                    return status, doc
                time.sleep(0.2)
        self.assertEqual(ready(200)[0], 200)
        self.redis.kill()
        try:
            status, doc = ready(503)
            self.assertEqual(status, 503, doc)
            self.assertIn("Redis", doc["error"]["message"])
        finally:
            self.redis.start()
        self.assertEqual(ready(200), (200, {"status": "ready"}))

    def test_coordinator_keys_expire(self):
        """A coordinator's results stream and send mark carry an expiry
        (an hour), pushed back while it runs and by the workers' posts, so
        a coordinator gone for good (a pod replaced under a new id) leaves
        nothing in Redis."""
        srv = self.start_coordinator("--coordinator-id", "keys-ttl")
        self.start_workers(1)
        _, img, _ = srv.upload(os.path.join(DATA, "chelsea.png"))
        _, done = run_job(srv, [img["id"]], PIPELINES[0])
        self.assertEqual(done["state"], "succeeded", done)
        keys = ["tessera:default:results:keys-ttl", "tessera:default:sent:keys-ttl"]
        deadline = time.time() + 15  # the coordinator refreshes every 10 s
        while True:
            ttls = [int(self.redis.cli("PTTL", k).strip()) for k in keys]
            if all(0 < t <= 3600000 for t in ttls) or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertTrue(all(0 < t <= 3600000 for t in ttls), dict(zip(keys, ttls)))

    def test_redis_killed_and_restarted_mid_job(self):
        self.restart_redis_mid_job("--resend-ms", "5000")

    def test_redis_without_persistence_restarted_mid_job(self):
        """Redis comes back empty (no AOF, no RDB): the coordinator finds its
        send mark below what Redis had acknowledged and sends every task in
        flight again at once. The resend timer (10 minutes here) plays no
        part, so the job finishes in seconds. Raw tasks: written from the
        rows."""
        self.redis.stop()
        self.redis = fleet.Redis("no")
        srv = self.restart_redis_mid_job("--resend-ms", "600000", "--compress", "0",
                                         came_back_empty=True)
        _, _, body = srv.request("GET", "/metrics")
        self.assertRegex(body.decode(), r"tessera_fleet_redis_losses_total [1-9]")
        self.assertIn("came back without tasks it had acknowledged", srv.log_text())

    def test_lost_tail_resent_within_a_lease(self):
        """Redis restarted from an AOF copied a moment before it was killed,
        three times in a row at different points of a job, with the send mark
        hiding the loss and the resend timer at 10 minutes: the tasks Redis
        no longer holds are found by the audit and sent again within about a
        lease (1 s here), and every job ends with the local bytes."""
        path = big_image(self.tmp, size=(3000, 2616))  # 2016 tiles: ~7 s of work here
        want = local_process(SMALL_HALO, path)
        # no AOF rewrite may swap the files while the test copies them
        self.redis.cli("CONFIG", "SET", "auto-aof-rewrite-percentage", "0")
        self.start_workers(2)
        srv = self.start_coordinator("--tile", "64", "--resend-ms", "600000",
                                     "--coordinator-id", "lost-tail")
        _, img, _ = srv.upload(path)
        aof = os.path.join(self.redis.dir, "appendonlydir")
        for round_, delay in enumerate((0.5, 1.5, 3.0)):
            status, job, _ = srv.json("POST", "/api/v1/jobs",
                                      {"images": [img["id"]], "pipeline": SMALL_HALO})
            self.assertEqual(status, 201, job)
            time.sleep(delay)
            snapshot = os.path.join(self.tmp, "aof-%d" % round_)
            shutil.copytree(aof, snapshot)
            time.sleep(0.4)  # tasks sent and results posted after the copy: lost
            _, doc, _ = srv.json("GET", "/api/v1/jobs/" + job["id"])
            self.assertEqual(doc["state"], "running", doc)
            fleet.restore_lost_tail(self.redis, snapshot, "tessera:default:sent:lost-tail")
            restarted = time.time()
            done = srv.wait_job(job["id"], timeout=60)
            self.assertEqual(done["state"], "succeeded", done)
            # the job's own work after the restart is a few seconds at most;
            # without the audit it waits for the 10-minute resend timer
            self.assertLess(time.time() - restarted, 25, "round %d" % round_)
            self.assertTrue(np.array_equal(result(srv, job["id"], img["id"]), want))
        _, _, body = srv.request("GET", "/metrics")
        self.assertRegex(body.decode(), r"tessera_fleet_tasks_lost_total [1-9]")
        self.assertIn("tasks in flight are gone from Redis", srv.log_text())
        self.assert_drained()

    def test_coordinator_killed_and_restarted_mid_job(self):
        path = big_image(self.tmp)
        want = local_process(HEAVY, path)
        self.start_workers(2)
        data = os.path.join(self.tmp, "data")
        srv = self.start_coordinator("--tile", "64", data=data)
        _, img, _ = srv.upload(path)
        status, job, _ = srv.json("POST", "/api/v1/jobs",
                                  {"images": [img["id"]], "pipeline": HEAVY})
        self.assertEqual(status, 201, job)
        time.sleep(1.0)
        srv.proc.kill()
        srv.proc.wait(10)
        srv2 = self.start_coordinator("--tile", "64", data=data)
        done = srv2.wait_job(job["id"], timeout=120)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue(np.array_equal(result(srv2, job["id"], img["id"]), want))
        self.assert_drained()

    def test_worker_sigterm_drains(self):
        self.start_workers(1)
        w = self.workers[0]
        time.sleep(0.3)
        w.signal(signal.SIGTERM)
        self.assertEqual(w.proc.wait(10), 0)
        self.assertIn("draining", w.text())


if __name__ == "__main__":
    unittest.main()
