#!/usr/bin/python3
"""A real S3-compatible server for tests: s3rver (npm, pinned in
tests/s3/package.json) on a loopback port with a temporary directory and one
bucket, behind a small front that does what s3rver 3.7.1 leaves out:

- it checks every request's SigV4 signature (sigv4.py; s3rver accepts any
  signature, and anonymous requests), with s3rver's default credentials
  S3RVER / S3RVER;
- it implements AbortMultipartUpload (DELETE KEY?uploadId=ID), which s3rver
  answers with 405, by removing the upload's directory from s3rver's store.

Everything else goes to s3rver unchanged. The front keeps its port across
stop/kill/restart (the data directory too), so a client's endpoint stays
valid while the store is down and comes back.

    with S3Server() as s3:            # s3.endpoint, s3.bucket, s3.directory
        ...
        s3.kill(); s3.restart()       # the store killed and restarted (same data)
        s3.pending_uploads()          # multipart uploads neither completed nor aborted
        s3.corrupt("prefix/key")      # flip a byte of an object on disk

`s3server.py --stack` (for C tests) starts this server with a fault proxy
(faultproxy.py) in front, prints one JSON line ({"endpoint": proxy URL,
"direct": front URL, "control": control URL, "bucket", "access_key",
"secret_key", "region", "directory"}, or {"error": message}) and serves
control requests until its standard input closes:

    POST /fault?kind=status&code=503&count=3   the next 3 requests answer 503
                                   (&skip=N: after letting N requests through)
    POST /fault?kind=reset&count=2[&after=body] reset the next 2 connections
    POST /fault?kind=stall&count=1&seconds=20[&after=body]  hold them
    POST /clear                                 no more faults
    GET  /stats                                 {"requests", "faults"} seen by the proxy
    GET  /uploads                               [{"id", "key"}...] pending uploads
    GET  /objects                               [key...] in the bucket (on disk)
    POST /corrupt?key=K                         flip a byte of object K on disk
    POST /kill, /stop, /restart                 the store (s3rver and front)
"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import relay  # noqa: E402
import sigv4  # noqa: E402
import tools  # noqa: E402

BUCKET = "tessera-test"
ACCESS_KEY = "S3RVER"  # s3rver's default account
SECRET_KEY = "S3RVER"
REGION = "us-east-1"
S3RVER_JS = os.path.join(HERE, "node_modules", "s3rver", "bin", "s3rver.js")
START_TIMEOUT_S = 30
UPLOADS = "._S3rver_uploads"  # s3rver's directory of pending multipart uploads
OBJECT_SUFFIX = "._S3rver_object"


# Runs s3rver's command line, and exits when its stdin (a pipe from this
# process, never written) closes: the store never outlives the test that
# started it, even when that test is killed.
NODE_WRAPPER = """
const bin = process.argv[1];
process.argv = [process.argv[0], ...process.argv.slice(1)];
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
require(bin);
"""


class Front(relay.RelayHandler):
    """Checks the signature, implements AbortMultipartUpload, forwards the rest."""

    def respond(self, method, length):
        body = self.read_body(length)
        verdict = sigv4.check(method, self.path, self.headers, body, self.server.credentials)
        if verdict:
            status, code, message = verdict
            return self.reply(status, relay.error_xml(code, message))
        path, _, query = self.path.partition("?")
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        if method == "DELETE" and "uploadId" in params:
            return self.abort_upload(path, params["uploadId"][0])
        self.forward(method, body)

    def abort_upload(self, path, upload_id):
        bucket = urllib.parse.unquote(path.lstrip("/").split("/", 1)[0])
        where = os.path.join(self.server.directory, bucket, UPLOADS, upload_id)
        if not upload_id.isalnum() or not os.path.isdir(where):
            return self.reply(404, relay.error_xml("NoSuchUpload", "The specified upload does "
                                                   "not exist."))
        shutil.rmtree(where, ignore_errors=True)
        self.reply(204)


class S3Server:
    """s3rver plus the front; see the module comment."""

    def __init__(self, bucket=BUCKET, directory=None):
        self.bucket = bucket
        self.own_dir = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="tessera-s3-")
        self.node = None  # the s3rver process
        self.front = None  # the RelayServer in front of it
        self.port = 0  # the front's port, kept across restarts
        self.endpoint = None
        self.log = os.path.join(self.directory, "s3rver.log")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self):
        if not os.path.exists(S3RVER_JS):
            raise AssertionError("s3rver is not installed in %s: run `npm install` there "
                                 "(scripts/run_tests.py does)" % HERE)
        node = tools.find("node")
        data = os.path.join(self.directory, "data")
        os.makedirs(data, exist_ok=True)
        with open(self.log, "ab") as log:
            self.node = subprocess.Popen(
                # s3rver's list continuation tokens use DES, which OpenSSL 3
                # keeps in its legacy provider (libssl3 ships it)
                [node, "--openssl-legacy-provider", "-e", NODE_WRAPPER, S3RVER_JS, "-d", data,
                 "-a", "127.0.0.1", "-p", "0", "--silent", "--no-vhost-buckets",
                 "--configure-bucket", self.bucket],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.PIPE)
        upstream = self._wait_listening()
        self.front = relay.RelayServer(self.port, Front)
        self.front.upstream_port = upstream
        self.front.directory = data
        self.front.credentials = {ACCESS_KEY: SECRET_KEY}
        self.port = self.front.port
        self.endpoint = "http://127.0.0.1:%d" % self.port
        return self

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        out = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.node.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.node.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
                for line in out.decode(errors="replace").splitlines():
                    if "listening on" in line:
                        threading.Thread(target=self._drain, daemon=True).start()
                        return int(line.rsplit(":", 1)[1])
        self.kill()
        with open(self.log, errors="replace") as f:
            raise AssertionError("s3rver did not start in %d s: %s %s" % (
                START_TIMEOUT_S, out.decode(errors="replace")[-500:], f.read()[-1500:]))

    def _drain(self):
        node = self.node
        try:
            while node and os.read(node.stdout.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass

    @property
    def data(self):
        return os.path.join(self.directory, "data")

    def stop(self):
        """Stops the store cleanly (open connections closed, no reset)."""
        self._end(signal.SIGTERM, reset=False)

    def kill(self):
        """Kills the store: s3rver gets SIGKILL, the front's connections are reset."""
        self._end(signal.SIGKILL, reset=True)

    def _end(self, sig, reset):
        if self.front:
            self.front.close(reset=reset)
            self.front = None
        if self.node:
            if self.node.poll() is None:
                self.node.send_signal(sig)
            try:
                self.node.wait(10)
            except subprocess.TimeoutExpired:
                self.node.kill()
                self.node.wait()
            self.node.stdout.close()
            self.node.stdin.close()
            self.node = None

    def restart(self):
        """Starts the store again on the same port and directory."""
        self._end(signal.SIGTERM, reset=False)
        return self.start()

    def close(self):
        self.kill()
        if self.own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def object_path(self, key):
        """Where s3rver keeps the bytes of `key` (POSIX: no name encoding)."""
        return os.path.join(self.data, self.bucket, key + OBJECT_SUFFIX)

    def objects(self):
        """Every key in the bucket, from the disk."""
        root = os.path.join(self.data, self.bucket)
        keys = []
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x != UPLOADS]
            for f in files:
                if f.endswith(OBJECT_SUFFIX):
                    keys.append(os.path.relpath(os.path.join(d, f), root)[:-len(OBJECT_SUFFIX)])
        return sorted(keys)

    def pending_uploads(self):
        """Multipart uploads neither completed nor aborted: [{"id", "key"}]."""
        root = os.path.join(self.data, self.bucket, UPLOADS)
        found = []
        for upload_id in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            try:
                with open(os.path.join(root, upload_id, "key")) as f:
                    key = f.read()
            except OSError:
                key = None
            found.append({"id": upload_id, "key": key})
        return found

    def corrupt(self, key):
        """Flips one byte in the middle of object `key` on disk (same size)."""
        path = self.object_path(key)
        with open(path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise AssertionError("cannot corrupt empty object %s" % key)
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0x5A]))


def _control_handler(s3, proxy):
    import http.server

    class Control(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def answer(self, status, value):
            body = json.dumps(value).encode()
            self.send_response_only(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.do_POST()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path, _, query = self.path.partition("?")
            q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
            try:
                self.answer(200, self.act(path, q))
            except Exception as e:  # the test reads the message
                self.answer(400, {"error": "%s: %s" % (type(e).__name__, e)})

        def act(self, path, q):
            if path == "/fault":
                return proxy.add(q["kind"], int(q.get("count", 1)), code=int(q.get("code", 500)),
                                 seconds=float(q.get("seconds", 10)), after=q.get("after"),
                                 skip=int(q.get("skip", 0)))
            actions = {
                "/clear": proxy.clear, "/stats": proxy.stats, "/uploads": s3.pending_uploads,
                "/objects": s3.objects, "/kill": s3.kill, "/stop": s3.stop,
                "/restart": lambda: s3.restart() and None,
                "/corrupt": lambda: s3.corrupt(q["key"]),
            }
            result = actions[path]()
            return {"ok": True} if result is None else result

    return Control


def stack():
    """--stack: the server, a fault proxy in front, a control port; see above."""
    import http.server
    import faultproxy
    s3 = S3Server()
    try:
        s3.start()
        proxy = faultproxy.FaultProxy(s3.port)
        control = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _control_handler(s3, proxy))
    except Exception as e:
        s3.close()
        print(json.dumps({"error": str(e)}), flush=True)
        return 1
    control.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up on SIGTERM too
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print(json.dumps({
        "endpoint": proxy.endpoint, "direct": s3.endpoint,
        "control": "http://127.0.0.1:%d" % control.server_address[1], "bucket": s3.bucket,
        "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "region": REGION,
        "directory": s3.data}), flush=True)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        proxy.close()
        s3.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--stack"]:
        sys.exit("usage: s3server.py --stack")
    sys.exit(stack())
