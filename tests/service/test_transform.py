"""POST /api/v1/transform (issue 16 point 5) against a real `tessera serve`:
the answer's bytes are exactly `tessera process`'s for the same pipeline and
output settings (default format the input's, presets, JSON pipelines, a tile
side of the caller's), with its Content-Type and Content-Length; the errors
of job submission and upload (400 naming the step and parameter, 400
bad_pipeline for a pipeline the image refuses, 413 over the body and pixel
caps, 401, 403, 415, 422); no job, no image, no blob made; parallel requests
all right, queued behind a small gate; a full gate answers 503 with
Retry-After; the transforms count in the account's usage and metrics; they
spill past `--memory-budget` as jobs do."""
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import ADMIN_TOKEN, BIN, DATA, STORE, Server, one_coordinator_only, read_file

HEAVY = "|".join(["gaussian-blur:sigma=60"] * 12)  # a second or more even on 451x300


def transform_path(pipeline, **settings):
    query = [("pipeline", pipeline if isinstance(pipeline, str) else json.dumps(pipeline))]
    query += sorted((k, str(v)) for k, v in settings.items())
    return "/api/v1/transform?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)


def process(pipeline, name, tmp, **settings):
    """`tessera process`'s bytes and format for input tests/data/NAME."""
    out = os.path.join(tmp, "out-%d" % len(os.listdir(tmp)))  # no extension: the input's format
    args = [BIN, "process", "-p", pipeline if isinstance(pipeline, str) else json.dumps(pipeline),
            os.path.join(DATA, name), "-o", out]
    for key in ("format", "quality", "tile", "frame"):
        if key in settings:
            args += ["--" + key, str(settings[key])]
    if settings.get("pyramid") == "true":
        args.append("--pyramid")
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(out, "rb") as f:
        return f.read()


class TransformTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # two at once, the rest queued: the parallel test queues for real
        cls.srv = Server("--transform-concurrency", "2", "--transform-queue", "32")
        cls.tmp = tempfile.mkdtemp(prefix="tessera-transform-")
        cls.token = cls.srv.make_user("tara", "user")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        subprocess.run(["rm", "-rf", cls.tmp])

    def transform(self, pipeline, body, token=None, headers=None, **settings):
        h = dict({"Content-Type": "application/octet-stream"}, **(headers or {}))
        return self.srv.request("POST", transform_path(pipeline, **settings), body, h,
                                token=token or self.token)

    def error(self, status, data):
        doc = json.loads(data)
        self.assertEqual(list(doc), ["error"], doc)
        return status, doc["error"]

    # ---------- results ----------

    def test_bytes_are_tessera_process_s(self):
        cases = [
            ("thumbnail:width=256,height=256", "rocket.jpg", {}, "image/jpeg"),
            ("grayscale|gaussian-blur:sigma=2", "chelsea.png", {}, "image/png"),
            ("resize:width=300|sharpen", "coffee.png", {"format": "webp", "quality": 70},
             "image/webp"),
            ("preset:web-thumbnail", "hubble_deep_field.jpg", {"quality": 60}, "image/jpeg"),
            ([{"op": "rotate", "angle": 30}, {"op": "canny"}], "chelsea.png",
             {"format": "jpeg", "tile": 64}, "image/jpeg"),
            ("invert", "chelsea.gif", {}, "image/gif"),
            ("grayscale", "anim.gif", {}, "image/gif"),  # every frame, delays kept
            ("invert", "anim.gif", {"format": "png", "frame": 2}, "image/png"),
            ("sharpen", "coffee.png", {"format": "tiff", "pyramid": "true"}, "image/tiff"),
            # 3 MB: answered from the memfd, the others from memory
            ("resize:scale=2", "astronaut.png", {"format": "bmp"}, "image/bmp"),
            ("crop:x=10,y=20,width=100,height=50", "rocket.jpg", {"format": "tiff"},
             "image/tiff"),
        ]
        for pipeline, name, settings, mime in cases:
            with self.subTest(pipeline=pipeline, input=name, **settings):
                status, h, data = self.transform(pipeline, read_file(name), **settings)
                self.assertEqual(status, 200, data[:300])
                self.assertEqual(h["content-type"], mime)
                self.assertEqual(int(h["content-length"]), len(data))
                self.assertEqual(h["cache-control"], "no-store")
                self.assertIn("run;dur=", h["server-timing"])
                self.assertEqual(data, process(pipeline, name, self.tmp, **settings),
                                 "the transform's bytes differ from tessera process's")

    def test_no_job_image_or_blob_is_made(self):
        token = self.srv.make_user("nolan", "user")
        before = self.blob_files()
        for _ in range(3):
            status, _, data = self.transform("grayscale", read_file("rocket.jpg"), token=token)
            self.assertEqual(status, 200, data[:300])
        for path in ("/api/v1/jobs", "/api/v1/images"):
            status, doc, _ = self.srv.json("GET", path, token=token)
            self.assertEqual((status, doc["total"]), (200, 0), doc)
        if before is not None:
            self.assertEqual(self.blob_files(), before, "a transform left a blob behind")

    def blob_files(self):
        """Files under the data folder's blobs/ and tmp/ (None on S3)."""
        if STORE == "s3":
            return None
        found = set()
        for sub in ("blobs", "tmp"):
            for root, _, files in os.walk(os.path.join(self.srv.data, sub)):
                found |= {os.path.join(root, f) for f in files}
        return found

    def test_parallel_requests_are_all_right(self):
        work = [("thumbnail:width=128,height=128", "rocket.jpg", {}),
                ("grayscale|sobel", "chelsea.png", {}),
                ("resize:scale=0.5|sharpen", "coffee.png", {"format": "jpeg", "quality": 90}),
                ("invert", "astronaut.png", {"format": "webp"})]
        expected = [process(p, n, self.tmp, **s) for p, n, s in work]
        results = [None] * 16

        def one(i):
            p, n, s = work[i % len(work)]
            results[i] = self.transform(p, read_file(n), **s)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, (status, _, data) in enumerate(results):
            self.assertEqual(status, 200, data[:300])
            self.assertEqual(data, expected[i % len(work)], "request %d got other bytes" % i)

    def test_usage_counts_the_transforms(self):
        token = self.srv.make_user("uma", "user")
        body = read_file("rocket.jpg")
        sizes = []
        for _ in range(2):
            status, _, data = self.transform("thumbnail:width=64,height=64", body, token=token)
            self.assertEqual(status, 200, data[:300])
            sizes.append(len(data))
        deadline = time.time() + 10  # written once a second
        while True:
            status, doc, _ = self.srv.json("GET", "/api/v1/usage", token=token)
            self.assertEqual(status, 200, doc)
            if doc["totals"]["transforms"] == 2 or time.time() > deadline:
                break
            time.sleep(0.2)
        totals = doc["totals"]
        self.assertEqual((totals["transforms"], totals["jobs"]), (2, 0), doc)
        self.assertEqual(totals["usage"]["read_bytes"], 2 * len(body))
        self.assertEqual(totals["usage"]["written_bytes"], sum(sizes))
        self.assertGreater(totals["usage"]["cpu_seconds"], 0)
        status, _, text = self.srv.request("GET", "/metrics", token=None)
        self.assertIn('tessera_account_transforms_total{account="uma"} 2', text.decode())

    # ---------- errors ----------

    def test_bad_pipelines_answer_as_job_submission(self):
        body = read_file("chelsea.png")
        status, err = self.error(*self.transform("grayscale|gaussian-blur:sigma=500", body)[::2])
        self.assertEqual((status, err["code"], err["step"], err["param"]),
                         (400, "bad_pipeline", 2, "sigma"))
        steps = [{"op": "grayscale"}, {"op": "gaussian-blur", "sigma": 500}]
        status, err = self.error(*self.transform(steps, body)[::2])
        _, validated, _ = self.srv.json("POST", "/api/v1/pipelines/validate", {"pipeline": steps},
                                        token=self.token)
        self.assertEqual((status, {"error": err}), (400, validated))
        status, err = self.error(*self.transform("grayscale|no-such-op", body)[::2])
        self.assertEqual((status, err["code"], err["step"]), (400, "bad_pipeline", 2))
        # what this image refuses: the job's message
        status, err = self.error(*self.transform("crop:x=500", body)[::2])
        self.assertEqual((status, err["code"]), (400, "bad_pipeline"))
        self.assertIn("lies outside the 451x300 image", err["message"])
        for query, words in ((dict(format="heic"), "output format"),
                             (dict(pyramid="yes"), "pyramid must be true or false"),
                             (dict(pyramid="true"), "pyramid needs the tiff format"),
                             (dict(speed=12), "speed"),
                             (dict(quality=0), "quality"), (dict(quality="high"), "quality"),
                             (dict(tile=8), "tile"), (dict(record="true"), "not supported"),
                             (dict(colour="red"), "unknown query parameter colour")):
            with self.subTest(**query):
                status, err = self.error(*self.transform("invert", body, **query)[::2])
                self.assertEqual((status, err["code"]), (400, "bad_request"), err)
                self.assertIn(words, err["message"])
        status, _, data = self.srv.request("POST", "/api/v1/transform", body, token=self.token)
        self.assertEqual((status, self.error(status, data)[1]["code"]), (400, "bad_request"))

    def test_deep_zoom_is_a_zip_and_animations_need_a_frame(self):
        status, h, data = self.transform("invert", read_file("chelsea.png"), format="dzi")
        self.assertEqual((status, h["content-type"]), (200, "application/zip"), data[:300])
        self.assertEqual(data[:2], b"PK")
        self.assertIn("result.zip", h["content-disposition"])
        status, err = self.error(*self.transform("invert", read_file("anim.gif"),
                                                 format="jpeg")[::2])
        self.assertEqual((status, err["code"]), (400, "bad_request"), err)
        self.assertIn("frame=N", err["message"])

    def test_bad_bodies_answer_as_uploads(self):
        status, err = self.error(*self.transform("invert", read_file("truncated.jpg"))[::2])
        self.assertEqual((status, err["code"]), (422, "undecodable"), err)
        status, err = self.error(*self.transform("invert", b"just some text, no image")[::2])
        self.assertEqual((status, err["code"]), (415, "unsupported_format"), err)
        status, err = self.error(*self.transform("invert", b"")[::2])
        self.assertEqual((status, err["code"]), (400, "bad_request"), err)
        status, err = self.error(*self.transform(
            "invert", b"--x\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"})[::2])
        self.assertEqual((status, err["code"]), (415, "unsupported_media_type"), err)
        for name in sorted(os.listdir(os.path.join(DATA, "hostile"))):
            with self.subTest(hostile=name):
                status, _, data = self.transform("invert", read_file(os.path.join("hostile", name)))
                self.assertIn(status, (400, 413, 415, 422), data[:300])
        self.assertEqual(self.srv.json("GET", "/healthz", token=None)[0], 200)

    def test_a_body_never_sees_an_earlier_one(self):
        # A finished body's memfd is kept for the next body (transform_gate.c):
        # a truncated JPEG sent after the whole one must still be truncated,
        # not completed by the bytes the earlier body left past its end.
        whole = read_file("rocket.jpg")
        for _ in range(3):
            status, _, data = self.transform("invert", whole)
            self.assertEqual(status, 200, data[:300])
            status, err = self.error(*self.transform("invert", whole[:len(whole) // 2])[::2])
            self.assertEqual((status, err["code"]), (422, "undecodable"), err)

    def test_auth(self):
        body = read_file("rocket.jpg")
        status, err = self.error(*self.transform("invert", body, token="bad")[::2])
        self.assertEqual((status, err["code"]), (401, "unauthorized"))
        status, _, data = self.srv.request("POST", transform_path("invert"), body, token=None)
        self.assertEqual(status, 401, data)
        viewer = self.srv.make_user("vic", "viewer")
        status, err = self.error(*self.transform("invert", body, token=viewer)[::2])
        self.assertEqual(status, 403, err)
        status, _, data = self.transform("invert", body, token=ADMIN_TOKEN)
        self.assertEqual(status, 200, data[:300])


class TransformLimitsTest(unittest.TestCase):
    """A server with small caps: 413 by the declared length, by the bytes
    that came (chunked), by the pixels; a gate of one with no queue answers
    503 with Retry-After while it is busy."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--transform-max-bytes", "150000", "--transform-max-pixels", "200000",
                         "--transform-concurrency", "1", "--transform-queue", "0")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def call(self, pipeline, body, chunked=False):
        c = self.srv.conn()
        try:
            headers = {"Authorization": "Bearer " + ADMIN_TOKEN}
            if chunked:
                c.request("POST", transform_path(pipeline), body=iter([body]), headers=headers,
                          encode_chunked=True)
            else:
                c.request("POST", transform_path(pipeline), body=body, headers=headers)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def test_caps(self):
        big = read_file("chelsea.png")  # 240512 bytes, 451x300 = 135300 px
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                status, _, data = self.call("invert", big, chunked)
                self.assertEqual(status, 413, data[:300])
                self.assertEqual(json.loads(data)["error"]["code"], "too_large")
        status, _, data = self.call("invert", read_file("rocket.jpg"))  # 273280 px
        self.assertEqual(status, 413, data[:300])
        self.assertIn("pixels", json.loads(data)["error"]["message"])
        small = read_file("chelsea.gif")  # 114615 bytes, 135300 px: under both caps
        status, _, data = self.call("resize:scale=2", small)  # but not its result
        self.assertEqual((status, json.loads(data)["error"]["code"]), (400, "bad_pipeline"))
        status, _, data = self.call("invert", small)
        self.assertEqual(status, 200, data[:300])

    @one_coordinator_only("--transform-concurrency and its queue are each process's")
    def test_busy_answers_503_with_retry_after(self):
        slow = {}
        body = read_file("chelsea.gif")
        t = threading.Thread(target=lambda: slow.update(r=self.call(HEAVY, body)))
        t.start()
        deadline = time.time() + 20
        while time.time() < deadline:
            _, _, text = self.srv.request("GET", "/metrics", token=None)
            if "tessera_transforms_running 1" in text.decode():
                break
            time.sleep(0.02)
        status, h, data = self.call("invert", read_file("chelsea.gif"))
        t.join()
        self.assertEqual(slow["r"][0], 200, slow["r"][2][:300])
        self.assertEqual((status, json.loads(data)["error"]["code"]), (503, "busy"), data)
        self.assertEqual(h["retry-after"], "1")
        _, _, text = self.srv.request("GET", "/metrics", token=None)
        self.assertRegex(text.decode(), r"tessera_transforms_refused_total [1-9]")
        status, _, data = self.call("invert", read_file("chelsea.gif"))  # free again
        self.assertEqual(status, 200, data[:300])


class TransformSpillTest(unittest.TestCase):
    """`serve --memory-budget 1` holds transforms to it as it holds jobs: a
    plan that cannot stream goes through temporary files in $TMPDIR (made
    and unlinked there, which moves the folder's mtime), bytes unchanged."""

    def test_transforms_spill_past_the_budget(self):
        with tempfile.TemporaryDirectory(prefix="tessera-spill-") as tmp:
            spill = os.path.join(tmp, "spill")
            os.mkdir(spill)
            srv = Server("--memory-budget", "1", env={"TMPDIR": spill})
            try:
                before = os.stat(spill).st_mtime_ns
                time.sleep(0.05)  # past the file system's clock tick
                status, _, data = srv.request("POST", transform_path("equalize|rotate:angle=30"),
                                              read_file("rocket.jpg"),
                                              {"Content-Type": "application/octet-stream"})
                self.assertEqual(status, 200, data[:300])
                self.assertNotEqual(os.stat(spill).st_mtime_ns, before, "nothing was spilled")
                self.assertEqual(data, process("equalize|rotate:angle=30", "rocket.jpg", tmp))
            finally:
                srv.stop()


if __name__ == "__main__":
    unittest.main()
