"""One validation (issue 12): everything a run would refuse, the pipeline
check refuses first with the run's message, in the API (the validate
endpoint, with or without images, and job submission) and in `tessera
submit` (before any upload); unknown names get a "did you mean"; the
operations list carries a plain-language hint and a unit per parameter."""
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest

import cv2
import numpy as np

from harness import BIN, DATA, Server

CHELSEA = os.path.join(DATA, "chelsea.png")  # 451x300, 3 bands
COFFEE = os.path.join(DATA, "coffee.png")    # 600x400
CROP = "crop:x=500,y=0,width=50,height=50"   # fits coffee, not chelsea
CROP_MSG = "crop: x=500, y=0 lies outside the 451x300 image (x must be < 451, y < 300)"
VALIDATE = "/api/v1/pipelines/validate"


def run_message(pipeline, path):
    """What a run of `tessera process` says about the pipeline on `path`."""
    tmp = tempfile.mkdtemp(prefix="tessera-validate-")
    try:
        r = subprocess.run([BIN, "process", "-p", pipeline, path, "-o",
                            os.path.join(tmp, "out.png")], capture_output=True, text=True,
                           timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert r.returncode == 2, (r.returncode, r.stderr)
    return r.stderr


class ValidateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.user = cls.srv.make_user("vic", "user")
        cls.chelsea = cls.srv.upload(CHELSEA, token=cls.user)[1]["id"]
        cls.coffee = cls.srv.upload(COFFEE, token=cls.user)[1]["id"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def validate(self, body, token=None):
        return self.srv.json("POST", VALIDATE, body, token=token or self.user)[:2]

    def refused(self, status, doc, message):
        self.assertEqual(status, 400, doc)
        self.assertEqual(doc["error"]["code"], "bad_pipeline", doc)
        self.assertEqual(doc["error"]["message"], message, doc)

    def test_rules_refused_with_the_runs_message(self):
        for pipeline, message in (
                ("gaussian-blur:ksize=4", "gaussian-blur: ksize must be odd, got 4"),
                ("resize:scale=0.5,width=100",
                 "resize: give either scale or width and/or height (not both)"),
                ("median:ksize=4", "median: ksize must be an odd number from 3 to 99, got 4"),
                ([{"op": "box-blur", "ksize": 2}], "box-blur: ksize must be odd, got 2")):
            status, doc = self.validate({"pipeline": pipeline})
            self.refused(status, doc, message)
        # the same words as `tessera process` (which parses with the same library)
        self.assertIn("gaussian-blur: ksize must be odd, got 4",
                      run_message("gaussian-blur:ksize=4", CHELSEA))

    def test_did_you_mean(self):
        status, doc = self.validate({"pipeline": "grayscale|brighten"})
        self.assertEqual(status, 400, doc)
        self.assertIn("unknown operation 'brighten'; did you mean 'brightness'?",
                      doc["error"]["message"])
        status, doc = self.validate({"pipeline": [{"op": "gaussian-blur", "sigm": 2}]})
        self.assertIn("unknown parameter 'sigm'; did you mean 'sigma'?", doc["error"]["message"])

    def test_with_stored_images(self):
        status, doc = self.validate({"pipeline": CROP, "images": [self.chelsea, self.coffee]})
        self.refused(status, doc, CROP_MSG)
        self.assertEqual(doc["error"]["image"], self.chelsea)
        self.assertEqual(doc["images"][0], {"image": self.chelsea, "error": CROP_MSG})
        self.assertEqual(doc["images"][1], {"image": self.coffee, "error": None,
                                            "output": {"width": 50, "height": 50, "bands": 3}})
        self.assertIn(CROP_MSG, run_message(CROP, CHELSEA))  # what a run says
        status, doc = self.validate({"pipeline": CROP, "images": [self.coffee]})
        self.assertEqual(status, 200, doc)
        self.assertTrue(doc["text"].startswith("crop@1:x=500"), doc)
        self.assertEqual(doc["images"][0]["output"], {"width": 50, "height": 50, "bands": 3})
        status, doc = self.validate({"pipeline": "grayscale|resize:width=0"})
        self.assertEqual(status, 400, doc)  # a range: refused before the images are looked at

    def test_with_sizes_of_images_not_uploaded(self):
        status, doc = self.validate({"pipeline": CROP, "images": [
            {"width": 451, "height": 300, "bands": 3, "format": "png", "name": "a.png"}]})
        self.refused(status, doc, CROP_MSG)
        self.assertEqual(doc["images"], [{"image": "a.png", "error": CROP_MSG}])
        # an output over the server's pixel limit is refused, as its run would be
        status, doc = self.validate({"pipeline": "resize:scale=100",  # 60000 x 40000: 2.4 GP
                                     "images": [{"width": 600, "height": 400}]})
        self.assertEqual(status, 400, doc)
        self.assertIn("2.4 GP is more than the limit of 2.0 GP", doc["error"]["message"])
        status, doc = self.validate({"pipeline": "thumbnail:width=100|crop:x=150",
                                     "images": [{"width": 800, "height": 600, "format": "jpeg"}]})
        self.refused(status, doc, "crop: x=150, y=0 lies outside the 100x75 image"
                     " (x must be < 100, y < 75)")
        for bad in ([{"width": 0, "height": 3}], [{"height": 3}], [{"width": 3, "height": 3,
                                                                     "bands": 7}], [3], "x"):
            status, doc = self.validate({"pipeline": "grayscale", "images": bad})
            self.assertEqual((status, doc["error"]["code"]), (400, "bad_request"), bad)
        status, doc = self.validate({"pipeline": "grayscale", "images": ["img_nope"]})
        self.assertEqual(status, 404, doc)

    def test_job_refused_at_submit(self):
        before = self.srv.json("GET", "/api/v1/jobs", token=self.user)[1]["jobs"]
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {
            "images": [self.coffee, self.chelsea], "pipeline": CROP}, token=self.user)
        self.refused(status, doc, CROP_MSG)
        self.assertEqual(doc["error"]["image"], self.chelsea)
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {
            "images": [self.coffee], "pipeline": "gaussian-blur:ksize=4"}, token=self.user)
        self.refused(status, doc, "gaussian-blur: ksize must be odd, got 4")
        after = self.srv.json("GET", "/api/v1/jobs", token=self.user)[1]["jobs"]
        self.assertEqual(len(after), len(before))  # no job was queued
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {
            "images": [self.coffee], "pipeline": CROP}, token=self.user)
        self.assertEqual(status, 201, doc)
        self.assertEqual(self.srv.wait_job(doc["id"], token=self.user)["state"], "succeeded")

    def test_operations_have_hints_and_units(self):
        status, ops, _ = self.srv.json("GET", "/api/v1/operations", token=self.user)
        self.assertEqual(status, 200)
        for op in ops:
            for p in op["params"]:
                self.assertTrue(p["hint"], (op["name"], p))
                self.assertIn("unit", p)
                self.assertTrue(p["doc"])
        blur = {p["name"]: p for p in next(o for o in ops if o["name"] == "gaussian-blur")["params"]}
        self.assertEqual(blur["sigma"]["unit"], "px")
        self.assertNotIn("round(", blur["ksize"]["hint"])  # words for users, not formulas


def random_value(rng, p):
    """A value for parameter p: often small, sometimes at or past the ends."""
    kind = p["type"]
    if kind == "bool":
        return rng.choice(["true", "false"])
    if kind == "enum":
        return rng.choice(p["choices"])
    if kind == "kernel":
        return " ".join(str(rng.randint(-2, 2)) for _ in range(rng.choice([1, 4, 9, 9])))
    roll = rng.random()
    if roll < 0.15:
        v = p["min"]
    elif roll < 0.25:
        v = p["max"]
    elif roll < 0.35:
        v = p["max"] + 1
    elif roll < 0.6:
        v = rng.uniform(p["min"], p["max"])
    else:
        v = rng.uniform(0, 80 if kind == "int" else 4)
    return str(int(round(v))) if kind == "int" else "%.2f" % v


class ApiAgreesWithRunsTest(unittest.TestCase):
    """Random pipelines through the API: what the validate endpoint accepts
    for an image runs on it as a job; what it refuses, POST /jobs refuses
    with the same message, and so does `tessera process` on that file."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-agree-")
        cls.path = os.path.join(cls.tmp, "small.png")
        rng = np.random.default_rng(12)
        cv2.imwrite(cls.path, rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
        cls.srv = Server()
        cls.user = cls.srv.make_user("ada", "user")
        cls.image = cls.srv.upload(cls.path, token=cls.user)[1]["id"]
        cls.ops = cls.srv.json("GET", "/api/v1/operations", token=cls.user)[1]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def draw(self, rng):
        steps = []
        for _ in range(rng.randint(1, 3)):
            op = rng.choice(self.ops)
            params = ["%s=%s" % (p["name"], random_value(rng, p))
                      for p in op["params"] if rng.random() < 0.5]
            steps.append(op["name"] + (":" + ",".join(params) if params else ""))
        return "|".join(steps)

    def test_random_pipelines(self):
        rng = random.Random(1212)
        tally = {"ran": 0, "refused": 0}
        deadline = time.time() + 120
        for _ in range(80):
            if time.time() > deadline:
                break
            pipe = self.draw(rng)
            status, doc, _ = self.srv.json("POST", VALIDATE, {"pipeline": pipe,
                                                              "images": [self.image]},
                                           token=self.user)
            self.assertIn(status, (200, 400), (pipe, doc))
            jstatus, job, _ = self.srv.json("POST", "/api/v1/jobs", {
                "images": [self.image], "pipeline": pipe}, token=self.user)
            if status == 200:
                self.assertEqual(jstatus, 201, (pipe, job))
                done = self.srv.wait_job(job["id"], token=self.user)
                self.assertEqual(done["state"], "succeeded", (pipe, done))
                tally["ran"] += 1
                continue
            message = doc["error"]["message"]
            self.assertEqual((jstatus, job["error"]["message"]), (400, message), pipe)
            tally["refused"] += 1
            if "limit" in message:
                continue  # the CLI's default limits are not the server's
            out = os.path.join(self.tmp, "out.png")
            r = subprocess.run([BIN, "process", "-p", pipe, self.path, "-o", out],
                               capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, pipe)
            self.assertIn(message, r.stderr, pipe)
        self.assertGreater(tally["ran"], 10, tally)
        self.assertGreater(tally["refused"], 10, tally)


class SubmitChecksFirstTest(unittest.TestCase):
    """`tessera submit` refuses a pipeline that would fail before uploading anything."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.url = "http://127.0.0.1:%d" % cls.srv.port
        cls.token = cls.srv.make_user("sam", "user")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-submit-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def submit(self, pipeline, *files, server=None):
        return subprocess.run([BIN, "submit", "--server", server or self.url, "--token",
                               self.token, "-p", pipeline, *files, "-o",
                               os.path.join(self.tmp, "out")],
                              capture_output=True, text=True, timeout=120)

    def assertNothingUploaded(self):
        status, doc, _ = self.srv.json("GET", "/api/v1/images", token=self.token)
        self.assertEqual((status, doc["images"]), (200, []))

    def test_rule_refused_before_upload(self):
        r = self.submit("gaussian-blur:ksize=4", CHELSEA)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("gaussian-blur: ksize must be odd, got 4", r.stderr)
        self.assertNotIn("uploaded", r.stdout)
        r = self.submit("resize:scale=0.5,width=100", CHELSEA, COFFEE)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("resize: give either scale or width and/or height (not both)", r.stderr)
        self.assertNothingUploaded()

    def test_image_refused_before_upload(self):
        r = self.submit(CROP, COFFEE, CHELSEA)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("chelsea.png: " + CROP_MSG, r.stderr)
        self.assertNotIn("uploaded", r.stdout)
        self.assertNothingUploaded()
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out")))

    def test_did_you_mean_without_a_server(self):
        # the library's check needs no server: refused before connecting
        r = self.submit("brighten:delta=3", CHELSEA, server="http://127.0.0.1:9")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("unknown operation 'brighten'; did you mean 'brightness'?", r.stderr)


if __name__ == "__main__":
    unittest.main()
