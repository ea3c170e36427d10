"""Three coordinators on PostgreSQL, an S3 store and Redis (each with one
in-process fleet worker) behind HAProxy (issue 17): the API through the balancer; kill -9 of the coordinator that
runs a job at a random point, 20 times in a row, every job finishing with
the bytes of `tessera process` and finished once; a rolling restart of all
three while a client keeps submitting with Idempotency-Keys, with no
request failing for good and no job lost or made twice."""
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import cv2
import numpy as np

import ha
from ha import ADMIN_TOKEN, BIN, DATA

KERNEL_9X9 = " ".join(str(9 - abs(4 - r) - abs(4 - c)) for r in range(9) for c in range(9))
# About 6 single-thread seconds on hubble_deep_field.jpg (872 000 px), over 2 s
# on the three fleet workers: long enough to kill its coordinator at a random
# point of it.
PIPELINE = "|".join(["gaussian-blur:sigma=4|median:ksize=5"]
                    + ["convolve:kernel=" + KERNEL_9X9] * 60)


def decode(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


# The browser tests that take an external server (lib.mjs's TESSERA_URL); the
# others restart their server (ux), or serve TLS themselves (tls).
BROWSER_FILES = ("ui.test.mjs", "library.test.mjs", "versions.test.mjs", "preview.test.mjs",
                 "feedback.test.mjs", "zoom.test.mjs", "animation.test.mjs")


class HaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = ha.Cluster(3)
        cls.tmp = tempfile.mkdtemp(prefix="tessera-ha-want-")
        cls.photo = os.path.join(DATA, "hubble_deep_field.jpg")
        want = os.path.join(cls.tmp, "want.png")
        subprocess.run([BIN, "process", "-p", PIPELINE, cls.photo, "-o", want], check=True,
                       capture_output=True, timeout=300)
        cls.want = cv2.imread(want, cv2.IMREAD_UNCHANGED)
        status, doc, _ = cls.upload(cls.photo)
        assert status == 201, (status, doc)
        cls.image = doc["id"]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    @classmethod
    def upload(cls, path, token=ADMIN_TOKEN):
        with open(path, "rb") as f:
            data = f.read()
        return cls.cluster.json("POST", "/api/v1/images?name=" + os.path.basename(path), data,
                                {"Content-Type": "application/octet-stream"}, token)

    def wait_job(self, job_id, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                status, doc, _ = self.cluster.json("GET", "/api/v1/jobs/" + job_id)
            except OSError:
                status = 0
            if status == 200 and doc["state"] in ("succeeded", "failed", "cancelled"):
                return doc
            time.sleep(0.1)
        self.fail("job %s did not finish" % job_id)

    def result(self, job_id, image_id):
        status, _, body = self.cluster.request("GET", "/api/v1/jobs/%s/result/%s"
                                               % (job_id, image_id))
        self.assertEqual(status, 200)
        return decode(body)

    def test_api_through_haproxy(self):
        c = self.cluster
        status, doc, _ = c.json("POST", "/api/v1/users", {"name": "ann", "role": "user"})
        self.assertEqual(status, 201, doc)
        ann = doc["token"]
        status, img, _ = self.upload(os.path.join(DATA, "chelsea.png"), ann)
        self.assertEqual(status, 201, img)
        # every coordinator knows the image and the account (round robin spreads these)
        for _ in range(6):
            status, doc, _ = c.json("GET", "/api/v1/images/" + img["id"], token=ann)
            self.assertEqual((status, doc["id"]), (200, img["id"]))
        status, job, _ = c.json("POST", "/api/v1/jobs", {"images": [img["id"]],
                                                         "pipeline": "grayscale|canny"}, token=ann)
        self.assertEqual(status, 201, job)
        conn = ha.http.client.HTTPConnection("127.0.0.1", c.port, timeout=60)
        conn.request("GET", "/api/v1/jobs/%s/events" % job["id"],
                     headers={"Authorization": "Bearer " + ann})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        last = None
        while True:
            line = r.fp.readline().decode()
            if not line:
                break
            if line.startswith("data: "):
                last = json.loads(line[6:])
                if last["state"] in ("succeeded", "failed"):
                    break
        conn.close()
        self.assertEqual(last["state"], "succeeded", last)
        status, _, body = c.request("GET", "/api/v1/jobs/%s/result/%s" % (job["id"], img["id"]),
                                    token=ann)
        self.assertEqual(status, 200)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "o.png")
            subprocess.run([BIN, "process", "-p", "grayscale|canny",
                            os.path.join(DATA, "chelsea.png"), "-o", out], check=True)
            self.assertTrue(np.array_equal(decode(body), cv2.imread(out, cv2.IMREAD_UNCHANGED)))
        status, doc, _ = c.json("GET", "/api/v1/jobs", token=ann)
        self.assertEqual([j["id"] for j in doc["jobs"]], [job["id"]])
        status, doc, _ = c.json("GET", "/api/v1/users/me", token=ann)
        self.assertEqual((status, doc["name"]), (200, "ann"))
        self.assertEqual(c.json("GET", "/readyz", token=None)[0], 200)
        self.assertEqual(c.request("GET", "/metrics", token=None)[0], 200)

    def test_browser_through_haproxy(self):
        """The browser tests of the web UI against the balancer, each as a
        fresh admin account: ui.test.mjs (sign in, upload, build a pipeline,
        run it, watch the progress, download), the library and job history,
        saved pipelines and versions, the live preview, feedback, the
        zoomable view of a large result and animated inputs (tests/browser)."""
        folder = os.path.join(ha.ROOT, "tests", "browser")
        _, error = ha.tools.check("chromium", os.environ.get("CHROMIUM"))
        if error and error.missing:  # as scripts/run_tests.py's browser suite does
            self.skipTest("chromium is not installed: %s" % error)
        if not os.path.isdir(os.path.join(folder, "node_modules", "playwright-core")):
            self.fail("playwright-core is not installed in tests/browser: run npm ci there "
                      "(scripts/run_tests.py does before this suite)")
        for script in BROWSER_FILES:
            with self.subTest(script):
                status, doc, _ = self.cluster.json(
                    "POST", "/api/v1/users", {"name": "browser-" + script.split(".")[0],
                                              "role": "admin"})
                self.assertEqual(status, 201, doc)
                env = dict(os.environ, TESSERA_URL="http://127.0.0.1:%d" % self.cluster.port,
                           TESSERA_TOKEN=doc["token"], TESSERA_BIN=BIN,
                           CHROMIUM=ha.tools.find("chromium"))
                r = subprocess.run([ha.tools.find("node"), script], cwd=folder, env=env,
                                   capture_output=True, text=True, timeout=300)
                self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-2000:])
                self.assertRegex(r.stdout, r"\b0 failed")

    def test_kill9_runner_20_times(self):
        """kill -9 of the coordinator that runs the job, at a random point,
        20 times; each job finishes with the bytes of an uninterrupted run,
        taken over by another coordinator, and is finished by one only. The
        killed one comes back once its job was taken over."""
        c = self.cluster
        rnd = random.Random(17)
        takeovers = []
        for round_ in range(20):
            status, job, _ = c.json("POST", "/api/v1/jobs",
                                    {"images": [self.image], "pipeline": PIPELINE})
            self.assertEqual(status, 201, job)
            deadline = time.time() + 30
            while time.time() < deadline and not c.lease_owner(job["id"]):
                time.sleep(0.05)
            time.sleep(rnd.uniform(0.1, 1.5))
            owner = c.lease_owner(job["id"])
            self.assertIsNotNone(owner, "round %d: the job is nobody's" % round_)
            victim = next(x for x in c.coords if x.name == owner)
            victim.kill()
            killed = time.time()
            while time.time() - killed < 15:
                now = c.lease_owner(job["id"])
                if now != owner:
                    break
                time.sleep(0.05)
            took = time.time() - killed
            takeovers.append(took)
            victim.start()
            done = self.wait_job(job["id"])
            self.assertEqual(done["state"], "succeeded", "round %d: %s" % (round_, done))
            self.assertTrue(np.array_equal(self.result(job["id"], self.image), self.want),
                            "round %d: the result differs" % round_)
            finished = [line for x in c.coords for line in x.log_text().splitlines()
                        if "job finished" in line and job["id"] in line]
            self.assertEqual(len(finished), 1, "round %d: finished %d times: %s"
                             % (round_, len(finished), finished))
            self.assertLess(took, 15, "round %d: no takeover in 15 s" % round_)
            c.wait_all_up()
        print("\ntakeover after kill -9 (lease %s ms), 20 rounds: median %.2f s, max %.2f s"
              % (ha.LEASE_MS, statistics.median(takeovers), max(takeovers)), file=sys.stderr)

    def test_rolling_restart_while_submitting(self):
        """Each coordinator in turn gets SIGTERM and is started again while
        a client keeps submitting: requests cut by a restart are simply sent
        again with their Idempotency-Key; every job succeeds, none is lost
        and none is made twice."""
        c = self.cluster
        stop = threading.Event()
        made, retries, errors = {}, [0], []

        def client():
            n = 0
            while not stop.is_set():
                key = "roll-%d" % n
                body = {"images": [self.image], "pipeline": "invert|grayscale"}
                for attempt in range(50):
                    try:
                        status, doc, _ = c.json("POST", "/api/v1/jobs", body,
                                                {"Idempotency-Key": key})
                    except OSError:
                        status, doc = 0, None
                    if status == 201:
                        made.setdefault(key, set()).add(doc["id"])
                        break
                    if status not in (0, 409, 429, 502, 503, 504):
                        errors.append((key, status, doc))
                        break
                    retries[0] += 1
                    time.sleep(0.2)
                else:
                    errors.append((key, "gave up"))
                n += 1
                time.sleep(0.05)

        t = threading.Thread(target=client)
        t.start()
        try:
            time.sleep(1)
            for x in c.coords:
                x.term()
                time.sleep(0.5)
                x.start()
                c.wait_all_up()
        finally:
            stop.set()
            t.join(60)
        self.assertEqual(errors, [])
        self.assertGreater(len(made), 10, "too few submissions to prove anything")
        self.assertTrue(all(len(ids) == 1 for ids in made.values()), made)
        for key, ids in made.items():
            done = self.wait_job(next(iter(ids)))
            self.assertEqual(done["state"], "succeeded", (key, done))
        print("\nrolling restart: %d jobs submitted, %d retried requests"
              % (len(made), retries[0]), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
