#!/usr/bin/python3
"""Recovery point and recovery time of `tessera backup` / `restore` (issue 14,
point 1) on a store of N photo-like images (default 1000), measured end to end:

  1. N small photo-like JPEGs (crops of tests/data photos, resized, with
     sensor-like noise, q90) uploaded through the API to a fresh
     `tessera serve`, and one job over a fifth of them (results in the store);
  2. a full backup while the server runs; then the "next hour's" changes
     (5% more images and a job over them) and an incremental backup; then a
     backup with nothing new;
  3. `tessera verify` of the live store and of the backup;
  4. the server stopped, its data folder (and files store) destroyed,
     `tessera restore` into a fresh folder, the server started on it (until
     it listens), and every image's bytes compared through the API.

    /usr/bin/python3 bench/backup.py [--images N] [--store files|s3] [--dest dir|s3]
                                     [--json FILE] [--keep]

Prints a Markdown table (the figures docs/operations.md quotes) and, with
--json, every timing. Needs Debian's python3 with python3-opencv and
python3-numpy; --store s3 / --dest s3 need node and tests/s3/node_modules
(`cd tests/s3 && npm install`). Every process it starts is ended when it
ends; every wait is bounded.
"""

import argparse
import hashlib
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import cv2
    import numpy as np
except ImportError:  # pyenv's python3 first on PATH: Debian's has cv2 and numpy
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("backup.py: needs python3-opencv and python3-numpy (Debian packages)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
CACHE = os.path.join(ROOT, "bench", "out", "backup-inputs")
TOKEN = "b4" * 32
SOURCES = ["hubble_deep_field.jpg", "chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]
BATCH_VERSION = 1
JOB_PIPELINE = "grayscale|sharpen"
CHANGE_SHARE = 0.05  # the "hour's" new images, as a share of the store
START_TIMEOUT_S = 60
SERVE_LIMITS = ["--pixel-budget", "1000000000000", "--quota-bytes", "0", "--quota-jobs", "0",
                "--rate-limit", "0"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_image(index, photos):
    """Image INDEX: a random crop of a source photo resized to 0.2-0.5 MP,
    mirrored half the time, with per-channel Gaussian noise, JPEG q90."""
    rng = np.random.default_rng([BATCH_VERSION, index])
    src = photos[SOURCES[rng.integers(len(SOURCES))]]
    sh, sw = src.shape[:2]
    width = int(rng.uniform(520, 820)) // 2 * 2
    height = int(width * rng.choice([0.75, 0.667, 0.5625])) // 2 * 2
    cw = min(sw, sh * width / height) * rng.uniform(0.5, 1.0)
    ch = cw * height / width
    x, y = rng.uniform(0, sw - cw), rng.uniform(0, sh - ch)
    m = np.float32([[width / cw, 0, -x * width / cw], [0, height / ch, -y * height / ch]])
    img = cv2.warpAffine(src, m, (width, height), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        img = cv2.flip(img, 1)
    out = img.astype(np.float32) + rng.standard_normal(img.shape, dtype=np.float32) * 4.0
    ok, buf = cv2.imencode(".jpg", np.clip(out, 0, 255).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def images(count):
    """Paths of images 0..count-1, made once into bench/out/backup-inputs."""
    os.makedirs(CACHE, exist_ok=True)
    photos, paths = {}, []
    for i in range(count):
        path = os.path.join(CACHE, "v%d-%05d.jpg" % (BATCH_VERSION, i))
        if not os.path.exists(path):
            if not photos:
                photos = {s: cv2.imread(os.path.join(DATA, s)) for s in SOURCES}
            with open(path + ".part", "wb") as f:
                f.write(make_image(i, photos))
            os.rename(path + ".part", path)
        paths.append(path)
    return paths


class Api:
    """A keep-alive HTTP client of one server."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, path, body=None, ctype="application/json"):
        headers = {"Authorization": "Bearer " + TOKEN}
        if body is not None:
            headers["Content-Type"] = ctype
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise

    def json(self, method, path, doc=None):
        status, body = self.call(method, path, json.dumps(doc).encode() if doc else None)
        return status, json.loads(body) if body else None


class Server:
    def __init__(self, binary, data, store, env):
        self.log = open(data + ".log", "a")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data", data, *store, *SERVE_LIMITS],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, start_new_session=True)
        deadline, self.port = time.time() + START_TIMEOUT_S, None
        while time.time() < deadline and self.port is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on http://" in line:
                self.port = int(line.rsplit(":", 1)[1])
        if self.port is None:
            self.stop()
            raise SystemExit("serve did not start; see %s" % self.log.name)
        self.api = Api(self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def upload(api, paths, offset=0):
    ids, sums = [], {}
    for n, path in enumerate(paths):
        with open(path, "rb") as f:
            body = f.read()
        status, doc = api.call("POST", "/api/v1/images?name=i%05d.jpg" % (offset + n), body,
                               "application/octet-stream")
        assert status == 201, (status, doc)
        image = json.loads(doc)["id"]
        ids.append(image)
        sums[image] = hashlib.sha256(body).hexdigest()
    return ids, sums


def run_job(api, ids):
    status, doc = api.json("POST", "/api/v1/jobs",
                           {"images": ids, "pipeline": JOB_PIPELINE,
                            "output": {"format": "jpeg", "quality": 85}})
    assert status in (201, 202), (status, doc)
    deadline = time.time() + 3600
    while time.time() < deadline:
        status, job = api.json("GET", "/api/v1/jobs/" + doc["id"])
        if job["state"] in ("succeeded", "failed", "cancelled"):
            assert job["state"] == "succeeded", job
            return job
        time.sleep(0.5)
    raise SystemExit("the job did not finish")


def timed(binary, args, env):
    t0 = time.monotonic()
    r = subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=7200)
    seconds = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit("tessera %s failed (%d): %s" % (args[0], r.returncode, r.stderr))
    return seconds, r.stdout


def tree_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    return total


def s3_env(s3):
    return {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "AWS_REGION": "us-east-1", "TESSERA_S3_ENDPOINT": s3.endpoint}


def measure(args, work, s3):
    env = dict(os.environ, TESSERA_ADMIN_TOKEN=TOKEN, **(s3_env(s3) if s3 else {}))
    data, fresh = os.path.join(work, "data"), os.path.join(work, "restored")
    store = ["--store", "s3://%s/live" % s3.bucket] if args.store == "s3" else []
    fresh_store = ["--store", "s3://%s/restored" % s3.bucket] if args.store == "s3" else []
    dest = "s3://%s/backups" % s3.bucket if args.dest == "s3" else os.path.join(work, "backup")
    extra = int(args.images * CHANGE_SHARE)
    paths = images(args.images + extra)
    r = {"images": args.images, "store": args.store, "dest": args.dest}
    srv = Server(args.tessera, data, store, env)
    try:
        t0 = time.monotonic()
        ids, sums = upload(srv.api, paths[:args.images])
        r["upload_s"] = time.monotonic() - t0
        log("uploaded %d images in %.1f s" % (len(ids), r["upload_s"]))
        run_job(srv.api, ids[: args.images // 5])
        r["full_s"], out = timed(args.tessera, ["backup", "--data", data, *store, "--json", dest],
                                 env)
        r["full"] = json.loads(out)
        log("full backup: %.1f s" % r["full_s"])
        more, more_sums = upload(srv.api, paths[args.images:], args.images)
        sums.update(more_sums)
        run_job(srv.api, more)
        r["incremental_s"], out = timed(args.tessera,
                                        ["backup", "--data", data, *store, "--json", dest], env)
        r["incremental"] = json.loads(out)
        r["unchanged_s"], out = timed(args.tessera,
                                      ["backup", "--data", data, *store, "--json", dest], env)
        r["unchanged"] = json.loads(out)
        r["verify_live_s"], _ = timed(args.tessera, ["verify", "--data", data, *store], env)
        r["verify_backup_s"], _ = timed(args.tessera, ["verify", "--backup", dest], env)
        log("incremental %.1f s, unchanged %.1f s, verify live %.1f s, verify backup %.1f s"
            % (r["incremental_s"], r["unchanged_s"], r["verify_live_s"], r["verify_backup_s"]))
    finally:
        srv.stop()
    r["store_bytes"] = r["incremental"]["bytes"]
    if args.dest == "dir":
        r["backup_bytes"] = tree_bytes(dest)
    shutil.rmtree(data)
    r["restore_s"], _ = timed(args.tessera,
                              ["restore", dest, "--data", fresh, *fresh_store, "--json"], env)
    t0 = time.monotonic()
    srv = Server(args.tessera, fresh, fresh_store, env)
    r["start_s"] = time.monotonic() - t0
    try:
        t0 = time.monotonic()
        for image, want in sums.items():
            status, body = srv.api.call("GET", "/api/v1/images/%s/content" % image)
            assert status == 200 and hashlib.sha256(body).hexdigest() == want, image
        r["check_s"] = time.monotonic() - t0
    finally:
        srv.stop()
    r["rto_s"] = r["restore_s"] + r["start_s"]
    log("restore %.1f s, start %.1f s, %d images identical (%.1f s)"
        % (r["restore_s"], r["start_s"], len(sums), r["check_s"]))
    return r


def table(r):
    mb = lambda n: "%.1f MB" % (n / 1e6)  # noqa: E731
    f, i = r["full"], r["incremental"]
    rows = [
        ("store", "%d images + %d results, %s in %d blobs" % (
            r["images"], r["images"] // 5, mb(f["bytes"]), f["blobs"])),
        ("full backup (server running)", "%.1f s (%d blobs, %s copied)" % (
            r["full_s"], f["copied"]["blobs"], mb(f["copied"]["bytes"]))),
        ("incremental backup after +%d%% images" % int(CHANGE_SHARE * 100),
         "%.1f s (%d blobs copied, %d already there)" % (
             r["incremental_s"], i["copied"]["blobs"], i["reused"]["blobs"])),
        ("backup with nothing new", "%.1f s" % r["unchanged_s"]),
        ("verify --data (live store)", "%.1f s" % r["verify_live_s"]),
        ("verify --backup (3 snapshots)", "%.1f s" % r["verify_backup_s"]),
        ("restore (checks every byte)", "%.1f s" % r["restore_s"]),
        ("serve on the restored folder, until it listens", "%.1f s" % r["start_s"]),
        ("recovery time (restore + start)", "%.1f s" % r["rto_s"]),
    ]
    out = ["| step | measured |", "|---|---|"] + ["| %s | %s |" % row for row in rows]
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--store", choices=["files", "s3"], default="files")
    p.add_argument("--dest", choices=["dir", "s3"], default="dir")
    p.add_argument("--tessera", default=os.path.join(ROOT, "build", "src", "cli", "tessera"))
    p.add_argument("--json")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    args = p.parse_args()
    s3 = None
    if "s3" in (args.store, args.dest):
        sys.path.insert(0, os.path.join(ROOT, "tests", "s3"))
        import s3server
        s3 = s3server.S3Server().start()
    work = tempfile.mkdtemp(prefix="tessera-bench-backup-")
    try:
        r = measure(args, work, s3)
    finally:
        if s3:
            s3.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    r["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    print(table(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)


if __name__ == "__main__":
    main()
