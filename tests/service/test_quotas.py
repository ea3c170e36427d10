"""Per-account quotas of `tessera serve` (--quota-bytes, --quota-jobs)
against a real server: uploads past the storage quota answer 413
quota_exceeded (from Content-Length before the body, or once the body
passes what is left), a job submitted by a full account is refused, an
account with --quota-jobs active jobs gets 429 too_many_active_jobs with
Retry-After; every refusal is audited; other accounts are not affected."""
import json
import os
import re
import unittest

from harness import DATA, Server, multipart, read_file

SLOW = "resize:width=4000,height=4000|gaussian-blur:sigma=20"  # ~4 s on one thread


def audit_lines(srv, event):
    return [d for d in (json.loads(line) for line in srv.log_text().splitlines()
                        if '"msg":"audit"' in line) if d["event"] == event]


class StorageQuotaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # chelsea.png is 240512 bytes: one fits, two do not
        cls.srv = Server("--quota-bytes", "400000")
        cls.alice = cls.srv.make_user("alice", "user")
        cls.bob = cls.srv.make_user("bob", "user")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def assertQuota(self, status, doc, want=413, code="quota_exceeded"):
        self.assertEqual(status, want, doc)
        self.assertEqual(doc["error"]["code"], code, doc)

    def test_uploads_and_jobs_past_the_quota(self):
        png = read_file("chelsea.png")
        status, first, _ = self.srv.upload_bytes(png, "one.png", token=self.alice)
        self.assertEqual(status, 201, first)
        # raw: refused from Content-Length, before the body is read
        status, doc, _ = self.srv.upload_bytes(png, "two.png", token=self.alice)
        self.assertQuota(status, doc)
        self.assertIn("storage quota exceeded", doc["error"]["message"])
        # multipart: the same (the body is larger than the room left)
        body, ctype = multipart([("file", "three.png", png)])
        status, doc, _ = self.srv.json("POST", "/api/v1/images", body, {"Content-Type": ctype},
                                       self.alice)
        self.assertQuota(status, doc)
        # a small file still fits
        status, small, _ = self.srv.upload_bytes(read_file("palette_color.png"), "s.png",
                                                 token=self.alice)
        self.assertEqual(status, 201, small)
        # a job's result counts too: after one, the account is full
        status, job, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [first["id"]], "pipeline": "gaussian-blur:sigma=1",
                                        "output": {"format": "bmp"}},  # ~406 KB
                                       token=self.alice)
        self.assertEqual(status, 201, job)
        self.assertEqual(self.srv.wait_job(job["id"], token=self.alice)["state"], "succeeded")
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [small["id"]], "pipeline": "grayscale"},
                                       token=self.alice)
        self.assertQuota(status, doc)
        status, doc, _ = self.srv.upload_bytes(b"\x89PNG", "tiny.png", token=self.alice)
        self.assertQuota(status, doc)
        # the other account is untouched
        status, doc, _ = self.srv.upload_bytes(png, "b.png", token=self.bob)
        self.assertEqual(status, 201, doc)
        # deleting frees room
        for path in ("/api/v1/jobs/%s?purge=true" % job["id"], "/api/v1/images/" + first["id"]):
            status, _, _ = self.srv.request("DELETE", path, token=self.alice)
            self.assertIn(status, (200, 204), path)
        status, doc, _ = self.srv.upload_bytes(png, "again.png", token=self.alice)
        self.assertEqual(status, 201, doc)
        # audited: uploads as upload_rejected, jobs as quota_exceeded
        ups = [a for a in audit_lines(self.srv, "upload_rejected") if a["account"] == "alice"]
        self.assertEqual(len(ups), 3, ups)
        for a in ups:
            self.assertEqual(a["status"], 413)
            self.assertIn("quota", a["reason"])
            self.assertEqual(a["address"], "127.0.0.1")
        jobs = audit_lines(self.srv, "quota_exceeded")
        self.assertEqual([(a["account"], a["quota"]) for a in jobs], [("alice", "bytes")])
        _, _, metrics = self.srv.request("GET", "/metrics", token=None)
        m = re.search(rb"^tessera_quota_refused_total (\d+)$", metrics, re.M)
        self.assertEqual(int(m.group(1)), 4)


class JobQuotaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--quota-jobs", "1", "--threads", "1", "--runners", "2")
        cls.alice = cls.srv.make_user("alice", "user")
        cls.bob = cls.srv.make_user("bob", "user")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_second_active_job_refused(self):
        ids = {}
        for who in ("alice", "bob"):
            status, img, _ = self.srv.upload(os.path.join(DATA, "astronaut.png"),
                                             token=getattr(self, who))
            self.assertEqual(status, 201, img)
            ids[who] = img["id"]
        spec = {"images": [ids["alice"]], "pipeline": SLOW}
        status, first, _ = self.srv.json("POST", "/api/v1/jobs", spec, token=self.alice)
        self.assertEqual(status, 201, first)
        status, doc, h = self.srv.json("POST", "/api/v1/jobs", spec, token=self.alice)
        self.assertEqual(status, 429, doc)
        self.assertEqual(doc["error"]["code"], "too_many_active_jobs", doc)
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        # bob has his own quota
        status, other, _ = self.srv.json("POST", "/api/v1/jobs",
                                         {"images": [ids["bob"]], "pipeline": "grayscale"},
                                         token=self.bob)
        self.assertEqual(status, 201, other)
        # once the first job ends, alice may submit again
        self.srv.request("DELETE", "/api/v1/jobs/" + first["id"], token=self.alice)
        self.srv.wait_job(first["id"], token=self.alice)
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [ids["alice"]], "pipeline": "grayscale"},
                                       token=self.alice)
        self.assertEqual(status, 201, doc)
        lines = audit_lines(self.srv, "quota_exceeded")
        self.assertEqual([(a["account"], a["quota"]) for a in lines], [("alice", "jobs")])
        self.assertIn("too many active jobs", lines[0]["reason"])


if __name__ == "__main__":
    unittest.main()
