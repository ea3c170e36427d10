"""A real Redis fleet for tests: redis-server on a random loopback port (AOF,
fsync always, in a temp folder), `tessera worker` processes and a
`tessera serve --redis` coordinator (tests/service/harness.py's Server).

Everything is bounded in time; stop() ends every process started here.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from contextlib import contextmanager

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "service"))
from harness import BIN, DATA, ROOT, STORE, Server, s3_store_args, tools  # noqa: E402,F401

ACL_ADMIN = ("fleet-admin", "fleet-admin-pw")  # redis-cli's user when an ACL file is given


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Redis:
    """One redis-server with AOF. kill() and start() simulate a crash/restart.
    TESSERA_TEST_REDIS_ARGS (space-separated) adds server options, for
    benchmarks of Redis settings."""

    def __init__(self, fsync="always", acl=None, unix=False):
        self.fsync = fsync  # AOF fsync: "always" (crash tests), "everysec", "no" (no AOF)
        self.unix = unix  # clients connect through a Unix socket (url); redis-cli keeps TCP
        self.dir = tempfile.mkdtemp(prefix="tessera-redis-")
        self.acl_args = []  # ACL file lines given: redis-cli signs in as ACL_ADMIN
        if acl:
            path = os.path.join(self.dir, "users.acl")
            with open(path, "w") as f:
                f.write("user %s on >%s ~* &* +@all\n" % ACL_ADMIN + acl)
            self.acl_args = ["--aclfile", path]
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        server = tools.find("redis-server")
        tools.find("redis-cli")  # its own message, not the loop's "did not start"
        self.log = open(os.path.join(self.dir, "redis.log"), "a")
        self.proc = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no" if self.fsync == "no" else "yes", "--appendfsync", self.fsync, "--dir", self.dir,
             "--protected-mode", "no", *self.acl_args,
             *(["--unixsocket", self.socket, "--unixsocketperm", "700"] if self.unix else []), *os.environ.get("TESSERA_TEST_REDIS_ARGS", "").split()], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.cli("PING").strip() == "PONG":
                    return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def socket(self):
        return os.path.join(self.dir, "redis.sock")

    @property
    def url(self):
        return "unix://" + self.socket if self.unix else "redis://127.0.0.1:%d" % self.port

    def cli(self, *args):
        auth = ["--user", ACL_ADMIN[0], "--pass", ACL_ADMIN[1], "--no-auth-warning"]
        r = subprocess.run([tools.find("redis-cli"), "-p", str(self.port),
                            *(auth if self.acl_args else []), *args],
                           capture_output=True, text=True, timeout=10)
        return r.stdout

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """One `tessera worker` process."""

    def __init__(self, redis_url, *args, env=None, log_dir=None):
        self.args = [BIN, "worker", "--redis", redis_url, *args]
        self.env = dict(os.environ, **(env or {}))
        self.log_path = os.path.join(log_dir or tempfile.gettempdir(),
                                     "worker-%d-%f.log" % (os.getpid(), time.time()))
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def restart(self):
        self.stop(kill=True)
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, kill=False, timeout=20):
        if self.alive():
            if kill:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
            else:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode


def coordinator(redis, *args, data=None, env=None):
    """A `tessera serve --redis` with no local workers (unless args say so)."""
    extra = ["--redis", redis.url]
    if "--local-workers" not in args:
        extra += ["--local-workers", "0"]
    if data:
        extra += ["--data", data]  # the last --data wins: survives a restart
    return Server(*extra, *args, env=env)


def restore_lost_tail(redis, snapshot, mark_key):
    """Kills Redis and starts it again from the AOF copied into `snapshot`:
    every write since the copy is lost (the tail an everysec AOF loses), and
    the coordinator's send mark is set far above anything it sent, so the
    mark cannot reveal the loss (the case where the INCR reply never came,
    or new sends lifted the mark before the reader looked). Only the audit
    of tasks in flight can find it."""
    redis.kill()
    aof = os.path.join(redis.dir, "appendonlydir")
    shutil.rmtree(aof)
    shutil.copytree(snapshot, aof)
    with open(os.path.join(aof, "appendonly.aof.manifest")) as f:
        incr = [line.split()[1] for line in f if "type i" in line][-1]
    with open(os.path.join(aof, incr), "ab") as f:
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$7\r\n9999999\r\n"
                % (len(mark_key), mark_key.encode()))
    redis.start()
    redis.cli("CONFIG", "SET", "auto-aof-rewrite-percentage", "0")


def shared_store(tmp):
    """The store arguments and environment a coordinator and its workers
    share: a folder under `tmp` (files pass) or the suite's S3 bucket under
    a prefix of its own (TESSERA_TEST_STORE=s3)."""
    if STORE == "s3":
        return s3_store_args(os.path.join(tmp, "shared"))
    return ["--store", "file:" + os.path.join(tmp, "shared-blobs")], {}


@contextmanager
def supervised(workers):
    """Restarts crashed workers while the block runs, as a process manager
    would (workers: the list, read each round, so later additions count)."""
    stop = threading.Event()

    def supervise():
        while not stop.is_set():
            for w in workers:
                if not w.alive():
                    w.restart()
            time.sleep(0.2)

    sup = threading.Thread(target=supervise)
    sup.start()
    try:
        yield
    finally:
        stop.set()
        sup.join()


class FleetCase(unittest.TestCase):
    """A test with its own redis-server (make_redis), a temp folder, and
    lists of the workers and coordinators it starts, all stopped after it.
    Without redis-server and redis-cli it fails with tests/tools.py's message."""

    TMP_PREFIX = "tessera-fleet-"

    def make_redis(self):
        return Redis()

    def setUp(self):
        tools.find("redis-server")
        tools.find("redis-cli")
        self.tmp = tempfile.mkdtemp(prefix=self.TMP_PREFIX)
        self.redis = self.make_redis()
        self.workers = []
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            try:
                s.stop()
            except Exception:
                pass
        for w in self.workers:
            w.stop(kill=True)
        self.redis.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
