"""The S3 blob store (issue 11 points 1 and 4) against a real `tessera serve
--store s3://...` and a real s3rver (tests/s3/s3server.py, SigV4 checked),
nothing mocked: round trips byte-identical to a files-backed server, delete
removes the objects, encryption at rest leaves no plaintext in the bucket,
start-up failures stop serve with one message, and jobs finish
byte-identical with no orphan object when the store is killed and restarted
or a fault proxy answers 500/503 and resets connections."""
import os
import shutil
import harness
import subprocess
import sys
import tempfile
import time
import unittest

from harness import BIN, DATA, Server, one_coordinator_only, unique_bytes, with_db

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "s3"))
import faultproxy  # noqa: E402
import s3server  # noqa: E402

PHOTOS = [os.path.join(DATA, "coffee.png"), os.path.join(DATA, "astronaut.png")]
PIPELINE = "grayscale|gaussian-blur:sigma=2"
CREDS = {"AWS_ACCESS_KEY_ID": s3server.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": s3server.SECRET_KEY,
         "AWS_REGION": s3server.REGION}


def tessera(*args, env=None, timeout=120):
    return subprocess.run([BIN, *with_db(args)], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def run_round(srv, test):
    """Uploads PHOTOS, runs PIPELINE; returns (image ids, job, originals, results)."""
    ids = []
    for p in PHOTOS:
        status, doc, _ = srv.upload(p)
        test.assertEqual(status, 201, doc)
        ids.append(doc["id"])
    status, doc, _ = srv.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": PIPELINE})
    test.assertEqual(status, 201, doc)
    job = srv.wait_job(doc["id"])
    test.assertEqual(job["state"], "succeeded", job)
    return ids, job, download(srv, test, ids, job)


def download(srv, test, ids, job):
    out = []
    for i in ids:
        for path in ("/api/v1/images/%s/content" % i, "/api/v1/jobs/%s/result/%s" % (job["id"], i)):
            status, _, body = srv.request("GET", path)
            test.assertEqual(status, 200, path)
            out.append(body)
    return out


class S3StoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = s3server.S3Server().start()
        cls.proxy = faultproxy.FaultProxy(cls.s3.port)
        srv = Server()  # the files backend: the reference bytes
        try:
            cls.reference = run_round(srv, unittest.TestCase())[2]
        finally:
            srv.stop()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()
        cls.s3.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-s3store-")
        self.servers = []
        self.prefix = "t-" + self.id().rsplit(".", 1)[1].replace("_", "-")
        self.proxy.clear()

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, *args, endpoint=None, env=None, data=None):
        s = Server("--store", "s3://%s/%s" % (self.s3.bucket, self.prefix), "--s3-endpoint",
                   endpoint or self.s3.endpoint, *args,
                   data=data or os.path.join(self.tmp, "data"), env=dict(CREDS, **(env or {})))
        self.servers.append(s)
        return s

    def stop(self, srv):
        srv.stop()
        self.servers.remove(srv)

    def objects(self):
        """Blob ids in the bucket under this test's prefix."""
        head = self.prefix + "/blobs/"
        return {k[len(head):] for k in self.s3.objects() if k.startswith(head)}

    def referenced(self):
        """Blob ids the (stopped) server's database refers to."""
        rows = harness.query(os.path.join(self.tmp, "data"),
                             "SELECT blob FROM images UNION "
                             "SELECT result_blob FROM job_items WHERE result_blob != ''")
        return {r[0] for r in rows if r[0]}

    def assert_no_orphans(self, srv):
        self.stop(srv)
        self.assertEqual(self.objects(), self.referenced())
        self.assertEqual(self.s3.pending_uploads(), [])

    def test_round_trip_identical_and_delete_removes_objects(self):
        srv = self.serve()
        ids, job, got = run_round(srv, self)
        self.assertTrue(got == self.reference, "S3-backed bytes differ from files-backed")
        self.assertEqual(len(self.objects()), 4)  # two uploads, two results
        self.assertFalse(os.listdir(os.path.join(srv.data, "tmp")))  # temps removed
        status, _, body = srv.request("DELETE", "/api/v1/jobs/%s?purge=true" % job["id"])
        self.assertIn(status, (200, 204), body)
        self.assertEqual(len(self.objects()), 2)
        status, _, _ = srv.request("DELETE", "/api/v1/images/" + ids[0])
        self.assertIn(status, (200, 204))
        self.assertEqual(len(self.objects()), 1)
        status, _, body = srv.request("GET", "/api/v1/images/%s/content" % ids[1])
        self.assertEqual((status, body), (200, self.reference[2]))
        self.assert_no_orphans(srv)

    def test_encryption_at_rest_no_plaintext_in_bucket(self):
        key = os.path.join(self.tmp, "data.key")
        self.assertEqual(tessera("data", "keygen", key).returncode, 0)
        srv = self.serve("--data-key", key)
        got = run_round(srv, self)[2]
        self.assertTrue(got == self.reference, "encrypted S3 round trip differs")
        for blob in self.objects():
            with open(self.s3.object_path(self.prefix + "/blobs/" + blob), "rb") as f:
                stored = f.read()
            for plain in self.reference:
                self.assertNotIn(plain[len(plain) // 2:len(plain) // 2 + 64], stored)
        self.stop(srv)
        # the server restarts on its encrypted bucket and still serves the same bytes
        srv = self.serve("--data-key", key)
        status, doc, _ = srv.json("GET", "/api/v1/images")
        self.assertEqual(status, 200, doc)

    def test_rotate_key_reseals_objects(self):
        keys = [os.path.join(self.tmp, k) for k in ("old.key", "new.key")]
        for k in keys:
            self.assertEqual(tessera("data", "keygen", k).returncode, 0)
        srv = self.serve("--data-key", keys[0])
        ids, job, _ = run_round(srv, self)
        self.stop(srv)
        before = {b: open(self.s3.object_path(self.prefix + "/blobs/" + b), "rb").read()
                  for b in self.objects()}
        r = tessera("data", "rotate-key", "--data", os.path.join(self.tmp, "data"), "--old-key",
                    keys[0], "--new-key", keys[1], "--store",
                    "s3://%s/%s" % (self.s3.bucket, self.prefix), "--s3-endpoint",
                    self.s3.endpoint, env=CREDS)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 blobs re-encrypted", r.stdout)
        for b, old in before.items():
            with open(self.s3.object_path(self.prefix + "/blobs/" + b), "rb") as f:
                self.assertNotEqual(f.read(), old)
        srv = self.serve("--data-key", keys[1])
        self.assertTrue(download(srv, self, ids, job) == self.reference)

    def refused(self, url, env=None, endpoint=None):
        r = tessera("serve", "--listen", "127.0.0.1:0", "--data", os.path.join(self.tmp, "d"),
                    "--store", url, "--s3-endpoint", endpoint or self.s3.endpoint,
                    env=dict(CREDS, **(env or {})), timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        return r.stderr

    def test_shared_bucket_is_not_swept_at_start(self):
        """Two coordinators on one bucket prefix (each with its own database):
        a restart of one must not delete the other's objects, which its own
        database does not know; it names them in its log instead."""
        first = self.serve()
        status, mine, _ = first.upload(PHOTOS[0])
        self.assertEqual(status, 201, mine)
        second = self.serve(data=os.path.join(self.tmp, "data2"))
        status, theirs, _ = second.upload(PHOTOS[1])
        self.assertEqual(status, 201, theirs)
        before = self.objects()
        self.assertEqual(len(before), 2, before)
        self.stop(first)
        again = self.serve()
        self.assertEqual(self.objects(), before, "the restart removed the other store's object")
        status, _, body = second.request("GET", "/api/v1/images/%s/content" % theirs["id"])
        self.assertEqual(status, 200)
        with open(PHOTOS[1], "rb") as f:
            self.assertEqual(body, f.read())
        self.assertIn("left in place", again.log_text())

    def test_restart_with_another_store_refused(self):
        """A data folder remembers its blob store: restarted without --store,
        or on another prefix, serve refuses with the --store to use instead
        of serving a store whose every blob is missing."""
        srv = self.serve()
        status, doc, _ = srv.upload(PHOTOS[0])
        self.assertEqual(status, 201, doc)
        self.stop(srv)
        data = os.path.join(self.tmp, "data")
        url = "s3://%s/%s" % (self.s3.bucket, self.prefix)
        r = tessera("serve", "--listen", "127.0.0.1:0", "--data", data, env=CREDS, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("start it with --store " + url, r.stderr + r.stdout)
        r = tessera("serve", "--listen", "127.0.0.1:0", "--data", data, "--store", url + "-other",
                    "--s3-endpoint", self.s3.endpoint, env=CREDS, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("start it with --store " + url, r.stderr + r.stdout)
        # and a files-backed folder refuses an S3 store
        files_data = os.path.join(self.tmp, "files-data")
        files = Server("--store", "", data=files_data)  # "": the folder's own blobs/
        self.servers.append(files)
        self.stop(files)
        r = tessera("serve", "--listen", "127.0.0.1:0", "--data", files_data, "--store", url,
                    "--s3-endpoint", self.s3.endpoint, env=CREDS, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("start it without --store", r.stderr + r.stdout)
        again = self.serve()  # the right store still starts and serves the image
        status, _, body = again.request("GET", "/api/v1/images/%s/content" % doc["id"])
        self.assertEqual(status, 200)

    def test_startup_failures_stop_serve_with_one_message(self):
        url = "s3://%s/x" % self.s3.bucket
        self.assertIn("wrong credentials", self.refused(url, {"AWS_SECRET_ACCESS_KEY": "nope"}))
        self.assertIn("wrong credentials", self.refused(url, {"AWS_ACCESS_KEY_ID": "NOBODY"}))
        self.assertIn("bucket 'no-such-bucket' does not exist",
                      self.refused("s3://no-such-bucket/x"))
        started = time.time()
        self.assertIn("unreachable", self.refused(url, endpoint="http://127.0.0.1:1"))
        self.assertLess(time.time() - started, 20)
        self.assertIn("--store wants", self.refused("ftp://x"))

    def test_store_killed_and_restarted_mid_job(self):
        srv = self.serve()
        ids = [srv.upload(p)[1]["id"] for p in PHOTOS]
        self.s3.kill()
        try:
            status, doc, _ = srv.json("POST", "/api/v1/jobs",
                                      {"images": ids, "pipeline": PIPELINE})
            self.assertEqual(status, 201, doc)
            time.sleep(1.5)
        finally:
            self.s3.restart()
        job = srv.wait_job(doc["id"])
        self.assertEqual(job["state"], "succeeded", job)
        self.assertTrue(download(srv, self, ids, job) == self.reference)
        self.assert_no_orphans(srv)

    @one_coordinator_only("every coordinator's readiness probe spends the proxy's faults too")
    def test_faults_500_503_resets_job_identical_no_orphans(self):
        srv = self.serve(endpoint=self.proxy.endpoint)
        self.proxy.add("status", 2, code=500)
        self.proxy.add("status", 2, code=503, skip=1)
        self.proxy.add("reset", 2, skip=1)
        self.proxy.add("reset", 1, after="body", skip=1)
        self.proxy.add("status", 1, code=503, skip=2)
        got = run_round(srv, self)[2]
        self.assertTrue(got == self.reference, "bytes differ through faults")
        self.assertGreater(self.proxy.stats()["faults"], 5)
        # an upload whose store write fails for good leaves no object
        before = self.objects()
        self.proxy.add("status", 40, code=500)
        with open(PHOTOS[0], "rb") as f:  # new bytes: the same ones are not stored again
            status, _, _ = srv.request("POST", "/api/v1/images?name=x.png",
                                       unique_bytes(f.read(), 1),
                                       {"Content-Type": "application/octet-stream"})
        self.assertGreaterEqual(status, 500)
        self.proxy.clear()
        self.assertEqual(self.objects(), before)
        self.assert_no_orphans(srv)

    def test_stalls_cut_and_retried_job_identical_no_orphans(self):
        """The store holds a connection without answering, then sends half
        a body and holds again: each transfer slower than 1 KiB/s for
        TESSERA_S3_STALL_SECONDS (3 s here, 30 by default) is cut and
        retried, and the job ends with the reference bytes."""
        srv = self.serve(endpoint=self.proxy.endpoint, env={"TESSERA_S3_STALL_SECONDS": "3"})
        served = self.proxy.stats()["faults"]  # the count runs on over the class's tests
        self.proxy.add("stall", 1, seconds=60, skip=1)
        self.proxy.add("stall", 1, seconds=60, after="body", skip=2)
        started = time.time()
        got = run_round(srv, self)[2]
        self.assertTrue(got == self.reference, "bytes differ through stalls")
        self.assertEqual(self.proxy.stats()["faults"] - served, 2)
        self.assertLess(time.time() - started, 90)
        self.assert_no_orphans(srv)


if __name__ == "__main__":
    unittest.main()
