"""Presets and the live preview (issue 12, point 6) against a real server:
GET /api/v1/presets (the required names, each pipeline valid), and POST
/api/v1/images/{id}/preview: a decodable image of the expected size on the
image's 256 px copy (pixel geometry scaled, so a crop valid only on the
full image previews), the validate endpoint's 400s, another account's image
404, a newer preview of the same account superseding a slow one (409), the
2 s cap (422 too_slow), and no job made."""
import threading
import time
import unittest

import cv2
import numpy as np

from harness import Server, one_coordinator_only, read_file

HEAVY = "|".join(["gaussian-blur:sigma=100"] * 40)  # seconds of work even on 256 px
REQUIRED = ["Edge detection", "Web thumbnail", "Scan clean-up", "The original design's pipeline"]


def decode(data):
    """(width, height, bands) of an encoded image, as OpenCV reads it."""
    m = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert m is not None, "the preview does not decode"
    return m.shape[1], m.shape[0], 1 if m.ndim == 2 else m.shape[2]


class PreviewTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.token = cls.srv.make_user("petra", "user")
        status, cls.image, _ = cls.srv.upload_bytes(read_file("chelsea.png"), "chelsea.png",
                                                    token=cls.token)
        assert status == 201, cls.image
        # the copy the preview runs on: the library thumbnail, made here
        status, _, body = cls.srv.request("GET", "/api/v1/images/%s/thumbnail" % cls.image["id"],
                                          token=cls.token)
        assert status == 200
        cls.copy = decode(body)[:2]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def preview(self, pipeline, image=None, token=None, **extra):
        body = dict(pipeline=pipeline, **extra)
        return self.srv.request("POST", "/api/v1/images/%s/preview" % (image or self.image["id"]),
                                body, token=token or self.token)

    def preview_json(self, pipeline, **kw):
        status, h, data = self.preview(pipeline, **kw)
        import json
        return status, json.loads(data) if data else None, h

    # ---------- presets ----------

    def test_presets_list_the_required_ones_and_each_validates(self):
        viewer = self.srv.make_user("vera", "viewer")
        status, presets, _ = self.srv.json("GET", "/api/v1/presets", token=viewer)
        self.assertEqual(status, 200, presets)
        names = [p["name"] for p in presets]
        for name in REQUIRED:
            self.assertIn(name, names)
        for p in presets:
            self.assertTrue(p["description"] and p["id"], p)
            for form in (p["pipeline"], p["steps"]):
                status, doc, _ = self.srv.json("POST", "/api/v1/pipelines/validate",
                                               {"pipeline": form}, token=self.token)
                self.assertEqual(status, 200, (p["name"], doc))
                self.assertEqual(doc["text"], p["pipeline"], "the preset's text is normalized")
                self.assertEqual(doc["pipeline"], p["steps"])
        original = presets[names.index("The original design's pipeline")]
        self.assertEqual(original["pipeline"],
                         "grayscale@1|gaussian-blur@1:sigma=0,ksize=5|canny@1:low=100,high=200")
        # preset:ID is accepted wherever a pipeline is
        status, doc, _ = self.srv.json("POST", "/api/v1/pipelines/validate",
                                       {"pipeline": "preset:" + original["id"]}, token=self.token)
        self.assertEqual((status, doc["text"]), (200, original["pipeline"]))
        status, _, _ = self.srv.json("GET", "/api/v1/presets", token=None)
        self.assertEqual(status, 401)

    # ---------- preview ----------

    def test_preview_has_the_copys_size(self):
        w, h = self.copy
        self.assertEqual(max(w, h), 256)
        status, headers, data = self.preview("grayscale")
        self.assertEqual(status, 200, data[:300])
        self.assertEqual(headers["content-type"], "image/jpeg")
        self.assertEqual(headers["cache-control"], "no-store")
        self.assertEqual(decode(data), (w, h, 1))
        status, headers, data = self.preview([{"op": "rotate90"}], format="png")
        self.assertEqual((status, headers["content-type"]), (200, "image/png"), data[:300])
        self.assertEqual(decode(data), (h, w, 3))

    def test_crop_valid_only_on_the_full_image_is_scaled(self):
        sx, sy = self.copy[0] / 451, self.copy[1] / 300
        # x=300 lies outside the 256 px copy: scaled, it lies inside
        status, _, data = self.preview("crop:x=300,y=200,width=100,height=80")
        self.assertEqual(status, 200, data[:300])
        self.assertEqual(decode(data)[:2], (round(100 * sx), round(80 * sy)))
        # a resize to a size is scaled too; a blur is not (it only looks stronger)
        status, _, data = self.preview("resize:width=200|gaussian-blur:sigma=3")
        self.assertEqual(status, 200, data[:300])
        w, h, _ = decode(data)
        self.assertLessEqual(abs(w - 200 * sx), 1)
        self.assertLessEqual(abs(h - 133 * sy), 1)
        # a thumbnail never enlarges: its box is left alone
        status, _, data = self.preview("preset:web-thumbnail")
        self.assertEqual((status, decode(data)[:2]), (200, self.copy))

    def test_alpha_gives_png(self):
        rgba = np.random.default_rng(3).integers(0, 256, (200, 300, 4), dtype=np.uint8)
        ok, png = cv2.imencode(".png", rgba)
        status, im, _ = self.srv.upload_bytes(png.tobytes(), "alpha.png", token=self.token)
        self.assertEqual(status, 201, im)
        status, headers, data = self.preview("invert", image=im["id"], format="jpeg")
        self.assertEqual((status, headers["content-type"]), (200, "image/png"), data[:300])
        self.assertEqual(decode(data), (256, 171, 4))

    def test_bad_pipeline_answers_as_validate_does(self):
        steps = [{"op": "grayscale"}, {"op": "gaussian-blur", "sigma": 500}]
        status, doc, _ = self.preview_json(steps)
        self.assertEqual(status, 400, doc)
        self.assertEqual((doc["error"]["code"], doc["error"]["step"], doc["error"]["param"]),
                         ("bad_pipeline", 2, "sigma"))
        _, validated, _ = self.srv.json("POST", "/api/v1/pipelines/validate",
                                        {"pipeline": steps}, token=self.token)
        self.assertEqual(doc, validated)
        # what the image itself refuses: the job's message, naming the image
        status, doc, _ = self.preview_json("crop:x=500")
        self.assertEqual(status, 400, doc)
        self.assertEqual(doc["error"]["image"], self.image["id"])
        self.assertIn("lies outside the 451x300 image", doc["error"]["message"])
        status, doc, _ = self.preview_json("grayscale", format="gif")
        self.assertEqual((status, doc["error"]["code"]), (400, "bad_request"))
        # over the preview's own limits (16 MP): the image could run it as a job
        status, doc, _ = self.preview_json("resize:scale=20")
        self.assertEqual((status, doc["error"]["code"]), (413, "too_large"), doc)

    def test_only_the_owner_previews(self):
        other = self.srv.make_user("otto", "user")
        status, doc, _ = self.preview_json("grayscale", token=other)
        self.assertEqual((status, doc["error"]["code"]), (404, "not_found"), doc)
        viewer = self.srv.make_user("vic", "viewer")
        status, _, _ = self.preview("grayscale", token=viewer)
        self.assertEqual(status, 403)
        status, _, _ = self.srv.request("POST", "/api/v1/images/%s/preview" % self.image["id"],
                                        {"pipeline": "grayscale"}, token=None)
        self.assertEqual(status, 401)
        status, _, _ = self.preview("grayscale", image="0" * 32)
        self.assertEqual(status, 404)

    @one_coordinator_only("a newer preview supersedes the account's previous one in the same process")
    def test_a_newer_preview_supersedes_a_slow_one(self):
        # another account, with its thumbnail made, whose preview leaves the slow one alone
        other = self.srv.make_user("olga", "user")
        _, im, _ = self.srv.upload_bytes(read_file("coffee.png"), "coffee.png", token=other)
        self.srv.request("GET", "/api/v1/images/%s/thumbnail" % im["id"], token=other)
        first = {}

        def slow():
            t0 = time.time()
            first["status"], first["doc"], _ = self.preview_json(HEAVY)
            first["seconds"] = time.time() - t0

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.4)
        status, _, _ = self.preview("grayscale", image=im["id"], token=other)
        self.assertEqual(status, 200)
        self.assertTrue(thread.is_alive(), "the slow preview ended before the newer one: %s" % first)
        status, _, data = self.preview("grayscale")
        self.assertEqual(status, 200, data[:300])
        thread.join(30)
        self.assertEqual(first["status"], 409, first)
        self.assertEqual(first["doc"]["error"]["code"], "superseded")
        self.assertLess(first["seconds"], 5)  # stopped long before its 40 blurs end

    def test_a_slow_preview_is_stopped_after_2_s(self):
        t0 = time.time()
        status, doc, _ = self.preview_json(HEAVY)
        seconds = time.time() - t0
        self.assertEqual((status, doc["error"]["code"]), (422, "too_slow"), doc)
        self.assertIn("2 s", doc["error"]["message"])
        self.assertGreater(seconds, 1.9)
        self.assertLess(seconds, 6)

    def test_previews_are_not_jobs(self):
        self.preview("grayscale")
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs", token=self.token)
        self.assertEqual((status, doc["total"]), (200, 0))


if __name__ == "__main__":
    unittest.main()
