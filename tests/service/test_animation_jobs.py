"""Animated inputs in `tessera serve` jobs (issue 15 point 1): an animated
GIF or WebP into an animated format keeps every frame, its delays and loop
count (read back with ImageMagick's identify and Pillow); a one-frame
format takes `output.frame` or is refused at submission (400) with the
reason; `output.frame` is recorded with the job and kept by a rerun and
by a saved pipeline (with the AVIF speed); the
upload's thumbnail (the library's) is the first frame; the upload cap on
all frames' pixels (--max-total-pixels) answers 413.
"""
import io
import os
import struct
import subprocess
import sys
import unittest

from PIL import Image, ImageSequence

from harness import DATA, Server

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
import tools  # noqa: E402

ANIM = os.path.join(DATA, "anim.gif")  # 3 frames of 128x128, 20/100 s each, loops forever


def gif_bomb(width, height, frames):
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b"\x3b"


class AnimationJobs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--max-total-pixels", "100000000")
        status, doc, _ = cls.srv.upload(ANIM)
        assert status in (200, 201), (status, doc)
        cls.image = doc["id"]
        cls.upload_doc = doc

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def job(self, output, pipeline="invert"):
        return self.srv.json("POST", "/api/v1/jobs",
                             {"images": [self.image], "pipeline": pipeline, "output": output})

    def result(self, job_id):
        doc = self.srv.wait_job(job_id)
        self.assertEqual(doc["state"], "succeeded", doc)
        status, _, data = self.srv.request("GET", "/api/v1/jobs/%s/result" % job_id)
        self.assertEqual(status, 200)
        return doc, data

    def test_upload_reports_frames(self):
        self.assertEqual(self.upload_doc.get("frames"), 3, self.upload_doc)

    def test_animated_output_keeps_frames_delays_loop(self):
        for fmt in ("gif", "webp"):
            with self.subTest(format=fmt):
                status, doc, _ = self.job({"format": fmt})
                self.assertEqual(status, 201, doc)
                job, data = self.result(doc["id"])
                self.assertNotIn("frame", job["output"])
                with Image.open(io.BytesIO(data)) as im:
                    self.assertEqual(im.format, fmt.upper())
                    self.assertEqual(im.n_frames, 3)
                    self.assertEqual(im.info.get("loop"), 0)
                    durations = [(f.load(), f.info.get("duration"))[1]
                                 for f in ImageSequence.Iterator(im)]
                self.assertEqual(durations, [200, 200, 200])
                if fmt == "gif":
                    path = os.path.join(self.srv.tmp, "out.gif")
                    with open(path, "wb") as f:
                        f.write(data)
                    delays = subprocess.run([tools.find("identify"), "-format", "%T\n", path],
                                            check=True, capture_output=True, text=True).stdout
                    self.assertEqual(delays.split(), ["20", "20", "20"])

    def test_one_frame_format_needs_a_frame(self):
        status, doc, _ = self.job({"format": "png"})
        self.assertEqual(status, 400, doc)
        self.assertIn("input has 3 frames; PNG holds one: choose output.frame (0..2) or an "
                      "animated format (gif, webp)", doc["error"]["message"])
        status, doc, _ = self.job({"format": "png", "frame": 3})
        self.assertEqual(status, 400, doc)
        self.assertIn("frame 3 does not exist", doc["error"]["message"])

    def test_frame_choice_is_kept_and_rerun(self):
        status, doc, _ = self.job({"format": "png", "frame": 2})
        self.assertEqual(status, 201, doc)
        job, data = self.result(doc["id"])
        self.assertEqual(job["output"]["frame"], 2)
        with Image.open(io.BytesIO(data)) as im:
            self.assertEqual((im.format, im.size), ("PNG", (128, 128)))
            got = im.convert("RGB").tobytes()
        with Image.open(ANIM) as src:
            src.seek(2)
            want = bytes(255 - b for b in src.convert("RGB").tobytes())
        self.assertEqual(got, want)
        status, rerun, _ = self.srv.json("POST", "/api/v1/jobs/%s/rerun" % doc["id"])
        self.assertEqual(status, 201, rerun)
        job, again = self.result(rerun["id"])
        self.assertEqual(job["output"]["frame"], 2)
        self.assertEqual(again, data)

    def test_saved_pipeline_keeps_the_frame(self):
        base = "/api/v1/pipelines/saved"
        status, doc, _ = self.srv.json("POST", base, {
            "name": "second-frame", "pipeline": "invert",
            "output": {"format": "png", "frame": 1, "speed": 4}})
        self.assertEqual(status, 201, doc)
        self.assertEqual((doc["output"]["frame"], doc["output"]["speed"]), (1, 4))
        status, doc, _ = self.srv.json("PUT", base + "/second-frame",
                                       {"pipeline": "invert", "output": {"format": "gif"}})
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["output"]["frame"], doc["output"]["speed"]), (None, None))
        status, doc, _ = self.srv.json("POST", base + "/second-frame/rollback", {"version": 1})
        self.assertEqual(status, 201, doc)
        self.assertEqual((doc["version"], doc["output"]["frame"]), (3, 1))
        # a job from it takes frame 1 into PNG, as a job naming the frame
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {
            "images": [self.image], "saved_pipeline": "second-frame"})
        self.assertEqual(status, 201, doc)
        job, data = self.result(doc["id"])
        self.assertEqual((job["output"]["format"], job["output"]["frame"]), ("png", 1))
        status, doc, _ = self.job({"format": "png", "frame": 1})
        self.assertEqual(status, 201, doc)
        self.assertEqual(self.result(doc["id"])[1], data)
        # the job's own output overrides it: null = every frame (into GIF)
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {
            "images": [self.image], "saved_pipeline": "second-frame",
            "output": {"format": "gif", "frame": None}})
        self.assertEqual(status, 201, doc)
        job, data = self.result(doc["id"])
        self.assertNotIn("frame", job["output"])
        with Image.open(io.BytesIO(data)) as im:
            self.assertEqual(im.n_frames, 3)
        # a saved frame is checked like a job's
        status, doc, _ = self.srv.json("PUT", base + "/second-frame",
                                       {"pipeline": "invert", "output": {"frame": -1}})
        self.assertEqual(status, 400, doc)

    def test_thumbnail_of_an_animation(self):
        status, _, data = self.srv.request("GET", "/api/v1/images/%s/thumbnail" % self.image)
        self.assertEqual(status, 200)
        with Image.open(io.BytesIO(data)) as im:
            self.assertIn(im.format, ("JPEG", "PNG"))

    def test_total_pixels_cap_on_upload(self):
        status, doc, _ = self.srv.upload_bytes(gif_bomb(1000, 1000, 101), "bomb.gif")
        self.assertEqual(status, 413, doc)
        self.assertIn("for all frames", doc["error"]["message"])


if __name__ == "__main__":
    unittest.main()
