"""Durability of `tessera serve` (issue 3 point 4): a job interrupted by
kill -9 resumes at the next start and ends with the same bytes as an
uninterrupted run and as `tessera process`; an upload cut by kill -9 leaves
no partial image and no temp file; deleting a job or an image removes its
files."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import cv2

import harness
from harness import ADMIN_TOKEN, BIN, DATA, Server, files_store_only

PIPELINE = "gaussian-blur:sigma=25|sharpen|rotate:angle=17"


def big_photo(path, size, seed):
    """Writes a real photo scaled up to size (w, h), slightly varied by seed."""
    img = cv2.imread(os.path.join(DATA, "hubble_deep_field.jpg"), cv2.IMREAD_COLOR)
    img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
    if seed:
        img = cv2.flip(img, seed - 1)
    assert cv2.imwrite(path, img)


def restart(srv, *args):
    """Starts a new server process on srv's data directory (the old one must
    be gone) and points srv at it; srv.stop() ends it as usual."""
    srv.proc.stdout.close()
    env = dict(os.environ, TESSERA_ADMIN_TOKEN=ADMIN_TOKEN)
    store = []
    if harness.STORE == "s3":  # the same store as the first start
        store, s3_env = harness.s3_store_args(srv.data)
        env.update(s3_env)
    srv.proc = subprocess.Popen(
        [BIN, "serve", "--listen", "127.0.0.1:0", "--data", srv.data, *store,
         *harness.db_args(srv.data), *args],
        stdout=subprocess.PIPE, stderr=srv.log, env=env, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        line = srv.proc.stdout.readline()
        if not line:
            break
        if "listening on http://" in line:
            srv.port = int(line.rsplit(":", 1)[1])
            return
    raise AssertionError("server did not restart: " + srv.log_text()[-3000:])


def kill9(srv):
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)


def count_files(folder):
    return sum(len(files) for _, _, files in os.walk(folder))


class DurabilityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-durability-")
        cls.photos = []
        for i, size in enumerate(((3000, 2000), (2000, 3000))):
            path = os.path.join(cls.tmp, "big%d.png" % i)
            big_photo(path, size, i)
            cls.photos.append(path)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.srv = Server()

    def tearDown(self):
        self.srv.stop()

    def result(self, job_id, image_id):
        status, _, body = self.srv.request("GET", "/api/v1/jobs/%s/result/%s" % (job_id, image_id))
        self.assertEqual(status, 200, body[:200])
        return body

    def test_kill9_mid_job_resumes_identical(self):
        srv = self.srv
        ids = []
        for path in self.photos:
            status, doc, _ = srv.upload(path)
            self.assertEqual(status, 201, doc)
            ids.append(doc["id"])
        body = {"images": ids, "pipeline": PIPELINE, "output": {"format": "png"}}
        status, job, _ = srv.json("POST", "/api/v1/jobs", body)
        self.assertEqual(status, 201, job)
        # wait until it is well under way, then kill -9
        deadline = time.time() + 120
        seen = None
        while time.time() < deadline:
            status, doc, _ = srv.json("GET", "/api/v1/jobs/" + job["id"])
            self.assertEqual(status, 200, doc)
            if doc["state"] in ("succeeded", "failed", "cancelled"):
                self.fail("job ended before it could be interrupted: %s" % doc)
            if doc["state"] == "running" and 10 <= doc["percent"] <= 80:
                seen = doc["percent"]
                break
            time.sleep(0.02)
        self.assertIsNotNone(seen, "job never reached 10..80 percent")
        kill9(srv)
        t0 = time.monotonic()
        restart(srv)
        done = srv.wait_job(job["id"], timeout=180)
        print("\ndurability: killed at %.0f%%, finished %.1f s after the restart"
              % (seen, time.monotonic() - t0), flush=True)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertEqual(done["percent"], 100)
        self.assertEqual(done["tiles_done"], done["tiles_total"])
        resumed = [self.result(job["id"], i) for i in ids]
        # (a) the same job on a server that is not interrupted
        status, again, _ = srv.json("POST", "/api/v1/jobs", body)
        self.assertEqual(status, 201, again)
        self.assertEqual(srv.wait_job(again["id"], timeout=180)["state"], "succeeded")
        for i, data in zip(ids, resumed):
            self.assertTrue(self.result(again["id"], i) == data,
                            "resumed result differs from an uninterrupted run")
        # (b) the CLI with the same pipeline
        for path, data in zip(self.photos, resumed):
            out = os.path.join(self.tmp, "cli-" + os.path.basename(path))
            r = subprocess.run([BIN, "process", "-p", PIPELINE, path, "-o", out,
                                "--format", "png"], capture_output=True, text=True, timeout=180)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                self.assertTrue(f.read() == data, "resumed result differs from tessera process")
        self.assertEqual(os.listdir(os.path.join(srv.data, "tmp")), [])

    @files_store_only("counts the blob files under data/blobs")
    def test_kill9_mid_upload_leaves_nothing(self):
        srv = self.srv
        with open(self.photos[0], "rb") as f:
            data = f.read()
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        try:
            sock.sendall(("POST /api/v1/images?name=half.png HTTP/1.1\r\n"
                          "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                          "Content-Type: application/octet-stream\r\n"
                          "Content-Length: %d\r\n\r\n" % (ADMIN_TOKEN, len(data))).encode())
            sock.sendall(data[:len(data) // 2])
            # the server streams the body to tmp/: wait until part of it is there
            tmpdir = os.path.join(srv.data, "tmp")
            deadline = time.time() + 20
            while time.time() < deadline:
                parts = [os.path.join(tmpdir, n) for n in os.listdir(tmpdir)]
                if parts and sum(os.path.getsize(p) for p in parts) > 0:
                    break
                time.sleep(0.02)
            else:
                self.fail("upload never reached the temp folder")
            kill9(srv)
        finally:
            sock.close()
        blobs_before = count_files(os.path.join(srv.data, "blobs"))
        restart(srv)
        self.assertEqual(os.listdir(os.path.join(srv.data, "tmp")), [])
        status, doc, _ = srv.json("GET", "/api/v1/images")
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["images"], [])
        self.assertEqual(count_files(os.path.join(srv.data, "blobs")), blobs_before)
        self.assertEqual(blobs_before, 0)
        # the store still works after the crash
        status, doc, _ = srv.upload(os.path.join(DATA, "chelsea.png"))
        self.assertEqual(status, 201, doc)

    @files_store_only("counts the blob files under data/blobs (test_s3_store.py checks objects)")
    def test_delete_removes_files(self):
        srv = self.srv
        blobs = os.path.join(srv.data, "blobs")
        self.assertEqual(count_files(blobs), 0)
        ids = []
        for name in ("chelsea.png", "rocket.jpg"):
            status, doc, _ = srv.upload(os.path.join(DATA, name))
            self.assertEqual(status, 201, doc)
            ids.append(doc["id"])
        self.assertEqual(count_files(blobs), 2)
        status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": "grayscale"})
        self.assertEqual(status, 201, job)
        self.assertEqual(srv.wait_job(job["id"])["state"], "succeeded")
        self.assertEqual(count_files(blobs), 4)  # two originals, two results
        status, _, _ = srv.request("DELETE", "/api/v1/jobs/%s?purge=true" % job["id"])
        self.assertEqual(status, 204)
        self.assertEqual(count_files(blobs), 2)
        status, _, _ = srv.request("GET", "/api/v1/jobs/" + job["id"])
        self.assertEqual(status, 404)
        for n, image_id in enumerate(ids):
            status, _, _ = srv.request("DELETE", "/api/v1/images/" + image_id)
            self.assertEqual(status, 204)
            self.assertEqual(count_files(blobs), 1 - n)
        self.assertEqual(os.listdir(os.path.join(srv.data, "tmp")), [])


if __name__ == "__main__":
    unittest.main()
