"""A fleet behind a Redis ACL user: the default user is off, tessera signs
in as a user that may touch only tessera:* keys and no @dangerous command
(redis://user:password@host in --redis). Jobs give the same bytes as the
local executor, the fleet monitor works, and a wrong password is refused
with a clear message instead of a silent retry loop."""
import os
import subprocess
import time
import unittest

import numpy as np

import fleet
from fleet import Redis, Server, Worker, tools
from test_fleet import local_process, result, run_job

ACL = ("user default off\n"
       "user tessera on >s3cret-pw ~tessera:* &* +@all -@dangerous\n")
PIPE = "gaussian-blur:sigma=2|sharpen"


def with_auth(url, user, password):
    return url.replace("redis://", "redis://%s:%s@" % (user, password))


class RedisAclTest(fleet.FleetCase):
    TMP_PREFIX = "tessera-acl-"

    def make_redis(self):
        return Redis(acl=ACL)

    def setUp(self):
        super().setUp()
        self.url = with_auth(self.redis.url, "tessera", "s3cret-pw")

    def test_default_user_is_off(self):
        r = subprocess.run([tools.find("redis-cli"), "-p", str(self.redis.port), "PING"],
                           capture_output=True, text=True, timeout=10)
        self.assertIn("NOAUTH", r.stdout + r.stderr)

    def test_fleet_runs_as_acl_user(self):
        for _ in range(2):
            self.workers.append(Worker(self.url, "--threads", "1", log_dir=self.tmp))
        srv = Server("--redis", self.url, "--local-workers", "0", "--tile", "64")
        self.servers.append(srv)
        path = os.path.join(fleet.DATA, "chelsea.png")
        _, img, _ = srv.upload(path)
        job_id, done = run_job(srv, [img["id"]], PIPE)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue(np.array_equal(result(srv, job_id, img["id"]), local_process(PIPE, path)),
                        "fleet output differs from the local executor's")
        # Everything tessera wrote lives under tessera:*.
        keys = self.redis.cli("--scan").split()
        self.assertTrue(keys)
        self.assertTrue(all(k.startswith("tessera:") for k in keys), keys)
        # The fleet monitor reads the workers' heartbeats through the ACL user.
        deadline = time.time() + 20
        while time.time() < deadline:
            _, _, data = srv.request("GET", "/metrics")
            body = data.decode()
            if 'tessera_workers{state="running"} 2' in body and "tessera_redis_up 1" in body:
                break
            time.sleep(0.3)
        self.assertIn('tessera_workers{state="running"} 2', body)
        self.assertIn("tessera_redis_up 1", body)
        # The coordinator's executor counters: every tile went out and came back once.
        counters = dict(line.split() for line in body.splitlines()
                        if line.startswith("tessera_fleet_"))
        tiles = done["tiles_total"]
        self.assertGreaterEqual(int(counters["tessera_fleet_tasks_sent_total"]), tiles)
        self.assertEqual(int(counters["tessera_fleet_results_applied_total"]), tiles)
        self.assertEqual(int(counters["tessera_fleet_tasks_in_flight"]), 0)

    def test_wrong_password_is_reported(self):
        """Worker and coordinator both stop at start with Redis's refusal."""
        bad = with_auth(self.redis.url, "tessera", "wrong")
        w = Worker(bad, "--threads", "1", log_dir=self.tmp)
        self.workers.append(w)
        deadline = time.time() + 15
        while time.time() < deadline and "WRONGPASS" not in w.text():
            time.sleep(0.2)
        self.assertIn("WRONGPASS", w.text())
        self.assertNotEqual(w.proc.wait(10), 0, "a worker that cannot sign in must exit")
        self.assertNotIn("s3cret", w.text())
        self.assertNotIn(":wrong@", w.text())
        r = subprocess.run([fleet.BIN, "serve", "--redis", bad, "--listen", "127.0.0.1:0",
                            "--data", os.path.join(self.tmp, "data")],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("WRONGPASS", r.stderr)


if __name__ == "__main__":
    unittest.main()
