#!/usr/bin/env python3
"""Load figure for `tessera serve`: requests per second and latency of
"upload a small JPEG + create a thumbnail job + wait for it to finish" at
several concurrencies, against a server on loopback.

Standard library only (threads + http.client). By default it starts its
own server (`--bin`, a fresh data folder in a temp dir, port 0); give
`--server URL --token T` to measure one that is already running.

    python3 bench/load.py                                # levels 1,4,16,32
    python3 bench/load.py --levels 1,8 --requests 100 --wait poll
    python3 bench/load.py --markdown out.md --json out.json

One request = POST /api/v1/images (raw body) + POST /api/v1/jobs
(thumbnail) + waiting for the job: by its event stream (`--wait events`,
what `tessera submit` does) or by polling GET /api/v1/jobs/{id} every
`--poll-ms` (`--wait poll`). Each level runs `--requests` requests or
`--seconds` seconds, whichever comes first; latency is measured per
request from the upload's start to the job's end, and rps is completed
requests over the level's wall time. 429/503 answers are counted as
rejected (not retried) and left out of the latency figures.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_INPUT = os.path.join(ROOT, "tests", "data", "rocket.jpg")  # 640x427, 110 KB
TOKEN = "10ad" * 16


def percentile(values, p):
    """The p-th percentile (nearest rank) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Client:
    """One worker's keep-alive connection (the event stream uses its own)."""

    def __init__(self, host, port, token, timeout=120):
        self.host, self.port, self.timeout = host, port, timeout
        self.auth = {"Authorization": "Bearer " + token}
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        h = dict(self.auth, **(headers or {}))
        for attempt in (0, 1):  # one reconnect when the kept connection was closed
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def wait_events(self, job):
        """Reads the job's event stream until `done`; returns the final state."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            c.request("GET", "/api/v1/jobs/%s/events" % job, headers=self.auth)
            r = c.getresponse()
            if r.status != 200:
                r.read()
                return "http-%d" % r.status
            event, state = None, None
            while True:
                line = r.readline()
                if not line:
                    return state or "stream-ended"
                line = line.rstrip(b"\r\n")
                if line.startswith(b"event:"):
                    event = line[6:].strip()
                elif line.startswith(b"data:") and event == b"done":
                    return json.loads(line[5:])["state"]
        finally:
            c.close()

    def wait_poll(self, job, interval):
        while True:
            status, data = self.request("GET", "/api/v1/jobs/" + job)
            if status != 200:
                return "http-%d" % status
            state = json.loads(data)["state"]
            if state in ("succeeded", "failed", "cancelled"):
                return state
            time.sleep(interval)


def one_request(client, payload, pipeline, args):
    """Upload + job + wait. Returns (outcome, seconds, phase seconds)."""
    t0 = time.monotonic()
    status, data = client.request("POST", "/api/v1/images?name=small.jpg", payload,
                                  {"Content-Type": "image/jpeg"})
    if status in (429, 503):
        return "rejected", 0, None
    if status != 201:
        return "upload-http-%d" % status, 0, None
    image = json.loads(data)["id"]
    t1 = time.monotonic()
    body = json.dumps({"images": [image], "pipeline": pipeline,
                       "output": {"format": "jpeg", "quality": 85}}).encode()
    status, data = client.request("POST", "/api/v1/jobs", body,
                                  {"Content-Type": "application/json"})
    if status in (429, 503):
        return "rejected", 0, None
    if status != 201:
        return "job-http-%d" % status, 0, None
    job = json.loads(data)["id"]
    t2 = time.monotonic()
    if args.wait == "events":
        state = client.wait_events(job)
    else:
        state = client.wait_poll(job, args.poll_ms / 1000.0)
    t3 = time.monotonic()
    if state != "succeeded":
        return "job-" + state, 0, None
    return "ok", t3 - t0, (t1 - t0, t2 - t1, t3 - t2)


def run_level(host, port, token, payload, pipeline, concurrency, args):
    """Runs one concurrency level; returns its summary dict."""
    lock = threading.Lock()
    started = [0]
    results = []
    deadline = time.monotonic() + args.seconds

    def worker():
        client = Client(host, port, token)
        while True:
            with lock:
                if started[0] >= args.requests or time.monotonic() >= deadline:
                    return
                started[0] += 1
            try:
                res = one_request(client, payload, pipeline, args)
            except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
                res = ("error-" + type(e).__name__, 0, None)
            with lock:
                results.append(res)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    ok = [r[1] for r in results if r[0] == "ok"]
    phases = [r[2] for r in results if r[0] == "ok"]
    errors = {}
    for r in results:
        if r[0] != "ok":
            errors[r[0]] = errors.get(r[0], 0) + 1
    out = {"concurrency": concurrency, "requests": len(results), "ok": len(ok),
           "errors": errors, "wall_s": round(wall, 3),
           "rps": round(len(ok) / wall, 2) if wall > 0 else 0}
    if ok:
        out.update({
            "p50_ms": round(percentile(ok, 50) * 1000, 1),
            "p90_ms": round(percentile(ok, 90) * 1000, 1),
            "p99_ms": round(percentile(ok, 99) * 1000, 1),
            "max_ms": round(max(ok) * 1000, 1),
            "upload_p50_ms": round(statistics.median(p[0] for p in phases) * 1000, 1),
            "create_p50_ms": round(statistics.median(p[1] for p in phases) * 1000, 1),
            "wait_p50_ms": round(statistics.median(p[2] for p in phases) * 1000, 1),
        })
    return out


def start_server(binary, extra):
    tmp = tempfile.mkdtemp(prefix="tessera-load-")
    log = open(os.path.join(tmp, "server.log"), "w")
    env = dict(os.environ, TESSERA_ADMIN_TOKEN=TOKEN)
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data",
                             os.path.join(tmp, "data"), *extra],
                            stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on http://" in line:
            return proc, tmp, log, int(line.rsplit(":", 1)[1])
    proc.kill()
    proc.wait()
    log.close()
    raise SystemExit("load: the server did not start; see " + log.name)


def markdown(rows, args, note):
    lines = ["| concurrency | requests | ok | rps | p50 ms | p90 ms | p99 ms | max ms "
             "| upload p50 | create p50 | wait p50 | errors |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        err = ", ".join("%s %d" % kv for kv in sorted(r["errors"].items())) or "-"
        lines.append("| %d | %d | %d | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["concurrency"], r["requests"], r["ok"], r["rps"],
            *(("%.0f" % r[k]) if k in r else "-" for k in
              ("p50_ms", "p90_ms", "p99_ms", "max_ms", "upload_p50_ms", "create_p50_ms",
               "wait_p50_ms")), err))
    return "\n".join(lines) + "\n\n" + note + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "src", "cli", "tessera"),
                    help="tessera binary to start (default build/src/cli/tessera)")
    ap.add_argument("--server", help="measure a running server instead (http://host:port)")
    ap.add_argument("--token", default=os.environ.get("TESSERA_TOKEN"),
                    help="token for --server (default $TESSERA_TOKEN)")
    ap.add_argument("--serve-args", default="", help="extra `tessera serve` options")
    ap.add_argument("--levels", default="1,4,16,32", help="concurrencies (default 1,4,16,32)")
    ap.add_argument("--requests", type=int, default=200, help="requests per level (200)")
    ap.add_argument("--seconds", type=float, default=30, help="seconds per level at most (30)")
    ap.add_argument("--input", default=DEFAULT_INPUT, help="the JPEG to upload")
    ap.add_argument("--pipeline", default="thumbnail:width=128,height=128")
    ap.add_argument("--wait", choices=("events", "poll"), default="events",
                    help="wait on the event stream (default) or by polling")
    ap.add_argument("--poll-ms", type=float, default=50, help="polling interval (50)")
    ap.add_argument("--json", help="write the results as JSON here")
    ap.add_argument("--markdown", help="write the table as Markdown here")
    args = ap.parse_args()

    with open(args.input, "rb") as f:
        payload = f.read()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    proc = tmp = log = None
    if args.server:
        u = urllib.parse.urlsplit(args.server if "://" in args.server else "http://" + args.server)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("load: measure a loopback server only (got %s)" % u.hostname)
        host, port, token = u.hostname, u.port or 80, args.token
        if not token:
            raise SystemExit("load: give --token or set TESSERA_TOKEN")
    else:
        proc, tmp, log, port = start_server(args.bin, args.serve_args.split())
        host, token = "127.0.0.1", TOKEN
    rows = []
    try:
        # one warm-up request: first-use costs (page cache, SQLite) stay out of level 1
        one_request(Client(host, port, token), payload, args.pipeline, args)
        for c in levels:
            r = run_level(host, port, token, payload, args.pipeline, c, args)
            rows.append(r)
            print("c=%-3d %4d ok of %4d in %6.1fs  %6.1f rps  p50 %6s ms  p99 %6s ms  %s" % (
                c, r["ok"], r["requests"], r["wall_s"], r["rps"], r.get("p50_ms", "-"),
                r.get("p99_ms", "-"), r["errors"] or ""), flush=True)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            shutil.rmtree(tmp, ignore_errors=True)
    note = ("Input %s (%d bytes), pipeline `%s`, JPEG q85 output, wait by %s; "
            "%d cores, loopback, client and server on the same machine."
            % (os.path.basename(args.input), len(payload), args.pipeline,
               "event stream" if args.wait == "events" else "polling every %g ms" % args.poll_ms,
               os.cpu_count() or 0))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(rows, args, note))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"note": note, "levels": rows}, f, indent=1)
    print(markdown(rows, args, note))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
