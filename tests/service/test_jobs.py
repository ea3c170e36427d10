"""Jobs through `tessera serve`: create, status, results (one file, zip),
Server-Sent Events, cancel, purge and admission (429/503)."""
import io
import json
import os
import struct
import subprocess
import tempfile
import time
import unittest
import zipfile

import cv2
import numpy as np

from harness import BIN, DATA, Server


def decode(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def jpeg_with_orientation(data, o):
    """JPEG bytes with an EXIF APP1 (Orientation = o) right after SOI."""
    exif = (b"Exif\x00\x00II*\x00" + struct.pack("<IH", 8, 1) +
            struct.pack("<HHIHH", 274, 3, 1, o, 0) + struct.pack("<I", 0))
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:]


class TileTotalsTest(unittest.TestCase):
    """A job's tile total is planned from what the store recorded at upload
    (no blob is opened, so nothing is decrypted twice); it must match the
    tiles the job then runs, for every format, EXIF-rotated and
    shrunk-on-load JPEGs, GLOBAL stages and several images per job."""

    def test_totals_match_the_tiles_run(self):
        srv = Server("--tile", "16")  # small tiles: any size error shows in the count
        try:
            user = srv.make_user("tia", "user")
            ids = []
            with tempfile.TemporaryDirectory() as tmp:
                rotated = os.path.join(tmp, "rotated.jpg")
                with open(os.path.join(DATA, "rocket.jpg"), "rb") as f:
                    data = f.read()
                with open(rotated, "wb") as f:
                    f.write(jpeg_with_orientation(data, 6))
                gray = os.path.join(tmp, "gray.jpg")
                cv2.imwrite(gray, cv2.imread(os.path.join(DATA, "coffee.png"), 0))
                bmp = os.path.join(tmp, "chelsea.bmp")
                cv2.imwrite(bmp, cv2.imread(os.path.join(DATA, "chelsea.png")))
                wide = os.path.join(tmp, "deep16.png")
                cv2.imwrite(wide, (cv2.imread(os.path.join(DATA, "astronaut.png")).astype(np.uint16) * 257))
                for path in (rotated, gray, bmp, wide, os.path.join(DATA, "rocket.jpg"),
                             os.path.join(DATA, "hubble_deep_field.jpg"),
                             os.path.join(DATA, "palette_color.png"),
                             os.path.join(DATA, "chelsea.gif"), os.path.join(DATA, "anim.gif"),
                             os.path.join(DATA, "coffee.webp")):
                    status, doc, _ = srv.upload(path, token=user)
                    self.assertEqual(status, 201, (path, doc))
                    ids.append(doc["id"])
                    if path == rotated:
                        src = cv2.imread(os.path.join(DATA, "rocket.jpg"))
                        self.assertEqual((doc["width"], doc["height"]), src.shape[:2])
            for pipe in ("thumbnail:width=120", "resize:scale=0.5|equalize",
                         "rotate:angle=10|gaussian-blur:sigma=2"):
                # anim.gif into PNG takes its first frame (formats.md#animations)
                status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": pipe,
                                                                   "output": {"frame": 0}},
                                          token=user)
                self.assertEqual(status, 201, job)
                done = srv.wait_job(job["id"], token=user)
                self.assertEqual(done["state"], "succeeded", (pipe, done))
                self.assertGreater(done["tiles_total"], 0)
                self.assertEqual(done["tiles_done"], done["tiles_total"], pipe)
                self.assertEqual(done["percent"], 100, pipe)
        finally:
            srv.stop()


class SpillTest(unittest.TestCase):
    """`serve --memory-budget 1`: every job whose plan cannot stream by row
    windows runs through temporary files at its stage boundaries; results
    and tile counts are those of `tessera process` holding the image whole."""

    def test_spilled_jobs_match_process(self):
        srv = Server("--memory-budget", "1", "--tile", "64")
        try:
            src = os.path.join(DATA, "hubble_deep_field.jpg")
            status, doc, _ = srv.upload(src)
            self.assertEqual(status, 201, doc)
            for pipe in ("equalize|rotate:angle=30", "canny", "rotate:angle=-20|threshold-otsu"):
                status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": [doc["id"]],
                                                                   "pipeline": pipe})
                self.assertEqual(status, 201, job)
                done = srv.wait_job(job["id"])
                self.assertEqual(done["state"], "succeeded", (pipe, done))
                self.assertEqual(done["tiles_done"], done["tiles_total"], pipe)
                status, _, body = srv.request("GET", "/api/v1/jobs/%s/result" % job["id"])
                self.assertEqual(status, 200)
                with tempfile.TemporaryDirectory() as tmp:
                    out = os.path.join(tmp, "out.png")
                    r = subprocess.run([BIN, "process", "-p", pipe, src, "-o", out],
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    want = cv2.imread(out, cv2.IMREAD_UNCHANGED)
                self.assertTrue(np.array_equal(decode(body), want), pipe)
        finally:
            srv.stop()


class JobsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.user = cls.srv.make_user("uma", "user")
        cls.imgs = {}
        for name in ("chelsea.png", "rocket.jpg", "coffee.png"):
            status, doc, _ = cls.srv.upload(os.path.join(DATA, name), token=cls.user)
            assert status == 201, doc
            cls.imgs[name] = doc

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def create(self, names, pipeline, output=None, token=None):
        body = {"images": [self.imgs[n]["id"] for n in names], "pipeline": pipeline}
        if output:
            body["output"] = output
        return self.srv.json("POST", "/api/v1/jobs", body, token=token or self.user)

    def test_job_one_image_result_headers(self):
        status, job, h = self.create(["chelsea.png"], "grayscale|gaussian-blur:sigma=2")
        self.assertEqual(status, 201, job)
        self.assertEqual(h["location"], "/api/v1/jobs/" + job["id"])
        self.assertEqual(job["pipeline_text"], "grayscale@1|gaussian-blur@1:sigma=2,ksize=0")
        self.assertEqual(job["pipeline"][1]["op"], "gaussian-blur")
        self.assertIn(job["state"], ("queued", "running", "succeeded"))
        done = self.srv.wait_job(job["id"], token=self.user)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertEqual(done["percent"], 100)
        self.assertEqual(done["tiles_done"], done["tiles_total"])
        self.assertIsNone(done["eta_seconds"])
        item = done["items"][0]
        self.assertEqual((item["width"], item["height"]), (451, 300))
        self.assertIsNotNone(item["seconds"])
        status, h, body = self.srv.request("GET", "/api/v1/jobs/%s/result" % job["id"],
                                           token=self.user)
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "image/png")
        self.assertEqual(int(h["content-length"]), len(body))
        self.assertEqual(len(body), item["bytes"])
        self.assertTrue(h["etag"].startswith('"'))
        self.assertEqual(h["content-disposition"], 'attachment; filename="chelsea.png"')
        img = decode(body)
        self.assertEqual(img.shape[:2], (300, 451))
        status, _, _ = self.srv.request("GET", "/api/v1/jobs/%s/result" % job["id"],
                                        headers={"If-None-Match": h["etag"]}, token=self.user)
        self.assertEqual(status, 304)
        status, h2, body2 = self.srv.request(
            "GET", "/api/v1/jobs/%s/result/%s" % (job["id"], self.imgs["chelsea.png"]["id"]),
            token=self.user)
        self.assertEqual((status, body2), (200, body))
        status, _, _ = self.srv.request("GET", "/api/v1/jobs/%s/result/%s"
                                        % (job["id"], self.imgs["rocket.jpg"]["id"]),
                                        token=self.user)
        self.assertEqual(status, 404)

    def test_job_jpeg_output(self):
        status, job, _ = self.create(["rocket.jpg"], [{"op": "resize", "width": 320,
                                                       "height": 200}],
                                     {"format": "jpeg", "quality": 70})
        self.assertEqual(status, 201, job)
        self.assertEqual(job["output"], {"format": "jpeg", "quality": 70, "tile": 256})
        self.srv.wait_job(job["id"], token=self.user)
        status, h, body = self.srv.request("GET", "/api/v1/jobs/%s/result" % job["id"],
                                           token=self.user)
        self.assertEqual(h["content-type"], "image/jpeg")
        self.assertTrue(h["content-disposition"].endswith('rocket.jpg"'), h)
        self.assertEqual(decode(body).shape[:2], (200, 320))

    def test_job_two_images_zip(self):
        status, job, _ = self.create(["chelsea.png", "coffee.png"], "grayscale")
        self.assertEqual(status, 201, job)
        self.assertEqual(self.srv.wait_job(job["id"], token=self.user)["state"], "succeeded")
        status, h, body = self.srv.request("GET", "/api/v1/jobs/%s/result" % job["id"],
                                           token=self.user)
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "application/zip")
        self.assertEqual(int(h["content-length"]), len(body))
        self.assertIn('job-%s.zip' % job["id"], h["content-disposition"])
        z = zipfile.ZipFile(io.BytesIO(body))
        self.assertEqual(z.namelist(), ["chelsea.png", "coffee.png"])
        self.assertEqual(decode(z.read("chelsea.png")).shape, (300, 451))
        self.assertEqual(decode(z.read("coffee.png")).shape, (400, 600))
        self.assertEqual(os.listdir(os.path.join(self.srv.data, "tmp")), [])

    def test_bad_job_requests(self):
        status, doc, _ = self.create(["chelsea.png"], "gaussian-blur:sigma=500")
        self.assertEqual(status, 400)
        self.assertEqual(doc["error"]["code"], "bad_pipeline")
        self.assertIn("sigma", doc["error"]["message"])
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": ["f" * 32], "pipeline": "grayscale"},
                                       token=self.user)
        self.assertEqual(status, 404, doc)
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {"images": [], "pipeline": "x"},
                                       token=self.user)
        self.assertEqual(status, 400, doc)
        status, doc, _ = self.create(["chelsea.png"], "grayscale", {"format": "xcf"})
        self.assertEqual(status, 400, doc)
        status, doc, _ = self.create(["chelsea.png"], "grayscale", {"quality": 0})
        self.assertEqual(status, 400, doc)
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + "0" * 32, token=self.user)
        self.assertEqual(status, 404, doc)

    def test_events_stream(self):
        status, job, _ = self.create(["coffee.png", "chelsea.png", "rocket.jpg"],
                                     "gaussian-blur:sigma=8|rotate:angle=33|canny")
        self.assertEqual(status, 201, job)
        c = self.srv.conn()
        c.request("GET", "/api/v1/jobs/%s/events" % job["id"],
                  headers={"Authorization": "Bearer " + self.user})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "text/event-stream")
        events, cur = [], {}
        while True:
            line = r.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line == "":
                if cur:
                    events.append(cur)
                    if cur.get("event") == "done":
                        break
                cur = {}
            elif not line.startswith(":"):
                k, _, v = line.partition(": ")
                cur[k] = v
        c.close()
        self.assertGreaterEqual(len(events), 2, events)
        self.assertEqual(events[-1]["event"], "done")
        self.assertTrue(all(e["event"] == "progress" for e in events[:-1]))
        docs = [json.loads(e["data"]) for e in events]
        percents = [d["percent"] for d in docs]
        self.assertEqual(percents, sorted(percents))
        self.assertEqual(docs[-1]["state"], "succeeded")
        self.assertEqual(percents[-1], 100)
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, sorted(set(ids)))
        # a finished job: the only event is done
        status, h, body = self.srv.request("GET", "/api/v1/jobs/%s/events" % job["id"],
                                           token=self.user)
        self.assertEqual(body.count(b"event: "), 1)
        self.assertIn(b"event: done", body)

    def test_result_not_ready_409_and_cancel(self):
        tmp = tempfile.mkdtemp()
        ids = []
        rng = np.random.default_rng(1)
        for i in range(3):
            img = (rng.random((2400, 3200, 3)) * 255).astype(np.uint8)
            img = cv2.GaussianBlur(img, (0, 0), 3)
            path = os.path.join(tmp, "big%d.jpg" % i)
            cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 80])
            status, doc, _ = self.srv.upload(path, token=self.user)
            self.assertEqual(status, 201, doc)
            ids.append(doc["id"])
        pipe = "gaussian-blur:sigma=30|rotate:angle=17|gaussian-blur:sigma=30|canny"
        status, job, _ = self.srv.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": pipe},
                                       token=self.user)
        self.assertEqual(status, 201, job)
        deadline = time.time() + 30
        while time.time() < deadline:
            status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"], token=self.user)
            if doc["state"] == "running" and doc["tiles_done"] > 0:
                break
            time.sleep(0.05)
        self.assertEqual(doc["state"], "running", doc)
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs/%s/result" % job["id"],
                                       token=self.user)
        self.assertEqual((status, doc["error"]["code"]), (409, "not_ready"))
        t0 = time.time()
        status, doc, _ = self.srv.json("DELETE", "/api/v1/jobs/" + job["id"], token=self.user)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["state"], "cancelled")
        time.sleep(1.0)
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"], token=self.user)
        self.assertEqual(doc["state"], "cancelled")
        self.assertLess(doc["percent"], 100)
        # the scheduler lets go of it promptly: tiles stop moving
        done1 = doc["tiles_done"]
        time.sleep(1.0)
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"], token=self.user)
        self.assertEqual(doc["tiles_done"], done1)
        self.assertLess(time.time() - t0, 10)
        # purge removes it
        status, _, _ = self.srv.request("DELETE", "/api/v1/jobs/%s?purge=true" % job["id"],
                                        token=self.user)
        self.assertEqual(status, 204)
        status, _, _ = self.srv.request("GET", "/api/v1/jobs/" + job["id"], token=self.user)
        self.assertEqual(status, 404)
        for i in ids:
            self.srv.request("DELETE", "/api/v1/images/" + i, token=self.user)

    def test_list_jobs(self):
        status, job, _ = self.create(["chelsea.png"], "grayscale")
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs?limit=5", token=self.user)
        self.assertEqual(status, 200)
        self.assertLessEqual(len(doc["jobs"]), 5)
        self.assertIn(job["id"], [j["id"] for j in doc["jobs"]])
        self.assertIn("items", doc["jobs"][0])


class AdmissionTest(unittest.TestCase):
    """A tiny pixel budget: a job bigger than all of it is 503, a job that
    fits only once the running work is done is 429; both with Retry-After."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--pixel-budget", "300000", "--max-active-jobs", "1", "--runners", "1")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_admission(self):
        status, big, _ = self.srv.upload(os.path.join(DATA, "coffee.png"))     # 240000 px
        status, small, _ = self.srv.upload(os.path.join(DATA, "chelsea.png"))  # 135300 px
        status, doc, h = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [big["id"], small["id"]],
                                        "pipeline": "grayscale"})
        self.assertEqual(status, 503, doc)
        self.assertEqual(doc["error"]["code"], "unavailable")
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        pipe = "gaussian-blur:sigma=40|gaussian-blur:sigma=40|gaussian-blur:sigma=40"
        status, first, _ = self.srv.json("POST", "/api/v1/jobs",
                                         {"images": [big["id"]], "pipeline": pipe})
        self.assertEqual(status, 201, first)
        status, doc, h = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [small["id"]], "pipeline": "grayscale"})
        if status == 201:  # the first job was already done
            self.skipTest("first job finished before the second was submitted")
        self.assertEqual(status, 429, doc)
        self.assertEqual(doc["error"]["code"], "busy")
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        self.srv.wait_job(first["id"])


if __name__ == "__main__":
    unittest.main()
