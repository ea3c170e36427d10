"""Per-account quotas of `tessera serve` (--quota-bytes, --quota-jobs)
against a real server: uploads past the storage quota answer 413
quota_exceeded (from Content-Length before the body, or once the body
passes what is left), a job submitted by a full account is refused, an
account with --quota-jobs active jobs gets 429 too_many_active_jobs with
Retry-After; every refusal is audited; other accounts are not affected.
Per-account overrides (PATCH /api/v1/users/{id}, `tessera user quota`) win
over the defaults: larger, 0 = unlimited, cleared = back to the default;
only admins set them, every change is audited."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, DATA, HA, Server, multipart, read_file, unique_bytes, with_db

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
        self.assertEqual(self.srv.metric("tessera_quota_refused_total"), 4)


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


class OverrideTest(unittest.TestCase):
    """Overrides on a server whose defaults are 400000 bytes and 1 active job."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--quota-bytes", "400000", "--quota-jobs", "1", "--threads", "1",
                         "--runners", "2")
        cls.tokens, cls.ids = {}, {}
        for name, role in (("alice", "user"), ("bob", "user"), ("carol", "user"),
                           ("val", "viewer")):
            status, doc, _ = cls.srv.json("POST", "/api/v1/users", {"name": name, "role": role})
            assert status == 201, (status, doc)
            cls.tokens[name], cls.ids[name] = doc["token"], doc["id"]
        cls.png = read_file("chelsea.png")  # 240512 bytes: one fits the default, two do not

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def patch(self, who, body, token=None):
        kwargs = {"token": token} if token else {}
        return self.srv.json("PATCH", "/api/v1/users/" + self.ids[who], body, **kwargs)

    def upload(self, who, token=None):
        # same size, new bytes each time: identical uploads are stored once
        self.uploads = getattr(self, "uploads", 0) + 1
        return self.srv.upload_bytes(unique_bytes(self.png, self.uploads), "c.png",
                                     token=token or self.tokens[who])

    def test_an_early_answer_reaches_a_client_still_sending(self):
        # The quota refuses an upload from its Content-Length, before the body:
        # the server answers and closes while a large body is still coming, the
        # client's send fails (EPIPE), and the 413 is read all the same
        # (harness.request; a 600 KB body raced this in CI). Through HAProxy
        # (TESSERA_TEST_HA) a body this large loses the answer: HAProxy closes
        # the client's connection when the server closes early (docs/deploy.md).
        if HA:
            self.skipTest("HAProxy drops an early answer to a client still sending 16 MB")
        for _ in range(3):
            status, doc, _ = self.srv.upload_bytes(os.urandom(16 << 20), "huge.png",
                                                   token=self.tokens["carol"])
            self.assertEqual((status, doc["error"]["code"]), (413, "quota_exceeded"), doc)

    def test_larger_override_then_cleared(self):
        status, doc, _ = self.upload("alice")
        self.assertEqual(status, 201, doc)
        status, doc, _ = self.upload("alice")
        self.assertEqual((status, doc["error"]["code"]), (413, "quota_exceeded"), doc)
        self.assertIn("400000 bytes (quota_bytes, the server's default)", doc["error"]["message"])
        # a larger override lets the same upload through
        status, user, _ = self.patch("alice", {"quota_bytes": 1000000})
        self.assertEqual(status, 200, user)
        self.assertEqual((user["quota_bytes"], user["quota_bytes_override"]), (1000000, 1000000))
        self.assertEqual((user["quota_jobs"], user["quota_jobs_override"]), (1, None))
        self.assertEqual(user["stored_bytes"], len(self.png))
        status, doc, _ = self.upload("alice")
        self.assertEqual(status, 201, doc)
        # absent fields stay as they are
        status, user, _ = self.patch("alice", {"quota_jobs": 3})
        self.assertEqual(status, 200, user)
        self.assertEqual((user["quota_bytes_override"], user["quota_jobs"]), (1000000, 3))
        # the refusal names the account's own quota
        status, doc, _ = self.srv.upload_bytes(self.png * 3, "big.png", token=self.tokens["alice"])
        self.assertEqual(status, 413, doc)
        self.assertIn("1000000 bytes (quota_bytes, this account's own quota)",
                      doc["error"]["message"])
        # cleared: back to the default, and alice is over it
        status, user, _ = self.patch("alice", {"quota_bytes": None, "quota_jobs": None})
        self.assertEqual(status, 200, user)
        self.assertEqual((user["quota_bytes"], user["quota_bytes_override"]), (400000, None))
        self.assertEqual((user["quota_jobs"], user["quota_jobs_override"]), (1, None))
        self.assertEqual(user["stored_bytes"], 2 * len(self.png))
        status, doc, _ = self.srv.upload_bytes(read_file("palette_color.png"), "s.png",
                                               token=self.tokens["alice"])
        self.assertEqual(status, 413, doc)
        self.assertIn("the server's default", doc["error"]["message"])
        # every change is audited with the old and new overrides
        lines = [a for a in audit_lines(self.srv, "quota_changed") if a["user"] == "alice"]
        self.assertEqual([(a["old"], a["new"]) for a in lines], [
            ({"quota_bytes": None, "quota_jobs": None},
             {"quota_bytes": 1000000, "quota_jobs": None}),
            ({"quota_bytes": 1000000, "quota_jobs": None},
             {"quota_bytes": 1000000, "quota_jobs": 3}),
            ({"quota_bytes": 1000000, "quota_jobs": 3},
             {"quota_bytes": None, "quota_jobs": None})])
        for a in lines:
            self.assertEqual((a["account"], a["user_id"], a["method"]),
                             ("admin", int(self.ids["alice"]), "PATCH"))

    def test_zero_is_unlimited(self):
        status, user, _ = self.patch("carol", {"quota_bytes": 0, "quota_jobs": 0})
        self.assertEqual(status, 200, user)
        self.assertEqual((user["quota_bytes"], user["quota_jobs"]), (0, 0))
        self.assertEqual((user["quota_bytes_override"], user["quota_jobs_override"]), (0, 0))
        ids = []
        for _ in range(3):  # 721536 bytes, past the 400000 default
            status, doc, _ = self.upload("carol")
            self.assertEqual(status, 201, doc)
            ids.append(doc["id"])
        jobs = []
        for _ in range(2):  # past the default of 1 active job
            status, doc, _ = self.srv.json("POST", "/api/v1/jobs",
                                           {"images": [ids[0]], "pipeline": SLOW},
                                           token=self.tokens["carol"])
            self.assertEqual(status, 201, doc)
            jobs.append(doc["id"])
        status, me, _ = self.srv.json("GET", "/api/v1/users/me", token=self.tokens["carol"])
        self.assertEqual(status, 200, me)
        self.assertEqual(me["active_jobs"], 2)
        self.assertEqual(me["stored_bytes"], 3 * len(self.png))
        for job in jobs:
            self.srv.request("DELETE", "/api/v1/jobs/" + job, token=self.tokens["carol"])
            self.srv.wait_job(job, token=self.tokens["carol"])

    def test_admin_quotad_unless_zero(self):
        status, doc, _ = self.srv.upload_bytes(self.png, "a.png")
        self.assertEqual(status, 201, doc)
        status, doc, _ = self.srv.upload_bytes(self.png, "a.png")
        self.assertEqual(status, 413, doc)
        status, me, _ = self.srv.json("PATCH", "/api/v1/users/me", {"quota_bytes": 0})
        self.assertEqual(status, 200, me)
        self.assertEqual((me["name"], me["quota_bytes"]), ("admin", 0))
        status, doc, _ = self.srv.upload_bytes(unique_bytes(self.png, 1), "a.png")
        self.assertEqual(status, 201, doc)

    def test_only_admins_change_and_see_others(self):
        for who in ("bob", "val"):
            token = self.tokens[who]
            for target in ("alice", who):
                status, doc, _ = self.patch(target, {"quota_bytes": 0}, token=token)
                self.assertEqual((status, doc["error"]["code"]), (403, "forbidden"), (who, doc))
            status, doc, _ = self.srv.json("PATCH", "/api/v1/users/me", {"quota_jobs": 0},
                                           token=token)
            self.assertEqual(status, 403, doc)
            # another account's quota: like a missing user; the list is admin-only
            status, doc, _ = self.srv.json("GET", "/api/v1/users/" + self.ids["alice"],
                                           token=token)
            self.assertEqual((status, list(doc)), (404, ["error"]), doc)
            status, _, _ = self.srv.json("GET", "/api/v1/users", token=token)
            self.assertEqual(status, 403)
            # its own: by id or as "me", defaults and usage
            for path in (self.ids[who], "me"):
                status, me, _ = self.srv.json("GET", "/api/v1/users/" + path, token=token)
                self.assertEqual(status, 200, me)
                self.assertEqual(me["name"], who)
                self.assertEqual((me["quota_bytes"], me["quota_jobs"]), (400000, 1))
                self.assertIsNone(me["quota_bytes_override"])
                self.assertEqual((me["stored_bytes"], me["active_jobs"]), (0, 0))
        status, doc, _ = self.srv.json("GET", "/api/v1/users/" + self.ids["bob"])
        self.assertEqual(status, 200, doc)
        self.assertIsNone(doc["quota_bytes_override"])  # nobody changed it
        self.assertEqual([a for a in audit_lines(self.srv, "quota_changed")
                          if a["user"] in ("bob", "val")], [])
        denied = [a for a in audit_lines(self.srv, "denied") if a["method"] == "PATCH"]
        self.assertEqual(len(denied), 6, denied)

    def test_bad_values(self):
        cases = [({"quota_bytes": -1}, "quota_bytes"), ({"quota_jobs": 1.5}, "quota_jobs"),
                 ({"quota_jobs": "3"}, "quota_jobs"), ({"quota_bytes": True}, "quota_bytes"),
                 ({"quota_jobs": 1000001}, "quota_jobs"), ({"role": "admin"}, "role")]
        for body, field in cases:
            status, doc, _ = self.patch("bob", body)
            self.assertEqual((status, doc["error"]["code"]), (400, "bad_request"), (body, doc))
            self.assertIn(field, doc["error"]["message"], body)
        status, doc, _ = self.srv.json("PATCH", "/api/v1/users/999999", {"quota_bytes": 1})
        self.assertEqual(status, 404, doc)
        status, doc, _ = self.srv.json("GET", "/api/v1/users/" + self.ids["bob"])
        self.assertEqual((doc["quota_bytes_override"], doc["quota_jobs_override"]), (None, None))
        self.assertEqual([a for a in audit_lines(self.srv, "quota_changed") if a["user"] == "bob"],
                         [])

    def test_list_shows_quotas(self):
        status, doc, _ = self.srv.json("GET", "/api/v1/users")
        self.assertEqual(status, 200, doc)
        for u in doc["users"]:
            for key in ("quota_bytes", "quota_jobs", "quota_bytes_override",
                        "quota_jobs_override", "stored_bytes", "active_jobs"):
                self.assertIn(key, u, u)


class CliOverrideTest(unittest.TestCase):
    """`tessera user quota` on a stopped server's data folder; the server
    started on it afterwards honours the override."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-quota-")
        self.data = os.path.join(self.tmp, "data")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tessera(self, *args, ok=True):
        p = subprocess.run([BIN, *with_db([*args, "--data", self.data])], capture_output=True,
                           text=True,
                           timeout=60)
        if ok:
            self.assertEqual(p.returncode, 0, (args, p.stdout, p.stderr))
        return p

    def test_cli_override_honoured(self):
        self.tessera("user", "add", "root", "--role", "admin")
        dave = self.tessera("user", "add", "dave", "--role", "user").stdout.strip()
        out = self.tessera("user", "quota", "dave", "--bytes", "1000000", "--jobs", "0").stdout
        self.assertRegex(out, r"(?m)^quota_bytes\s+1000000 \(this account's own\)$")
        self.assertRegex(out, r"(?m)^quota_jobs\s+unlimited")
        # bad values change nothing
        for args in (("--bytes", "-1"), ("--jobs", "1000001"), ("--bytes", "1k")):
            p = self.tessera("user", "quota", "dave", *args, ok=False)
            self.assertEqual(p.returncode, 2, p.stderr)
        p = self.tessera("user", "quota", "nobody", "--bytes", "1", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no user nobody", p.stderr)
        users = json.loads(self.tessera("user", "list", "--json").stdout)["users"]
        self.assertEqual([(u["name"], u["quota_bytes_override"], u["quota_jobs_override"])
                          for u in users], [("root", None, None), ("dave", 1000000, 0)])
        self.assertRegex(self.tessera("user", "list").stdout,
                         r"(?m)^\d+\s+dave\s+user\s+\S+\s+1000000\s+0$")
        with open(os.path.join(self.data, "audit.log")) as f:
            changes = [json.loads(l) for l in f if '"quota_changed"' in l]
        self.assertEqual(len(changes), 1, changes)
        self.assertEqual((changes[0]["user"], changes[0]["source"]), ("dave", "cli"))
        self.assertEqual(changes[0]["old"], {"quota_bytes": None, "quota_jobs": None})
        self.assertEqual(changes[0]["new"], {"quota_bytes": 1000000, "quota_jobs": 0})
        srv = Server("--quota-bytes", "400000", data=self.data)
        try:
            png = read_file("chelsea.png")
            for i in range(2):  # 481024 bytes: past the default, within dave's own
                status, doc, _ = srv.upload_bytes(unique_bytes(png, i), "d.png", token=dave)
                self.assertEqual(status, 201, doc)
            status, me, _ = srv.json("GET", "/api/v1/users/me", token=dave)
            self.assertEqual((me["quota_bytes"], me["quota_bytes_override"]), (1000000, 1000000))
            self.assertEqual((me["quota_jobs"], me["quota_jobs_override"]), (0, 0))
            # while the server holds the folder the CLI refuses, pointing at the API
            p = self.tessera("user", "quota", "dave", "--bytes", "default", ok=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("PATCH /api/v1/users/{id}", p.stderr)
        finally:
            srv.stop()
        out = self.tessera("user", "quota", "dave", "--bytes", "default").stdout
        self.assertRegex(out, r"(?m)^quota_bytes\s+default")


if __name__ == "__main__":
    unittest.main()
