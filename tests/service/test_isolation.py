"""The isolation sweep: every route of `tessera serve --print-routes`, called
with every kind of caller (no token, a revoked token, the owner alice, another
user bob, a viewer val, an admin) on alice's objects. Foreign objects answer
404 exactly like missing ones (no existence leak, no fields), viewers may not
change anything (403), admins may do everything. A route the table below does
not know fails the test: add it here when you add it to src/server/routes.c."""
import json
import os
import subprocess
import unittest

from harness import ADMIN_TOKEN, BIN, DATA, Server, read_file

SECRET_NAME = "alice-secret-holiday.png"
SECRET_SAVED = "alice-secret-look"  # a saved pipeline's name (/pipelines/saved/{name}?user=ID)
MISSING = {"{id}@images": "0123456789abcdef" * 2, "{id}@jobs": "fedcba9876543210" * 2,
           "{id}@tokens": "999999", "{id}@users": "999999",
           "{image}": "00112233445566778899aabbccddeeff", "{name}.js": "nope.js",
           "{name}": "no-such-saved-pipeline", "{version}": "999", "{level}": "0",
           "{tile}.{ext}": "0_0.jpg"}

# How each route treats callers:
#   public        no token needed, same answer for everyone
#   admin         admin only (403 for user and viewer)
#   list          the caller's own things (viewer may read); never foreign rows
#   create        makes the caller's own object (user and admin); viewer 403
#   create_ref    makes an object referring to alice's: bob 404, viewer 403
#   issue_for     a token for alice: bob 403 whether or not the user exists
#   read          reads alice's object: bob and viewer 404, admin 200
#   change        changes alice's object: bob 404, viewer 403, admin 2xx
#   use           computes from alice's object without changing it (a preview):
#                 bob 404, viewer 403, alice and admin 200
#   rate          the owner's word on alice's object (feedback): bob 404, viewer 403,
#                 admin 403 (only the owner rates her job)
ROUTES = {
    ("POST", "/api/v1/images"): "create",
    ("GET", "/api/v1/images"): "list",
    ("GET", "/api/v1/images/{id}"): "read",
    ("DELETE", "/api/v1/images/{id}"): "change",
    ("GET", "/api/v1/images/{id}/content"): "read",
    ("GET", "/api/v1/images/{id}/thumbnail"): "read",
    ("POST", "/api/v1/images/{id}/preview"): "use",
    ("POST", "/api/v1/images/delete"): "bulk",
    ("POST", "/api/v1/transform"): "create",
    ("GET", "/api/v1/operations"): "list",
    ("GET", "/api/v1/presets"): "list",
    ("POST", "/api/v1/pipelines/validate"): "create",
    ("GET", "/api/v1/pipelines/saved"): "list",
    ("POST", "/api/v1/pipelines/saved"): "create",
    ("GET", "/api/v1/pipelines/saved/{name}"): "read",
    ("PUT", "/api/v1/pipelines/saved/{name}"): "change",
    ("DELETE", "/api/v1/pipelines/saved/{name}"): "change",
    ("GET", "/api/v1/pipelines/saved/{name}/versions"): "read",
    ("GET", "/api/v1/pipelines/saved/{name}/versions/{version}"): "read",
    ("POST", "/api/v1/pipelines/saved/{name}/rollback"): "create_ref",
    ("POST", "/api/v1/jobs"): "create_ref",
    ("GET", "/api/v1/jobs"): "list",
    ("GET", "/api/v1/jobs/{id}"): "read",
    ("DELETE", "/api/v1/jobs/{id}"): "change",
    ("POST", "/api/v1/jobs/{id}/rerun"): "create_ref",
    ("POST", "/api/v1/jobs/{id}/feedback"): "rate",
    ("GET", "/api/v1/feedback"): "admin",
    ("GET", "/api/v1/jobs/{id}/events"): "read",
    ("GET", "/api/v1/jobs/{id}/result"): "read",
    ("GET", "/api/v1/jobs/{id}/result/{image}"): "read",
    ("GET", "/api/v1/jobs/{id}/result/{image}/dzi"): "read",
    ("GET", "/api/v1/jobs/{id}/result/{image}/dzi/{level}/{tile}.{ext}"): "read",
    ("GET", "/api/v1/workers"): "admin",
    ("GET", "/api/v1/usage"): "list",
    ("POST", "/api/v1/users"): "admin",
    ("GET", "/api/v1/users"): "admin",
    ("GET", "/api/v1/users/{id}"): "read",
    ("PATCH", "/api/v1/users/{id}"): "admin",
    ("POST", "/api/v1/tokens"): "issue_for",
    ("GET", "/api/v1/tokens"): "list",
    ("DELETE", "/api/v1/tokens/{id}"): "change",
    ("GET", "/metrics"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/"): "public",
    ("GET", "/app.js"): "public",
    ("GET", "/js/{name}.js"): "public",
    ("GET", "/style.css"): "public",
    ("GET", "/favicon.svg"): "public",
    ("GET", "/favicon.ico"): "public",
}

# What each caller may get, by route kind (None: the route is not called).
# "bulk" (delete many by id) answers 200 listing foreign ids as not found; alice
# and the admin are not swept with it (it would delete alice's image early).
EXPECT = {
    "none": {k: 401 for k in ("admin", "list", "create", "create_ref", "issue_for", "read",
                              "change", "bulk", "use", "rate")},
    "bob": {"admin": 403, "list": 200, "create": (200, 201), "create_ref": 404,
            "issue_for": 403, "read": 404, "change": 404, "bulk": 200, "use": 404, "rate": 404},
    "val": {"admin": 403, "list": 200, "create": 403, "create_ref": 403, "issue_for": 403,
            "read": 404, "change": 403, "bulk": 403, "use": 403, "rate": 403},
    "alice": {"admin": 403, "list": 200, "create": (200, 201), "create_ref": 201,
              "issue_for": 201, "read": 200, "change": None, "bulk": None, "use": 200, "rate": (200, 201)},
    "admin": {"admin": (200, 201), "list": 200, "create": (200, 201), "create_ref": 201,
              "issue_for": 201, "read": 200, "change": (200, 204), "bulk": None, "use": 200, "rate": 403},
}
EXPECT["revoked"] = EXPECT["none"]
for _who in EXPECT.values():
    _who["public"] = 200


def print_routes():
    out = subprocess.run([BIN, "serve", "--print-routes"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return [tuple(line.split(" ", 1)) for line in out.splitlines() if line.strip()]


class IsolationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = srv = Server()
        cls.tokens = {"admin": ADMIN_TOKEN, "none": None}
        cls.user_ids = {}
        for name, role in (("alice", "user"), ("bob", "user"), ("val", "viewer")):
            status, doc, _ = srv.json("POST", "/api/v1/users", {"name": name, "role": role})
            assert status == 201, (status, doc)
            cls.tokens[name] = doc["token"]
            cls.user_ids[name] = doc["id"]
        alice = cls.tokens["alice"]
        # a revoked token of alice's, and one more of hers whose id is swept
        for key in ("revoked", "token_id"):
            status, doc, _ = srv.json("POST", "/api/v1/tokens", {}, token=alice)
            assert status == 201, (status, doc)
            if key == "revoked":
                cls.tokens["revoked"] = doc["token"]
                status, _, _ = srv.request("DELETE", "/api/v1/tokens/" + doc["id"], token=alice)
                assert status == 204, status
            else:
                cls.alice_token_id = doc["id"]
        status, doc, _ = srv.upload(os.path.join(DATA, "chelsea.png"), token=alice,
                                    name=SECRET_NAME)
        assert status == 201, (status, doc)
        cls.image = doc["images"][0] if "images" in doc else doc
        status, doc, _ = srv.json("POST", "/api/v1/jobs",
                                  {"images": [cls.image["id"]], "pipeline": "grayscale",
                                   "output": {"format": "dzi"}},  # the .../dzi routes too
                                  token=alice)
        assert status == 201, (status, doc)
        cls.job = srv.wait_job(doc["id"], token=alice)
        assert cls.job["state"] == "succeeded", cls.job
        status, doc, _ = srv.json("POST", "/api/v1/pipelines/saved",
                                  {"name": SECRET_SAVED, "pipeline": "invert"}, token=alice)
        assert status == 201, (status, doc)
        cls.secrets = [cls.image["id"], cls.job["id"], SECRET_NAME, SECRET_SAVED]
        if cls.image.get("sha256"):
            cls.secrets.append(cls.image["sha256"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def fill(self, pattern, missing=False):
        """The path with alice's ids (or ids that do not exist) substituted."""
        ids = {"{id}@images": self.image["id"], "{id}@jobs": self.job["id"],
               "{id}@tokens": self.alice_token_id, "{id}@users": self.user_ids["alice"],
               "{image}": self.image["id"], "{name}.js": "api.js", "{name}": SECRET_SAVED,
               "{version}": "1", "{level}": "0", "{tile}.{ext}": "0_0.jpg"}
        if missing:
            ids = MISSING
        parts = []
        for seg in pattern.split("/"):
            if seg.startswith("{"):
                key = seg if seg != "{id}" else "{id}@" + parts[-1]
                self.assertIn(key, ids, "route %s: do not know how to fill %s" % (pattern, seg))
                seg = ids[key]
            parts.append(seg)
        if pattern.startswith("/api/v1/pipelines/saved/"):  # alice's, named for every caller
            return "/".join(parts) + "?user=" + self.user_ids["alice"]
        if pattern == "/api/v1/transform":
            return "/".join(parts) + "?pipeline=grayscale"
        return "/".join(parts)

    def body(self, method, pattern, missing=False):
        """(body, headers) for routes that take one."""
        if (method, pattern) == ("PATCH", "/api/v1/users/{id}"):
            return {"quota_bytes": None, "quota_jobs": None}, None
        if (method, pattern) == ("PUT", "/api/v1/pipelines/saved/{name}"):
            return {"pipeline": "grayscale"}, None
        if method != "POST":
            return None, None
        if pattern in ("/api/v1/images", "/api/v1/transform"):
            return read_file("palette_color.png"), {"Content-Type": "application/octet-stream"}
        if pattern in ("/api/v1/pipelines/validate", "/api/v1/images/{id}/preview"):
            return {"pipeline": "grayscale"}, None
        if pattern == "/api/v1/jobs":
            image = MISSING["{image}"] if missing else self.image["id"]
            return {"images": [image], "pipeline": "grayscale"}, None
        if pattern == "/api/v1/images/delete":
            return {"ids": [MISSING["{image}"] if missing else self.image["id"]]}, None
        if pattern == "/api/v1/jobs/{id}/rerun":
            return {}, None
        if pattern == "/api/v1/pipelines/saved":
            self.saved_counter = getattr(self, "saved_counter", 0) + 1
            return {"name": "made-%d" % self.saved_counter, "pipeline": "grayscale"}, None
        if pattern == "/api/v1/pipelines/saved/{name}/rollback":
            return {"version": 1}, None
        if pattern == "/api/v1/jobs/{id}/feedback":
            return {"rating": 4, "comment": "isolation sweep"}, None
        if pattern == "/api/v1/users":
            self.user_counter = getattr(self, "user_counter", 0) + 1
            return {"name": "made%d" % self.user_counter, "role": "viewer"}, None
        if pattern == "/api/v1/tokens":
            return {"user": "999999" if missing else self.user_ids["alice"]}, None
        self.fail("route POST %s: do not know what body to send" % pattern)

    def call(self, who, method, pattern, missing=False):
        path = self.fill(pattern, missing)
        body, headers = self.body(method, pattern, missing)
        status, h, data = self.srv.request(method, path, body, headers, token=self.tokens[who])
        return path, status, h, data

    def check_no_leak(self, who, method, pattern, status, data):
        """A caller other than alice and admin never sees alice's things."""
        if who in ("alice", "admin"):
            return
        text = data.decode("latin-1")
        body, _ = self.body(method, pattern)
        sent = self.fill(pattern) + (json.dumps(body) if isinstance(body, dict) else "")
        for secret in self.secrets:
            # a 404 may repeat the id the caller sent itself, nothing else
            # (a bulk delete lists the ids it was sent that it did not find)
            if secret in sent and (status == 404 or pattern == "/api/v1/images/delete"):
                text = text.replace(secret, "<id>")
            self.assertNotIn(secret, text, "%s %s %s as %s leaks %s" % (method, pattern, status,
                                                                    who, secret))
        if status < 300 and pattern == "/api/v1/tokens" and method == "GET":
            for t in json.loads(data)["tokens"]:
                self.assertEqual(t["user"], self.user_ids[who], (who, t))

    def check_same_as_missing(self, who, method, pattern, status, data):
        """A foreign object answers like one that does not exist: same status,
        same error code, no fields but the error."""
        path, m_status, _, m_data = self.call(who, method, pattern, missing=True)
        self.assertEqual(status, m_status, "%s %s as %s: foreign %d, missing %d"
                         % (method, pattern, who, status, m_status))
        doc, m_doc = json.loads(data), json.loads(m_data)
        self.assertEqual(list(doc), ["error"], doc)
        self.assertEqual(doc["error"]["code"], m_doc["error"]["code"])

    def sweep(self, who, routes):
        for method, pattern in routes:
            kind = ROUTES[(method, pattern)]
            want = EXPECT[who][kind]
            if want is None:
                continue
            with self.subTest(who=who, route="%s %s" % (method, pattern)):
                path, status, h, data = self.call(who, method, pattern)
                wants = want if isinstance(want, tuple) else (want,)
                self.assertIn(status, wants, "%s %s as %s: %s" % (method, path, who, data[:300]))
                self.check_no_leak(who, method, pattern, status, data)
                if who == "bob" and kind in ("read", "change", "create_ref", "issue_for", "use", "rate"):
                    self.check_same_as_missing(who, method, pattern, status, data)
                if status == 401:
                    self.assertEqual(json.loads(data)["error"]["code"], "unauthorized")
                if who in ("admin", "alice") and method == "POST" and pattern in (
                        "/api/v1/jobs", "/api/v1/jobs/{id}/rerun"):
                    self.srv.wait_job(json.loads(data)["id"], token=self.tokens[who])

    def test_every_route_every_role(self):
        routes = print_routes()
        self.assertGreater(len(routes), 10)
        unknown = [r for r in routes if r not in ROUTES]
        self.assertEqual(unknown, [], "routes the isolation sweep does not know: add them to "
                                      "ROUTES in tests/service/test_isolation.py")
        for who in ("none", "revoked", "bob", "val", "alice"):
            self.sweep(who, routes)
        # alice still has everything after the others tried
        for path in ("/api/v1/images/" + self.image["id"], "/api/v1/jobs/" + self.job["id"]):
            status, _, _ = self.srv.json("GET", path, token=self.tokens["alice"])
            self.assertEqual(status, 200, path)
        # admin last, deletions at the very end: token, job, then image
        order = {"/api/v1/tokens/{id}": 0, "/api/v1/jobs/{id}": 1, "/api/v1/images/{id}": 2}
        admin_routes = sorted(routes, key=lambda r: (r[0] == "DELETE", order.get(r[1], 0)))
        self.sweep("admin", admin_routes)
        status, _, _ = self.srv.json("GET", "/api/v1/images/" + self.image["id"],
                                     token=self.tokens["alice"])
        self.assertEqual(status, 404)  # the admin's delete took effect


if __name__ == "__main__":
    unittest.main()
