"""TLS on the HTTP listener, hardening headers over HTTPS, and the audit log.

Makes a throw-away CA and a server certificate for 127.0.0.1/localhost with
the openssl CLI in a temp folder, starts `tessera serve --tls-cert --tls-key`
and talks to it with curl and http.client.
"""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest
import warnings

from harness import ADMIN_TOKEN, BIN, Server, one_coordinator_only, read_file, tools

CSP = "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'"


def openssl(*args, cwd):
    subprocess.run([tools.find("openssl"), *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """Writes ca.pem, server.pem (chain: leaf) and server.key into d."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tessera test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    # A second key that does not match server.pem.
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-out", "other.key", cwd=d)


class TlsServer(Server):
    """`tessera serve` over TLS (the harness's server with --tls-cert/--tls-key)."""

    def __init__(self, cert, key):
        super().__init__("--tls-cert", cert, "--tls-key", key)

    def audit_lines(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("msg") == "audit":
                out.append(doc)
        return out


@one_coordinator_only("the balancer here speaks plain HTTP to the coordinators")
class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-tls-")
        make_pki(cls.tmp)
        cls.ca = os.path.join(cls.tmp, "ca.pem")
        cls.srv = TlsServer(os.path.join(cls.tmp, "server.pem"),
                            os.path.join(cls.tmp, "server.key"))
        cls.base = "https://127.0.0.1:%d" % cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def curl(self, *args):
        return subprocess.run([tools.find("curl"), "-sS", "--max-time", "20", *args],
                              capture_output=True, text=True)

    def https(self, method, path, body=None, headers=None, token=ADMIN_TOKEN):
        """(status, lower-case headers, body bytes) over HTTPS, verifying the test CA."""
        ctx = ssl.create_default_context(cafile=self.ca)
        c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, context=ctx, timeout=30)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def test_listening_line_and_first_start(self):
        text = "".join(self.srv.stdout)
        self.assertIn("listening on https://127.0.0.1:", text)
        self.assertIn("open https://", text)

    def test_curl_with_test_ca(self):
        r = self.curl("--cacert", self.ca, "-D", "-", self.base + "/healthz")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(" 200", r.stdout.splitlines()[0])
        self.assertIn("strict-transport-security: max-age=31536000", r.stdout.lower())
        self.assertIn('{"status":"ok"}', r.stdout)
        # localhost is in the certificate too.
        r = self.curl("--cacert", self.ca, "-o", "/dev/null", "-w", "%{http_code}",
                      "https://localhost:%d/healthz" % self.srv.port)
        self.assertEqual((r.returncode, r.stdout), (0, "200"), r.stderr)
        r = self.curl("--cacert", self.ca, "-H", "Authorization: Bearer " + ADMIN_TOKEN,
                      self.base + "/api/v1/operations")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("gaussian-blur", r.stdout)

    def test_untrusted_certificate_refused_by_client(self):
        r = self.curl(self.base + "/healthz")  # system CAs only
        self.assertNotEqual(r.returncode, 0)

    def test_tls_versions(self):
        for version in ("1.2", "1.3"):
            flag = "--tlsv" + version
            r = self.curl("--cacert", self.ca, flag, "--tls-max", version, "-o", "/dev/null",
                          "-w", "%{http_code}", self.base + "/healthz")
            self.assertEqual((r.returncode, r.stdout), (0, "200"), (flag, r.stderr))
        # TLS 1.1 and 1.0: the client allows them (security level 0), the server refuses.
        for top in ("1.1", "1.0"):
            r = self.curl("--cacert", self.ca, "--tlsv1", "--tls-max", top, "--ciphers",
                          "DEFAULT@SECLEVEL=0", self.base + "/healthz")
            self.assertNotEqual(r.returncode, 0, top)
            self.assertNotIn("status", r.stdout)
        # The client sends a TLS 1.1 hello and the server hangs up (not a
        # client-side refusal, which would fail before connecting).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, context=ctx, timeout=10)
        with self.assertRaises(ssl.SSLError) as cm:
            c.request("GET", "/healthz")
        c.close()
        text = str(cm.exception).upper()
        self.assertTrue("EOF" in text or "PROTOCOL_VERSION" in text, text)

    def test_plain_http_to_tls_port_fails(self):
        r = self.curl("-o", "/dev/null", "-w", "%{http_code}",
                      "http://127.0.0.1:%d/healthz" % self.srv.port)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotEqual(r.stdout, "200")
        # The server keeps serving TLS afterwards.
        status, _, _ = self.https("GET", "/healthz", token=None)
        self.assertEqual(status, 200)

    def test_hardening_headers_over_tls(self):
        for path, token in (("/", None), ("/app.js", None), ("/healthz", None),
                            ("/api/v1/images", None), ("/nope", None),
                            ("/api/v1/images", ADMIN_TOKEN)):
            status, h, _ = self.https("GET", path, token=token)
            self.assertEqual(h["content-security-policy"], CSP, path)
            self.assertEqual(h["x-content-type-options"], "nosniff", path)
            self.assertEqual(h["referrer-policy"], "no-referrer", path)
            self.assertEqual(h["strict-transport-security"], "max-age=31536000", path)

    def test_download_is_attachment_with_detected_type(self):
        # A PNG uploaded under a .jpg name is served as image/png, as an attachment.
        status, h, body = self.https("POST", "/api/v1/images?name=../../evil.jpg",
                                     read_file("coffee.png"),
                                     {"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 201, body)
        image = json.loads(body)["id"]
        status, h, body = self.https("GET", "/api/v1/images/%s/content" % image)
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "image/png")
        self.assertEqual(h["content-disposition"], 'attachment; filename="evil.png"')
        self.assertEqual(body, read_file("coffee.png"))

    def test_audit_log(self):
        status, _, _ = self.https("GET", "/api/v1/images", token="ab" * 32)
        self.assertEqual(status, 401)
        status, _, _ = self.https("GET", "/api/v1/images", token=None)
        self.assertEqual(status, 401)
        status, _, body = self.https("POST", "/api/v1/users", {"name": "vera", "role": "viewer"})
        self.assertEqual(status, 201, body)
        viewer = json.loads(body)["token"]
        status, _, _ = self.https("POST", "/api/v1/images?name=x.png", b"\x89PNG",
                                  {"Content-Type": "application/octet-stream"}, token=viewer)
        self.assertEqual(status, 403)
        status, _, body = self.https("POST", "/api/v1/images?name=junk.png", b"not an image" * 10,
                                     {"Content-Type": "application/octet-stream"})
        self.assertGreaterEqual(status, 400, body)
        status, _, body = self.https("POST", "/api/v1/tokens", {})
        self.assertEqual(status, 201, body)
        token_id = json.loads(body)["id"]
        status, _, _ = self.https("DELETE", "/api/v1/tokens/" + token_id)
        self.assertEqual(status, 204)
        deadline = time.time() + 5
        while time.time() < deadline:
            lines = self.srv.audit_lines()
            if any(d["event"] == "upload_rejected" for d in lines):
                break
            time.sleep(0.1)
        by_event = {}
        for d in lines:
            self.assertEqual(d["level"] in ("info", "warn"), True, d)
            self.assertEqual(d["address"], "127.0.0.1", d)
            self.assertTrue(d["request_id"], d)
            by_event.setdefault(d["event"], []).append(d)
        reasons = {d["reason"] for d in by_event["signin_failed"]}
        self.assertIn("unknown or revoked token", reasons)
        self.assertIn("no bearer token", reasons)
        self.assertTrue(all(d["account"] is None for d in by_event["signin_failed"]))
        denied = [d for d in by_event["denied"] if d["account"] == "vera"]
        self.assertTrue(denied, by_event)
        self.assertEqual(denied[0]["route"], "/api/v1/images")
        self.assertEqual(denied[0]["method"], "POST")
        self.assertEqual(denied[0]["role"], "viewer")
        self.assertTrue(denied[0]["reason"])
        created = [d for d in by_event["user_created"] if d["user"] == "vera"]
        self.assertEqual(len(created), 1)
        self.assertEqual((created[0]["account"], created[0]["role"]), ("admin", "viewer"))
        rejected = [d for d in by_event["upload_rejected"] if d["declared_bytes"] == 120]
        self.assertEqual(len(rejected), 1, by_event["upload_rejected"])
        self.assertEqual(rejected[0]["account"], "admin")
        self.assertGreaterEqual(rejected[0]["status"], 400)
        self.assertIn("junk.png", rejected[0]["reason"])
        self.assertEqual(rejected[0]["received_bytes"], 120)
        self.assertTrue(any(d["token_id"] == int(token_id) for d in by_event["token_created"]))
        self.assertTrue(any(d["token_id"] == int(token_id) for d in by_event["token_revoked"]))
        # Tokens never appear in the log.
        log = self.srv.log_text()
        self.assertNotIn(viewer, log)
        self.assertNotIn(ADMIN_TOKEN, log)


class TlsStartErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-tls-bad-")
        make_pki(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def serve(self, *args):
        return subprocess.run(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data", os.path.join(self.tmp, "d"),
             *args], capture_output=True, text=True, timeout=30)

    def p(self, name):
        return os.path.join(self.tmp, name)

    def test_bad_files(self):
        big = self.p("big.pem")
        with open(big, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n" + "A" * (2 << 20))
        with open(self.p("text.pem"), "w") as f:
            f.write("hello\n")
        cases = [
            (["--tls-cert", self.p("server.pem")], 2, "go together"),
            (["--tls-key", self.p("server.key")], 2, "go together"),
            (["--tls-cert", self.p("missing.pem"), "--tls-key", self.p("server.key")], 4,
             "missing.pem"),
            (["--tls-cert", big, "--tls-key", self.p("server.key")], 3, "over 1048576 bytes"),
            (["--tls-cert", self.p("text.pem"), "--tls-key", self.p("server.key")], 3,
             "not a PEM file"),
            (["--tls-cert", self.p("server.key"), "--tls-key", self.p("server.key")], 3,
             "not a PEM file with a CERTIFICATE"),
            (["--tls-cert", self.p("server.pem"), "--tls-key", self.p("other.key")], 3,
             "not a usable pair"),
        ]
        for args, code, text in cases:
            r = self.serve(*args)
            self.assertEqual(r.returncode, code, (args, r.stderr))
            self.assertIn(text, r.stderr, args)
            self.assertNotIn("listening", r.stdout)


if __name__ == "__main__":
    unittest.main()
