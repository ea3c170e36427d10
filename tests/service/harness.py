"""Starts a real `tessera serve` on a random loopback port for service tests.

TESSERA_BIN points at the binary (default build/src/cli/tessera under the
repository root). Each server gets a fresh data directory in a temp folder
and the admin token ADMIN_TOKEN. The external programs the service and
fleet tests run (redis-server, openssl, curl, ip) come from `tools`
(tests/tools.py): found at their Debian paths, checked by their banners.
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import balancer  # noqa: E402
import tools  # noqa: E402,F401
BIN = os.environ.get("TESSERA_BIN", os.path.join(ROOT, "build", "src", "cli", "tessera"))
if not os.path.isabs(BIN):
    BIN = os.path.join(ROOT, BIN)
DATA = os.path.join(ROOT, "tests", "data")
ADMIN_TOKEN = "5e" * 32

# TESSERA_TEST_STORE=s3 runs every server of the suite on an S3 blob store: one
# s3rver (tests/s3/s3server.py, SigV4 checked) for the whole process, and a
# prefix per data folder, so a server restarted on the same data folder finds
# its objects again. scripts/run_tests.py runs the service suite both ways.
STORE = os.environ.get("TESSERA_TEST_STORE", "files")
_s3 = None


def s3_store_args(data):
    """The serve arguments and environment of an S3 store for data folder `data`."""
    global _s3
    sys.path.insert(0, os.path.join(ROOT, "tests", "s3"))
    import s3server  # noqa: E402
    if _s3 is None:
        _s3 = s3server.S3Server().start()
        import atexit
        atexit.register(_s3.close)
    prefix = "svc-" + uuid.uuid5(uuid.NAMESPACE_URL, os.path.realpath(data)).hex[:16]
    env = {"AWS_ACCESS_KEY_ID": s3server.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": s3server.SECRET_KEY,
           "AWS_REGION": s3server.REGION}
    return ["--store", "s3://%s/%s" % (_s3.bucket, prefix), "--s3-endpoint", _s3.endpoint], env


# TESSERA_TEST_DB=postgresql runs every server of the suite with its metadata in
# PostgreSQL: one throw-away cluster (tests/pg/pgcluster.py) for the whole
# process, and a database per data folder, created at its first use, so a server
# restarted on the same data folder finds its rows again. The default (sqlite)
# is each folder's own tessera.db. scripts/run_tests.py runs the suite both ways.
DB = os.environ.get("TESSERA_TEST_DB", "sqlite")
_pg = None
_pg_dbs = {}


def db_args(data, socket=False):
    """The --db arguments for a command on data folder `data`: none on SQLite,
    `--db postgresql://...` (its own database) in the PostgreSQL pass; with
    socket=True through the cluster's Unix socket (for a network namespace)."""
    global _pg
    if DB != "postgresql":
        return []
    key = os.path.realpath(data)
    if key not in _pg_dbs:
        sys.path.insert(0, os.path.join(ROOT, "tests", "pg"))
        import pgcluster  # noqa: E402
        if _pg is None:
            _pg = pgcluster.Cluster().start()
            import atexit
            atexit.register(_pg.close)
        name = "svc_" + uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:16]
        _pg.create_db(name)
        _pg_dbs[key] = name
    return ["--db", _pg.url(_pg_dbs[key], socket)]


DB_COMMANDS = ("serve", "user", "token", "backup", "verify", "data", "restore")


def with_db(args):
    """A tessera command line with the --db of its --data folder added (in the
    PostgreSQL pass, for the commands that open a data folder's store)."""
    args = list(args)
    if DB != "postgresql" or "--db" in args or not args or args[0] not in DB_COMMANDS:
        return args
    data = [a for i, a in enumerate(args) if i and args[i - 1] == "--data"]
    return args + db_args(data[-1]) if data else args


def query(data, sql, params=()):
    """Runs `sql` (with `?` parameters) on the metadata of data folder `data`,
    whichever the pass keeps it in (its server stopped, for SQLite); returns
    the rows (on PostgreSQL every value as text)."""
    if DB != "postgresql":
        import sqlite3
        db = sqlite3.connect(os.path.join(data, "tessera.db"))
        try:
            rows = db.execute(sql, params).fetchall()
            db.commit()
            return rows
        finally:
            db.close()

    def literal(v):
        if v is None:
            return "NULL"
        if isinstance(v, (int, float)):
            return repr(v)
        return "'" + str(v).replace("'", "''") + "'"
    parts = sql.split("?")
    text = parts[0] + "".join(literal(v) + rest for v, rest in zip(params, parts[1:]))
    r = subprocess.run([tools.find("psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v",
                        "ON_ERROR_STOP=1", "-d", db_args(data)[1], "-c", text],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode:
        raise AssertionError("psql: " + r.stderr)
    return [tuple(line.split("\t")) for line in r.stdout.splitlines()]


# TESSERA_TEST_HA=N (with the S3 store and PostgreSQL) runs every server of
# the suite as N coordinators behind HAProxy (tests/balancer.py): one data
# folder each, the same database and blob store, the test talking to
# HAProxy's port as a client would, so each request may reach any of them.
HA = int(os.environ.get("TESSERA_TEST_HA", "0") or 0)
if HA and (DB != "postgresql" or STORE != "s3"):
    raise SystemExit("TESSERA_TEST_HA needs TESSERA_TEST_DB=postgresql and TESSERA_TEST_STORE=s3")


def one_coordinator_only(why):
    """Skips a test in the load-balanced pass of the suite: it looks at one
    process (its signals, log, /metrics, data folder) or at a limit that is
    per process (`why`); the other passes run it."""
    import unittest
    return unittest.skipIf(HA > 1, "one coordinator only: " + why)


def sqlite_only(why):
    """Skips a test in the PostgreSQL pass of the suite: it looks at the SQLite
    file or needs what only SQLite metadata has (`why`); the SQLite pass runs it."""
    import unittest
    return unittest.skipIf(DB == "postgresql", "SQLite metadata only: " + why)


def files_store_only(why):
    """Skips a test in the S3 pass of the suite: it looks at blob files on disk
    (`why`); the files pass runs it."""
    import unittest
    return unittest.skipIf(STORE == "s3", "files store only: " + why)


def data_at(argv):
    """The index of the data folder a serve command line serves (the last --data)."""
    return max(j for j, a in enumerate(argv) if j and argv[j - 1] == "--data")


def coordinator_argv(argv, i):
    """The command line of coordinator `i` of a server: the first serves the
    test's data folder; the others (the load-balanced pass) a folder of
    their own beside it (lock, temp files), all on the same database and
    blob store, which the first one's folder names."""
    if i == 0:
        return argv
    argv = list(argv)
    at = data_at(argv)
    argv[at] = "%s.coord%d" % (argv[at].rstrip("/"), i)
    return argv


def share_keycheck(first, other):
    """Copies the first coordinator's keycheck record (an encrypted store's
    identity, no secret) into another's data folder, as docs/serve.md
    tells operators of several coordinators on an encrypted store to."""
    src = os.path.join(first[data_at(first)], "keycheck")
    if os.path.exists(src):
        os.makedirs(other[data_at(other)], exist_ok=True)
        shutil.copyfile(src, os.path.join(other[data_at(other)], "keycheck"))


class _Coordinator:
    """One `tessera serve` process of a Server, on a port of its own."""

    def __init__(self, tmp, argv, env):
        self.log = tempfile.NamedTemporaryFile("w+", dir=tmp, prefix="server-", suffix=".log",
                                               delete=False)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     text=True)
        self.stdout = []
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.stdout.append(line)
            if "listening on http://" in line or "listening on https://" in line:
                self.port = int(line.rsplit(":", 1)[1])
                break
        if self.port is None:
            try:  # a refusal exits: read its whole log before stop() drops it
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            text = "".join(self.stdout) + self.log_text()
            self.stop()
            raise RuntimeError("server did not start: " + text)

    def log_text(self):
        if self.log.closed:
            return ""
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


class Server:
    """One server process. Call stop() (tearDown) to end it."""

    def __init__(self, *args, data=None, env=None):
        # data: an existing data folder to serve (kept at stop); default a fresh one.
        # env: extra environment variables (e.g. AWS_ACCESS_KEY_ID for --store s3://...).
        self.tmp = tempfile.mkdtemp(prefix="tessera-service-")
        self.data = data or os.path.join(self.tmp, "data")
        env = dict(os.environ, TESSERA_ADMIN_TOKEN=ADMIN_TOKEN, **(env or {}))
        store = []
        served = [a for i, a in enumerate(args) if i and args[i - 1] == "--data"]
        if STORE == "s3" and "--store" not in args:
            # the prefix follows the folder served: the last --data wins
            store, s3_env = s3_store_args(served[-1] if served else self.data)
            env.update(s3_env)
        if "--db" not in args:
            store += db_args(served[-1] if served else self.data)
        argv = [BIN, "serve", "--listen", "127.0.0.1:0", "--data", self.data, *store, *args]
        self.coordinators, self.balancer = [], None
        try:
            for i in range(max(HA, 1)):
                if i:
                    share_keycheck(coordinator_argv(argv, 0), coordinator_argv(argv, i))
                self.coordinators.append(_Coordinator(self.tmp, coordinator_argv(argv, i), env))
            if HA:
                self.balancer = balancer.Balancer(
                    self.tmp, [c.port for c in self.coordinators]).start()
        except BaseException:
            self.stop()
            raise
        first = self.coordinators[0]
        self.proc, self.log, self.stdout = first.proc, first.log, first.stdout
        self.own_port = first.port  # the first coordinator's own, past the balancer
        self.port = self.balancer.port if HA else first.port

    def log_text(self):
        """The log (stderr) of the server; in the load-balanced pass all its
        coordinators' lines, in the order of their timestamps."""
        if len(self.coordinators) == 1:
            return self.coordinators[0].log_text()
        lines = []
        for n, c in enumerate(self.coordinators):
            ts = ""
            for i, line in enumerate(c.log_text().splitlines(True)):
                m = re.match(r'\{"ts":"([^"]+)"', line)
                ts = m.group(1) if m else ts  # a line without one follows the last
                lines.append((ts, n, i, line))
        return "".join(line for *_, line in sorted(lines))

    def metric(self, name):
        """The value of the /metrics sample `name` (with its labels, if
        any), summed over the coordinators; None when none shows it."""
        total = None
        for c in self.coordinators:
            conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=60)
            try:
                conn.request("GET", "/metrics")
                text = conn.getresponse().read().decode()
            finally:
                conn.close()
            m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
            if m:
                total = (total or 0) + float(m.group(1))
        return total

    def stop(self):
        if self.balancer:
            self.balancer.stop()
        for c in self.coordinators:
            c.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, token=ADMIN_TOKEN):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c = self.conn()
        try:
            try:
                c.request(method, path, body=body, headers=h)
            except (BrokenPipeError, ConnectionResetError):
                # answered before the whole body was read (413 over a quota or
                # a cap, from the headers alone): the server closed, and the
                # answer waits in the socket
                pass
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None, token=ADMIN_TOKEN):
        """Returns (status, decoded JSON body or None, headers)."""
        status, h, data = self.request(method, path, body, headers, token)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        return status, doc, h

    def upload(self, path, token=ADMIN_TOKEN, name=None):
        with open(path, "rb") as f:
            data = f.read()
        q = "?name=" + (name or os.path.basename(path))
        return self.json("POST", "/api/v1/images" + q, data,
                         {"Content-Type": "application/octet-stream"}, token)

    def upload_bytes(self, data, name, token=ADMIN_TOKEN):
        return self.json("POST", "/api/v1/images?name=" + name, data,
                         {"Content-Type": "application/octet-stream"}, token)

    def make_user(self, name, role):
        status, doc, _ = self.json("POST", "/api/v1/users", {"name": name, "role": role})
        assert status == 201, (status, doc)
        return doc["token"]

    def wait_job(self, job_id, token=ADMIN_TOKEN, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, doc, _ = self.json("GET", "/api/v1/jobs/" + job_id, token=token)
            if HA and status in (502, 503) and doc is None:
                time.sleep(0.2)  # HAProxy's: no coordinator ready (e.g. the store is down)
                continue
            assert status == 200, (status, doc)
            if doc["state"] in ("succeeded", "failed", "cancelled"):
                return doc
            time.sleep(0.1)
        raise AssertionError("job %s did not finish" % job_id)


def multipart(files):
    """Encodes [(field, filename, bytes)] as multipart/form-data."""
    boundary = uuid.uuid4().hex
    out = []
    for field, filename, data in files:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n"
                    % (boundary, field, filename)).encode())
        out.append(data)
        out.append(b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def read_file(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def unique_bytes(data, n):
    """Another file of the same image: uploads are de-duplicated by content, so
    a test that needs the same picture stored twice varies its bytes. A PNG
    with a pHYs chunk keeps its size (the pixels-per-unit value becomes n + 1,
    CRC recomputed); anything else gets n + 1 zero bytes after its end, which
    the trailing-data rule allows."""
    import struct
    import zlib
    i = 8
    while data[:8] == b"\x89PNG\r\n\x1a\n" and i < len(data):
        length, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"pHYs":
            body = struct.pack(">II", n + 1, n + 1) + data[i + 16:i + 17]
            crc = struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
            return data[:i + 8] + body + crc + data[i + 12 + length:]
        i += 12 + length
    return data + b"\0" * (n + 1)
