#!/usr/bin/env python3
"""Load figures for `tessera serve`: requests per second and latency at
several concurrencies, against a server on loopback, of "upload a small
JPEG + create a thumbnail job + wait for it to finish" (`--mode jobs`, the
default) or of one-request transforms (`--mode transform`, below).

Standard library only (threads + http.client; the transform mode's client
is RawClient, a minimal one on a socket). By default it starts its
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

`--mode transform` measures POST /api/v1/transform (image in the body,
result in the answer) at levels 1,8,32 for two scenarios with photo-like
inputs (a test photo upscaled, per-channel Gaussian noise of sigma 6 like
sensor grain, JPEG q90; made once with `tessera process` and this script
into bench/inputs/): "thumb", a 1 MP JPEG to a 256 px thumbnail, and
"resize", a 12 MP JPEG resized to 1600 px wide and sharpened, both JPEG q85
out. Latency runs from the request's first byte to the answer's last. It
also times `tessera process` on the same input, pipeline and output
settings in process (`--report`'s per-input `seconds`: decode, run,
encode, write, without the process's start-up; `--process-runs` inputs,
in `--rounds` processes alternating with the concurrency-1 requests so that
both see the same background load; output on /dev/shm so its fsync costs
what the server's does) and reports the server's overhead at concurrency
1: p50 latency over the median in-process time, minus 1. The first answer of each scenario is
compared with `tessera process`'s file byte for byte.

    python3 bench/load.py --mode transform --json t.json --markdown t.md
    python3 bench/load.py --mode transform --scenarios thumb --levels 1,8
"""
import argparse
import http.client
import json
import operator
import os
import random
import re
import shutil
import socket
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
                self.headers = r.getheaders()
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


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on one socket for the transform
    mode: the request's head and body in one send (TCP_NODELAY), the
    answer read by its Content-Length. Python's http.client costs 0.25 ms a
    request of its own (its header objects and buffered reads; measured
    against one server), which is no part of the server's overhead that
    this mode measures. Same interface as Client.request."""

    def __init__(self, host, port, token, timeout=120):
        self.host, self.port, self.timeout = host, port, timeout
        self.auth = "Bearer " + token
        self.sock, self.buf, self.headers = None, b"", []

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock, self.buf = None, b""

    def _answer(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise http.client.RemoteDisconnected("closed before the answer")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        self.headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ":" in ln]
        fields = {k.lower(): v for k, v in self.headers}
        if "content-length" not in fields:
            raise http.client.HTTPException("an answer without Content-Length")
        n = int(fields["content-length"])
        while len(self.buf) < n:
            chunk = self.sock.recv(max(1 << 16, n - len(self.buf)))
            if not chunk:
                raise http.client.RemoteDisconnected("closed in the answer's body")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, data

    def request(self, method, path, body=None, headers=None):
        body = body or b""
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: %s\r\nContent-Length: %d\r\n" % (
            method, path, self.host, self.port, self.auth, len(body))
        head += "".join("%s: %s\r\n" % kv for kv in (headers or {}).items()) + "\r\n"
        for attempt in (0, 1):  # one reconnect when the kept connection was closed
            if self.sock is None:
                self.sock = socket.create_connection((self.host, self.port), self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.sock.sendall(head.encode("latin-1") + body)
                return self._answer()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


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


def run_level(host, port, token, payload, pipeline, concurrency, args, one=None, raw=None,
              client_class=None):
    """Runs one concurrency level of `one(client)` (default: upload + job +
    wait of `payload` through `pipeline`) with a `client_class` (Client)
    each; returns its summary dict. `raw` (a list) also gets (results,
    wall seconds)."""
    one = one or (lambda client: one_request(client, payload, pipeline, args))
    lock = threading.Lock()
    started = [0]
    results = []
    deadline = time.monotonic() + args.seconds

    def worker():
        client = (client_class or Client)(host, port, token)
        while True:
            with lock:
                if started[0] >= args.requests or time.monotonic() >= deadline:
                    return
                started[0] += 1
            try:
                res = one(client)
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
    if raw is not None:
        raw.append((results, wall))
    return summarize(concurrency, results, wall)


def summarize(concurrency, results, wall):
    """The summary dict of a level's (outcome, seconds, phases) results."""
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
            "min_ms": round(min(ok) * 1000, 1),
        })
        if isinstance(phases[0], dict):  # transform: the server's Server-Timing
            for key in phases[0]:
                out[key + "_p50_ms"] = round(statistics.median(p[key] for p in phases), 2)
        else:
            for i, name in enumerate(("upload_p50_ms", "create_p50_ms", "wait_p50_ms")):
                out[name] = round(statistics.median(p[i] for p in phases) * 1000, 1)
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


def stop_server(proc, tmp, log):
    if not proc:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


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


# ---------------------------------------------------------------- transform mode

INPUTS = os.path.join(ROOT, "bench", "inputs")
NOISE_SIGMA = 6.0  # per channel, in 8-bit levels: sensor grain (bench/image_tasks.py: 3-6)
PHOTO_QUALITY = 90
OUTPUT = {"format": "jpeg", "quality": "85"}
# name -> (input file, its source in tests/data, width, height, pipeline, what)
SCENARIOS = {
    "thumb": ("load-1mp.jpg", "coffee.png", 1224, 816, "thumbnail:width=256,height=256",
              "1 MP JPEG -> 256 px thumbnail"),
    "resize": ("load-12mp.jpg", "rocket.jpg", 4240, 2832, "resize:width=1600|sharpen",
               "12 MP JPEG -> 1600 px resize + sharpen"),
}


def run_tessera(binary, *argv):
    r = subprocess.run([binary, *argv], capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit("load: tessera %s failed: %s" % (" ".join(argv), r.stderr.strip()))


def add_noise(ppm_in, ppm_out, sigma, seed=16):
    """Adds Gaussian noise of `sigma` to every byte of a binary PPM, with the
    standard library only: a 256-entry table turns uniform random bytes into
    rounded normal offsets (bytes.translate), and a clamp table adds them
    (map over operator.add), a few seconds for 12 MP."""
    with open(ppm_in, "rb") as f:
        data = f.read()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    if not m:
        raise SystemExit("load: %s is not an 8-bit binary PPM" % ppm_in)
    head, pixels = data[:m.end()], data[m.end():]
    k = int(4 * sigma)  # offsets -k..k, stored shifted by k
    normal = statistics.NormalDist(0, sigma)
    table = bytes(max(0, min(2 * k, round(normal.inv_cdf((u + 0.5) / 256)) + k))
                  for u in range(256))
    clamp = [max(0, min(255, i - k)) for i in range(256 + 2 * k)]
    rng = random.Random(seed)
    out = bytearray(head)
    step = 1 << 20
    for i in range(0, len(pixels), step):
        chunk = pixels[i:i + step]
        noise = rng.randbytes(len(chunk)).translate(table)
        out += bytes(map(clamp.__getitem__, map(operator.add, chunk, noise)))
    with open(ppm_out, "wb") as f:
        f.write(out)


def make_photo(binary, name, source, width, height):
    """bench/inputs/NAME: tests/data/SOURCE resized to width x height, with
    sensor-like noise, JPEG q90; made once (delete it to make it again)."""
    path = os.path.join(INPUTS, name)
    if os.path.exists(path):
        return path
    os.makedirs(INPUTS, exist_ok=True)
    print("load: making %s (%dx%d from %s, noise sigma %g)" % (path, width, height, source,
                                                                NOISE_SIGMA), flush=True)
    with tempfile.TemporaryDirectory(dir=INPUTS) as td:
        base, noisy, tmp = (os.path.join(td, n) for n in ("base.ppm", "noisy.ppm", "out.jpg"))
        run_tessera(binary, "process", "-p", "resize:width=%d,height=%d,interp=cubic"
                    % (width, height), os.path.join(ROOT, "tests", "data", source), "-o", base,
                    "--format", "pnm")
        add_noise(base, noisy, NOISE_SIGMA)
        run_tessera(binary, "process", "-p", "brightness:delta=0", noisy, "-o", tmp,
                    "--quality", str(PHOTO_QUALITY))
        os.replace(tmp, path)
    return path


def process_times(binary, path, pipeline, runs, threads):
    """`tessera process`'s in-process seconds (its --report) for `runs`
    copies of `path` in one process, and the output's bytes. The first run
    warms up and is left out."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=shm) as td:
        report, out = os.path.join(td, "report.json"), os.path.join(td, "out")
        argv = ["process", "-p", pipeline, *([path] * (runs + 1)), "-o", out,
                "--format", OUTPUT["format"], "--quality", OUTPUT["quality"], "--report", report]
        if threads:
            argv += ["--threads", str(threads)]
        run_tessera(binary, *argv)
        with open(report) as f:
            seconds = [r["seconds"] for r in json.load(f)["results"]][1:]
        name = os.path.splitext(os.path.basename(path))[0] + ".jpg"
        with open(os.path.join(out, name), "rb") as f:
            return seconds, f.read()


def level_one(host, port, token, photo, payload, path, pipeline, args):
    """Concurrency 1 in `args.rounds` rounds, each `tessera process` runs
    then transforms, so that a change of the machine's load (other work)
    weighs on both alike. Returns the level's summary and the in-process
    seconds."""
    rounds = max(1, args.rounds)
    part = argparse.Namespace(**vars(args))
    part.requests = max(1, args.requests // rounds)
    part.seconds = args.seconds / rounds
    raw, seconds, floor = [], [], []
    client = args.client_class(host, port, token)
    for _ in range(rounds):
        seconds += process_times(args.bin, photo, pipeline, max(1, args.process_runs // rounds),
                                 args.threads)[0]
        run_level(host, port, token, payload, pipeline, 1, part,
                  one=lambda cl: one_transform(cl, path, payload), raw=raw,
                  client_class=args.client_class)
        for _ in range(20):  # the HTTP round trip alone: GET /healthz, keep-alive
            t0 = time.monotonic()
            client.request("GET", "/healthz")
            floor.append(time.monotonic() - t0)
    results = [x for rs, _ in raw for x in rs]
    out = summarize(1, results, sum(w for _, w in raw))
    out["healthz_p50_ms"] = round(statistics.median(floor) * 1000, 2)
    return out, seconds


def server_timing(headers):
    """{"body": ms, "queue": ms, "run": ms} of a Server-Timing header."""
    timing = dict(headers).get("Server-Timing", "")
    found = dict(re.findall(r"(\w+);dur=([\d.]+)", timing))
    return {k: float(found.get(k, 0)) for k in ("body", "queue", "run")}


def one_transform(client, path, payload):
    """One transform. Returns (outcome, seconds, the server's timing in ms)."""
    t0 = time.monotonic()
    status, data = client.request("POST", path, payload,
                                  {"Content-Type": "application/octet-stream"})
    t1 = time.monotonic()
    if status in (429, 503):
        return "rejected", 0, None
    if status != 200 or not data:
        return "transform-http-%d" % status, 0, None
    timing = server_timing(client.headers)
    timing["outside"] = (t1 - t0) * 1000 - timing["run"]  # all but the run, as the client saw it
    return "ok", t1 - t0, timing


def transform_scenario(host, port, token, name, levels, args):
    """Every level of one scenario, and its in-process comparison."""
    file, source, w, h, pipeline, what = SCENARIOS[name]
    photo = make_photo(args.bin, file, source, w, h)
    with open(photo, "rb") as f:
        payload = f.read()
    seconds, expected = process_times(args.bin, photo, pipeline, 1, args.threads)
    query = urllib.parse.urlencode(dict(pipeline=pipeline, **OUTPUT))
    path = "/api/v1/transform?" + query
    client = args.client_class(host, port, token)
    status, first = client.request("POST", path, payload)
    if status != 200:
        raise SystemExit("load: %s: the server answered %d: %s" % (name, status, first[:300]))
    for _ in range(args.warmup):
        one_transform(client, path, payload)
    rows = []
    for c in levels:
        if c == 1:  # alternating with `tessera process`, so both see the same load
            r, seconds = level_one(host, port, token, photo, payload, path, pipeline, args)
        else:
            r = run_level(host, port, token, payload, pipeline, c, args,
                          one=lambda cl: one_transform(cl, path, payload),
                          client_class=args.client_class)
        r["scenario"] = name
        rows.append(r)
        print("%-6s c=%-3d %4d ok of %4d in %6.1fs  %6.1f rps  p50 %6s ms  p99 %6s ms  %s" % (
            name, c, r["ok"], r["requests"], r["wall_s"], r["rps"], r.get("p50_ms", "-"),
            r.get("p99_ms", "-"), r["errors"] or ""), flush=True)
    process_ms = statistics.median(seconds) * 1000
    one = next((r for r in rows if r["concurrency"] == 1 and "p50_ms" in r), None)
    summary = {"scenario": name, "what": what, "input": file, "input_bytes": len(payload),
               "size": "%dx%d" % (w, h), "pipeline": pipeline, "identical": first == expected,
               "process_runs": len(seconds), "process_p50_ms": round(process_ms, 1),
               "process_min_ms": round(min(seconds) * 1000, 1), "levels": rows}
    if one:
        summary["overhead_pct"] = round((one["p50_ms"] / process_ms - 1) * 100, 1)
        summary["overhead_min_pct"] = round((one["min_ms"] / (min(seconds) * 1000) - 1) * 100, 1)
        summary["outside_pct"] = round(one["outside_p50_ms"] / process_ms * 100, 1)
        summary["run_overhead_pct"] = round((one["run_p50_ms"] / process_ms - 1) * 100, 1)
    return summary


def transform_markdown(scenarios, note):
    lines = ["| scenario | concurrency | requests | ok | rps | p50 ms | p90 ms | p99 ms "
             "| max ms | body p50 ms | queue p50 ms | run p50 ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for sc in scenarios:
        for r in sc["levels"]:
            err = ", ".join("%s %d" % kv for kv in sorted(r["errors"].items())) or "-"
            lines.append("| %s | %d | %d | %d | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                sc["scenario"], r["concurrency"], r["requests"], r["ok"], r["rps"],
                *(("%.1f" % r[k]) if k in r else "-" for k in
                  ("p50_ms", "p90_ms", "p99_ms", "max_ms", "body_p50_ms", "queue_p50_ms",
                   "run_p50_ms")), err))
    lines += ["", "| scenario | what | input | `tessera process` p50 (min) ms | transform at c=1 "
              "p50 (min) ms | overhead p50 (min) | all but the run, p50 | server run p50 vs "
              "process | GET /healthz p50 ms | same bytes |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    pct = "%+.1f %%"
    for sc in scenarios:
        one = next((r for r in sc["levels"] if r["concurrency"] == 1 and "p50_ms" in r), None)
        if not one:
            continue
        lines.append("| %s | %s | %s, %s, %d bytes | %.1f (%.1f) | %.1f (%.1f) | %s (%s) "
                     "| %.2f ms = %.1f %% | %s | %.2f | %s |" % (
                         sc["scenario"], sc["what"], sc["input"], sc["size"], sc["input_bytes"],
                         sc["process_p50_ms"], sc["process_min_ms"], one["p50_ms"], one["min_ms"],
                         pct % sc["overhead_pct"], pct % sc["overhead_min_pct"],
                         one["outside_p50_ms"], sc["outside_pct"], pct % sc["run_overhead_pct"],
                         one["healthz_p50_ms"], "yes" if sc["identical"] else "NO"))
    return "\n".join(lines) + "\n\n" + note + "\n"


def main_transform(args, host, port, token):
    args.load_before = os.getloadavg()
    args.client_class = RawClient if args.client == "raw" else Client
    levels = [int(x) for x in (args.levels or "1,8,32").split(",") if x.strip()]
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    for n in names:
        if n not in SCENARIOS:
            raise SystemExit("load: no scenario %s (%s)" % (n, ", ".join(SCENARIOS)))
    scenarios = [transform_scenario(host, port, token, n, levels, args) for n in names]
    load = os.getloadavg()
    note = ("POST /api/v1/transform, JPEG q85 out; each level %d requests or %g s, whichever "
            "first; %d cores, loopback, client and server on the same machine, client %s; "
            "load average "
            "before the run %.2f %.2f %.2f, after %.2f %.2f %.2f. Overhead = latency at "
            "concurrency 1 over the in-process time of `tessera process` (--report seconds, %d "
            "runs, output on tmpfs, alternating with the requests in %d rounds), minus 1: of "
            "the medians, and of the minimums. \"All but the run\" = the median over requests "
            "of (latency - the server's run time, Server-Timing), and as a share of the median "
            "in-process time."
            % (args.requests, args.seconds, os.cpu_count() or 0,
               "RawClient" if args.client == "raw" else "http.client", *args.load_before, *load,
               args.process_runs, args.rounds))
    text = transform_markdown(scenarios, note)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"note": note, "scenarios": scenarios}, f, indent=1)
    print(text)
    ok = all(r["ok"] for sc in scenarios for r in sc["levels"]) and \
        all(sc["identical"] for sc in scenarios)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "src", "cli", "tessera"),
                    help="tessera binary to start (default build/src/cli/tessera)")
    ap.add_argument("--server", help="measure a running server instead (http://host:port)")
    ap.add_argument("--token", default=os.environ.get("TESSERA_TOKEN"),
                    help="token for --server (default $TESSERA_TOKEN)")
    ap.add_argument("--serve-args", default="", help="extra `tessera serve` options")
    ap.add_argument("--mode", choices=("jobs", "transform"), default="jobs",
                    help="upload + job + wait (default), or POST /api/v1/transform")
    ap.add_argument("--levels", help="concurrencies (default 1,4,16,32; transform: 1,8,32)")
    ap.add_argument("--scenarios", default="thumb,resize",
                    help="transform: thumb (1 MP -> 256 px), resize (12 MP -> 1600 px + sharpen)")
    ap.add_argument("--process-runs", type=int, default=60,
                    help="transform: timed `tessera process` runs per scenario (60)")
    ap.add_argument("--threads", type=int, default=0,
                    help="transform: --threads of the started server and of `tessera process` "
                         "(default: all cores)")
    ap.add_argument("--rounds", type=int, default=20,
                    help="transform: concurrency 1 and `tessera process` alternate in this many "
                         "rounds (20)")
    ap.add_argument("--warmup", type=int, default=3,
                    help="transform: untimed requests per scenario first (3)")
    ap.add_argument("--requests", type=int, default=200, help="requests per level (200)")
    ap.add_argument("--seconds", type=float, default=30, help="seconds per level at most (30)")
    ap.add_argument("--input", default=DEFAULT_INPUT, help="the JPEG to upload")
    ap.add_argument("--pipeline", default="thumbnail:width=128,height=128")
    ap.add_argument("--wait", choices=("events", "poll"), default="events",
                    help="wait on the event stream (default) or by polling")
    ap.add_argument("--poll-ms", type=float, default=50, help="polling interval (50)")
    ap.add_argument("--client", choices=("raw", "http.client"), default="raw",
                    help="transform mode's HTTP client: a minimal one on a socket (raw, the "
                         "default) or Python's http.client")
    ap.add_argument("--json", help="write the results as JSON here")
    ap.add_argument("--markdown", help="write the table as Markdown here")
    args = ap.parse_args()

    with open(args.input, "rb") as f:
        payload = f.read()
    levels = [int(x) for x in (args.levels or "1,4,16,32").split(",") if x.strip()]
    proc = tmp = log = None
    if args.server:
        u = urllib.parse.urlsplit(args.server if "://" in args.server else "http://" + args.server)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("load: measure a loopback server only (got %s)" % u.hostname)
        host, port, token = u.hostname, u.port or 80, args.token
        if not token:
            raise SystemExit("load: give --token or set TESSERA_TOKEN")
    else:
        extra = args.serve_args.split()
        if args.mode == "transform":  # room to queue the top level, no rate limit in the way
            extra = ["--transform-queue", "64", "--rate-limit", "0"] + \
                (["--threads", str(args.threads)] if args.threads else []) + extra
        proc, tmp, log, port = start_server(args.bin, extra)
        host, token = "127.0.0.1", TOKEN
    if args.mode == "transform":
        try:
            return main_transform(args, host, port, token)
        finally:
            stop_server(proc, tmp, log)
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
        stop_server(proc, tmp, log)
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
