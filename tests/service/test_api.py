"""Routes of `tessera serve` with good and bad input: auth, roles, ownership,
uploads, errors, headers, metrics, health and the web UI."""
import socket
import unittest

from harness import ADMIN_TOKEN, Server, multipart, read_file, unique_bytes
import os
import sys

import cv2

from harness import DATA

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from orient_files import tiff_with_orientation  # noqa: E402


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--max-upload-bytes", "2000000")
        cls.user = cls.srv.make_user("alice", "user")
        cls.other = cls.srv.make_user("bob", "user")
        cls.viewer = cls.srv.make_user("vera", "viewer")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def assertError(self, status, doc, want_status, code):
        self.assertEqual(status, want_status, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertTrue(doc["error"]["message"])

    # ---- startup ----
    def test_first_start_prints_token_and_url(self):
        out = "".join(self.srv.stdout)
        self.assertIn("tessera: admin token: " + ADMIN_TOKEN, out)
        self.assertIn("tessera: open http://127.0.0.1:%d/" % self.srv.own_port, out)

    # ---- auth ----
    def test_no_token_401(self):
        status, doc, h = self.srv.json("GET", "/api/v1/images", token=None)
        self.assertError(status, doc, 401, "unauthorized")
        self.assertEqual(h.get("www-authenticate"), "Bearer")

    def test_wrong_token_401(self):
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs", token="0" * 64)
        self.assertError(status, doc, 401, "unauthorized")
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs", token="nonsense")
        self.assertError(status, doc, 401, "unauthorized")

    def test_token_in_query_400(self):
        status, doc, _ = self.srv.json("GET", "/api/v1/images?token=" + ADMIN_TOKEN)
        self.assertError(status, doc, 400, "bad_request")

    def test_viewer_may_get_not_post(self):
        status, doc, _ = self.srv.json("GET", "/api/v1/images", token=self.viewer)
        self.assertEqual(status, 200, doc)
        status, doc, _ = self.srv.upload(os.path.join(DATA, "chelsea.png"), token=self.viewer)
        self.assertError(status, doc, 403, "forbidden")
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", {"images": ["x"], "pipeline": "grayscale"},
                                       token=self.viewer)
        self.assertError(status, doc, 403, "forbidden")

    def test_user_may_not_admin(self):
        for method, path in (("GET", "/api/v1/users"), ("GET", "/api/v1/workers")):
            status, doc, _ = self.srv.json(method, path, token=self.user)
            self.assertError(status, doc, 403, "forbidden")
        status, doc, _ = self.srv.json("POST", "/api/v1/users", {"name": "eve"}, token=self.user)
        self.assertError(status, doc, 403, "forbidden")

    def test_other_users_objects_404(self):
        status, img, _ = self.srv.upload(os.path.join(DATA, "chelsea.png"), token=self.user)
        self.assertEqual(status, 201, img)
        for path in ("/api/v1/images/" + img["id"], "/api/v1/images/" + img["id"] + "/content"):
            status, doc, _ = self.srv.json("GET", path, token=self.other)
            self.assertError(status, doc, 404, "not_found")
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [img["id"]], "pipeline": "grayscale"},
                                       token=self.other)
        self.assertError(status, doc, 404, "not_found")
        status, job, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [img["id"]], "pipeline": "grayscale"},
                                       token=self.user)
        self.assertEqual(status, 201, job)
        for method, path in (("GET", ""), ("GET", "/events"), ("GET", "/result"), ("DELETE", "")):
            status, doc, _ = self.srv.json(method, "/api/v1/jobs/" + job["id"] + path,
                                           token=self.other)
            self.assertError(status, doc, 404, "not_found")
        # the admin sees everything
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"])
        self.assertEqual(status, 200, doc)

    # ---- users and tokens ----
    def test_users_and_tokens(self):
        status, doc, _ = self.srv.json("POST", "/api/v1/users", {"name": "carol", "role": "user"})
        self.assertEqual(status, 201, doc)
        self.assertEqual(set(doc), {"id", "name", "role", "token"})
        carol = doc["token"]
        status, doc, _ = self.srv.json("POST", "/api/v1/users", {"name": "carol"})
        self.assertError(status, doc, 409, "exists")
        status, doc, _ = self.srv.json("POST", "/api/v1/users", {"name": "bad name!"})
        self.assertError(status, doc, 400, "bad_request")
        status, doc, _ = self.srv.json("POST", "/api/v1/users", {"name": "x", "role": "god"})
        self.assertError(status, doc, 400, "bad_request")
        status, doc, _ = self.srv.json("GET", "/api/v1/users")
        self.assertIn("carol", [u["name"] for u in doc["users"]])
        status, tok, _ = self.srv.json("POST", "/api/v1/tokens", {}, token=carol)
        self.assertEqual(status, 201, tok)
        status, doc, _ = self.srv.json("GET", "/api/v1/tokens", token=carol)
        self.assertEqual(status, 200)
        self.assertEqual(len(doc["tokens"]), 2)
        status, doc, _ = self.srv.json("POST", "/api/v1/tokens", {"user": "1"}, token=carol)
        self.assertError(status, doc, 403, "forbidden")
        status, _, _ = self.srv.request("DELETE", "/api/v1/tokens/" + tok["id"], token=carol)
        self.assertEqual(status, 204)
        status, doc, _ = self.srv.json("GET", "/api/v1/images", token=tok["token"])
        self.assertError(status, doc, 401, "unauthorized")
        status, doc, _ = self.srv.json("DELETE", "/api/v1/tokens/99999", token=carol)
        self.assertError(status, doc, 404, "not_found")
        status, doc, _ = self.srv.json("POST", "/api/v1/users", b"name=x",
                                       {"Content-Type": "text/plain"})
        self.assertError(status, doc, 415, "unsupported_media_type")
        status, doc, _ = self.srv.json("POST", "/api/v1/users", b"{nope",
                                       {"Content-Type": "application/json"})
        self.assertError(status, doc, 400, "bad_request")

    # ---- uploads ----
    def test_upload_raw_and_get(self):
        # its own bytes: another test of this server stores chelsea.png too
        png = unique_bytes(read_file("chelsea.png"), 7)
        status, doc, h = self.srv.upload_bytes(png, "chelsea.png", token=self.user)
        self.assertEqual(status, 201, doc)
        self.assertIs(doc.pop("duplicate"), False)
        self.assertEqual((doc["format"], doc["width"], doc["height"], doc["bands"]),
                         ("png", 451, 300, 3))
        self.assertEqual(doc["name"], "chelsea.png")
        self.assertEqual(doc["bytes"], len(png))
        self.assertEqual(h["location"], "/api/v1/images/" + doc["id"])
        status, got, _ = self.srv.json("GET", "/api/v1/images/" + doc["id"], token=self.user)
        self.assertEqual(got, doc)
        status, h, body = self.srv.request("GET", "/api/v1/images/%s/content" % doc["id"],
                                           token=self.user)
        self.assertEqual(status, 200)
        self.assertEqual(body, png)
        self.assertEqual(h["etag"], '"%s"' % doc["sha256"])
        status, _, _ = self.srv.request("GET", "/api/v1/images/%s/content" % doc["id"],
                                        headers={"If-None-Match": h["etag"]}, token=self.user)
        self.assertEqual(status, 304)
        status, _, _ = self.srv.request("DELETE", "/api/v1/images/" + doc["id"], token=self.user)
        self.assertEqual(status, 204)
        status, doc2, _ = self.srv.json("GET", "/api/v1/images/" + doc["id"], token=self.user)
        self.assertError(status, doc2, 404, "not_found")

    def test_upload_reports_upright_size(self):
        """A TIFF stored 451x300 with Orientation 6 (turn 90 degrees
        clockwise) is a 300x451 image: the upload says so, as the job sees it."""
        ok, data = cv2.imencode(".tif", cv2.imread(os.path.join(DATA, "chelsea.png")))
        self.assertTrue(ok)
        status, img, _ = self.srv.upload_bytes(tiff_with_orientation(data.tobytes(), 6), "r.tif")
        self.assertEqual(status, 201, img)
        self.assertEqual((img["format"], img["width"], img["height"]), ("tiff", 300, 451))
        status, job, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [img["id"]], "pipeline": "invert"})
        self.assertEqual(status, 201, job)
        done = self.srv.wait_job(job["id"])
        self.assertEqual(done["state"], "succeeded", done)
        self.assertEqual((done["items"][0]["width"], done["items"][0]["height"]), (300, 451))

    def test_upload_name_is_display_only(self):
        status, doc, _ = self.srv.upload_bytes(unique_bytes(read_file("rocket.jpg"), 3),
                                               "..%2F..%2Fetc%2Fpasswd", token=self.user)
        self.assertEqual(status, 201, doc)
        self.assertEqual(doc["name"], "passwd")
        self.assertEqual(doc["format"], "jpeg")

    def test_upload_multipart_three(self):
        body, ctype = multipart([("file", n, read_file(n))
                                 for n in ("chelsea.png", "rocket.jpg", "coffee.webp")])
        status, doc, _ = self.srv.json("POST", "/api/v1/images", body, {"Content-Type": ctype},
                                       token=self.user)
        self.assertEqual(status, 201, doc)
        self.assertEqual([i["name"] for i in doc["images"]],
                         ["chelsea.png", "rocket.jpg", "coffee.webp"])
        self.assertEqual([i["format"] for i in doc["images"]], ["png", "jpeg", "webp"])

    def test_upload_multipart_bad_part_keeps_nothing(self):
        status, before, _ = self.srv.json("GET", "/api/v1/images", token=self.other)
        body, ctype = multipart([("file", "chelsea.png", read_file("chelsea.png")),
                                 ("file", "notes.txt", b"hello, not an image\n")])
        status, doc, _ = self.srv.json("POST", "/api/v1/images", body, {"Content-Type": ctype},
                                       token=self.other)
        self.assertError(status, doc, 415, "unsupported_format")
        self.assertIn("notes.txt", doc["error"]["message"])
        self.assertNotIn("/tmp", doc["error"]["message"])
        status, after, _ = self.srv.json("GET", "/api/v1/images", token=self.other)
        self.assertEqual(len(before["images"]), len(after["images"]))

    def test_upload_text_415(self):
        status, doc, _ = self.srv.upload_bytes(b"just some text\n" * 10, "a.txt", token=self.user)
        self.assertError(status, doc, 415, "unsupported_format")

    def test_upload_truncated_422(self):
        status, doc, _ = self.srv.upload(os.path.join(DATA, "truncated.jpg"), token=self.user)
        self.assertError(status, doc, 422, "undecodable")

    def test_upload_too_large_413_from_header(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        s.sendall(("POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/octet-stream\r\nContent-Length: 50000000\r\n"
                   "Expect: 100-continue\r\n\r\n" % self.user).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])

    def test_upload_too_large_413_chunked(self):
        c = self.srv.conn()
        big = read_file("astronaut.png")  # ~ 0.8 MB, sent 3 times = over the 2 MB cap
        c.putrequest("POST", "/api/v1/images")
        c.putheader("Authorization", "Bearer " + self.user)
        c.putheader("Content-Type", "application/octet-stream")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        try:
            for _ in range(3):
                c.send(b"%x\r\n%s\r\n" % (len(big), big))
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.getresponse()
        self.assertEqual(r.status, 413)
        c.close()

    # ---- misc routes ----
    def test_operations(self):
        status, doc, _ = self.srv.json("GET", "/api/v1/operations", token=self.viewer)
        self.assertEqual(status, 200)
        names = [o["name"] for o in doc]
        self.assertIn("grayscale", names)
        self.assertIn("params", doc[0])

    def test_pipeline_validate(self):
        status, doc, _ = self.srv.json("POST", "/api/v1/pipelines/validate",
                                       {"pipeline": "grayscale|gaussian-blur:sigma=2"},
                                       token=self.user)
        self.assertEqual(status, 200, doc)
        self.assertTrue(doc["text"].startswith("grayscale@1|gaussian-blur@1:sigma=2"))
        status, doc2, _ = self.srv.json("POST", "/api/v1/pipelines/validate",
                                        {"pipeline": doc["pipeline"]}, token=self.user)
        self.assertEqual(doc2, doc)
        status, doc, _ = self.srv.json("POST", "/api/v1/pipelines/validate",
                                       {"pipeline": "gaussian-blur:sigma=500"}, token=self.user)
        self.assertError(status, doc, 400, "bad_pipeline")
        self.assertIn("sigma", doc["error"]["message"])
        self.assertIn("gaussian-blur", doc["error"]["message"])
        status, doc, _ = self.srv.json("POST", "/api/v1/pipelines/validate",
                                       {"pipeline": "no-such-op"}, token=self.user)
        self.assertError(status, doc, 400, "bad_pipeline")

    def test_workers(self):
        status, doc, _ = self.srv.json("GET", "/api/v1/workers")
        self.assertEqual(status, 200)
        self.assertEqual(doc["workers"], [])

    def test_health(self):
        status, doc, h = self.srv.json("GET", "/healthz", token=None)
        self.assertEqual((status, doc), (200, {"status": "ok"}))
        status, doc, _ = self.srv.json("GET", "/readyz", token=None)
        self.assertEqual((status, doc), (200, {"status": "ready"}))

    def test_security_headers_everywhere(self):
        for path, token in (("/", None), ("/api/v1/images", None), ("/nope", None),
                            ("/api/v1/images", ADMIN_TOKEN)):
            status, h, _ = self.srv.request("GET", path, token=token)
            self.assertIn("default-src 'self'", h["content-security-policy"], path)
            self.assertIn("frame-ancestors 'none'", h["content-security-policy"], path)
            self.assertEqual(h["x-content-type-options"], "nosniff")
            self.assertEqual(h["referrer-policy"], "no-referrer")
            self.assertTrue(h["x-request-id"])

    def test_web_assets(self):
        for path, ctype in (("/", "text/html"), ("/app.js", "text/javascript"),
                            ("/js/api.js", "text/javascript"), ("/style.css", "text/css")):
            status, h, body = self.srv.request("GET", path, token=None)
            self.assertEqual(status, 200, path)
            self.assertTrue(h["content-type"].startswith(ctype), h)
            self.assertGreater(len(body), 100)
        for path in ("/js/nope.js", "/js/../app.js", "/js/api.json"):
            status, _, _ = self.srv.request("GET", path, token=None)
            self.assertEqual(status, 404, path)

    def test_unknown_path_and_method(self):
        status, doc, _ = self.srv.json("GET", "/api/v1/nothing")
        self.assertError(status, doc, 404, "not_found")
        status, doc, h = self.srv.json("PUT", "/api/v1/jobs", {})
        self.assertError(status, doc, 405, "method_not_allowed")
        self.assertIn("POST", h["allow"])
        status, doc, _ = self.srv.json("GET", "/api/v1/images?limit=0")
        self.assertError(status, doc, 400, "bad_request")

    def test_metrics(self):
        self.srv.request("GET", "/healthz", token=None)
        status, h, body = self.srv.request("GET", "/metrics", token=None)
        self.assertEqual(status, 200)
        text = body.decode()
        for family in ("tessera_jobs{state=\"queued\"}", "tessera_tiles_processed_total",
                       "tessera_tile_seconds_bucket", "tessera_job_seconds_bucket",
                       "tessera_queue_depth", "tessera_bytes_in_total",
                       "tessera_bytes_out_total"):
            self.assertIn(family, text)
        # each process counts its own requests: the sum over coordinators
        self.assertGreaterEqual(
            self.srv.metric('tessera_http_requests_total{route="/healthz",status="200"}'), 1)

    def test_log_lines_are_json(self):
        import json
        self.srv.request("GET", "/healthz", token=None)
        lines = [l for l in self.srv.log_text().splitlines() if l.startswith("{")]
        self.assertTrue(lines)
        reqs = [json.loads(l) for l in lines if '"msg":"request"' in l]
        self.assertTrue(reqs)
        for key in ("ts", "level", "request_id", "method", "route", "status", "ms"):
            self.assertIn(key, reqs[-1])


if __name__ == "__main__":
    unittest.main()
