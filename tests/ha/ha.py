"""A highly available tessera on one machine (issue 17): a throw-away
PostgreSQL cluster (tests/pg/pgcluster.py), an S3 store (tests/s3/s3server.py,
s3rver), a Redis (tests/fleet/fleet.py's), N `tessera serve` coordinators
sharing the three, each with one in-process fleet worker and on a fixed
loopback port so it can be killed and started again in its place, and
HAProxy (Debian's haproxy) in front of them, checking each with
`GET /readyz`. Tests talk to HAProxy's port as a client would."""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "pg"))
sys.path.insert(0, os.path.join(ROOT, "tests", "s3"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))
import balancer  # noqa: E402
import fleet  # noqa: E402
import pgcluster  # noqa: E402
import s3server  # noqa: E402
import tools  # noqa: E402

BIN = os.environ.get("TESSERA_BIN", os.path.join(ROOT, "build", "src", "cli", "tessera"))
DATA = os.path.join(ROOT, "tests", "data")
ADMIN_TOKEN = "4a" * 32
LEASE_MS = "2000"  # takeovers in ~2-3 s keep 20 kills in a few minutes


free_port = balancer.free_port


class Coordinator:
    """One `tessera serve` on a fixed port; start() again after kill()."""

    def __init__(self, name, tmp, db_url, store_args, env, extra=()):
        self.name, self.port = name, free_port()
        self.data = os.path.join(tmp, name)
        self.log_path = os.path.join(tmp, name + ".log")
        self.args = [BIN, "serve", "--listen", "127.0.0.1:%d" % self.port, "--data", self.data,
                     "--db", db_url, *store_args, "--coordinator-id", name,
                     "--job-lease-ms", LEASE_MS, "--threads", "1", "--runners", "2",
                     "--trusted-proxies", "127.0.0.1", *extra]
        self.env = env
        self.proc = None

    def start(self, wait=True):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=log, env=self.env,
                                     text=True)
        log.close()
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if "listening on http://" in line:
                return
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError("%s did not start: %s" % (self.name, self.log_text()[-2000:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()

    def term(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        self.proc.stdout.close()

    def ready(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            c.request("GET", "/readyz")
            ok = c.getresponse().status == 200
            c.close()
            return ok
        except OSError:
            return False

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()


class Cluster:
    """PostgreSQL + S3 + `n` coordinators + HAProxy. close() ends it all."""

    def __init__(self, n=3, extra=()):
        self.tmp = tempfile.mkdtemp(prefix="tessera-ha-")
        self.pg = self.s3 = self.haproxy = self.redis = None
        self.coords = []
        try:
            self._start(n, extra)
        except BaseException:
            self.close()
            raise

    def _start(self, n, extra):
        self.pg = pgcluster.Cluster().start()
        self.db_url = self.pg.create_db()
        self.s3 = s3server.S3Server().start()
        self.redis = fleet.Redis("everysec")
        store = ["--store", "s3://%s/ha" % self.s3.bucket, "--s3-endpoint", self.s3.endpoint,
                 "--redis", self.redis.url, "--local-workers", "1"]
        env = dict(os.environ, TESSERA_ADMIN_TOKEN=ADMIN_TOKEN,
                   AWS_ACCESS_KEY_ID=s3server.ACCESS_KEY,
                   AWS_SECRET_ACCESS_KEY=s3server.SECRET_KEY, AWS_REGION=s3server.REGION)
        self.coords = [Coordinator("coord-%d" % i, self.tmp, self.db_url, store, env, extra)
                       for i in range(n)]
        for c in self.coords:  # all at once, on an empty database
            c.start(wait=False)
        for c in self.coords:
            c.wait_listening()
        self.haproxy = balancer.Balancer(self.tmp, [c.port for c in self.coords]).start()
        self.port = self.haproxy.port
        self.wait_all_up()

    def wait_all_up(self, timeout=30):
        """Until HAProxy answers and every live coordinator is ready."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(c.ready() for c in self.coords if c.alive()):
                try:
                    if self.request("GET", "/readyz", token=None)[0] == 200:
                        time.sleep(1.2)  # a health check or two: HAProxy marks them up
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        raise AssertionError("the cluster did not come up")

    def request(self, method, path, body=None, headers=None, token=ADMIN_TOKEN, timeout=60):
        """Through HAProxy: (status, headers with lower-case names, body)."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None, token=ADMIN_TOKEN):
        status, h, data = self.request(method, path, body, headers, token)
        try:
            return status, json.loads(data) if data else None, h
        except ValueError:
            return status, None, h

    def lease_owner(self, job_id):
        r = subprocess.run([tools.find("psql"), "-X", "-q", "-A", "-t", "-d", self.db_url, "-c",
                            "SELECT coalesce(lease_owner, '') FROM jobs WHERE id = '%s'" % job_id],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        return r.stdout.strip() or None

    def close(self):
        if self.haproxy:
            self.haproxy.stop()
        for c in self.coords:
            if c.alive():
                c.proc.kill()
                c.proc.wait()
                c.proc.stdout.close()
        if self.redis:
            self.redis.stop()
        if self.s3:
            self.s3.close()
        if self.pg:
            self.pg.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
