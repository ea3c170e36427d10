"""Cost accounting on a real server: every job's answer carries what it used
(CPU and device seconds, store bytes read and written, network bytes, wall
time, peak pixels) and, with `serve --prices FILE`, its cost; the figures
match what the job measurably did (the input's and the result's stored
sizes, the images' pixels, the CPU time within the run's wall time x
threads); GET /api/v1/usage and `tessera usage` sum them by account and
day, with accounts kept apart; /metrics has per-account counters."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from datetime import datetime, timezone

from harness import ADMIN_TOKEN, BIN, Server, unique_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHOTO = os.path.join(os.path.dirname(ROOT), "shared", "testdata", "coffee.png")
PRICES = {"currency": "EUR", "cpu_hour": 3.6, "gpu_hour": 36, "gb_month": 100,
          "gb_transfer": 50}


class UsageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tessera-usage-")
        prices = os.path.join(cls.tmp, "prices.json")
        with open(prices, "w") as f:
            json.dump(PRICES, f)
        cls.srv = Server("--prices", prices, "--threads", "2")
        cls.alice = cls.srv.make_user("alice", "user")
        cls.bob = cls.srv.make_user("bob", "user")
        with open(PHOTO, "rb") as f:
            cls.photo = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_job(self, token, pipeline, n=1, seed=0):
        ids = []
        for i in range(n):
            status, img, _ = self.srv.upload_bytes(unique_bytes(self.photo, seed * 100 + i),
                                                   "p%d.png" % i, token=token)
            self.assertEqual(status, 201, img)
            ids.append(img)
        status, job, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [i["id"] for i in ids], "pipeline": pipeline,
                                        "output": {"format": "png"}}, token=token)
        self.assertEqual(status, 201, job)
        return ids, self.srv.wait_job(job["id"], token=token)

    def test_job_usage_matches_what_it_did(self):
        images, job = self.run_job(self.alice, "gaussian-blur:sigma=3|resize:scale=0.5", n=2,
                                   seed=1)
        self.assertEqual(job["state"], "succeeded", job)
        u = job["usage"]
        self.assertEqual(u["read_bytes"], sum(i["bytes"] for i in images))
        self.assertEqual(u["written_bytes"], sum(it["bytes"] for it in job["items"]))
        w, h = images[0]["width"], images[0]["height"]
        out = job["items"][0]
        self.assertEqual(u["peak_pixels"], w * h + out["width"] * out["height"])
        self.assertGreater(u["cpu_seconds"], 0)
        # CPU time of 2 threads cannot exceed 2 x the wall time (plus timer slack).
        self.assertLessEqual(u["cpu_seconds"], 2 * u["wall_seconds"] + 0.05)
        self.assertEqual(u["gpu_seconds"], 0)
        self.assertEqual(u["network_bytes"], 0)  # local: no workers
        self.assertAlmostEqual(job["cpu_seconds"], u["cpu_seconds"])
        c = job["cost"]
        self.assertEqual(c["currency"], "EUR")
        self.assertAlmostEqual(c["compute"], u["cpu_seconds"] / 3600 * 3.6, places=9)
        self.assertAlmostEqual(c["storage_month"], u["written_bytes"] / 1e9 * 100, places=9)
        self.assertAlmostEqual(c["total"], c["compute"] + c["transfer"] + c["storage_month"],
                               places=9)

    def test_usage_report_by_account_and_day(self):
        _, a = self.run_job(self.alice, "invert", seed=2)
        _, b = self.run_job(self.bob, "invert|grayscale", n=2, seed=3)
        today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        status, mine, _ = self.srv.json("GET", "/api/v1/usage", token=self.bob)
        self.assertEqual(status, 200, mine)
        self.assertTrue(all(r["account"] is None for r in mine["rows"]), mine)
        self.assertEqual([r["day"] for r in mine["rows"]], [today])
        status, jobs, _ = self.srv.json("GET", "/api/v1/jobs?limit=100", token=self.bob)
        finished = [j for j in jobs["jobs"] if j["finished"]]
        self.assertEqual(mine["totals"]["jobs"], len(finished))
        self.assertEqual(mine["totals"]["usage"]["read_bytes"],
                         sum(j["usage"]["read_bytes"] for j in finished))
        self.assertEqual(mine["currency"], "EUR")
        status, body, _ = self.srv.json("GET", "/api/v1/usage?account=alice", token=self.bob)
        self.assertEqual(status, 403, body)
        status, body, _ = self.srv.json("GET", "/api/v1/usage?from=2020-13-01", token=self.bob)
        self.assertEqual(status, 400, body)
        status, every, _ = self.srv.json("GET", "/api/v1/usage")  # admin: all accounts
        self.assertEqual(status, 200, every)
        accounts = {r["account"] for r in every["rows"]}
        self.assertTrue({"alice", "bob"} <= accounts, every)
        status, one, _ = self.srv.json("GET", "/api/v1/usage?account=alice&from=%s" % today)
        self.assertEqual(status, 200, one)
        self.assertGreaterEqual(one["totals"]["jobs"], 1)
        status, none, _ = self.srv.json("GET", "/api/v1/usage?from=2020-01-01&to=2020-01-02")
        self.assertEqual((status, none["totals"]["jobs"], none["rows"]), (200, 0, []))
        # The CLI prints the same report.
        env = dict(os.environ, TESSERA_SERVER="http://127.0.0.1:%d" % self.srv.port, TESSERA_TOKEN=ADMIN_TOKEN)
        r = subprocess.run([BIN, "usage", "--json", "--account", "bob"], capture_output=True,
                           text=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["totals"]["jobs"], mine["totals"]["jobs"])
        r = subprocess.run([BIN, "usage"], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("EUR", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^bob\s+%s\s+\d+" % today)
        r = subprocess.run([BIN, "status", b["id"]], capture_output=True, text=True, env=env,
                           timeout=30)
        self.assertIn("used:     cpu", r.stdout)
        self.assertIn("EUR (compute", r.stdout)

    def test_metrics_per_account(self):
        self.run_job(self.bob, "invert", seed=4)
        status, _, body = self.srv.request("GET", "/metrics")
        text = body.decode()
        m = re.search(r'^tessera_account_jobs_finished_total\{account="bob"\} (\S+)$', text, re.M)
        self.assertIsNotNone(m, text[-2000:])
        self.assertGreaterEqual(float(m.group(1)), 1)
        for name in ("cpu_seconds", "store_read_bytes", "store_written_bytes", "network_bytes"):
            self.assertRegex(text, r'(?m)^tessera_account_%s_total\{account="bob"\} ' % name)

    def test_bad_price_table_refused(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"cpu_hour": -1}')
        r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data",
                            os.path.join(self.tmp, "d"), "--prices", bad],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cpu_hour", r.stderr)


if __name__ == "__main__":
    unittest.main()
