#!/usr/bin/python3
"""A throw-away PostgreSQL 15 cluster for tests: initdb into a temp folder,
`postgres` on a free loopback port (trust authentication, fsync off), one
fresh database per caller, removed with its folder at close.

PostgreSQL refuses to run as root: when the tests run as root (CI does), the
cluster's programs run as the `postgres` account the Debian package creates,
and the folder is handed to it. The programs come from `tools` (tests/tools.py):
/usr/lib/postgresql/15/bin, checked by their version banners.

    cluster = pgcluster.Cluster().start()
    url = cluster.create_db()   # postgresql://tessera@127.0.0.1:PORT/tessera_1
    cluster.close()

As a program it runs a command with TSR_TEST_PG_URL set to a fresh database
(and TSR_TEST_PG_ADMIN to the cluster's maintenance database), which is how
meson runs the C tests of the PostgreSQL layer:

    tests/pg/pgcluster.py -- build-test/tests/unit/service/test_db
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import tools  # noqa: E402

START_TIMEOUT_S = 60
ROLE = "tessera"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.tmp = None
        self.proc = None
        self.port = None
        self.count = 0
        self.user = None  # (uid, gid) to run as when we are root

    def _demote(self):
        if self.user:
            os.setgid(self.user[1])
            os.setuid(self.user[0])

    def _run(self, args, **kw):
        return subprocess.run(args, preexec_fn=self._demote, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, **kw)

    def start(self):
        initdb, postgres = tools.find("initdb"), tools.find("postgres")
        self.tmp = tempfile.mkdtemp(prefix="tessera-pg-")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self.user = (pw.pw_uid, pw.pw_gid)
            os.chown(self.tmp, *self.user)
        data = os.path.join(self.tmp, "data")
        r = self._run([initdb, "-D", data, "-U", ROLE, "-A", "trust", "-E", "UTF8",
                       "--locale=C", "--no-sync"])
        if r.returncode:
            self.close()
            raise RuntimeError("initdb failed: " + r.stdout + r.stderr)
        for _ in range(5):
            self.port = free_port()
            if self._launch(postgres, data):
                return self
            self.proc.kill()
            self.proc.wait()
        text = self.log_text()
        self.close()
        raise RuntimeError("postgres did not start: " + text[-2000:])

    def _launch(self, postgres, data):
        self.log = open(os.path.join(self.tmp, "postgres.log"), "a")
        if self.user:
            os.chown(self.log.name, *self.user)
        self.proc = subprocess.Popen(
            [postgres, "-D", data, "-k", self.tmp, "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            preexec_fn=self._demote, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        return self._wait_ready()

    def kill(self):
        """Stops the server at once (SIGQUIT, immediate shutdown), keeping its
        data, as a crash or a lost database host would."""
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(30)

    def restart(self):
        """Starts the server again on its data and port, after kill()."""
        if not self._launch(tools.find("postgres"), os.path.join(self.tmp, "data")):
            raise RuntimeError("postgres did not restart: " + self.log_text()[-2000:])

    def _wait_ready(self):
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                if self.sql("postgres", "SELECT 1").returncode == 0:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def log_text(self):
        try:
            with open(os.path.join(self.tmp, "postgres.log")) as f:
                return f.read()
        except OSError:
            return ""

    def url(self, db, socket=False):
        """The URL of database `db`: over TCP on 127.0.0.1, or with socket=True
        through the cluster's Unix socket (reachable from another network
        namespace)."""
        if socket:
            return "postgresql:///%s?host=%s&port=%d&user=%s" % (db, self.tmp, self.port, ROLE)
        return "postgresql://%s@127.0.0.1:%d/%s" % (ROLE, self.port, db)

    def sql(self, db, statement):
        """Runs one statement with psql in database `db`."""
        return subprocess.run([tools.find("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               "-d", self.url(db), "-c", statement],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)

    def create_db(self, name=None):
        """A fresh empty database; its URL."""
        if name is None:
            self.count += 1
            name = "tessera_%d_%d" % (os.getpid(), self.count)
        r = self.sql("postgres", 'CREATE DATABASE "%s"' % name)
        if r.returncode:
            raise RuntimeError("CREATE DATABASE %s failed: %s" % (name, r.stderr))
        return self.url(name)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # smart shutdown: SIGTERM
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def main(argv):
    if not argv or argv[0] != "--" or len(argv) < 2:
        sys.stderr.write("usage: pgcluster.py -- COMMAND [ARG]...\n")
        return 2
    cluster = Cluster().start()
    try:
        env = dict(os.environ, TSR_TEST_PG_URL=cluster.create_db(),
                   TSR_TEST_PG_ADMIN=cluster.url("postgres"))
        return subprocess.run(argv[1:], env=env).returncode
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
