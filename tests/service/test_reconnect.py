"""Recovery (issue 12 point 2): `tessera submit` waiting on a job survives a
restart of the server (kill -9, then the same data folder on the same
port): it says "reconnecting…" on stderr, reconnects with backoff and ends
with the job's true result; and it gives up, exit 4, once --reconnect-s
has passed without an answer."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import cv2

import harness
from harness import ADMIN_TOKEN, BIN, DATA, Server, one_coordinator_only

PIPELINE = "gaussian-blur:sigma=25|sharpen|rotate:angle=17"


def big_photo(path, size):
    img = cv2.imread(os.path.join(DATA, "hubble_deep_field.jpg"), cv2.IMREAD_COLOR)
    assert cv2.imwrite(path, cv2.resize(img, size, interpolation=cv2.INTER_CUBIC))


def start_on(srv, port):
    """Starts a new server process on srv's data folder and `port` (the old
    process must be gone); srv.stop() ends it as usual."""
    srv.proc.stdout.close()
    env = dict(os.environ, TESSERA_ADMIN_TOKEN=ADMIN_TOKEN)
    store = []
    if harness.STORE == "s3":  # the same store as the first start
        store, s3_env = harness.s3_store_args(srv.data)
        env.update(s3_env)
    deadline = time.time() + 20
    while time.time() < deadline:  # the port may linger a moment after kill -9
        srv.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:%d" % port, "--data", srv.data, *store,
             *harness.db_args(srv.data)],
            stdout=subprocess.PIPE, stderr=srv.log, env=env, text=True)
        line = srv.proc.stdout.readline()
        if "listening on http://" in line:
            return
        srv.proc.wait(10)
        srv.proc.stdout.close()
        time.sleep(0.2)
    raise AssertionError("server did not restart: " + srv.log_text()[-3000:])


@one_coordinator_only("it stops and restarts one process under a client; tests/ha restarts coordinators")
class ReconnectTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-reconnect-")
        cls.photo = os.path.join(cls.tmp, "big.png")
        big_photo(cls.photo, (3000, 2000))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.srv = Server()
        self.url = "http://127.0.0.1:%d" % self.srv.port

    def tearDown(self):
        self.srv.stop()

    def submit(self, *args):
        cmd = [BIN, "submit", "--server", self.url, "--token", ADMIN_TOKEN, "-p", PIPELINE,
               self.photo, "-o", os.path.join(self.tmp, "out"), *args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def running_job(self, client):
        """The job the client created, once it runs (fails when it ended first)."""
        deadline = time.time() + 120
        while time.time() < deadline:
            if client.poll() is not None:
                self.fail("submit exited early: %s" % client.stderr.read())
            status, doc, _ = self.srv.json("GET", "/api/v1/jobs?limit=1")
            jobs = doc["jobs"] if status == 200 else []
            if jobs and jobs[0]["state"] == "running" and jobs[0]["percent"] >= 2:
                self.assertLess(jobs[0]["percent"], 95, "the job ran too fast to interrupt")
                return jobs[0]
            time.sleep(0.05)
        self.fail("the job never ran")

    def test_submit_survives_a_restart(self):
        client = self.submit("--reconnect-s", "120")
        job = self.running_job(client)
        self.srv.proc.send_signal(signal.SIGKILL)
        self.srv.proc.wait(10)
        time.sleep(2)  # the client notices and waits
        start_on(self.srv, self.srv.port)
        out, err = client.communicate(timeout=300)
        self.assertEqual(client.returncode, 0, err)
        self.assertIn("reconnecting…", err)
        self.assertIn("reconnected", err)
        self.assertIn("job %s succeeded" % job["id"], out)
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"])
        self.assertEqual(doc["state"], "succeeded", doc)
        self.assertTrue(os.listdir(os.path.join(self.tmp, "out")))

    def test_submit_gives_up_after_the_window(self):
        client = self.submit("--reconnect-s", "2")
        job = self.running_job(client)
        self.srv.proc.send_signal(signal.SIGKILL)
        self.srv.proc.wait(10)
        t0 = time.monotonic()
        out, err = client.communicate(timeout=60)
        self.assertEqual(client.returncode, 4, err)
        self.assertIn("reconnecting…", err)
        self.assertIn("tessera status %s" % job["id"], err)
        self.assertLess(time.monotonic() - t0, 30)
        start_on(self.srv, self.srv.port)  # for tearDown


if __name__ == "__main__":
    unittest.main()
