"""Multi-resolution job outputs: {"format": "dzi"} keeps each result as one
zip (result.dzi + result_files/), downloaded whole and read tile by tile
through GET /api/v1/jobs/{id}/result/{image}/dzi[/{level}/{col}_{row}.jpg]
for the web UI's viewer; {"format": "tiff", "pyramid": true} gives a
pyramidal TIFF. Same access as the result download: another account gets
404, and tile paths are numbers only."""
import io
import json
import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
import zipfile

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DATA, Server  # noqa: E402

NS = "{http://schemas.microsoft.com/deepzoom/2008}"


def big_png(width, height):
    img = cv2.resize(cv2.imread(os.path.join(DATA, "astronaut.png")), (width, height),
                     interpolation=cv2.INTER_LINEAR)
    return cv2.imencode(".png", img)[1].tobytes(), img


class DeepZoomJobTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        data, cls.img = big_png(1300, 700)
        status, h, body = cls.srv.request("POST", "/api/v1/images", data,
                                          {"Content-Type": "application/octet-stream"})
        assert status == 201, (status, body)
        doc = json.loads(body)
        cls.image = (doc["images"][0] if "images" in doc else doc)["id"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def job(self, output):
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {
            "images": [self.image], "pipeline": "brightness:delta=0", "output": output})
        self.assertEqual(status, 201, doc)
        job = self.srv.wait_job(doc["id"])
        self.assertEqual(job["state"], "succeeded", job)
        return job

    def test_dzi_zip_and_tiles(self):
        job = self.job({"format": "dzi-png"})
        self.assertEqual(job["output"]["format"], "dzi-png")
        self.assertEqual(job["items"][0]["format"], "dzi-png")
        base = "/api/v1/jobs/%s/result/%s" % (job["id"], self.image)
        status, h, body = self.srv.request("GET", base)
        self.assertEqual(status, 200)
        self.assertEqual(h.get("content-type"), "application/zip")
        z = zipfile.ZipFile(io.BytesIO(body))
        self.assertIsNone(z.testzip())
        names = z.namelist()
        self.assertIn("result.dzi", names)
        self.assertEqual(len([n for n in names if n.startswith("result_files/11/")]), 6 * 3)
        status, h, xml = self.srv.request("GET", base + "/dzi")
        self.assertEqual(status, 200)
        self.assertEqual(xml, z.read("result.dzi"))
        root = ET.fromstring(xml)
        self.assertEqual(root.get("Format"), "png")
        self.assertEqual(root.find(NS + "Size").get("Width"), "1300")
        status, h, tile = self.srv.request("GET", base + "/dzi/11/1_2.png")
        self.assertEqual(status, 200)
        self.assertEqual(h.get("content-type"), "image/png")
        self.assertEqual(tile, z.read("result_files/11/1_2.png"))
        got = cv2.imdecode(np.frombuffer(tile, np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(got, self.img[507:700, 253:509])
        status, h2, _ = self.srv.request("GET", base + "/dzi/11/1_2.png",
                                         headers={"If-None-Match": h.get("etag")})
        self.assertEqual(status, 304)

    def test_tile_paths_are_numbers_and_must_exist(self):
        job = self.job({"format": "dzi"})
        base = "/api/v1/jobs/%s/result/%s/dzi/" % (job["id"], self.image)
        status, h, tile = self.srv.request("GET", base + "0/0_0.jpg")
        self.assertEqual((status, h.get("content-type")), (200, "image/jpeg"))
        for bad in ("11/9_9.jpg", "12/0_0.jpg", "99/0_0.jpg", "01/0_0.jpg", "0/0_0.png",
                    "0/0-0.jpg", "0/0_0_0.jpg", "0/../0_0.jpg", "a/0_0.jpg"):
            with self.subTest(path=bad):
                status, _, body = self.srv.request("GET", base + bad)
                self.assertEqual(status, 404, body)

    def test_other_accounts_and_other_formats(self):
        job = self.job({"format": "dzi"})
        base = "/api/v1/jobs/%s/result/%s/dzi" % (job["id"], self.image)
        bob = self.srv.make_user("bob-dzi", "user")
        for path in (base, base + "/0/0_0.jpg"):
            status, _, body = self.srv.request("GET", path, token=bob)
            self.assertEqual(status, 404, body)
            status, _, _ = self.srv.request("GET", path, token=None)
            self.assertEqual(status, 401)
        plain = self.job({"format": "png"})
        status, _, body = self.srv.request(
            "GET", "/api/v1/jobs/%s/result/%s/dzi" % (plain["id"], self.image))
        self.assertEqual(status, 404)
        self.assertIn("not Deep Zoom", json.loads(body)["error"]["message"])

    def test_pyramid_tiff_output(self):
        job = self.job({"format": "tiff", "pyramid": True})
        self.assertEqual((job["output"]["format"], job["output"]["pyramid"]), ("tiff", True))
        status, h, body = self.srv.request(
            "GET", "/api/v1/jobs/%s/result/%s" % (job["id"], self.image))
        self.assertEqual((status, h.get("content-type")), (200, "image/tiff"))
        with tempfile.NamedTemporaryFile(suffix=".tif") as f:
            f.write(body)
            f.flush()
            ok, pages = cv2.imreadmulti(f.name, flags=cv2.IMREAD_UNCHANGED)
        self.assertEqual([p.shape[:2] for p in pages], [(700, 1300), (350, 650), (175, 325), (88, 163)])
        np.testing.assert_array_equal(pages[0], self.img)
        for output in ({"format": "png", "pyramid": True}, {"format": "tiff", "pyramid": 1},
                       {"format": "dzi-webp"}):
            status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {
                "images": [self.image], "pipeline": "invert", "output": output})
            self.assertEqual(status, 400, (output, doc))


if __name__ == "__main__":
    unittest.main()
