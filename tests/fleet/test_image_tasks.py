"""Image tasks end to end: a real redis-server, `tessera worker --store`
processes that read inputs from the shared blob store and write results
there, and a `tessera serve --redis` coordinator on the same store (a shared
folder in the files pass, the suite's S3 server with TESSERA_TEST_STORE=s3).
Outputs must be byte-identical to the local executor; only small messages
may cross Redis; killed workers, poison images, a Redis that lost its tail
and the planner's choice are checked, every wait bounded."""
import os
import shutil
import random
import re
import time
import unittest

import numpy as np

import fleet
from fleet import DATA, STORE, Worker, coordinator, shared_store, supervised
from test_fleet import HEAVY, PIPELINES, big_image, local_process, result, run_job
from harness import unique_bytes


def upload_copies(srv, path, n):
    """n images of the same picture: uploads of the same bytes are stored
    once, so each copy differs (harness.unique_bytes), not its pixels."""
    with open(path, "rb") as f:
        data = f.read()
    ids = []
    for i in range(n):
        status, doc, _ = srv.upload_bytes(unique_bytes(data, i), os.path.basename(path))
        assert status == 201, (status, doc)
        ids.append(doc["id"])
    return ids

LEASE = "1000"


def entries_read(redis, stream):
    """Entries the consumer group `workers` has been given from `stream`."""
    lines = redis.cli("XINFO", "GROUPS", stream).split()
    if "entries-read" not in lines:
        return 0
    value = lines[lines.index("entries-read") + 1]
    return int(value) if value.isdigit() else 0


def redis_bytes(redis):
    """Bytes Redis has received and sent on all connections so far."""
    stats = dict(line.split(":", 1) for line in redis.cli("INFO", "stats").split()
                 if ":" in line)
    return int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])


class ImageTaskTest(fleet.FleetCase):
    TMP_PREFIX = "tessera-images-"

    def setUp(self):
        super().setUp()
        self.store, self.store_env = shared_store(self.tmp)

    def start_workers(self, n, *args, env=None):
        env = dict(self.store_env, **(env or {}))
        for _ in range(n):
            self.workers.append(Worker(self.redis.url, "--threads", "1", "--image-threads", "1",
                                       "--lease-ms", LEASE, "--block-ms", "500", *self.store,
                                       *args, env=env, log_dir=self.tmp))

    def start_coordinator(self, *args, data=None):
        srv = coordinator(self.redis, "--lease-ms", LEASE, *self.store, *args, data=data,
                          env=self.store_env)
        self.servers.append(srv)
        return srv

    def assert_drained(self):
        """Nothing pending, nothing left in either task stream."""
        deadline = time.time() + 10
        while time.time() < deadline:
            left = [self.redis.cli("XLEN", "tessera:default:" + s).strip()
                    for s in ("tasks", "images")]
            pending = [self.redis.cli("XPENDING", "tessera:default:" + s, "workers").split()[:1]
                       for s in ("tasks", "images")]
            if left == ["0", "0"] and all(p in ([], ["0"]) for p in pending):
                return
            time.sleep(0.2)
        self.fail("tasks left in Redis: XLEN %s, XPENDING %s" % (left, pending))

    def blob_files(self):
        """Blob files in the shared folder (files pass only)."""
        root = os.path.join(self.tmp, "shared-blobs")
        return sorted(f for d in os.listdir(root) if len(d) == 2
                      for f in os.listdir(os.path.join(root, d)))

    def test_identical_to_local_and_no_pixels_through_redis(self):
        paths = [os.path.join(DATA, "chelsea.png"), os.path.join(DATA, "hubble_deep_field.jpg"),
                 big_image(self.tmp)]
        self.start_workers(2)
        srv = self.start_coordinator("--task-kind", "image", "--tile", "64")
        ids = [srv.upload(p)[1]["id"] for p in paths]
        sizes = sum(os.path.getsize(p) for p in paths)
        for p in PIPELINES:
            want = [local_process(p, path) for path in paths]
            before, read = redis_bytes(self.redis), entries_read(self.redis, "tessera:default:images")
            job_id, done = run_job(srv, ids, p)
            self.assertEqual(done["state"], "succeeded", (p, done))
            self.assertEqual(done["tiles_done"], done["tiles_total"], done)
            per_image = (redis_bytes(self.redis) - before) / len(ids)
            # tasks, completions, progress and the fleet's own chatter: no pixels
            self.assertLess(per_image, 16384, "%s: %d bytes through Redis per image" % (p, per_image))
            self.assertLess(per_image * len(ids), sizes / 10)
            self.assertEqual(entries_read(self.redis, "tessera:default:images") - read, len(ids))
            for image_id, w in zip(ids, want):
                self.assertTrue(np.array_equal(result(srv, job_id, image_id), w),
                                "%s: image %s differs from the local run" % (p, image_id))
        self.assertEqual(entries_read(self.redis, "tessera:default:tasks"), 0)
        self.assert_drained()

    def test_tile_and_image_tasks_at_once_identical(self):
        """auto with --tile-task-ms 1: a job of one 2-Mpx image under a heavy
        pipeline goes as tile tasks while a job of three images goes as image
        tasks, at the same time on the same workers; both give the local
        bytes."""
        big, paths = big_image(self.tmp), [os.path.join(DATA, "chelsea.png"),
                                           os.path.join(DATA, "hubble_deep_field.jpg")]
        self.start_workers(2)
        srv = self.start_coordinator("--tile-task-ms", "1", "--tile", "64", "--runners", "2")
        big_id = upload_copies(srv, big, 1)[0]
        ids = [srv.upload(p)[1]["id"] for p in paths] + [big_id]
        light = PIPELINES[0]
        jobs = []
        for images, p in (([big_id], HEAVY), (ids, light)):
            status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": images, "pipeline": p})
            self.assertEqual(status, 201, job)
            jobs.append((job["id"], images, p))
        for job_id, images, p in jobs:
            done = srv.wait_job(job_id, timeout=180)
            self.assertEqual(done["state"], "succeeded", done)
            for i, path in zip(ids, paths + [big]):
                if i in images:
                    self.assertTrue(np.array_equal(result(srv, job_id, i), local_process(p, path)),
                                    (job_id, i))
        self.assertGreater(entries_read(self.redis, "tessera:default:tasks"), 0)
        self.assertEqual(entries_read(self.redis, "tessera:default:images"), 3)
        self.assert_drained()

    def test_planner_picks_the_task_kind(self):
        """auto: several images, or one under a light pipeline, go as image
        tasks; one image whose compute is at least --tile-task-ms and 0.1 s
        a megapixel (a heavy pipeline) goes as tile tasks; with no worker
        that has a store, tile tasks (which every worker takes)."""
        small, big = os.path.join(DATA, "chelsea.png"), big_image(self.tmp)  # 0.14 and 1.96 Mpx
        srv = self.start_coordinator("--tile-task-ms", "1", "--tile", "64")
        a, b = srv.upload(small)[1]["id"], srv.upload(big)[1]["id"]
        plain = Worker(self.redis.url, "--threads", "1", "--lease-ms", LEASE, "--block-ms", "500",
                       log_dir=self.tmp)  # no --store: tiles only
        self.workers.append(plain)
        time.sleep(3)  # the monitor's first poll sees it
        _, done = run_job(srv, [a, b], "invert")
        self.assertEqual(done["state"], "succeeded", done)
        self.assertEqual(entries_read(self.redis, "tessera:default:images"), 0)
        tiles = entries_read(self.redis, "tessera:default:tasks")
        self.assertGreater(tiles, 0)
        self.start_workers(1)
        deadline = time.time() + 10  # until the monitor has seen it
        while time.time() < deadline:
            _, doc, _ = srv.json("GET", "/api/v1/workers")
            if any(w.get("image_threads", 0) > 0 for w in doc.get("workers", doc)):
                break
            time.sleep(0.3)
        for images, p, kind in (([a, b], "invert", "images"), ([a], "invert", "images"),
                                ([b], "invert", "images"), ([b], HEAVY, "tasks")):
            before = {s: entries_read(self.redis, "tessera:default:" + s) for s in ("images", "tasks")}
            _, done = run_job(srv, images, p)
            self.assertEqual(done["state"], "succeeded", done)
            grew = [s for s in before if entries_read(self.redis, "tessera:default:" + s) > before[s]]
            self.assertEqual(grew, [kind], "job of %d images, %s" % (len(images), p))
        self.assert_drained()

    def test_killed_workers_leave_one_whole_result(self):
        """kill -9 of a random worker every second during a job of four heavy
        images: each image task is taken over after its lease, every result
        is the local one, and the store holds exactly one result per image
        (a retried task rewrites the same blob whole)."""
        path = big_image(self.tmp)
        want = local_process(HEAVY, path)
        self.start_workers(3)
        srv = self.start_coordinator("--task-kind", "image")
        ids = upload_copies(srv, path, 4)
        status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": HEAVY})
        self.assertEqual(status, 201, job)
        kills, rnd = 0, random.Random(7)
        deadline = time.time() + 240
        while time.time() < deadline:
            _, doc, _ = srv.json("GET", "/api/v1/jobs/" + job["id"])
            if doc["state"] in ("succeeded", "failed", "cancelled") or kills >= 6:
                break
            time.sleep(1.0)
            rnd.choice(self.workers).restart()
            kills += 1
        done = srv.wait_job(job["id"], timeout=240)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertGreaterEqual(kills, 2, "the job ended before the workers were killed")
        for image_id in ids:
            self.assertTrue(np.array_equal(result(srv, job["id"], image_id), want))
        if STORE != "s3":
            self.assertEqual(len(self.blob_files()), 4 + 4, self.blob_files())
        self.assert_drained()

    def test_progress_is_live_inside_an_image(self):
        path = big_image(self.tmp, size=(3000, 2616))
        self.start_workers(1)
        srv = self.start_coordinator("--task-kind", "image")
        image_id = srv.upload(path)[1]["id"]
        status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": [image_id], "pipeline": HEAVY})
        self.assertEqual(status, 201, job)
        seen = set()
        deadline = time.time() + 120
        while time.time() < deadline:
            _, doc, _ = srv.json("GET", "/api/v1/jobs/" + job["id"])
            if doc["state"] != "running" and doc["state"] != "queued":
                break
            seen.add(doc["percent"])
            time.sleep(0.25)
        self.assertEqual(doc["state"], "succeeded", doc)
        inside = sorted(p for p in seen if 0 < p < 100)
        self.assertGreaterEqual(len(inside), 2, "no progress inside the image: %s" % sorted(seen))

    def test_worker_with_an_unusable_store_stops_at_start(self):
        """An unreachable store, or none named with a store-only flag: the
        worker exits at once with one clear message instead of joining."""
        for args, want in ((["--store", "s3://bucket/x", "--s3-endpoint", "http://127.0.0.1:1"],
                            "unreachable"),
                           (["--store", "ftp://x"], "--store wants")):
            w = Worker(self.redis.url, *args, log_dir=self.tmp,
                       env={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
            self.workers.append(w)
            w.proc.wait(30)
            self.assertNotEqual(w.proc.returncode, 0)
            self.assertIn(want, w.text())

    @unittest.skipIf(STORE != "s3", "the S3 pass kills its store")
    def test_store_killed_and_restarted_mid_job(self):
        """The S3 store dies a second into a job of image tasks and comes
        back 1.5 s later: the workers' reads and writes are retried with
        backoff, every result is the local one, and the bucket holds no
        partial upload."""
        import harness
        path = big_image(self.tmp)
        want = local_process(HEAVY, path)
        self.start_workers(2)
        srv = self.start_coordinator("--task-kind", "image")
        with open(path, "rb") as f:
            data = f.read()
        ids = [srv.upload_bytes(harness.unique_bytes(data, i), "big-%d.png" % i)[1]["id"]
               for i in range(4)]
        status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": HEAVY})
        self.assertEqual(status, 201, job)
        time.sleep(1.0)
        harness._s3.kill()
        try:
            time.sleep(1.5)
        finally:
            harness._s3.restart()
        done = srv.wait_job(job["id"], timeout=180)
        self.assertEqual(done["state"], "succeeded", done)
        for image_id in ids:
            self.assertTrue(np.array_equal(result(srv, job["id"], image_id), want))
        self.assertEqual(harness._s3.pending_uploads(), [])
        self.assert_drained()

    def test_failing_image_fails_its_job_with_the_workers_message(self):
        self.start_workers(1, env={"TESSERA_TEST_FAIL_TILE": "0"})
        srv = self.start_coordinator("--task-kind", "image")
        image_id = srv.upload(os.path.join(DATA, "chelsea.png"))[1]["id"]
        _, done = run_job(srv, [image_id], "invert", timeout=60)
        self.assertEqual(done["state"], "failed", done)
        self.assertIn("injected failure", done["error"])
        self.assert_drained()

    def test_crashing_image_goes_to_the_dead_stream(self):
        self.start_workers(2, "--delivery-limit", "2", env={"TESSERA_TEST_CRASH_TILE": "0"})
        srv = self.start_coordinator("--task-kind", "image")
        image_id = srv.upload(os.path.join(DATA, "chelsea.png"))[1]["id"]
        with supervised(self.workers):
            _, done = run_job(srv, [image_id], "invert", timeout=90)
        self.assertEqual(done["state"], "failed", done)
        self.assertIn("dead stream", done["error"])
        self.assertIn("image", self.redis.cli("XRANGE", "tessera:default:dead", "-", "+"))
        self.assert_drained()

    def test_lost_tail_resent_within_a_lease(self):
        """Redis restarted from an AOF copied just before a job started,
        three times at different points of the job (0.3, 1.5 and 3 s in),
        with the send mark hiding the loss: the image tasks and completions
        Redis lost are found by the audit and sent again within about a lease
        (image tasks are never resent by the timer), and every result is the
        local one."""
        path = big_image(self.tmp)
        want = local_process(HEAVY, path)
        self.redis.cli("CONFIG", "SET", "auto-aof-rewrite-percentage", "0")
        self.start_workers(2)
        srv = self.start_coordinator("--task-kind", "image", "--resend-ms", "600000",
                                     "--coordinator-id", "lost-tail")
        ids = upload_copies(srv, path, 6)
        aof = os.path.join(self.redis.dir, "appendonlydir")
        for round_, delay in enumerate((0.3, 1.5, 3.0)):
            # the copy is taken before the job: all it did in Redis is lost
            snapshot = os.path.join(self.tmp, "aof-%d" % round_)
            shutil.copytree(aof, snapshot)
            status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": HEAVY})
            self.assertEqual(status, 201, job)
            time.sleep(delay)
            _, doc, _ = srv.json("GET", "/api/v1/jobs/" + job["id"])
            self.assertEqual(doc["state"], "running", doc)
            fleet.restore_lost_tail(self.redis, snapshot, "tessera:default:sent:lost-tail")
            restarted = time.time()
            done = srv.wait_job(job["id"], timeout=90)
            self.assertEqual(done["state"], "succeeded", done)
            self.assertLess(time.time() - restarted, 45, "round %d" % round_)
            for image_id in ids:
                self.assertTrue(np.array_equal(result(srv, job["id"], image_id), want))
        _, _, body = srv.request("GET", "/metrics")
        text = body.decode()
        lost = int(re.search(r"^tessera_fleet_tasks_lost_total (\d+)", text, re.M).group(1))
        self.assertGreater(lost, 0, "nothing was lost: the test proves nothing")
        self.assertIn("tasks in flight are gone from Redis", srv.log_text())
        self.assert_drained()


if __name__ == "__main__":
    unittest.main()
