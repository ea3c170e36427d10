"""Several coordinators on one PostgreSQL database and one object store
(issue 17): any of them answers for any job, a job is run by one at a time
under a lease in the database, and when its coordinator dies (kill -9)
another takes the job over within the lease (default 10 s, takeover under
15 s) and finishes it with the bytes of an uninterrupted run; a graceful
stop hands its jobs over at once; a cancel through one stops the job on the
other. Runs in the PostgreSQL pass of the suite (SQLite has one
coordinator), always on an S3 store (s3rver): the coordinators share it."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import cv2
import numpy as np

import harness
from harness import BIN, DATA, Server, one_coordinator_only

KERNEL_9X9 = " ".join(str(9 - abs(4 - r) - abs(4 - c)) for r in range(9) for c in range(9))
# About 9 single-thread seconds on big.png: long enough to kill its runner mid-way.
PIPELINE = "|".join(["gaussian-blur:sigma=4|median:ksize=5"]
                    + ["convolve:kernel=" + KERNEL_9X9] * 10)


@unittest.skipIf(harness.DB != "postgresql", "several coordinators need PostgreSQL metadata")
@one_coordinator_only("it starts its own coordinators on one database")
class CoordinatorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-coord-")
        img = cv2.imread(os.path.join(DATA, "hubble_deep_field.jpg"))
        cls.big = os.path.join(cls.tmp, "big.png")
        cv2.imwrite(cls.big, cv2.resize(img, (2400, 2093), interpolation=cv2.INTER_CUBIC))
        want = os.path.join(cls.tmp, "want.png")
        subprocess.run([BIN, "process", "-p", PIPELINE, cls.big, "-o", want], check=True,
                       capture_output=True, timeout=300)
        cls.want = cv2.imread(want, cv2.IMREAD_UNCHANGED)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.shared = tempfile.mkdtemp(prefix="shared-", dir=self.tmp)  # names the db and prefix
        self.store, self.env = harness.s3_store_args(self.shared)
        self.db = harness.db_args(self.shared)
        self.servers = {}

    def tearDown(self):
        for srv in self.servers.values():
            srv.stop()

    def start(self, name):
        srv = Server("--coordinator-id", name, "--threads", "1", "--runners", "2", *self.store,
                     *self.db, env=self.env)
        self.servers[name] = srv
        return srv

    def lease_owner(self, job_id):
        rows = harness.query(self.shared, "SELECT lease_owner FROM jobs WHERE id = ?", (job_id,))
        return rows[0][0] if rows and rows[0][0] else None

    def submit_running(self, srv, other):
        """A job submitted to `srv`, seen running with progress through `other`."""
        status, img, _ = srv.upload(self.big)
        self.assertEqual(status, 201, img)
        status, job, _ = srv.json("POST", "/api/v1/jobs",
                                  {"images": [img["id"]], "pipeline": PIPELINE})
        self.assertEqual(status, 201, job)
        deadline = time.time() + 60
        while time.time() < deadline:
            status, doc, _ = other.json("GET", "/api/v1/jobs/" + job["id"])
            self.assertEqual(status, 200, doc)
            if doc["state"] == "running" and doc["percent"] > 5:
                break
            time.sleep(0.1)
        self.assertEqual(doc["state"], "running", doc)
        return job["id"], img["id"]

    def check_result(self, srv, job_id, image_id):
        status, _, body = srv.request("GET", "/api/v1/jobs/%s/result/%s" % (job_id, image_id))
        self.assertEqual(status, 200)
        got = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)
        self.assertTrue(np.array_equal(got, self.want), "result differs from tessera process")

    def takeover_after(self, stop, bound):
        """Runs a job on a, stops a with `stop`, and checks b finishes it
        within `bound` seconds of the stop; returns the takeover time."""
        a, b = self.start("coord-a"), self.start("coord-b")
        job_id, image_id = self.submit_running(a, b)
        self.assertEqual(self.lease_owner(job_id), "coord-a")
        stop(a)
        stopped = time.time()
        while time.time() - stopped < bound and self.lease_owner(job_id) != "coord-b":
            time.sleep(0.1)
        took = time.time() - stopped
        self.assertEqual(self.lease_owner(job_id), "coord-b", "not taken over in %.0f s" % bound)
        done = b.wait_job(job_id, timeout=120)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertEqual(done["items"][0]["state"], "succeeded", done)
        self.check_result(b, job_id, image_id)
        self.assertIn("job leases", b.log_text())
        return took

    def test_kill9_coordinator_job_taken_over(self):
        def kill9(srv):
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
        took = self.takeover_after(kill9, 15)
        self.assertGreater(took, 5, "taken over before a's lease could run out")

    def test_graceful_stop_hands_over_at_once(self):
        def term(srv):
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(30)
        self.assertLess(self.takeover_after(term, 4), 4)

    def test_any_coordinator_answers_and_cancels(self):
        a, b = self.start("coord-a"), self.start("coord-b")
        job_id, _ = self.submit_running(a, b)
        # b streams the progress of a's job and its end
        c = b.conn(timeout=60)
        c.request("GET", "/api/v1/jobs/%s/events" % job_id,
                  headers={"Authorization": "Bearer " + harness.ADMIN_TOKEN})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        events = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = r.fp.readline().decode()  # (chunk-size lines are skipped)
            if not line:
                break
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == 2:  # seen running there: cancel it here
                    status, _, _ = b.json("DELETE", "/api/v1/jobs/" + job_id)
                    self.assertIn(status, (200, 202, 204))
                if events[-1]["state"] == "cancelled":
                    break
        c.close()
        self.assertEqual(events[0]["state"], "running", events[:2])
        self.assertEqual(events[-1]["state"], "cancelled", events[-3:])
        self.assertIsNone(self.lease_owner(job_id))  # an ended job is nobody's
        # a learns of it at its next renewal and stops the image it was running
        deadline = time.time() + 10
        while time.time() < deadline:
            _, doc, _ = a.json("GET", "/api/v1/jobs/" + job_id)
            if doc["items"][0]["state"] == "cancelled":
                break
            time.sleep(0.2)
        self.assertEqual((doc["state"], doc["items"][0]["state"]), ("cancelled", "cancelled"), doc)

    def test_idempotency_key_holds_across_coordinators(self):
        """A submission retried through another coordinator with its
        Idempotency-Key gets the first one's job."""
        a, b = self.start("coord-a"), self.start("coord-b")
        _, img, _ = a.upload(os.path.join(DATA, "chelsea.png"))
        body = {"images": [img["id"]], "pipeline": "invert"}
        key = {"Idempotency-Key": "across-1"}
        status, first, _ = a.json("POST", "/api/v1/jobs", body, key)
        self.assertEqual(status, 201, first)
        status, again, _ = b.json("POST", "/api/v1/jobs", body, key)
        self.assertEqual((status, again["id"]), (201, first["id"]))
        self.assertEqual(b.wait_job(first["id"])["state"], "succeeded")
        _, doc, _ = b.json("GET", "/api/v1/jobs?limit=10")
        self.assertEqual([j["id"] for j in doc["jobs"]], [first["id"]])

    def test_rate_limit_holds_across_coordinators(self):
        """--rate-limit 4 --rate-burst 8 on each of two coordinators: once
        each has seen the other, they split the account's budget, so a
        burst spread over both lets about 8 requests through, not 16."""
        extra = ("--rate-limit", "4", "--rate-burst", "8")
        a = Server("--coordinator-id", "coord-a", *extra, *self.store, *self.db, env=self.env)
        self.servers["coord-a"] = a
        b = Server("--coordinator-id", "coord-b", *extra, *self.store, *self.db, env=self.env)
        self.servers["coord-b"] = b
        time.sleep(3.5)  # a beat of each (every quarter lease, 2.5 s)
        for srv in (a, b):  # one request each: the limiters learn the count
            srv.json("GET", "/api/v1/users/me")
        time.sleep(2.5)  # the buckets refill to their (halved) burst
        codes = [(a if i % 2 else b).json("GET", "/api/v1/users/me")[0] for i in range(16)]
        self.assertLessEqual(codes.count(200), 10, codes)
        self.assertGreaterEqual(codes.count(200), 7, codes)
        self.assertIn(429, codes)

    def ready(self, srv, want, within=10):
        """Polls /readyz until it answers `want` (200 or 503); its body."""
        deadline = time.time() + within
        while True:
            status, doc, h = srv.json("GET", "/readyz", token=None)
            if status == want or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(status, want, doc)
        if want == 503:
            self.assertIn("retry-after", h)
        return doc

    def test_readyz_says_when_the_database_or_store_is_gone(self):
        """A load balancer's view: /readyz fails while the coordinator's
        database or object store does not answer, and recovers with them
        (the coordinator reconnects by itself)."""
        sys_path = os.path.join(harness.ROOT, "tests", "pg")
        import sys
        sys.path.insert(0, sys_path)
        import pgcluster
        pg = pgcluster.Cluster().start()
        self.addCleanup(pg.close)
        srv = Server("--db", pg.create_db(), *self.store, env=self.env)
        self.servers["solo"] = srv
        self.ready(srv, 200)
        harness._s3.kill()
        try:
            doc = self.ready(srv, 503)
            self.assertIn("blob store", doc["error"]["message"])
        finally:
            harness._s3.restart()
        self.ready(srv, 200)
        pg.kill()
        try:
            doc = self.ready(srv, 503)
            self.assertIn("database", doc["error"]["message"])
        finally:
            pg.restart()
        self.ready(srv, 200, within=20)
        self.assertEqual(srv.upload(os.path.join(DATA, "chelsea.png"))[0], 201)


if __name__ == "__main__":
    unittest.main()
