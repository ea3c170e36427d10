"""The worker-fleet monitor of `tessera serve --redis`, its /metrics families,
the autoscaling hook, and workers on other hosts (network namespaces).

A real redis-server is started on a random loopback port (tests/tools.py
finds it; without it the tests fail with a message naming the package). Fake
workers are written straight into Redis over raw RESP with the heartbeat's
layout (fleet/heartbeat.h); real `tessera worker` processes are used when
the binary has the subcommand.
"""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import one_coordinator_only, tools  # noqa: E402

GRACE_S = 4  # --workers-grace-s of the servers started here


def has_worker_command():
    """Whether the tessera binary knows `tessera worker`."""
    if not os.path.exists(harness.BIN):
        return False
    r = subprocess.run([harness.BIN, "worker", "--help"], capture_output=True, text=True,
                       timeout=20)
    return "tessera worker --redis" in (r.stdout + r.stderr)


class Resp:
    """A minimal Redis client over a socket (RESP2), enough for the tests."""

    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad RESP reply %r" % line)

    def cmd(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self._reply()


def free_port():
    for _ in range(50):
        port = random.randint(20000, 60000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


class RedisServer:
    """A redis-server of the test's own, in a temp folder."""

    def __init__(self, netns=None, bind="127.0.0.1"):
        prefix = [tools.find("ip"), "netns", "exec", netns] if netns else []
        server = tools.find("redis-server")
        self.tmp = tempfile.mkdtemp(prefix="tessera-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            prefix + [server, "--port", str(self.port), "--bind", bind, "--save", "",
                      "--appendonly", "no", "--dir", self.tmp, "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = "redis://127.0.0.1:%d" % self.port

    def wait(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                r = Resp(self.port)
                ok = r.cmd("PING") == "PONG"
                r.close()
                if ok:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def fake_worker(r, wid, ttl_ms, cluster="default", **fields):
    """Writes one heartbeat the way worker/heartbeat.c does."""
    now = int(time.time() * 1000)
    base = {"id": wid, "host": "fake-" + wid, "pid": 4242, "cores": 8, "threads": 4,
            "backends": "cpu", "version": "0.1.0", "started": now - 5000, "last_seen": now,
            "interval_ms": 2000, "tiles_done": 10, "failures": 0, "inflight": 1,
            "state": "running"}
    base.update(fields)
    key = "tessera:%s:workers:%s" % (cluster, wid)
    args = []
    for k, v in base.items():
        args += [k, v]
    r.cmd("HSET", key, *args)
    r.cmd("PEXPIRE", key, ttl_ms)
    r.cmd("SADD", "tessera:%s:workers" % cluster, wid)


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def wait_for(fn, timeout, step=0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(step)
    return fn()


class WorkersMonitorTest(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.redis.wait()
        self.r = Resp(self.redis.port)
        self.servers = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for s in self.servers:
            s.stop()
        self.r.close()
        self.redis.stop()

    def serve(self, *args):
        srv = harness.Server("--redis", self.redis.url, "--local-workers", "0",
                             "--workers-grace-s", str(GRACE_S), *args)
        self.servers.append(srv)
        return srv

    def workers(self, srv):
        status, doc, _ = srv.json("GET", "/api/v1/workers")
        self.assertEqual(status, 200, doc)
        return doc

    def state_of(self, srv, wid):
        for w in self.workers(srv)["workers"]:
            if w["id"] == wid:
                return w["state"]
        return "absent"

    def test_local_mode_answer_and_metrics(self):
        srv = harness.Server()
        self.servers.append(srv)
        doc = self.workers(srv)
        self.assertEqual(doc["mode"], "local")
        self.assertEqual(doc["workers"], [])
        status, _, body = srv.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertIn('tessera_workers{state="running"} 0', text)
        self.assertEqual(metric(text, "tessera_queue_tasks"), 0)

    @one_coordinator_only("each coordinator's monitor sees a worker lost from its own polls")
    def test_fake_workers_lost_then_dropped(self):
        srv = self.serve()
        fake_worker(self.r, "fake-a", 60000, tiles_done=123, inflight=2, threads=4)
        fake_worker(self.r, "fake-b", 4000, state="draining")
        doc = wait_for(lambda: (lambda d: d if len(d["workers"]) == 2 else None)(
            self.workers(srv)), 10)
        self.assertIsNotNone(doc, "the fake workers never showed up")
        self.assertEqual(sorted(w["state"] for w in doc["workers"]), ["draining", "running"])
        self.assertEqual(doc["mode"], "redis")
        self.assertEqual(doc["cluster"], "default")
        self.assertTrue(doc["redis_up"])
        by_id = {w["id"]: w for w in doc["workers"]}
        a = by_id["fake-a"]
        self.assertEqual((a["host"], a["cores"], a["threads"], a["tiles_done"], a["inflight"]),
                         ("fake-fake-a", 8, 4, 123, 2))
        self.assertEqual(a["backends"], ["cpu"])
        self.assertAlmostEqual(a["load"], 0.5)
        self.assertEqual(a["state"], "running")
        self.assertIsNone(a["lost_since_ms"])
        # b was draining, then its hash expired: lost, with its last data.
        self.assertTrue(wait_for(lambda: self.state_of(srv, "fake-b") == "lost", 10))
        b = [w for w in self.workers(srv)["workers"] if w["id"] == "fake-b"][0]
        self.assertEqual(b["host"], "fake-fake-b")
        self.assertGreater(b["lost_since_ms"], 0)
        _, _, body = srv.request("GET", "/metrics")
        text = body.decode()
        self.assertIn('tessera_workers{state="lost"} 1', text)
        self.assertIn('tessera_workers{state="running"} 1', text)
        for family in ("tessera_queue_tasks", "tessera_queue_pending", "tessera_dead_tiles",
                       "tessera_reclaims_total", "tessera_redis_up"):
            self.assertIsNotNone(metric(text, family), family)
        # Past the grace period it is dropped from the list and the set.
        self.assertTrue(wait_for(lambda: self.state_of(srv, "fake-b") == "absent",
                                 GRACE_S + 6))
        self.assertEqual(self.r.cmd("SISMEMBER", "tessera:default:workers", "fake-b"), 0)
        self.assertEqual(self.state_of(srv, "fake-a"), "running")
        # A worker that leaves cleanly (hash deleted, SREM) disappears at once.
        self.r.cmd("DEL", "tessera:default:workers:fake-a")
        self.r.cmd("SREM", "tessera:default:workers", "fake-a")
        self.assertTrue(wait_for(lambda: self.state_of(srv, "fake-a") == "absent", 5))

    def test_queue_metrics(self):
        for i in range(5):
            self.r.cmd("XADD", "tessera:default:tasks", "*", "key", "k%d" % i)
        self.r.cmd("XGROUP", "CREATE", "tessera:default:tasks", "workers", "0")
        self.r.cmd("XREADGROUP", "GROUP", "workers", "c1", "COUNT", "2", "STREAMS",
                   "tessera:default:tasks", ">")
        self.r.cmd("XADD", "tessera:default:dead", "*", "key", "k9")
        self.r.cmd("HINCRBY", "tessera:default:stats", "reclaims", "4")
        srv = self.serve()

        def ready():
            _, _, body = srv.request("GET", "/metrics")
            text = body.decode()
            return text if metric(text, "tessera_queue_tasks") == 5 else None
        text = wait_for(ready, 10)
        self.assertIsNotNone(text)
        self.assertEqual(metric(text, "tessera_queue_pending"), 2)
        self.assertEqual(metric(text, "tessera_queue_undelivered"), 3)
        self.assertEqual(metric(text, "tessera_dead_tiles"), 1)
        self.assertEqual(metric(text, "tessera_reclaims_total"), 4)
        self.assertEqual(metric(text, "tessera_redis_up"), 1)
        q = self.workers(srv)["queue"]
        self.assertEqual((q["tasks"], q["pending"], q["dead"]), (5, 2, 1))

    @one_coordinator_only("each coordinator's monitor runs the hook")
    def test_autoscale_hook(self):
        out = os.path.join(tempfile.mkdtemp(prefix="tessera-autoscale-"), "calls")
        cmd = "sh -c 'echo \"$1 $TESSERA_WANTED_WORKERS\" >> %s' -" % out
        srv = self.serve("--autoscale-cmd", cmd, "--min-workers", "1", "--max-workers", "3",
                         "--tasks-per-worker", "2", "--autoscale-period-ms", "200",
                         "--scale-down-delay-s", "2")

        def calls():
            try:
                with open(out) as f:
                    return f.read().split("\n")[:-1]
            except OSError:
                return []
        self.assertTrue(wait_for(lambda: calls() == ["1 1"], 10), calls())
        for i in range(5):  # no consumer group yet: the backlog is the stream length
            self.r.cmd("XADD", "tessera:default:tasks", "*", "key", "k%d" % i)
        self.assertTrue(wait_for(lambda: len(calls()) >= 2, 10), calls())
        self.assertEqual(calls()[1], "3 3")  # ceil(5 / 2) = 3 at once
        self.r.cmd("DEL", "tessera:default:tasks")
        time.sleep(1.0)
        self.assertEqual(len(calls()), 2, calls())  # not before the scale-down delay
        self.assertTrue(wait_for(lambda: len(calls()) >= 3, 10), calls())
        self.assertEqual(calls(), ["1 1", "3 3", "1 1"])
        log = srv.log_text()
        self.assertIn("autoscale: scaling command ended", log)
        shutil.rmtree(os.path.dirname(out), ignore_errors=True)

    def test_autoscale_needs_redis(self):
        r = subprocess.run([harness.BIN, "serve", "--listen", "127.0.0.1:0", "--data",
                            tempfile.mkdtemp(prefix="tessera-as-"), "--autoscale-cmd", "true",
                            "--max-workers", "2"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--redis", r.stderr)

    @unittest.skipUnless(has_worker_command(), "the tessera binary has no `worker` subcommand yet")
    def test_real_workers(self):
        srv = self.serve()
        env = dict(os.environ)
        w1 = subprocess.Popen([harness.BIN, "worker", "--redis", self.redis.url, "--threads", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        w2 = subprocess.Popen([harness.BIN, "worker", "--redis", self.redis.url, "--threads", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.procs += [w1, w2]
        doc = wait_for(lambda: (lambda d: d if len(d["workers"]) == 2 else None)(
            self.workers(srv)), 10)
        self.assertIsNotNone(doc, "two workers never showed up")
        by_pid = {w["pid"]: w for w in doc["workers"]}
        self.assertEqual(set(by_pid), {w1.pid, w2.pid})
        self.assertEqual(by_pid[w2.pid]["threads"], 2)
        self.assertEqual(by_pid[w2.pid]["backends"], ["cpu"])
        self.assertEqual(by_pid[w2.pid]["host"], socket.gethostname())
        self.assertGreater(by_pid[w2.pid]["cores"], 0)
        self.assertEqual(by_pid[w1.pid]["state"], "running")
        # A job through the fleet counts tiles on the workers.
        status, img, _ = srv.upload(os.path.join(harness.DATA, "chelsea.png"))
        self.assertEqual(status, 201, img)
        status, job, _ = srv.json("POST", "/api/v1/jobs",
                                  {"images": [img["id"]], "pipeline": "gaussian-blur:sigma=2"})
        self.assertEqual(status, 201, job)
        done = srv.wait_job(job["id"], timeout=60)
        self.assertEqual(done["state"], "succeeded", done)
        self.assertTrue(wait_for(lambda: sum(w.get("tiles_done", 0) for w in
                                             self.workers(srv)["workers"]) >= 1, 6))
        # SIGTERM: a clean leave, gone at once; kill -9: lost, then dropped.
        w1.terminate()
        w1.wait(20)
        ids = {w["pid"]: w["id"] for w in doc["workers"]}
        self.assertTrue(wait_for(lambda: self.state_of(srv, ids[w1.pid]) == "absent", 6))
        w2.kill()
        w2.wait()
        self.assertTrue(wait_for(lambda: self.state_of(srv, ids[w2.pid]) == "lost", 12))
        self.assertTrue(wait_for(lambda: self.state_of(srv, ids[w2.pid]) == "absent",
                                 GRACE_S + 6))


def run(cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=30)


def netns_usable(ip):
    name = "tsr-probe-%d" % os.getpid()
    if run([ip, "netns", "add", name], check=False).returncode:
        return False
    run([ip, "netns", "del", name], check=False)
    return True


NETNS_CLIENT = r"""
import http.client, json, sys, time
port, token, image, pipeline, out = sys.argv[1:6]
def call(method, path, body=None, ctype=None):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    h = {"Authorization": "Bearer " + token}
    if ctype:
        h["Content-Type"] = ctype
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data
def wait_workers(n):
    deadline = time.time() + 20
    while time.time() < deadline:
        doc = json.loads(call("GET", "/api/v1/workers")[1])
        if len([w for w in doc["workers"] if w["state"] == "running"]) >= n:
            return doc
        time.sleep(0.25)
    raise SystemExit("workers did not register: %r" % doc)
before = wait_workers(2)
with open(image, "rb") as f:
    st, data = call("POST", "/api/v1/images?name=in.png", f.read(), "application/octet-stream")
assert st == 201, (st, data)
img = json.loads(data)["id"]
st, data = call("POST", "/api/v1/jobs", json.dumps({"images": [img], "pipeline": pipeline}),
                "application/json")
assert st == 201, (st, data)
job = json.loads(data)["id"]
deadline = time.time() + 120
while time.time() < deadline:
    doc = json.loads(call("GET", "/api/v1/jobs/" + job)[1])
    if doc["state"] in ("succeeded", "failed", "cancelled"):
        break
    time.sleep(0.2)
assert doc["state"] == "succeeded", doc
st, data = call("GET", "/api/v1/jobs/%s/result" % job)
assert st == 200, st
with open(out, "wb") as f:
    f.write(data)
deadline = time.time() + 15  # a heartbeat (2 s) and a monitor poll (2 s) later
while time.time() < deadline:
    after = json.loads(call("GET", "/api/v1/workers")[1])
    if all(w["tiles_done"] > 0 for w in after["workers"]):
        break
    time.sleep(0.5)
print(json.dumps({"before": before, "after": after, "tiles_total": doc["tiles_total"]}))
"""


class NetnsFleetTest(unittest.TestCase):
    """Coordinator and Redis in one network namespace, two workers in two
    others joined to it by veth pairs: the workers reach only Redis."""

    def test_workers_in_other_namespaces(self):
        if os.geteuid() != 0:
            self.skipTest("needs root for network namespaces (ip netns)")
        ip, redis_server = tools.find("ip"), tools.find("redis-server")
        if not netns_usable(ip):
            self.skipTest("`ip netns` is not available here")
        if not has_worker_command():
            self.skipTest("the tessera binary has no `worker` subcommand yet")
        tag = "%x" % random.randint(0x1000, 0xffff)
        coord, ns1, ns2 = "tsr-c-" + tag, "tsr-w1-" + tag, "tsr-w2-" + tag
        a, b = random.randint(0, 250), random.randint(0, 250)
        procs, logs, tmp = [], [], tempfile.mkdtemp(prefix="tessera-netns-")
        try:
            for ns in (coord, ns1, ns2):
                run([ip, "netns", "add", ns])
                run([ip, "-n", ns, "link", "set", "lo", "up"])
            # veth pairs created inside the coordinator namespace, one end moved out.
            for i, ns in ((1, ns1), (2, ns2)):
                net = "10.%d.%d" % (a, (b + i) % 256)
                run([ip, "-n", coord, "link", "add", "vc%d" % i, "type", "veth", "peer", "name",
                     "vw%d" % i])
                run([ip, "-n", coord, "link", "set", "vw%d" % i, "netns", ns])
                run([ip, "-n", coord, "addr", "add", net + ".1/24", "dev", "vc%d" % i])
                run([ip, "-n", ns, "addr", "add", net + ".2/24", "dev", "vw%d" % i])
                run([ip, "-n", coord, "link", "set", "vc%d" % i, "up"])
                run([ip, "-n", ns, "link", "set", "vw%d" % i, "up"])
            port = random.randint(20000, 60000)
            redis = subprocess.Popen(
                [ip, "netns", "exec", coord, redis_server, "--port", str(port), "--bind", "0.0.0.0",
                 "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", tmp],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(redis)
            time.sleep(0.5)
            data = os.path.join(tmp, "data")
            serve_log = open(os.path.join(tmp, "serve.log"), "w")
            logs.append(serve_log)
            env = dict(os.environ, TESSERA_ADMIN_TOKEN=harness.ADMIN_TOKEN)
            serve = subprocess.Popen(
                [ip, "netns", "exec", coord, harness.BIN, "serve", "--listen", "127.0.0.1:0",
                 "--data", data, "--redis", "redis://127.0.0.1:%d" % port, "--local-workers",
                 "0", "--tile", "64", *harness.db_args(data, socket=True)],
                stdout=subprocess.PIPE, stderr=serve_log, text=True, env=env)
            procs.append(serve)
            http_port = None
            deadline = time.time() + 20
            while time.time() < deadline and http_port is None:
                line = serve.stdout.readline()
                if not line:
                    break
                if "listening on http://" in line:
                    http_port = int(line.rsplit(":", 1)[1])
            self.assertIsNotNone(http_port, "the coordinator did not start")
            for i, ns in ((1, ns1), (2, ns2)):
                url = "redis://10.%d.%d.1:%d" % (a, (b + i) % 256, port)
                logs.append(open(os.path.join(tmp, "w%d.log" % i), "w"))
                procs.append(subprocess.Popen(
                    [ip, "netns", "exec", ns, harness.BIN, "worker", "--redis", url,
                     "--threads", "1"], stdout=subprocess.DEVNULL, stderr=logs[-1]))
            # The workers cannot reach the coordinator's HTTP port: only Redis.
            r = run([ip, "netns", "exec", ns1, sys.executable, "-c",
                     "import socket; socket.create_connection(('127.0.0.1', %d), 1)" % http_port],
                    check=False)
            self.assertNotEqual(r.returncode, 0)
            image = os.path.join(harness.DATA, "astronaut.png")
            out = os.path.join(tmp, "fleet.png")
            pipeline = "gaussian-blur:sigma=2|sharpen"
            r = subprocess.run([ip, "netns", "exec", coord, "/usr/bin/python3", "-c",
                                NETNS_CLIENT, str(http_port), harness.ADMIN_TOKEN, image,
                                pipeline, out], capture_output=True, text=True, timeout=180)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            report = json.loads(r.stdout.strip().splitlines()[-1])
            after = [w for w in report["after"]["workers"] if w["state"] == "running"]
            self.assertEqual(len(after), 2, report)
            for w in after:  # both namespaces computed tiles
                self.assertGreater(w["tiles_done"], 0, report)
            local = os.path.join(tmp, "local.png")
            p = run([harness.BIN, "process", "-p", pipeline, image, "-o", local, "--tile", "64"])
            self.assertEqual(p.returncode, 0)
            try:
                import cv2
                import numpy
                self.assertTrue(numpy.array_equal(cv2.imread(out, cv2.IMREAD_UNCHANGED),
                                                  cv2.imread(local, cv2.IMREAD_UNCHANGED)))
            except ImportError:
                with open(out, "rb") as f1, open(local, "rb") as f2:
                    self.assertEqual(f1.read(), f2.read())
        finally:
            for p in reversed(procs):
                if p.poll() is None:
                    p.kill()
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        pass
                if p.stdout:
                    p.stdout.close()
            for f in logs:
                f.close()
            for ns in (coord, ns1, ns2):
                run([ip, "netns", "del", ns], check=False)
            shutil.rmtree(tmp, ignore_errors=True)


class DeployManifestsTest(unittest.TestCase):
    """deploy/k8s parses and agrees with the protocol's names."""

    def test_manifests(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("python3-yaml is not installed")
        folder = os.path.join(harness.ROOT, "deploy", "k8s")
        with open(os.path.join(folder, "kustomization.yaml")) as f:
            kust = yaml.safe_load(f)
        docs = {}
        for name in kust["resources"]:
            with open(os.path.join(folder, name)) as f:
                for d in yaml.safe_load_all(f):
                    if d:
                        docs[(d["kind"], d["metadata"]["name"])] = d
        so = docs[("ScaledObject", "tessera-worker")]
        trig = so["spec"]["triggers"][0]
        self.assertEqual(trig["type"], "redis-streams")
        self.assertEqual(trig["metadata"]["stream"], "tessera:default:tasks")
        self.assertEqual(trig["metadata"]["consumerGroup"], "workers")
        self.assertIn("pendingEntriesCount", trig["metadata"])
        self.assertEqual(so["spec"]["scaleTargetRef"]["name"], "tessera-worker")
        worker = docs[("Deployment", "tessera-worker")]["spec"]["template"]["spec"]
        self.assertEqual(worker["containers"][0]["args"][:2], ["worker", "--redis"])
        self.assertNotIn("volumes", worker)  # workers need Redis and nothing else
        coord = docs[("Deployment", "tessera-coordinator")]["spec"]["template"]["spec"]
        args = coord["containers"][0]["args"]
        self.assertEqual(args[0], "serve")
        self.assertIn("--redis", args)
        redis = docs[("StatefulSet", "tessera-redis")]["spec"]["template"]["spec"]
        rargs = redis["containers"][0]["args"]
        self.assertEqual(rargs[rargs.index("--appendonly") + 1], "yes")
        self.assertTrue(os.path.exists(os.path.join(folder, "tessera-secrets.env.example")))

    def test_object_store_overlay(self):
        """deploy/k8s-object-store adds --store and --s3-endpoint to the
        coordinator and to the workers from a Secret that holds what the S3
        client reads, and a KEDA trigger on the images stream. It sits
        beside deploy/k8s, not inside it: kustomize refuses an overlay
        inside its own base."""
        import yaml
        folder = os.path.join(harness.ROOT, "deploy", "k8s-object-store")
        with open(os.path.join(folder, "kustomization.yaml")) as f:
            kust = yaml.safe_load(f)
        self.assertEqual(kust["resources"], ["../k8s"])
        secret = kust["secretGenerator"][0]
        patches = {(p["target"]["kind"], p["target"]["name"]): p["path"] for p in kust["patches"]}

        def ops_of(kind, name):
            with open(os.path.join(folder, patches[(kind, name)])) as f:
                return yaml.safe_load(f)

        for name in ("tessera-coordinator", "tessera-worker"):
            ops = ops_of("Deployment", name)
            args = [op["value"] for op in ops if op["path"].endswith("/args/-")]
            self.assertEqual(args, ["--store", "$(TESSERA_STORE)", "--s3-endpoint",
                                    "$(TESSERA_S3_ENDPOINT)"], name)
            env_from = [op["value"] for op in ops if op["path"].endswith("/envFrom")][0]
            self.assertEqual(env_from[0]["secretRef"]["name"], secret["name"])
        trig = [op["value"] for op in ops_of("ScaledObject", "tessera-worker")
                if op["path"] == "/spec/triggers/-"]
        self.assertEqual(trig[0]["type"], "redis-streams")
        self.assertEqual(trig[0]["metadata"]["stream"], "tessera:default:images")
        self.assertEqual(trig[0]["metadata"]["consumerGroup"], "workers")
        with open(os.path.join(folder, secret["envs"][0] + ".example")) as f:
            keys = {line.split("=")[0] for line in f if "=" in line and not line.startswith("#")}
        self.assertEqual(keys, {"TESSERA_STORE", "TESSERA_S3_ENDPOINT", "AWS_REGION",
                                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})
        # the optional data-key component gives both the same --data-key
        comp = os.path.join(folder, "data-key")
        with open(os.path.join(comp, "kustomization.yaml")) as f:
            ckust = yaml.safe_load(f)
        self.assertEqual(ckust["kind"], "Component")
        for p in ckust["patches"]:
            with open(os.path.join(comp, p["path"])) as f:
                ops = yaml.safe_load(f)
            args = [op["value"] for op in ops if op["path"].endswith("/args/-")]
            self.assertEqual(args, ["--data-key", "/run/tessera-key/data.key"], p["path"])
        # the flags exist on serve and on worker
        for cmd in ("serve", "worker"):
            r = subprocess.run([harness.BIN, cmd, "--help"], capture_output=True, text=True)
            for flag in ("--store", "--s3-endpoint", "--data-key"):
                self.assertIn(flag, r.stdout + r.stderr, cmd)

if __name__ == "__main__":
    unittest.main()
