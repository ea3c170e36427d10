"""Sealed tile payloads (--cluster-key): with a key on the coordinator and
the workers every task and result payload on Redis is sealed (libsodium
XChaCha20-Poly1305, bound to its entry's key), so the broker never sees
pixels, and a tampered, foreign-key or moved payload produces no work: it
is dropped, counted in tessera:<c>:stats rejected_payloads, and the tile
is recomputed after the coordinator's resend timeout. Error and dead
results are sealed the same way (bound to "E:<key>" and "D:<key>"), so a
forged failure cannot fail a job."""
import os
import re
import socket
import subprocess
import time
import unittest

import cv2

import fleet
from fleet import DATA, Worker, coordinator, tools
from test_fleet import local_process, result, run_job

LEASE = "1000"
PIPE = "gaussian-blur:sigma=2|sharpen"
TASKS = "tessera:default:tasks"
STATS = "tessera:default:stats"
RESULT_XADD = r'"XADD" "tessera:default:results:[^"]*" .*'  # a result, as MONITOR shows it


def resp(port, *args):
    """One Redis command over RESP, binary-safe; returns the parsed reply."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        f = s.makefile("rb")

        def read():
            line = f.readline()
            kind, rest = line[:1], line[1:-2]
            if kind in (b"+", b"-"):
                return rest.decode()
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)
                return data[:-2]
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [read() for _ in range(n)]
            raise RuntimeError("bad reply %r" % line)

        return read()
    finally:
        s.close()


def fields(entry):
    flat = entry[1]
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


class SealedTest(fleet.FleetCase):
    TMP_PREFIX = "tessera-sealed-"

    def setUp(self):
        super().setUp()
        self.monitors = []
        self.key = self.key_file("a.key", os.urandom(32).hex() + "\n")
        self.other = self.key_file("b.key", os.urandom(32))

    def tearDown(self):
        for m in self.monitors:
            m.terminate()
            m.wait(10)
        super().tearDown()

    def key_file(self, name, content):
        path = os.path.join(self.tmp, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, content.encode() if isinstance(content, str) else content)
        os.close(fd)
        return path

    def worker(self, *args, env=None):
        w = Worker(self.redis.url, "--threads", "1", "--lease-ms", LEASE, "--block-ms", "300",
                   *args, env=env, log_dir=self.tmp)
        self.workers.append(w)
        return w

    def coord(self, *args):
        srv = coordinator(self.redis, "--lease-ms", LEASE, "--tile", "64", *args)
        self.servers.append(srv)
        return srv

    def monitor(self):
        """Starts redis-cli MONITOR; returns a function giving its output so far."""
        path = os.path.join(self.tmp, "monitor-%d.log" % len(self.monitors))
        out = open(path, "w")
        self.monitors.append(subprocess.Popen(
            [tools.find("redis-cli"), "-p", str(self.redis.port), "MONITOR"], stdout=out,
            stderr=subprocess.STDOUT))
        out.close()
        time.sleep(0.3)  # MONITOR is on before anything else happens

        def text():
            with open(path, errors="replace") as f:
                return f.read()
        return text

    def wait_rejected(self, n, timeout=20):
        deadline = time.time() + timeout
        while self.rejected() < n and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.rejected(), n)

    def rejected(self):
        v = self.redis.cli("HGET", STATS, "rejected_payloads").strip()
        return int(v) if v else 0

    def wait_tasks(self, n=1, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            entries = resp(self.redis.port, "XRANGE", TASKS, "-", "+")
            if len(entries) >= n:
                return entries
            time.sleep(0.05)
        self.fail("no tasks appeared in the stream")

    def submit(self, srv, path):
        _, img, _ = srv.upload(path)
        status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": [img["id"]], "pipeline": PIPE})
        self.assertEqual(status, 201, job)
        return img["id"], job["id"]

    def test_sealed_output_matches_process(self):
        path = os.path.join(DATA, "chelsea.png")
        want = local_process(PIPE, path)
        self.worker("--cluster-key", self.key)
        self.worker(env={"TESSERA_CLUSTER_KEY_FILE": self.key})  # the key by environment
        srv = self.coord("--cluster-key", self.key)
        _, img, _ = srv.upload(path)
        job_id, done = run_job(srv, [img["id"]], PIPE)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue((result(srv, job_id, img["id"]) == want).all())
        self.assertEqual(self.rejected(), 0)
        self.assertNotIn("not sealed", srv.log_text())

    def pixel_run(self, path):
        """64 bytes of a source row (RGB, as in tasks) away from tile edges."""
        rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        return rgb[10, 8:8 + 22].tobytes()[:64]

    def test_broker_never_sees_pixels(self):
        path = os.path.join(DATA, "chelsea.png")
        run = self.pixel_run(path)
        # Control: raw (--compress 0) unsealed tasks carry the run as is.
        srv = self.coord("--compress", "0")
        self.submit(srv, path)
        payloads = [fields(e)["payload"] for e in self.wait_tasks(4)]
        self.assertTrue(any(run in p for p in payloads), "the control found no pixel run")
        self.assertIn("not sealed", srv.log_text())
        srv.stop()
        self.servers.remove(srv)
        self.redis.cli("DEL", TASKS)
        # Sealed, still raw inside: nothing recognizable leaves the coordinator.
        srv = self.coord("--compress", "0", "--cluster-key", self.key)
        self.submit(srv, path)
        entries = self.wait_tasks(4)
        for e in entries:
            p = fields(e)["payload"]
            self.assertEqual(p[:1], b"S")
            self.assertNotIn(run, p)
            self.assertNotIn(run[:16], p)

    def test_foreign_key_worker_does_nothing(self):
        path = os.path.join(DATA, "chelsea.png")
        want = local_process(PIPE, path)
        srv = self.coord("--cluster-key", self.key, "--resend-ms", "1500")
        foreign = self.worker("--cluster-key", self.other)
        keyless = self.worker()
        img_id, job_id = self.submit(srv, path)
        deadline = time.time() + 20
        while self.rejected() < 2 and time.time() < deadline:
            time.sleep(0.1)
        self.assertGreaterEqual(self.rejected(), 2)
        self.worker("--cluster-key", self.key)
        done = srv.wait_job(job_id, timeout=120)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue((result(srv, job_id, img_id) == want).all())
        self.assertEqual(foreign.stop(), 0)
        self.assertEqual(keyless.stop(), 0)
        self.assertIn("stopped after 0 tiles", foreign.text())
        self.assertIn("stopped after 0 tiles", keyless.text())
        self.assertIn("does not open", foreign.text())
        self.assertIn("no --cluster-key", keyless.text())
        self.assertIn("tile payloads are not sealed", keyless.text())

    def test_tampered_task_and_result_rejected(self):
        path = os.path.join(DATA, "chelsea.png")
        want = local_process(PIPE, path)
        srv = self.coord("--cluster-key", self.key, "--coordinator-id", "sealtest")
        img_id, job_id = self.submit(srv, path)
        f = fields(self.wait_tasks(2)[0])
        flipped = bytearray(f["payload"])
        flipped[len(flipped) // 2] ^= 0x40
        # A flipped byte, a payload moved under another tile's key, and an
        # unsealed payload: each a new entry of the tasks stream.
        other_key = f["key"].rsplit(b":", 1)[0] + b":9999"
        forged = [(f["key"], bytes(flipped)), (other_key, f["payload"]), (f["key"], b"R" * 64)]
        for key, payload in forged:
            resp(self.redis.port, "XADD", TASKS, "*", "job", f["job"], "key", key,
                 "coord", f["coord"], "payload", payload)
        # A forged result for a real tile, straight into the results stream.
        resp(self.redis.port, "XADD", "tessera:default:results:sealtest", "*", "key", f["key"],
             "worker", "mallory", "payload", b"S" + os.urandom(80))
        deadline = time.time() + 20
        while self.rejected() < 1 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.rejected(), 1)  # the result, rejected by the coordinator
        self.assertIn("rejected a result payload", srv.log_text())
        w = self.worker("--cluster-key", self.key)
        done = srv.wait_job(job_id, timeout=120)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue((result(srv, job_id, img_id) == want).all())
        deadline = time.time() + 10
        while self.rejected() < 4 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.rejected(), 4)
        text = w.text()
        self.assertEqual(text.count("rejected task"), 3, text)
        self.assertIn("unsealed task while --cluster-key is set", text)
        deadline = time.time() + 10  # the monitor polls the stats hash every 2 s
        while time.time() < deadline:
            _, _, body = srv.request("GET", "/metrics")
            if b"tessera_rejected_payloads_total 4" in body:
                break
            time.sleep(0.2)
        self.assertIn(b"tessera_rejected_payloads_total 4", body)

    def forged_failure_rejected(self, field):
        """Forged `field` results (error or dead) for a real tile of a running
        sealed job are rejected and counted; the job then succeeds."""
        path = os.path.join(DATA, "chelsea.png")
        want = local_process(PIPE, path)
        srv = self.coord("--cluster-key", self.key, "--coordinator-id", "sealtest",
                         "--resend-ms", "3000")
        img_id, job_id = self.submit(srv, path)
        f = fields(self.wait_tasks(2)[0])
        other_key = f["key"].rsplit(b":", 1)[0] + b":9999"
        # Unsealed, garbage in sealed form, a sealed task payload replayed as
        # a failure (another kind), and the value moved to another tile.
        values = [(f["key"], b"5" if field == "dead" else b"forged failure"),
                  (f["key"], b"S" + os.urandom(80)),
                  (f["key"], f["payload"]),
                  (other_key, f["payload"])]
        for key, value in values:
            resp(self.redis.port, "XADD", "tessera:default:results:sealtest", "*", "key", key,
                 "worker", "mallory", field, value)
        # Also an entry with no part at all and one with a payload and a failure.
        resp(self.redis.port, "XADD", "tessera:default:results:sealtest", "*", "key", f["key"],
             "worker", "mallory")
        resp(self.redis.port, "XADD", "tessera:default:results:sealtest", "*", "key", f["key"],
             "worker", "mallory", "payload", f["payload"], field, b"1")
        self.wait_rejected(len(values) + 2)
        log = srv.log_text()
        self.assertEqual(log.count("rejected a%s %s result" % ("n" if field == "error" else "",
                                                                  field)), len(values), log)
        self.assertIn("rejected a result with no or several of payload, error, dead", log)
        _, doc, _ = srv.json("GET", "/api/v1/jobs/" + job_id)
        self.assertEqual(doc["state"], "running", doc)
        self.worker("--cluster-key", self.key)
        done = srv.wait_job(job_id, timeout=120)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue((result(srv, job_id, img_id) == want).all())
        self.assertEqual(self.rejected(), len(values) + 2)
        self.assertNotIn("mallory", log)
        deadline = time.time() + 10  # the monitor polls the stats hash every 2 s
        want_metric = b"tessera_rejected_payloads_total %d" % (len(values) + 2)
        while time.time() < deadline:
            _, _, body = srv.request("GET", "/metrics")
            if want_metric in body:
                break
            time.sleep(0.2)
        self.assertIn(want_metric, body)

    def test_forged_error_result_rejected(self):
        self.forged_failure_rejected("error")

    def test_forged_dead_result_rejected(self):
        self.forged_failure_rejected("dead")

    def test_sealed_error_fails_job(self):
        path = os.path.join(DATA, "chelsea.png")
        wire = self.monitor()
        self.worker("--cluster-key", self.key, env={"TESSERA_TEST_FAIL_TILE": "3"})
        srv = self.coord("--cluster-key", self.key)
        _, img, _ = srv.upload(path)
        job_id, done = run_job(srv, [img["id"]], PIPE)
        self.assertEqual(done["state"], "failed", done)
        msg = done["error"] or done["items"][0]["error"]
        self.assertIn("tile 3 failed on worker", msg)
        self.assertIn("TESSERA_TEST_FAIL_TILE=3: injected failure", msg)
        self.assertEqual(self.rejected(), 0)
        text = wire()
        self.assertTrue(re.search(RESULT_XADD + r'"error" "S', text), "no sealed error on the wire")
        # The message crossed Redis sealed only.
        self.assertNotIn("injected failure", text, "the error message crossed Redis in the clear")

    def test_sealed_dead_tile_fails_job(self):
        path = os.path.join(DATA, "chelsea.png")
        wire = self.monitor()
        env = {"TESSERA_TEST_CRASH_TILE": "5"}
        for _ in range(2):
            self.worker("--cluster-key", self.key, env=env)
        srv = self.coord("--cluster-key", self.key)
        _, img, _ = srv.upload(path)
        with fleet.supervised(self.workers):
            job_id, done = run_job(srv, [img["id"]], PIPE)
        self.assertEqual(done["state"], "failed", done)
        msg = done["error"] or done["items"][0]["error"]
        self.assertIn("tile 5 failed 5 times", msg)
        self.assertIn("dead stream", msg)
        self.assertEqual(self.rejected(), 0)
        text = wire()
        self.assertTrue(re.search(RESULT_XADD + r'"dead" "S', text), "no sealed dead result")
        self.assertIsNone(re.search(RESULT_XADD + r'"dead" "5"', text), "a dead result in the clear")

    def test_key_file_checks(self):
        loose = self.key_file("loose.key", "00" * 32)
        os.chmod(loose, 0o644)
        r = subprocess.run([fleet.BIN, "worker", "--redis", self.redis.url, "--cluster-key", loose],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("chmod 600", r.stderr)
        bad = self.key_file("bad.key", "not a key")
        r = subprocess.run([fleet.BIN, "worker", "--redis", self.redis.url, "--cluster-key", bad],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("64 hex digits", r.stderr)


if __name__ == "__main__":
    unittest.main()
