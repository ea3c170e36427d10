"""Fairness and admission of `tessera serve` (issue 3 point 5): a small job
submitted behind a huge one finishes in about the time it takes alone (the
runners share the tile pool round-robin), and with a small pixel budget a
second big job is refused with 429 + Retry-After while the first runs and
accepted once it is done."""
import os
import shutil
import tempfile
import time
import unittest

import cv2

from harness import DATA, Server, one_coordinator_only

SMALL_PIPE = "grayscale|gaussian-blur:sigma=2"
HUGE_PIPE = "gaussian-blur:sigma=12|sharpen"
TERMINAL = ("succeeded", "failed", "cancelled")


def big_photo(path, size, flip):
    """Writes a real photo scaled up to size (w, h); flip varies the content."""
    img = cv2.imread(os.path.join(DATA, "rocket.jpg"), cv2.IMREAD_COLOR)
    img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
    if flip is not None:
        img = cv2.flip(img, flip)
    assert cv2.imwrite(path, img)


class Timer:
    """Polls one job every 10 ms; returns its final document and the wall
    seconds from `start` to the first poll that saw it finished."""

    def __init__(self, srv):
        self.srv = srv

    def wait(self, job_id, start, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + job_id)
            assert status == 200, (status, doc)
            if doc["state"] in TERMINAL:
                return doc, time.monotonic() - start
            time.sleep(0.01)
        raise AssertionError("job %s did not finish in %d s" % (job_id, timeout))


class FairnessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-fairness-")
        cls.srv = Server()
        cls.huge = []
        for i, flip in enumerate((None, 0, 1)):
            path = os.path.join(cls.tmp, "huge%d.png" % i)
            big_photo(path, (4000, 3000), flip)
            status, doc, _ = cls.srv.upload(path)
            assert status == 201, doc
            cls.huge.append(doc["id"])
        status, doc, _ = cls.srv.upload(os.path.join(DATA, "coffee.png"))
        assert status == 201, doc
        cls.small = doc["id"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def small_job(self):
        """Submits the small job; returns (its final document, seconds)."""
        t0 = time.monotonic()
        status, job, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [self.small], "pipeline": SMALL_PIPE})
        self.assertEqual(status, 201, job)
        doc, seconds = Timer(self.srv).wait(job["id"], t0)
        self.assertEqual(doc["state"], "succeeded", doc)
        return doc, seconds

    def test_small_job_not_starved_by_huge_one(self):
        solo = sorted(self.small_job()[1] for _ in range(3))[1]  # median of three
        status, huge, _ = self.srv.json("POST", "/api/v1/jobs",
                                        {"images": self.huge, "pipeline": HUGE_PIPE})
        self.assertEqual(status, 201, huge)
        try:
            # let the huge job fill the tile pool first
            deadline = time.time() + 30
            while time.time() < deadline:
                _, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + huge["id"])
                if doc["state"] != "queued" and doc["tiles_done"] > 0:
                    break
                time.sleep(0.01)
            self.assertEqual(doc["state"], "running", doc)
            _, loaded = self.small_job()
            _, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + huge["id"])
            self.assertEqual(doc["state"], "running",
                             "the huge job ended before the small one: nothing measured")
            huge_percent = doc["percent"]
        finally:
            # the huge job has served its purpose: cancel it (promptly)
            t1 = time.monotonic()
            self.srv.request("DELETE", "/api/v1/jobs/" + huge["id"])
            hdoc, _ = Timer(self.srv).wait(huge["id"], t1, timeout=60)
        cancel_seconds = time.monotonic() - t1
        print("\nfairness: small job alone %.3f s, behind the huge job %.3f s "
              "(huge job then at %.0f%%; cancelled in %.2f s)"
              % (solo, loaded, huge_percent, cancel_seconds), flush=True)
        self.assertEqual(hdoc["state"], "cancelled", hdoc)
        self.assertLess(huge_percent, 50)
        self.assertLess(loaded, 3 * solo + 1.0)


@one_coordinator_only("--pixel-budget is each coordinator's own: another one admits the second job")
class AdmissionTest(unittest.TestCase):
    """--pixel-budget holds one 3000x2000 job: a second one is 429 with
    Retry-After while the first runs and is accepted after it finishes."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-admission-")
        cls.srv = Server("--pixel-budget", "7000000")
        cls.big = []
        for flip in (None, 1):
            path = os.path.join(cls.tmp, "big.png")
            big_photo(path, (3000, 2000), flip)
            status, doc, _ = cls.srv.upload(path)
            assert status == 201, doc
            cls.big.append(doc["id"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_429_while_running_then_accepted(self):
        body = {"images": self.big[:1], "pipeline": "gaussian-blur:sigma=25|sharpen|sharpen"}
        status, first, _ = self.srv.json("POST", "/api/v1/jobs", body)
        self.assertEqual(status, 201, first)
        status, doc, h = self.srv.json("POST", "/api/v1/jobs", body)
        _, now, _ = self.srv.json("GET", "/api/v1/jobs/" + first["id"])
        if status == 201 and now["state"] in TERMINAL:
            self.skipTest("the first job finished before the second was submitted")
        self.assertEqual(status, 429, doc)
        self.assertEqual(doc["error"]["code"], "busy")
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        # a job over the whole budget is 503, also with Retry-After
        status, doc, h = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": self.big, "pipeline": "grayscale"})
        self.assertEqual(status, 503, doc)
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        self.assertEqual(self.srv.wait_job(first["id"])["state"], "succeeded")
        status, second, _ = self.srv.json("POST", "/api/v1/jobs", body)
        self.assertEqual(status, 201, second)
        self.assertEqual(self.srv.wait_job(second["id"])["state"], "succeeded")


if __name__ == "__main__":
    unittest.main()
