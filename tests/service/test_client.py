"""The client commands `tessera submit/status/fetch` against a real
`tessera serve` on a random loopback port (harness.Server)."""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest

import cv2

from harness import ADMIN_TOKEN, BIN, DATA, Server

PHOTO = os.path.join(DATA, "chelsea.png")  # 451x300
THREE = [os.path.join(DATA, n) for n in ("chelsea.png", "rocket.jpg", "coffee.png")]


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.url = "http://127.0.0.1:%d" % cls.srv.port
        cls.token = cls.srv.make_user("cleo", "user")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-client-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tessera(self, *args, token=None, server=None, env=None, timeout=120):
        """Runs the CLI with --server/--token; returns the CompletedProcess."""
        cmd = [BIN, args[0], "--server", server or self.url]
        if token is not False:
            cmd += ["--token", token or self.token]
        return subprocess.run(cmd + list(args[1:]), capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, **(env or {})))

    def out(self, name):
        return os.path.join(self.tmp, name)

    def job_id(self, stdout):
        m = re.search(r"^job ([A-Za-z0-9_-]+): ", stdout, re.M)
        self.assertIsNotNone(m, stdout)
        return m.group(1)

    def test_submit_one_image(self):
        r = self.tessera("submit", "-p", "grayscale|gaussian-blur:sigma=2", PHOTO,
                         "-o", self.out("one"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"uploaded .*chelsea\.png: \S+, png 451x300, 240512 bytes")
        self.assertIn("grayscale@1|gaussian-blur@1:sigma=2,ksize=0 -> png", r.stdout)
        self.assertRegex(r.stdout, r"job \S+ succeeded in ")
        self.assertEqual(os.listdir(self.out("one")), ["chelsea.png"])
        path = self.out("one/chelsea.png")
        self.assertIn("saved %s (%d bytes)" % (path, os.path.getsize(path)), r.stdout)
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        self.assertEqual(img.shape[:2], (300, 451))
        # the job exists on the server and succeeded
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + self.job_id(r.stdout),
                                       token=self.token)
        self.assertEqual((status, doc["state"]), (200, "succeeded"))
        # not a tty: plain progress lines on stderr, ending at 100%
        self.assertIn(": 100%", r.stderr)

    def test_submit_three_images_jpeg(self):
        r = self.tessera("submit", "-p", "thumbnail:width=128,height=128", *THREE,
                         "-o", self.out("three"), "--format", "jpeg", "--quality", "90")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("-> jpeg (quality 90)", r.stdout)
        self.assertEqual(sorted(os.listdir(self.out("three"))),
                         ["chelsea.jpg", "coffee.jpg", "rocket.jpg"])
        for name in ("chelsea.jpg", "coffee.jpg", "rocket.jpg"):
            img = cv2.imread(self.out("three/" + name))
            self.assertIsNotNone(img, name)
            self.assertEqual(max(img.shape[:2]), 128, name)
        self.assertEqual(r.stdout.count("saved "), 3)

    def test_json_pipeline(self):
        pipe = json.dumps([{"op": "resize", "width": 100, "height": 50}])
        r = self.tessera("submit", "-p", pipe, PHOTO, "-o", self.out("j"), "--format", "bmp")
        self.assertEqual(r.returncode, 0, r.stderr)
        img = cv2.imread(self.out("j/chelsea.bmp"))
        self.assertEqual(img.shape[:2], (50, 100))

    def test_bad_pipeline(self):
        r = self.tessera("submit", "-p", "gaussian-blur:sigma=500", PHOTO, "-o", self.out("b"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("gaussian-blur: sigma must be between 0 and 100", r.stderr)
        self.assertNotIn("uploaded", r.stdout)  # checked before any upload
        # the server checks too, with its own limits: 2.4 GP is over serve's 2 GP, not process's 4
        r = self.tessera("submit", "-p", "resize:width=60000,height=40000", PHOTO, "-o", self.out("b"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("chelsea.png: resize: ", r.stderr)
        self.assertIn("limit", r.stderr)
        self.assertIn("HTTP 400", r.stderr)
        self.assertNotIn("uploaded", r.stdout)
        r = self.tessera("submit", "-p", "no-such-op", PHOTO, "-o", self.out("b"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no-such-op", r.stderr)
        r = self.tessera("submit", "-p", "[{\"op\":", PHOTO, "-o", self.out("b"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertFalse(os.path.exists(self.out("b")))

    def test_wrong_or_missing_token(self):
        r = self.tessera("submit", "-p", "grayscale", PHOTO, "-o", self.out("t"), token="0" * 64)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("HTTP 401", r.stderr)
        self.assertIn("token", r.stderr)
        r = self.tessera("status", token="0" * 64)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("HTTP 401", r.stderr)
        r = self.tessera("status", token=False, env={"TESSERA_TOKEN": ""})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("TESSERA_TOKEN", r.stderr)
        # the token from the environment
        r = self.tessera("status", token=False, env={"TESSERA_TOKEN": self.token})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_input_file(self):
        r = self.tessera("submit", "-p", "grayscale", os.path.join(DATA, "truncated.jpg"),
                         "-o", self.out("c"))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("HTTP 422", r.stderr)
        r = self.tessera("submit", "-p", "grayscale", self.out("missing.png"), "-o", self.out("c"))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("missing.png", r.stderr)

    def test_job_that_would_fail_is_refused_before_upload(self):
        # crop x=500 fits coffee (600 wide) but not chelsea (451 wide): the
        # job would fail for chelsea, so nothing is uploaded (issue 12)
        r = self.tessera("submit", "-p", "crop:x=500,y=0,width=50,height=50",
                         PHOTO, os.path.join(DATA, "coffee.png"), "-o", self.out("f"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("chelsea.png: crop: x=500, y=0 lies outside the 451x300 image", r.stderr)
        self.assertNotIn("uploaded", r.stdout)
        self.assertFalse(os.path.exists(self.out("f")))

    def test_no_wait_status_fetch(self):
        r = self.tessera("submit", "-p", "grayscale", PHOTO, "--no-wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        job = r.stdout.strip().splitlines()[-1]
        self.assertEqual(job, self.job_id(r.stdout))
        self.srv.wait_job(job, token=self.token)
        r = self.tessera("status", job)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("job %s: succeeded, 100.0%%" % job, r.stdout)
        self.assertIn("pipeline: grayscale", r.stdout)
        self.assertRegex(r.stdout, r"image \S+: succeeded, 451x300, \d+ bytes")
        r = self.tessera("status", job, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["id"], doc["state"], doc["percent"]), (job, "succeeded", 100))
        r = self.tessera("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^%s\s+succeeded\s+100\.0%%\s+1 " % job)
        r = self.tessera("status", "--json", "--limit", "5")
        self.assertIn(job, [j["id"] for j in json.loads(r.stdout)["jobs"]])
        r = self.tessera("fetch", job, "-o", self.out("deep/er"))
        self.assertEqual(r.returncode, 0, r.stderr)
        img = cv2.imread(self.out("deep/er/chelsea.png"), cv2.IMREAD_UNCHANGED)
        self.assertEqual(img.shape, (300, 451))
        self.assertEqual([n for n in os.listdir(self.out("deep/er")) if n.startswith(".")], [])

    def test_unknown_job_and_usage(self):
        r = self.tessera("status", "job_does_not_exist")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("HTTP 404", r.stderr)
        r = self.tessera("fetch", "job_does_not_exist", "-o", self.out("n"))
        self.assertEqual(r.returncode, 3, r.stderr)
        r = self.tessera("fetch", "../etc", "-o", self.out("n"))
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.tessera("submit", "-p", "grayscale", PHOTO)  # no -o
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.tessera("submit", "-p", "grayscale", PHOTO, "-o", self.out("u"),
                         "--format", "xcf")
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_server_unreachable(self):
        with socket_port() as port:
            r = self.tessera("status", server="http://127.0.0.1:%d" % port)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("127.0.0.1", r.stderr)

    def test_progress_bar_on_pty(self):
        master, slave = pty.openpty()
        cmd = [BIN, "submit", "--server", self.url, "--token", self.token, "-p",
               "resize:scale=4|gaussian-blur:sigma=8", PHOTO, "-o", self.out("pty")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        seen = b""
        deadline = time.time() + 120
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        stdout, _ = proc.communicate(timeout=60)
        text = seen.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, text + stdout)
        self.assertIn("\r", text)
        self.assertRegex(text, r"\[[#.]{30}\]\s+\d+%")
        self.assertIn("[" + "#" * 30 + "] 100%", text)
        self.assertIn("ETA", text)
        img = cv2.imread(self.out("pty/chelsea.png"))
        self.assertEqual(img.shape[:2], (1200, 1804))


class socket_port:
    """A loopback port that nothing listens on, for the unreachable test."""

    def __enter__(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    unittest.main()
