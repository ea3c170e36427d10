"""HEIC and AVIF through a real `tessera serve`: uploads are detected by
content and stored with their upright size; a job writes AVIF with the
output quality and speed it names (validated like quality); HEIC is not an
API output format (docs/internals/heif.md says why); hostile HEIF uploads
answer 413/422 like other formats, polyglots included. Test files come from heif-enc
(libheif-examples, found through tests/tools.py)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import cv2
import numpy as np

from harness import BIN, DATA, ROOT, Server, multipart

sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "oracle"))
import heif_files as hf  # noqa: E402
import tools  # noqa: E402


def heif_enc(*args):
    r = subprocess.run([tools.find("heif-enc"), *args], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-500:]


class HeifService(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-heif-svc-")
        src = os.path.join(cls.tmp, "chelsea.png")
        cv2.imwrite(src, cv2.imread(os.path.join(DATA, "chelsea.png")))  # without its ICC
        cls.heic = os.path.join(cls.tmp, "chelsea.heic")
        cls.avif = os.path.join(cls.tmp, "chelsea.avif")
        heif_enc("-q", "50", "-o", cls.heic, src)
        heif_enc("-A", "-q", "50", "-o", cls.avif, src)
        small = os.path.join(cls.tmp, "small.png")
        cv2.imwrite(small, cv2.imread(os.path.join(DATA, "chelsea.png"))[40:120, 100:196])
        cls.small = os.path.join(cls.tmp, "small.heic")
        heif_enc("-o", cls.small, small)
        cls.srv = Server()
        cls.user = cls.srv.make_user("hana", "user")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def load(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_uploads_detected_by_content(self):
        for path, fmt in ((self.heic, "heif"), (self.avif, "avif")):
            with self.subTest(fmt=fmt):
                # a misleading name: the format comes from the ftyp brands
                status, doc, _ = self.srv.upload(path, self.user, name="photo.jpg")
                self.assertIn(status, (200, 201), doc)  # 200: the same bytes, stored before
                self.assertEqual((doc["format"], doc["width"], doc["height"], doc["bands"]),
                                 (fmt, 451, 300, 3))
        body, ctype = multipart([("file", "a.heic", self.load(self.small))])
        status, doc, _ = self.srv.json("POST", "/api/v1/images", body, {"Content-Type": ctype},
                                       self.user)
        self.assertIn(status, (200, 201), doc)
        self.assertEqual((doc["format"], doc["width"], doc["height"]), ("heif", 96, 80))

    def test_upload_stores_the_upright_size(self):
        turned = hf.add_properties(self.load(self.small), [(b"irot", bytes([1]))])
        status, doc, _ = self.srv.upload_bytes(turned, "turned.heic", self.user)
        self.assertEqual(status, 201, doc)
        self.assertEqual((doc["width"], doc["height"]), (80, 96))

    def job(self, image, output):
        return self.srv.json("POST", "/api/v1/jobs", {"images": [image], "pipeline": "grayscale",
                                                      "output": output}, token=self.user)

    def test_job_writes_avif_with_quality_and_speed(self):
        status, img, _ = self.srv.upload(self.heic, self.user)
        self.assertIn(status, (200, 201), img)
        status, job, _ = self.job(img["id"], {"format": "avif", "quality": 70, "speed": 9})
        self.assertEqual(status, 201, job)
        self.assertEqual(job["output"], {"format": "avif", "quality": 70, "speed": 9, "tile": 256})
        done = self.srv.wait_job(job["id"], token=self.user)
        self.assertEqual(done["state"], "succeeded", done)
        status, h, body = self.srv.request("GET", "/api/v1/jobs/%s/result" % job["id"],
                                           token=self.user)
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "image/avif")
        self.assertEqual(body[4:12], b"ftypavif")
        out = os.path.join(self.tmp, "result.avif")
        with open(out, "wb") as f:
            f.write(body)
        png = out + ".png"
        r = subprocess.run([tools.find("heif-convert"), "--quiet", out, png], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        back = cv2.imread(png, cv2.IMREAD_UNCHANGED)
        self.assertEqual(back.shape[:2], (300, 451))
        gray = cv2.cvtColor(cv2.imread(os.path.join(DATA, "chelsea.png")), cv2.COLOR_BGR2GRAY)
        mse = np.mean((back[:, :, 0].astype(float) - gray) ** 2)
        self.assertGreater(10 * np.log10(255 ** 2 / mse), 28)  # through HEIC q50, then AVIF q70
        # A rerun repeats the output settings, speed included.
        status, again, _ = self.srv.json("POST", "/api/v1/jobs/%s/rerun" % job["id"],
                                         token=self.user)
        self.assertEqual(status, 201, again)
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + again["id"], token=self.user)
        self.assertEqual(doc["output"]["speed"], 9)

    def test_submit_heic_to_avif(self):
        """The CLI client: a HEIC up, AVIF back at speed 9; a bad --speed is
        refused before anything is uploaded."""
        out = os.path.join(self.tmp, "submitted")
        url = "http://127.0.0.1:%d" % self.srv.port
        cmd = [BIN, "submit", "--server", url, "--token", self.user, "-p", "invert",
               self.small, "-o", out, "--format", "avif"]
        r = subprocess.run(cmd + ["--speed", "9"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("-> avif", r.stdout)
        (name,) = os.listdir(out)
        self.assertTrue(name.endswith(".avif"), name)
        with open(os.path.join(out, name), "rb") as f:
            self.assertEqual(f.read()[4:12], b"ftypavif")
        r = subprocess.run(cmd + ["--speed", "10"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--speed must be between 1 and 9", r.stderr)

    def test_bad_output_settings(self):
        status, img, _ = self.srv.upload(self.avif, self.user)
        self.assertIn(status, (200, 201), img)
        for output, text in (({"format": "avif", "speed": 0}, "speed must be between 1 and 9"),
                             ({"format": "avif", "speed": 10}, "speed must be between 1 and 9"),
                             ({"format": "avif", "speed": "fast"}, "\"speed\": integer"),
                             ({"format": "heic"}, "output format must be one of"),
                             ({"format": "avif", "quality": 101}, "quality")):
            with self.subTest(output=output):
                status, doc, _ = self.job(img["id"], output)
                self.assertEqual(status, 400, doc)
                self.assertIn(text, doc["error"]["message"])

    def test_polyglot_refused(self):
        """Only zero bytes may follow the last top-level box (a ZIP or a
        script after a HEIC or an AVIF is a polyglot: 422)."""
        zip_tail = b"PK\x03\x04" + bytes(26) + b"a.txt" + b"hello"
        for path in (self.heic, self.avif):
            data = self.load(path)
            with self.subTest(path=os.path.basename(path)):
                status, doc, _ = self.srv.upload_bytes(data + zip_tail, "poly.heic", self.user)
                self.assertEqual(status, 422, doc)
                self.assertIn("polyglot", doc["error"]["message"])
                status, doc, _ = self.srv.upload_bytes(data + b"<script>x</script>", "s.heic",
                                                       self.user)
                self.assertEqual(status, 422, doc)
                status, doc, _ = self.srv.upload_bytes(data + bytes(64), "padded.heic", self.user)
                self.assertIn(status, (200, 201), doc)

    def test_hostile_uploads(self):
        data = self.load(self.heic)
        for name, bad, status in (("cut.heic", data[:len(data) // 2], 422),
                                  ("big.heic", hf.patch_ispe(data, 30000, 30000), 413),
                                  ("bomb.heic", hf.patch_grid(data, 30000, 30000), 413)):
            with self.subTest(name=name):
                got, doc, _ = self.srv.upload_bytes(bad, name, self.user)
                self.assertEqual(got, status, doc)
                self.assertIn("heif", doc["error"]["message"])


if __name__ == "__main__":
    unittest.main()
