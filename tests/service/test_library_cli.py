"""`tessera images` and `tessera jobs` (the library and the job history from
the command line) against a real server."""
import json
import os
import re
import subprocess
import unittest

from harness import BIN, DATA, Server


class LibraryCliTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server()
        self.url = "http://127.0.0.1:%d" % self.srv.port
        self.token = self.srv.make_user("cli", "user")

    def tearDown(self):
        self.srv.stop()

    def tessera(self, *args):
        cmd = [BIN, args[0], "--server", self.url, "--token", self.token] + list(args[1:])
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def upload(self, name):
        status, doc, _ = self.srv.upload(os.path.join(DATA, name), token=self.token)
        self.assertIn(status, (200, 201), doc)
        return doc["id"]

    def test_images_list_search_page_delete(self):
        ids = {n: self.upload(n) for n in ("chelsea.png", "coffee.png", "rocket.jpg")}
        r = self.tessera("images")
        self.assertEqual(r.returncode, 0, r.stderr)
        for name, image in ids.items():
            self.assertRegex(r.stdout, re.escape(image) + r" .*" + re.escape(name))
        self.assertIn("3 images shown (1 to 3) of 3", r.stdout)
        r = self.tessera("images", "list", "--search", "COF", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual([i["name"] for i in doc["images"]], ["coffee.png"])
        r = self.tessera("images", "--limit", "1", "--offset", "1")
        self.assertIn("1 images shown (2 to 2) of 3", r.stdout)
        r = self.tessera("images", "delete", ids["chelsea.png"], ids["coffee.png"], "nope")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("deleted " + ids["chelsea.png"], r.stdout)
        self.assertIn("nope: not found", r.stderr)
        doc = json.loads(self.tessera("images", "--json").stdout)
        self.assertEqual([i["id"] for i in doc["images"]], [ids["rocket.jpg"]])
        r = self.tessera("images", "delete")
        self.assertEqual(r.returncode, 2)

    def test_jobs_list_filter_rerun_delete(self):
        image = self.upload("chelsea.png")
        status, job, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [image], "pipeline": "grayscale"},
                                       token=self.token)
        self.assertEqual(status, 201, job)
        self.srv.wait_job(job["id"], token=self.token)
        r = self.tessera("jobs", "--state", "succeeded")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, re.escape(job["id"]) + r" +succeeded +1 +[0-9.]+ +[0-9]+ .*"
                         r"chelsea\.png: grayscale")
        r = self.tessera("jobs", "--state", "failed")
        self.assertIn("0 jobs shown", r.stdout)
        r = self.tessera("jobs", "--state", "nonsense")
        self.assertEqual(r.returncode, 2, r.stdout)
        r = self.tessera("jobs", "rerun", job["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        new = re.search(r"^job (\S+) reruns", r.stdout, re.M).group(1)
        done = self.srv.wait_job(new, token=self.token)
        self.assertEqual(done["state"], "succeeded")
        self.assertEqual(done["pipeline_text"], job["pipeline_text"])
        r = self.tessera("jobs", "delete", job["id"], new)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("deleted " + new, r.stdout)
        doc = json.loads(self.tessera("jobs", "--json").stdout)
        self.assertEqual(doc["total"], 0)

    def test_submit_keeps_an_image_it_found_already_stored(self):
        image = self.upload("chelsea.png")
        out = os.path.join(self.srv.tmp, "out")
        # the first file is already stored, the second is refused: submit
        # deletes what it stored, never the image that was there before
        r = self.tessera("submit", "-p", "grayscale", os.path.join(DATA, "chelsea.png"),
                         os.path.join(DATA, "coffee.png"), os.path.join(DATA, "truncated.jpg"),
                         "-o", out)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("chelsea.png: %s" % image, r.stdout)
        self.assertIn("(already stored)", r.stdout)
        doc = json.loads(self.tessera("images", "--json").stdout)
        self.assertEqual([i["id"] for i in doc["images"]], [image])

    def test_jobs_delete_refuses_an_active_job(self):
        image = self.upload("astronaut.png")
        status, job, _ = self.srv.json(
            "POST", "/api/v1/jobs",
            {"images": [image], "pipeline": "gaussian-blur:sigma=30|gaussian-blur:sigma=30"},
            token=self.token)
        self.assertEqual(status, 201, job)
        r = self.tessera("jobs", "delete", job["id"])
        if r.returncode == 2:  # still active: refused, with the way out named
            self.assertIn("--cancel", r.stderr)
            r = self.tessera("jobs", "delete", "--cancel", job["id"])
        for _ in range(50):  # purge answers 409 while the last tiles stop
            if r.returncode == 0 or "in_use" not in r.stderr + r.stdout:
                break
            r = self.tessera("jobs", "delete", "--cancel", job["id"])
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
