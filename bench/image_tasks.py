#!/usr/bin/python3
"""Image tasks against tile tasks and the in-process server (issue 11, point 5):
one job of N photo-like JPEGs per pipeline, run by

  in-process  `tessera serve --threads 2` (no Redis);
  image       `tessera serve --redis URL --local-workers 0 --task-kind image`
              + 2 x `tessera worker --threads 1 --image-threads 1 --store ...`;
  tile        the same with `--task-kind tile`;

on a file store shared by all processes and on an S3 store (s3rver, through
tests/s3/s3server.py's signature-checking front). Per job: images/s, the
coordinator's and the workers' CPU seconds (/proc/PID/stat), bytes through
Redis (INFO stats), and with --netns the bytes every host sent and received
when coordinator + Redis, the object store and the two workers each live in
their own network namespace behind a shaped link (1 Gbit, then 100 Mbit).

    /usr/bin/python3 bench/image_tasks.py [--images N] [--quick] [--store files|s3|both|none]
                                          [--netns] [--json FILE] [--keep]

Needs Debian's python3 with python3-opencv and python3-numpy (the batch is
made with cv2), redis-server and redis-cli, node with tests/s3/node_modules
(`cd tests/s3 && npm install`) for the S3 store, and root, ip and tc for
--netns. Every process it starts runs in its own process group and is ended
when the run ends, however it ends; every wait is bounded. See bench/README.md.
"""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    import cv2
    import numpy as np
except ImportError:  # pyenv's python3 first on PATH: Debian's has cv2 and numpy
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("image_tasks.py: needs python3-opencv and python3-numpy (Debian packages)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
S3_DIR = os.path.join(ROOT, "tests", "s3")
TOKEN = "b3" * 32  # the admin token of every server started here

PIPELINES = ["resize:width=1600|sharpen", "grayscale|gaussian-blur|canny"]  # gaussian-blur's
# defaults (sigma 0, ksize 0) mean a 5x5 kernel of sigma 1.1, as in OpenCV
OUTPUT = {"format": "jpeg", "quality": 85}
SETUPS = ["inprocess", "image", "tile"]
SETUP_LABELS = {"inprocess": "in-process", "image": "fleet, image tasks",
                "tile": "fleet, tile tasks"}
WORKERS = 2  # fleet workers, each `--threads 1 --image-threads 1`
LOCAL_THREADS = 2  # the in-process server's threads: as many as the fleet's worker threads
SERVE_LIMITS = ["--pixel-budget", "1000000000000", "--quota-bytes", "0", "--quota-jobs", "0",
                "--rate-limit", "0"]  # a 200-image job is past the 1 Gpx default budget

# The batch: real photos from tests/data, cropped and resized to random sizes,
# with sensor-like noise, JPEG q90. Bump BATCH_VERSION when the recipe changes.
BATCH_VERSION = 1
SOURCES = ["hubble_deep_field.jpg", "chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]
ASPECTS = [(4, 3), (3, 2), (16, 9)]
PORTRAIT_SHARE = 0.25
NOISE_SIGMA = (3.0, 6.0)
JPEG_QUALITY = 90

# Bounds on every wait (seconds).
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15
WORKERS_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 120
IDLE_WINDOW_S = 2.0  # Redis bytes/s with nothing to do, measured before each job

# --netns: one namespace per host on one bridge. Names start with NS_PREFIX,
# so a run that was killed is cleaned up by the next one.
NS_PREFIX = "tsrb-"
NS_BRIDGE = NS_PREFIX + "br"
NS_BRIDGE_IP = "10.77.0.254"
NS_HOSTS = {"coord": "10.77.0.1", "store": "10.77.0.2", "w1": "10.77.0.11", "w2": "10.77.0.12"}
NS_REDIS_PORT = 6379
NS_API_PORT = 8080
TBF_LATENCY = "50ms"


class BenchError(Exception):
    """A setup that could not run; the message says why (with log lines)."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def tail(path, lines=15):
    """The last LINES lines of the file at PATH, indented, for error messages."""
    try:
        with open(path, errors="replace") as f:
            text = f.read().splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join("    " + t for t in text)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- the batch


def batch_spec(quick):
    """The recipe of a batch; a cached batch with another recipe is remade."""
    return {"version": BATCH_VERSION, "mp": [2, 6] if quick else [2, 24],
            "sources": SOURCES, "aspects": ASPECTS, "noise_sigma": NOISE_SIGMA,
            "quality": JPEG_QUALITY}


def plan_image(spec, seed, index, photos):
    """Size, source, crop and noise of image INDEX, drawn from its own seeded
    generator (so image i is the same whatever the batch size)."""
    rng = np.random.default_rng([seed, index])
    mp = rng.uniform(*spec["mp"]) * 1e6
    aw, ah = spec["aspects"][rng.integers(len(spec["aspects"]))]
    if rng.random() < PORTRAIT_SHARE:
        aw, ah = ah, aw
    width = int(round((mp * aw / ah) ** 0.5)) // 2 * 2
    height = int(round(width * ah / aw)) // 2 * 2
    source = spec["sources"][rng.integers(len(spec["sources"]))]
    sh, sw = photos[source].shape[:2]
    # the largest crop of the source with the target's aspect, then 60-100% of it
    cw = min(sw, sh * aw / ah) * rng.uniform(0.6, 1.0)
    ch = cw * ah / aw
    x = rng.uniform(0, sw - cw)
    y = rng.uniform(0, sh - ch)
    return {"index": index, "width": width, "height": height, "source": source,
            "crop": [x, y, cw, ch], "flip": bool(rng.random() < 0.5),
            "sigma": [float(s) for s in rng.uniform(*spec["noise_sigma"], size=3)],
            "noise_seed": int(rng.integers(1 << 62))}


def render_image(plan, photos):
    """The JPEG bytes of one planned image: crop, cubic resize, optional
    mirror, per-channel Gaussian noise (sensor-like grain, so the file
    compresses like a photo, not like a smooth upscale), q90."""
    x, y, cw, ch = plan["crop"]
    src = photos[plan["source"]]
    # the crop as an affine map onto the output, resampled once
    sx, sy = plan["width"] / cw, plan["height"] / ch
    m = np.float32([[sx, 0, -x * sx], [0, sy, -y * sy]])
    img = cv2.warpAffine(src, m, (plan["width"], plan["height"]), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REFLECT_101)
    if plan["flip"]:
        img = cv2.flip(img, 1)
    rng = np.random.default_rng(plan["noise_seed"])
    out = img.astype(np.float32)
    for c, sigma in enumerate(plan["sigma"]):
        out[:, :, c] += rng.standard_normal(out.shape[:2], dtype=np.float32) * sigma
    np.clip(out, 0, 255, out=out)
    ok, buf = cv2.imencode(".jpg", out.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise BenchError("cv2.imencode failed for image %d" % plan["index"])
    return buf.tobytes()


def make_batch(folder, count, spec, seed, needed=None):
    """The paths and plans of images 0..NEEDED-1 of a batch of COUNT images in
    FOLDER, made where missing (manifest.json keeps the recipe and each
    image's plan; a file is written under a temporary name, then renamed)."""
    needed = count if needed is None else min(needed, count)
    os.makedirs(folder, exist_ok=True)
    manifest_path = os.path.join(folder, "manifest.json")
    manifest = {}
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        pass
    spec = json.loads(json.dumps(spec))  # tuples as lists, as the manifest has them
    if manifest.get("spec") != spec or manifest.get("seed") != seed:
        manifest = {"spec": spec, "seed": seed, "images": {}}
    photos = {}  # read when the first image must be made
    images, made, t0 = [], 0, time.time()
    for i in range(needed):
        path = os.path.join(folder, "img-%04d.jpg" % i)
        entry = manifest["images"].get(str(i))
        if not (entry and os.path.exists(path) and os.path.getsize(path) == entry["bytes"]):
            if not photos:
                photos.update((name, cv2.imread(os.path.join(DATA, name), cv2.IMREAD_COLOR))
                              for name in spec["sources"])
            plan = plan_image(spec, seed, i, photos)
            data = render_image(plan, photos)
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
            entry = dict(plan, bytes=len(data))
            manifest["images"][str(i)] = entry
            made += 1
            if made % 10 == 0:
                log(f"  made {made} images ({time.time() - t0:.0f} s)")
                save_json(manifest_path, manifest)
        images.append(dict(entry, path=path))
    if made:
        save_json(manifest_path, manifest)
        log(f"batch: made {made} of {needed} images in {folder} ({time.time() - t0:.0f} s)")
    return images


def save_json(path, doc):
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def batch_summary(images):
    """Count, megapixels (min, mean, max) and mean file size of a batch."""
    mps = [im["width"] * im["height"] / 1e6 for im in images]
    return {"images": len(images), "mp_min": round(min(mps), 1),
            "mp_mean": round(sum(mps) / len(mps), 1), "mp_max": round(max(mps), 1),
            "mb_mean": round(sum(im["bytes"] for im in images) / len(images) / 1e6, 2),
            "mp_total": round(sum(mps), 1)}


# ---------------------------------------------------------------- processes


class Procs:
    """Every process the run starts, each the leader of its own process group
    (so ending the group ends its children too: s3rver under its front).
    With NS, the command runs in that network namespace (`ip netns exec`
    execs it, so the pid is the command's)."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.running = []  # [(name, Popen)], in start order

    def start(self, name, argv, env=None, ns=None, stdout=None, stdin=None):
        """Starts ARGV; its stderr (and stdout unless STDOUT is given) goes to
        LOG_DIR/NAME.log. Returns the Popen."""
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        log_path = os.path.join(self.log_dir, name + ".log")
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(argv, env=env, stdin=stdin or subprocess.DEVNULL,
                                    stdout=stdout or logf, stderr=logf, start_new_session=True)
        proc.log_path = log_path
        proc.name = name
        self.running.append((name, proc))
        return proc

    def stop(self, proc):
        """Ends PROC's process group: SIGTERM, then SIGKILL after STOP_TIMEOUT_S."""
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
            if not group_members(proc.pid):
                break
        for pid in group_members(proc.pid):  # a child that ignored the leader's end
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for f in (proc.stdin, proc.stdout):
            if f:
                f.close()
        self.running = [(n, p) for n, p in self.running if p is not proc]

    def stop_all(self):
        """Ends every process still running, the last started first."""
        for _, proc in reversed(list(self.running)):
            self.stop(proc)


def proc_stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def group_members(pgid):
    """Pids of the live processes in process group PGID."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat_fields(entry)
            if fields and int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_by_group():
    """{process group: user + system CPU seconds of its live processes}."""
    totals = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat_fields(entry)
            if fields:
                pgid = int(fields[2])
                totals[pgid] = totals.get(pgid, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return totals


def wait_line(proc, needle, timeout):
    """Reads PROC's stdout (a pipe) until a line containing NEEDLE; returns
    that line, or raises BenchError with the process's log. The rest of the
    output is copied to its log by a thread."""
    deadline = time.monotonic() + timeout
    seen = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk
            for line in seen.decode(errors="replace").splitlines():
                if needle in line:
                    with open(proc.log_path, "ab") as f:
                        f.write(seen)
                    threading.Thread(target=drain, args=(proc,), daemon=True).start()
                    return line
        elif proc.poll() is not None:
            break
    raise BenchError(f"{proc.name} did not print {needle!r} in {timeout} s "
                     f"(exit {proc.poll()}): {seen.decode(errors='replace')[-300:]}\n"
                     + tail(proc.log_path))


def drain(proc):
    """Copies PROC's remaining stdout to its log until it closes."""
    try:
        with open(proc.log_path, "ab") as f:
            for chunk in iter(lambda: os.read(proc.stdout.fileno(), 4096), b""):
                f.write(chunk)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------- services


def start_redis(procs, work, bind, port, ns=None):
    """A transient redis-server (no AOF, no snapshots, as docs/deploy.md runs
    it for throughput). Returns (proc, redis-cli argv prefix). With NS,
    redis-cli runs in that namespace too, on 127.0.0.1 (its INFO traffic
    never crosses the host's link)."""
    folder = tempfile.mkdtemp(prefix="redis-", dir=work)
    proc = procs.start("redis", ["redis-server", "--port", str(port), "--bind", *bind.split(),
                                 "--save", "", "--appendonly", "no", "--protected-mode", "no",
                                 "--dir", folder], ns=ns)
    cli = (["ip", "netns", "exec", ns] if ns else []) + ["redis-cli", "-h", "127.0.0.1",
                                                         "-p", str(port)]
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        r = subprocess.run(cli + ["PING"], capture_output=True, text=True, timeout=10)
        if r.stdout.strip() == "PONG":
            return proc, cli
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise BenchError("redis-server did not start:\n" + tail(proc.log_path))


def redis_bytes(cli):
    """total_net_input_bytes + total_net_output_bytes of the Redis behind CLI."""
    r = subprocess.run(cli + ["INFO", "stats"], capture_output=True, text=True, timeout=10)
    stats = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
    try:
        return int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])
    except KeyError:
        raise BenchError("redis-cli INFO stats failed: " + (r.stderr or r.stdout)[-300:])


def start_s3(procs, work, host, ns=None):
    """The S3 store: this script in --s3-child mode (tests/s3/s3server.py's
    front and s3rver) on HOST. Returns (proc, store dict with endpoint,
    bucket, env)."""
    if not os.path.exists(os.path.join(S3_DIR, "node_modules", "s3rver")):
        raise BenchError(f"s3rver is not installed: run `cd {S3_DIR} && npm install`")
    folder = tempfile.mkdtemp(prefix="s3-", dir=work)
    proc = procs.start("s3", [sys.executable, os.path.abspath(__file__), "--s3-child", host,
                              "--s3-dir", folder], ns=ns, stdout=subprocess.PIPE,
                       stdin=subprocess.PIPE)
    line = wait_line(proc, '"endpoint"', START_TIMEOUT_S + 15)
    info = json.loads(line)
    env = {"AWS_ACCESS_KEY_ID": info["access_key"], "AWS_SECRET_ACCESS_KEY": info["secret_key"],
           "AWS_REGION": info["region"]}
    return proc, {"kind": "s3", "url": "s3://%s/bench" % info["bucket"],
                  "endpoint": info["endpoint"], "env": env}


def s3_child(host, folder):
    """--s3-child: serves tests/s3/s3server.py's S3Server on HOST (the front
    bound there; s3rver itself stays on the namespace's loopback), prints one
    JSON line with the endpoint and keys, and runs until stdin closes."""
    sys.path.insert(0, S3_DIR)
    import relay
    import s3server
    plain_bind = relay.RelayServer.server_bind

    def bind_host(server):
        server.server_address = (host, server.server_address[1])
        plain_bind(server)

    relay.RelayServer.server_bind = bind_host
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s3 = s3server.S3Server(directory=folder)
    try:
        s3.start()
        print(json.dumps({"endpoint": "http://%s:%d" % (host, s3.port), "bucket": s3.bucket,
                          "access_key": s3server.ACCESS_KEY, "secret_key": s3server.SECRET_KEY,
                          "region": s3server.REGION}), flush=True)
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        s3.close()


def store_args(store):
    """`--store ...` (and `--s3-endpoint`) for serve and worker."""
    args = ["--store", store["url"]]
    if store["kind"] == "s3":
        args += ["--s3-endpoint", store["endpoint"]]
    return args


def process_env(store):
    env = dict(os.environ, TESSERA_ADMIN_TOKEN=TOKEN)
    env.update(store.get("env", {}))
    return env


def start_serve(ctx, setup, store, data, listen, redis_url=None, ns=None):
    """`tessera serve` for SETUP on STORE with the data folder DATA; returns
    (proc, Api)."""
    argv = [ctx["bin"], "serve", "--listen", listen, "--data", data, *store_args(store),
            *SERVE_LIMITS]
    if setup == "inprocess":
        argv += ["--threads", str(LOCAL_THREADS)]
    else:
        argv += ["--redis", redis_url, "--local-workers", "0", "--task-kind", setup]
    proc = ctx["procs"].start("serve-" + setup, argv, env=process_env(store), ns=ns,
                              stdout=subprocess.PIPE)
    line = wait_line(proc, "listening on http://", START_TIMEOUT_S)
    host, port = line.rsplit("/", 1)[1].rsplit(":", 1)
    return proc, Api(host, int(port))


def start_workers(ctx, store, redis_url, namespaces):
    """WORKERS `tessera worker` processes, one per namespace (or all here)."""
    procs = []
    for i, ns in enumerate(namespaces):
        argv = [ctx["bin"], "worker", "--redis", redis_url, *store_args(store),
                "--threads", "1", "--image-threads", "1"]
        procs.append(ctx["procs"].start("worker%d" % (i + 1), argv, env=process_env(store),
                                        ns=ns))
    return procs


# ---------------------------------------------------------------- the REST API


class Api:
    """A keep-alive client of one server's REST API, counting the bytes it
    sends and receives (request and status lines, headers, bodies), so the
    benchmark's own traffic through the coordinator's link is known."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = None
        self.bytes = 0

    def request(self, method, path, body=None, ctype=None):
        """Returns (status, body bytes); reconnects once on a dropped connection."""
        headers = {"Authorization": "Bearer " + TOKEN}
        if ctype:
            headers["Content-Type"] = ctype
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=HTTP_TIMEOUT_S)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            self.bytes += (len(method) + len(path) + 64 + sum(len(k) + len(v) + 4
                                                              for k, v in headers.items())
                           + (len(body) if body else 0) + 17 + len(data)
                           + sum(len(k) + len(v) + 4 for k, v in resp.getheaders()))
            return resp.status, data

    def json(self, method, path, doc=None):
        body = json.dumps(doc).encode() if doc is not None else None
        status, data = self.request(method, path, body, "application/json" if body else None)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, {"raw": data[:300].decode(errors="replace")}

    def upload(self, path):
        """Uploads the file at PATH; returns its image id."""
        with open(path, "rb") as f:
            data = f.read()
        name = urllib.parse.quote(os.path.basename(path))
        for _ in range(20):
            status, body = self.request("POST", "/api/v1/images?name=" + name, data, "image/jpeg")
            if status not in (429, 503):
                break
            time.sleep(1)
        if status != 201:
            raise BenchError(f"upload of {path} answered {status}: {body[:300]!r}")
        return json.loads(body)["id"]

    def workers(self):
        status, doc = self.json("GET", "/api/v1/workers")
        return doc.get("workers", []) if status == 200 and doc else []

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def wait_workers(api, count, timeout=WORKERS_TIMEOUT_S):
    """Waits until COUNT running workers that take image tasks are listed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = [w for w in api.workers() if w.get("state") == "running"
                and w.get("image_threads", 0) > 0]
        if len(live) >= count:
            return
        time.sleep(0.2)
    raise BenchError(f"fewer than {count} workers joined in {timeout} s")


def parse_ts(text):
    """Seconds since the epoch of an API timestamp (2026-12-06T22:58:03.879Z)."""
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def run_job(api, ids, pipeline, timeout, poll_s):
    """Submits one job of images IDS and polls it until it ends or TIMEOUT
    seconds pass (then cancels it). Returns (final job document or None,
    client wall seconds from submit to seen ended, state)."""
    t0 = time.monotonic()
    status, job = api.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": pipeline,
                                                    "output": OUTPUT})
    if status != 201:
        raise BenchError(f"job submit answered {status}: {job}")
    while time.monotonic() - t0 < timeout:
        time.sleep(poll_s)
        status, doc = api.json("GET", "/api/v1/jobs/" + job["id"])
        if status == 200 and doc["state"] in ("succeeded", "failed", "cancelled"):
            return doc, time.monotonic() - t0, doc["state"]
    api.json("DELETE", "/api/v1/jobs/" + job["id"])
    return job, time.monotonic() - t0, "timeout"


def result_digests(api, job, positions):
    """{position: sha256 of the result} of the job's items at POSITIONS."""
    out = {}
    for pos in positions:
        item = job["items"][pos]
        if item["state"] != "succeeded":
            continue
        status, data = api.request("GET", "/api/v1/jobs/%s/result/%s" % (job["id"], item["image"]))
        out[pos] = hashlib.sha256(data).hexdigest() if status == 200 else "HTTP %d" % status
    return out


# ---------------------------------------------------------------- counters


def snapshot(roles, redis_cli, links):
    """CPU seconds per role ({role: [procs]}), Redis bytes and per-host link
    bytes (a callable, or None), at one moment."""
    cpu = cpu_by_group()
    return {"t": time.monotonic(),
            "cpu": {role: sum(cpu.get(p.pid, 0.0) for p in ps) for role, ps in roles.items()},
            "redis": redis_bytes(redis_cli) if redis_cli else None,
            "links": links() if links else None}


def delta(before, after):
    """AFTER - BEFORE of two snapshots."""
    out = {"cpu": {r: round(after["cpu"][r] - before["cpu"][r], 3) for r in after["cpu"]},
           "redis": None, "links": None}
    if after["redis"] is not None:
        out["redis"] = after["redis"] - before["redis"]
    if after["links"] is not None:
        out["links"] = {h: {k: after["links"][h][k] - before["links"][h][k]
                            for k in ("rx", "tx")} for h in after["links"]}
    return out


# ---------------------------------------------------------------- one setup


def run_setup(ctx, env, setup, images):
    """Starts SETUP (Redis, coordinator and workers as it needs) on the
    environment ENV (store, data folder, addresses, namespaces), uploads the
    batch if ENV has no ids yet, warms up, runs one job per pipeline, and
    stops it all. Returns one record per pipeline."""
    procs = ctx["procs"]
    started = []
    redis_cli = api = None
    roles = {"coordinator": [], "workers": [], "redis": [], "store": env.get("store_procs", [])}
    try:
        redis_url = None
        if setup != "inprocess":
            port = env.get("redis_port") or free_port()
            rproc, redis_cli = start_redis(procs, ctx["work"], env["redis_bind"], port,
                                           env.get("coord_ns"))
            started.append(rproc)
            roles["redis"] = [rproc]
            redis_url = "redis://%s:%d" % (env["redis_host"], port)
        serve, api = start_serve(ctx, setup, env["store"], env["data"], env["listen"],
                                 redis_url, env.get("coord_ns"))
        started.append(serve)
        roles["coordinator"] = [serve]
        if setup != "inprocess":
            worker_url = "redis://%s:%d" % (env["worker_redis_host"], port)
            workers = start_workers(ctx, env["store"], worker_url, env["worker_ns"])
            started += workers
            roles["workers"] = workers
            wait_workers(api, WORKERS)
        if env.get("ids") is None:
            t0 = time.monotonic()
            env["ids"] = [api.upload(im["path"]) for im in images]
            log(f"  uploaded {len(images)} images in {time.monotonic() - t0:.1f} s")
        warm, _, state = run_job(api, env["ids"][:2], PIPELINES[0], ctx["job_timeout"],
                                 ctx["poll_s"])
        if state != "succeeded":
            raise BenchError(f"warm-up job {state}: {job_errors(warm)}\n"
                             + tail(serve.log_path))
        api.json("DELETE", "/api/v1/jobs/%s?purge=true" % warm["id"])
        return [measure_job(ctx, env, setup, pipeline, api, roles, redis_cli)
                for pipeline in ctx["pipelines"]]
    finally:
        if api:
            api.close()
        for proc in reversed(started):
            procs.stop(proc)


def job_errors(job):
    """The distinct error messages of a job and its items (at most 3)."""
    if not job:
        return ""
    errs = [job.get("error")] + [it.get("error") for it in job.get("items", [])]
    return "; ".join(sorted({e for e in errs if e})[:3])


def measure_job(ctx, env, setup, pipeline, api, roles, redis_cli):
    """One timed job of the whole batch with its counters; then the sampled
    results' digests, and the job purged (its results deleted)."""
    redis_idle = None
    if redis_cli:
        b0 = redis_bytes(redis_cli)
        time.sleep(IDLE_WINDOW_S)
        redis_idle = (redis_bytes(redis_cli) - b0) / IDLE_WINDOW_S
    links = env.get("links")
    api_bytes0 = api.bytes
    load0 = os.getloadavg()[0]
    before = snapshot(roles, redis_cli, links)
    job, wall, state = run_job(api, env["ids"], pipeline, ctx["job_timeout"], ctx["poll_s"])
    after = snapshot(roles, redis_cli, links)
    api_bytes = api.bytes - api_bytes0
    d = delta(before, after)
    n = len(env["ids"])
    rec = {"store": env["store"]["kind"], "where": env["where"], "rate": env.get("rate"),
           "round": env.get("round", 1), "setup": setup, "pipeline": pipeline, "images": n,
           "state": state,
           "wall_s": round(wall, 3), "cpu_s": d["cpu"], "redis_bytes": d["redis"],
           "redis_idle_bytes_per_s": round(redis_idle, 1) if redis_idle is not None else None,
           "links": d["links"], "api_bytes": api_bytes,
           "load": [round(load0, 2), round(os.getloadavg()[0], 2)]}
    if state == "succeeded" or job.get("finished"):
        rec["server_s"] = round(parse_ts(job["finished"]) - parse_ts(job["created"]), 3)
    seconds = rec.get("server_s") or wall
    rec["images_per_s"] = round(n / seconds, 3) if state == "succeeded" else None
    rec["job_cpu_seconds"] = job.get("cpu_seconds")
    items = job.get("items", [])
    rec["failed_items"] = sum(1 for it in items if it["state"] != "succeeded")
    rec["errors"] = job_errors(job)
    rec["result_bytes"] = [it.get("bytes") for it in items]
    rec["digests"] = result_digests(api, job, ctx["verify"](len(items)))
    api.json("DELETE", "/api/v1/jobs/%s?purge=true" % job["id"])
    log(f"  {SETUP_LABELS[setup]:19} {pipeline:40} {state:9} {seconds:7.1f} s "
        f"{rec['images_per_s'] or 0:6.2f} img/s  cpu {d['cpu']}  redis {d['redis']} B  "
        f"load {rec['load'][1]:.1f}")
    return rec


def run_setups(ctx, env, setups, images, label):
    """run_setup for each of SETUPS, --rounds times over; a setup that
    cannot run becomes an "error" record (with the reason and log lines)
    and the next one runs."""
    records = []
    for rnd in range(1, ctx["rounds"] + 1):
        env["round"] = rnd
        for setup in setups:
            suffix = f", round {rnd}:" if ctx["rounds"] > 1 else ":"
            log(f"{label}, {SETUP_LABELS[setup]}{suffix}")
            try:
                records += run_setup(ctx, env, setup, images)
            except BenchError as e:
                ctx["failed"] = True
                log(f"  failed: {e}")
                records.append({"where": env["where"], "rate": env.get("rate"), "setup": setup,
                                "store": env["store"]["kind"], "round": rnd, "state": "error",
                                "errors": str(e)[:2000]})
    return records


# ---------------------------------------------------------------- loopback runs


def bench_store(ctx, kind, images):
    """Every setup on one store kind (files or s3), all processes on this host
    over loopback; the batch is uploaded once and the setups share the data
    folder and the store."""
    base = tempfile.mkdtemp(prefix=kind + "-", dir=ctx["work"])
    env = {"where": "loopback", "data": os.path.join(base, "data"), "listen": "127.0.0.1:0",
           "redis_bind": "127.0.0.1", "redis_host": "127.0.0.1",
           "worker_redis_host": "127.0.0.1", "worker_ns": [None] * WORKERS, "ids": None}
    s3 = None
    try:
        if kind == "files":
            shared = os.path.join(base, "shared")
            os.makedirs(shared)
            env["store"] = {"kind": "files", "url": "file:" + shared}
        else:
            s3, env["store"] = start_s3(ctx["procs"], ctx["work"], "127.0.0.1")
            env["store_procs"] = [s3]
        return run_setups(ctx, env, ctx["setups"], images, f"{kind} store")
    finally:
        if s3:
            ctx["procs"].stop(s3)
        if not ctx["keep"]:
            shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- --netns


def sh(*argv, check=True):
    """Runs a short command (ip, tc); raises BenchError when it fails and CHECK."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and r.returncode:
        raise BenchError(" ".join(argv) + ": " + (r.stderr or r.stdout).strip())
    return r


class Netns:
    """Four hosts (coord: coordinator + Redis; store: the object store; w1,
    w2: one worker each), each a network namespace with eth0, a veth pair
    to the bridge NS_BRIDGE in this namespace (which has NS_BRIDGE_IP, for
    the benchmark's own API calls). shape() puts a token bucket on both
    ends of each pair: every host gets RATE in and RATE out."""

    def __init__(self):
        self.made = False

    @staticmethod
    def ns(host):
        return NS_PREFIX + host

    def up(self):
        if os.geteuid() != 0:
            raise BenchError("--netns needs root (network namespaces, tc)")
        for tool in ("ip", "tc"):
            if not shutil.which(tool):
                raise BenchError(f"--netns needs {tool} (Debian iproute2)")
        self.down()  # what a killed run left behind
        self.made = True
        sh("ip", "link", "add", NS_BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", NS_BRIDGE_IP + "/24", "dev", NS_BRIDGE)
        sh("ip", "link", "set", NS_BRIDGE, "up")
        for host, addr in NS_HOSTS.items():
            ns, veth = self.ns(host), NS_PREFIX + host
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", veth, "master", NS_BRIDGE, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", addr + "/24", "dev", "eth0")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def shape(self, rate):
        """Every host's link at RATE (tc syntax: 1gbit, 100mbit) both ways."""
        bits = parse_rate(rate)
        burst = max(bits // 8 // 250, 64 * 1024)  # 4 ms at the rate, at least a GSO packet
        tbf = ["root", "tbf", "rate", rate, "burst", str(burst), "latency", TBF_LATENCY]
        for host in NS_HOSTS:
            sh("ip", "netns", "exec", self.ns(host), "tc", "qdisc", "replace", "dev", "eth0",
               *tbf)
            sh("tc", "qdisc", "replace", "dev", NS_PREFIX + host, *tbf)

    def link_bytes(self):
        """{host: {"rx", "tx"}} of each host's eth0, read inside its namespace."""
        out = {}
        for host in NS_HOSTS:
            r = sh("ip", "netns", "exec", self.ns(host), "cat",
                   "/sys/class/net/eth0/statistics/rx_bytes",
                   "/sys/class/net/eth0/statistics/tx_bytes")
            rx, tx = (int(v) for v in r.stdout.split())
            out[host] = {"rx": rx, "tx": tx}
        return out

    def down(self):
        """Deletes the namespaces, the veth pairs and the bridge (whatever exists)."""
        listed = sh("ip", "netns", "list", check=False).stdout.split()
        for host in NS_HOSTS:
            if self.ns(host) in listed:
                sh("ip", "netns", "del", self.ns(host), check=False)
            if os.path.exists("/sys/class/net/" + NS_PREFIX + host):
                sh("ip", "link", "del", NS_PREFIX + host, check=False)
        if os.path.exists("/sys/class/net/" + NS_BRIDGE):
            sh("ip", "link", "del", NS_BRIDGE, check=False)
        self.made = False


def parse_rate(rate):
    """Bits per second of a tc rate such as 1gbit or 100mbit."""
    units = {"gbit": 10**9, "mbit": 10**6, "kbit": 10**3, "bit": 1}
    for unit, mult in units.items():
        if rate.endswith(unit):
            return int(float(rate[:-len(unit)]) * mult)
    raise BenchError(f"rate {rate!r}: use e.g. 1gbit or 100mbit")


def bench_netns(ctx, images):
    """The multi-host run: for each rate, every --netns-setups setup on the
    S3 store; uploads once, at the first rate."""
    net = Netns()
    base = tempfile.mkdtemp(prefix="netns-", dir=ctx["work"])
    s3 = None
    try:
        net.up()
        net.shape(ctx["netns_rates"][0])
        coord = NS_HOSTS["coord"]
        s3, store = start_s3(ctx["procs"], ctx["work"], NS_HOSTS["store"], net.ns("store"))
        env = {"where": "netns", "data": os.path.join(base, "data"),
               "listen": "%s:%d" % (coord, NS_API_PORT), "coord_ns": net.ns("coord"),
               "redis_bind": coord + " 127.0.0.1", "redis_host": "127.0.0.1",
               "redis_port": NS_REDIS_PORT, "worker_redis_host": coord,
               "worker_ns": [net.ns("w1"), net.ns("w2")], "ids": None, "store": store,
               "store_procs": [s3], "links": net.link_bytes}
        records = []
        for rate in ctx["netns_rates"]:
            net.shape(rate)
            env["rate"] = rate
            records += run_setups(ctx, env, ctx["netns_setups"], images, f"netns, links at {rate}")
        return records
    finally:
        if s3:
            ctx["procs"].stop(s3)
        ctx["procs"].stop_all()  # nothing may keep a namespace alive
        if net.made:
            net.down()
        if not ctx["keep"]:
            shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- report


def run_key(r, setup=None):
    """What identifies a run: place, rate, store, pipeline, round and setup."""
    return (r["where"], r.get("rate"), r["store"], r["pipeline"], r.get("round", 1),
            setup or r["setup"])


def add_ratios(records):
    """Adds the per-image figures to each record, and vs_inprocess (images/s
    over the in-process run's: same place, rate, store, pipeline and round)
    and cpu_vs_inprocess (the in-process run's CPU seconds per image, every
    process counted, over this run's: above 1 = less CPU than in-process)."""
    for r in records:
        if "pipeline" in r:
            r["cpu_per_image"] = round(sum(r["cpu_s"].values()) / r["images"], 4)
    index = {run_key(r): r for r in records if "pipeline" in r}
    for r in records:
        if "pipeline" not in r:
            continue
        base = index.get(run_key(r, "inprocess"))
        if base and base.get("images_per_s") and r.get("images_per_s"):
            r["vs_inprocess"] = round(r["images_per_s"] / base["images_per_s"], 3)
        if base and r["cpu_per_image"] > 0:
            r["cpu_vs_inprocess"] = round(base["cpu_per_image"] / r["cpu_per_image"], 3)
        cpu, n = r["cpu_s"], r["images"]
        r["coordinator_cpu_per_image"] = round(cpu["coordinator"] / n, 4)
        r["workers_cpu_per_image"] = round(cpu["workers"] / n, 4)
        if cpu["workers"] > 0:
            r["coordinator_over_workers"] = round(cpu["coordinator"] / cpu["workers"], 4)
        seconds = r.get("server_s") or r["wall_s"]
        r["cores_busy"] = round(sum(cpu.values()) / seconds, 2) if seconds else None
        if r["redis_bytes"] is not None:
            r["redis_bytes_per_image"] = round(r["redis_bytes"] / n, 1)
            idle = (r["redis_idle_bytes_per_s"] or 0) * seconds
            r["redis_bytes_per_image_net_of_idle"] = round(max(r["redis_bytes"] - idle, 0) / n, 1)


def check_results(records):
    """Compares every run's results with the first run of the same pipeline
    on the same batch: per-image output sizes and the sampled digests.
    Returns a list of mismatch messages (empty when all agree)."""
    first, problems = {}, []
    for r in records:
        if r.get("state") != "succeeded":
            continue
        key = (r["pipeline"], r["images"])
        ref = first.setdefault(key, r)
        if ref is r:
            continue
        where = f"{r['where']} {r.get('rate') or ''} {r['store']} {r['setup']}".replace("  ", " ")
        ref_where = f"{ref['where']} {ref['store']} {ref['setup']}"
        sizes = [i for i, (a, b) in enumerate(zip(ref["result_bytes"], r["result_bytes"]))
                 if a != b]
        if sizes:
            problems.append(f"{r['pipeline']}: {where}: {len(sizes)} results differ in size "
                            f"from {ref_where} (first at image {sizes[0]}: "
                            f"{r['result_bytes'][sizes[0]]} vs {ref['result_bytes'][sizes[0]]} B)")
        digests = [p for p in r["digests"] if str(p) in map(str, ref["digests"])
                   and r["digests"][p] != ref["digests"][p]]
        if digests:
            problems.append(f"{r['pipeline']}: {where}: sampled results {digests} differ "
                            f"(sha256) from {ref_where}")
    return problems


def label(r, rounds):
    """The setup's name, with the round when there were several."""
    return SETUP_LABELS[r["setup"]] + (f" #{r.get('round', 1)}" if rounds > 1 else "")


def fmt(v, spec=".2f", none="—"):
    return none if v is None else format(v, spec)


def mib(n):
    return fmt(n / 2**20 if n is not None else None, ".1f")


def loopback_table(records, rounds):
    """The Markdown table of the loopback runs."""
    lines = ["| store | pipeline | setup | images | s | images/s | vs in-process | "
             "coord CPU s/img | workers CPU s/img | coord / workers | all CPU s/img | "
             "CPU vs in-process | cores busy | Redis B/img (net of idle) | Redis CPU s | "
             "store CPU s | load |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        if r.get("where") != "loopback":
            continue
        if "pipeline" not in r or r["state"] != "succeeded":
            lines.append(f"| {r['store']} | `{r.get('pipeline', '')}` | {label(r, rounds)} | | | "
                         f"{r['state']} |" + " |" * 11)
            continue
        ratio = r.get("coordinator_over_workers")
        lines.append(
            f"| {r['store']} | `{r['pipeline']}` | {label(r, rounds)} | {r['images']} | "
            f"{r['server_s']:.1f} | {r['images_per_s']:.2f} | "
            f"{fmt(r.get('vs_inprocess'))} | {r['coordinator_cpu_per_image']:.3f} | "
            f"{r['workers_cpu_per_image']:.3f} | "
            f"{fmt(ratio * 100 if ratio is not None else None, '.1f')}{'%' if ratio else ''} | "
            f"{r['cpu_per_image']:.3f} | {fmt(r.get('cpu_vs_inprocess'))} | "
            f"{fmt(r.get('cores_busy'))} | {fmt(r.get('redis_bytes_per_image'), ',.0f')} "
            f"({fmt(r.get('redis_bytes_per_image_net_of_idle'), ',.0f')}) | "
            f"{r['cpu_s']['redis']:.2f} | {r['cpu_s']['store']:.2f} | "
            f"{r['load'][0]:.1f}→{r['load'][1]:.1f} |")
    return lines


def netns_table(records, rounds):
    """The Markdown table of the --netns runs: rate, throughput and MiB each
    host received / sent during the job."""
    lines = ["| link | pipeline | setup | images | s | images/s | vs in-process | "
             "coord CPU / workers | Redis B/img | coordinator rx / tx MiB | "
             "store rx / tx MiB | worker 1 rx / tx MiB | worker 2 rx / tx MiB | "
             "coordinator KiB/img (less API polling) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        if r.get("where") != "netns":
            continue
        if "pipeline" not in r or r["state"] != "succeeded":
            lines.append(f"| {r.get('rate')} | `{r.get('pipeline', '')}` | {label(r, rounds)} "
                         f"| | | {r['state']} |" + " |" * 8)
            continue
        links = r["links"]
        hosts = " | ".join(f"{mib(links[h]['rx'])} / {mib(links[h]['tx'])}"
                           for h in ("coord", "store", "w1", "w2"))
        coord = links["coord"]["rx"] + links["coord"]["tx"] - r["api_bytes"]
        ratio = r.get("coordinator_over_workers")
        lines.append(
            f"| {r['rate']} | `{r['pipeline']}` | {label(r, rounds)} | {r['images']} | "
            f"{r['server_s']:.1f} | {r['images_per_s']:.2f} | {fmt(r.get('vs_inprocess'))} | "
            f"{fmt(ratio * 100 if ratio is not None else None, '.1f')}{'%' if ratio else ''} | "
            f"{fmt(r.get('redis_bytes_per_image'), ',.0f')} | {hosts} | "
            f"{coord / r['images'] / 1024:,.1f} |")
    return lines


def markdown(records, meta, problems):
    """The whole summary: what ran, the tables, the targets, mismatches."""
    b = meta["batch"]
    rounds = meta.get("rounds", 1)
    lines = [f"Batch: {b['images']} JPEGs q{JPEG_QUALITY}, {b['mp_min']}–{b['mp_max']} MP "
             f"(mean {b['mp_mean']}, {b['mp_total']} MP in all, mean {b['mb_mean']} MB) in "
             f"`{meta['images_dir']}`; output {OUTPUT['format']} q{OUTPUT['quality']}; "
             f"in-process: `serve --threads {LOCAL_THREADS}`; fleet: {WORKERS} workers "
             f"`--threads 1 --image-threads 1`, transient Redis, default zstd 1 tile payloads, "
             f"unsealed. Seconds: the server's job time (created → finished); CPU: utime + "
             f"stime from /proc of each process group during the job; cores busy: the CPU "
             f"seconds of all of them (coordinator, workers, Redis, store) over the job's "
             f"seconds. Load: 1-minute load average before → after the job. CPU vs "
             f"in-process: the in-process run's CPU seconds per image (all processes) over "
             f"this run's, less sensitive than images/s to what else runs. "
             f"Machine: {meta['cpu']}, "
             f"{meta['cores']} cores; {meta['date']}; tessera {meta['commit']}.", ""]
    if any(r.get("where") == "loopback" for r in records):
        lines += ["### One host (loopback)", ""] + loopback_table(records, rounds) + [""]
    if any(r.get("where") == "netns" for r in records):
        nb = meta.get("netns_batch") or meta["batch"]
        lines += ["### Four hosts (network namespaces, S3 store)", "",
                  f"Batch: the first {meta.get('netns_images')} images ({nb.get('mp_min')}–"
                  f"{nb.get('mp_max')} MP, mean {nb.get('mp_mean')}, mean {nb.get('mb_mean')} "
                  "MB). coord = coordinator + "
                  "Redis; rx / tx: bytes the host's eth0 received / sent during the job; the "
                  "benchmark's own API polling goes through the coordinator's link and is "
                  "subtracted in the last column (all hosts share the same 2 cores).", ""]
        lines += netns_table(records, rounds) + [""]
    lines += targets(records)
    if problems:
        lines += ["", "**Results differ:**", ""] + ["- " + p for p in problems]
    else:
        lines += ["", "Results: every run's per-image output sizes, and the sha256 of the "
                  "sampled results, match the first run of the same pipeline."]
    return "\n".join(lines) + "\n"


def targets(records):
    """One line per image-task run against the issue's targets."""
    out = ["Targets for image tasks: images/s ≥ 0.9 × in-process, coordinator CPU < 5% of "
           "the workers', Redis < 2 KiB/image.", ""]
    for r in records:
        if r.get("setup") != "image" or r.get("state") != "succeeded":
            continue
        where = f"{r['where']}{' ' + r['rate'] if r.get('rate') else ''}, {r['store']}"
        if r.get("round", 1) > 1:
            where += f", round {r['round']}"
        checks = []
        vs = r.get("vs_inprocess")
        if vs is not None:
            checks.append(f"{vs:.2f}× in-process {'ok' if vs >= 0.9 else 'MISSED'}")
        ratio = r.get("coordinator_over_workers")
        if ratio is not None:
            checks.append(f"coord {ratio * 100:.1f}% {'ok' if ratio < 0.05 else 'MISSED'}")
        per = r.get("redis_bytes_per_image")
        if per is not None:
            checks.append(f"Redis {per:,.0f} B/img {'ok' if per < 2048 else 'MISSED'}")
        out.append(f"- {where}, `{r['pipeline']}`: " + ", ".join(checks))
    return out


def git_commit():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True)
    return r.stdout.strip() or "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---------------------------------------------------------------- main


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, help="batch size (default 200; 20 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 20 images of 2-6 MP, files store only, no --netns")
    ap.add_argument("--store", choices=["files", "s3", "both", "none"],
                    help="stores of the one-host runs (default both; files with --quick)")
    ap.add_argument("--setups", default=",".join(SETUPS),
                    help="setups of the one-host runs (default inprocess,image,tile)")
    ap.add_argument("--netns", action="store_true",
                    help="also the four-host run in network namespaces (root)")
    ap.add_argument("--netns-images", type=int, default=40,
                    help="images of the --netns run: the batch's first N (default 40)")
    ap.add_argument("--netns-rates", default="1gbit,100mbit",
                    help="link rates of the --netns run, in order (default 1gbit,100mbit)")
    ap.add_argument("--netns-setups", default="inprocess,image,tile",
                    help="setups of the --netns run (default inprocess,image,tile)")
    ap.add_argument("--images-dir", help="batch cache (default /tmp/tessera-bench-images-N)")
    ap.add_argument("--seed", type=int, default=11, help="batch seed (default 11)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "src", "cli", "tessera"),
                    help="tessera binary (default build/src/cli/tessera)")
    ap.add_argument("--job-timeout", type=float, default=1200,
                    help="seconds a job may take before it is cancelled (default 1200)")
    ap.add_argument("--poll", type=float, default=0.5,
                    help="job poll interval, s (default 0.5; each poll of a 200-image job costs "
                    "the coordinator ~1 ms of CPU, counted in its figure)")
    ap.add_argument("--verify", type=int, default=4,
                    help="results per job downloaded and compared by sha256 (default 4)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the setups this many times over, alternating (default 1)")
    ap.add_argument("--report", metavar="JSON",
                    help="only print the summary of a --json file written before")
    ap.add_argument("--json", help="write every raw figure to this file")
    ap.add_argument("--markdown", help="also write the summary to this file")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work folder (logs, data folders, stores)")
    ap.add_argument("--s3-child", help=argparse.SUPPRESS)
    ap.add_argument("--s3-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.s3_child or args.report:
        return args
    args.images = args.images or (20 if args.quick else 200)
    args.store = args.store or ("files" if args.quick else "both")
    if args.quick and args.netns:
        ap.error("--quick runs no --netns")
    for name in ("setups", "netns_setups"):
        chosen = getattr(args, name).split(",")
        if not chosen or any(s not in SETUPS for s in chosen):
            ap.error(f"--{name.replace('_', '-')}: choose from {', '.join(SETUPS)}")
        setattr(args, name, chosen)
    args.netns_rates = args.netns_rates.split(",")
    if args.images < 2 or args.netns_images < 2:
        ap.error("a batch needs at least 2 images")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    return args


def report(path):
    """--report: the summary of a --json file, recomputed (ratios, checks)."""
    with open(path) as f:
        doc = json.load(f)
    records = doc["runs"]
    add_ratios(records)
    print(markdown(records, doc["meta"], check_results(records)))
    return 0


def verify_positions(count, n):
    """COUNT positions spread over a job of N items (first, last, between)."""
    if count <= 0 or n == 0:
        return []
    if count == 1:
        return [0]
    return sorted({round(i * (n - 1) / (count - 1)) for i in range(count)})


def run_all(ctx, args, stores, images):
    """The one-host runs on each of STORES, then the --netns run. Returns the
    records; ctx["failed"] is set when a setup could not run."""
    records = []
    for kind in stores:
        try:
            records += bench_store(ctx, kind, images[:args.images])
        except BenchError as e:
            ctx["failed"] = True
            log(f"{kind} store: {e}")
            records.append({"where": "loopback", "store": kind, "setup": "inprocess",
                            "state": "error", "errors": str(e)[:2000]})
    if args.netns:
        try:
            records += bench_netns(ctx, images[:ctx["netns_images"]])
        except BenchError as e:
            ctx["failed"] = True
            log(f"--netns: {e}")
            records.append({"where": "netns", "store": "s3", "setup": "inprocess",
                            "state": "error", "errors": str(e)[:2000]})
    return records


def write_outputs(args, records, meta):
    """Prints the summary (and writes --markdown, --json). Returns the exit
    status: 1 when a run failed or results differ."""
    add_ratios(records)
    problems = check_results(records)
    md = markdown(records, meta, problems)
    print(md)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    if args.json:
        save_json(args.json, {"meta": meta, "runs": records, "mismatches": problems})
        log(f"wrote {args.json}")
    return 1 if problems or any(r.get("state") != "succeeded" for r in records) else 0


def main():
    args = parse_args()
    if args.s3_child:
        return s3_child(args.s3_child, args.s3_dir)
    if args.report:
        return report(args.report)
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        sys.exit(f"image_tasks.py: no tessera binary at {binary} (ninja -C build)")
    for tool in ("redis-server", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"image_tasks.py: {tool} not found (apt-get install redis-server)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally blocks run
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))

    folder = args.images_dir or "/tmp/tessera-bench-images-%d%s" % (
        args.images, "-quick" if args.quick else "")
    stores = {"files": ["files"], "s3": ["s3"], "both": ["files", "s3"], "none": []}[args.store]
    netns_images = min(args.netns_images, args.images) if args.netns else 0
    images = make_batch(folder, args.images, batch_spec(args.quick), args.seed,
                        max(args.images if stores else 0, netns_images))
    work = tempfile.mkdtemp(prefix="tessera-bench-it-")
    os.makedirs(os.path.join(work, "logs"))
    ctx = {"bin": binary, "work": work, "procs": Procs(os.path.join(work, "logs")),
           "keep": args.keep, "job_timeout": args.job_timeout, "poll_s": args.poll,
           "pipelines": PIPELINES, "setups": args.setups, "netns_setups": args.netns_setups,
           "netns_rates": args.netns_rates, "netns_images": netns_images, "rounds": args.rounds,
           "verify": lambda n: verify_positions(args.verify, n), "failed": False}
    meta = {"cpu": cpu_model(), "cores": os.cpu_count(), "date": datetime.date.today().isoformat(),
            "commit": git_commit(), "images_dir": folder, "seed": args.seed,
            "batch": batch_summary(images[:args.images] if stores else images),
            "netns_images": netns_images or None,
            "netns_batch": batch_summary(images[:netns_images]) if netns_images else None,
            "load_start": os.getloadavg()[0], "argv": sys.argv[1:], "rounds": args.rounds}
    t0 = time.time()
    try:
        records = run_all(ctx, args, stores, images)
    finally:
        ctx["procs"].stop_all()
        if args.keep or ctx["failed"]:
            log(f"work folder kept: {work} (logs in {work}/logs)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    meta["seconds"] = round(time.time() - t0, 1)
    meta["load_end"] = os.getloadavg()[0]
    status = write_outputs(args, records, meta)
    log(f"done in {meta['seconds']} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
