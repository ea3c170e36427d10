#!/usr/bin/python3
"""Gigapixel images with the default limits (issue 15, point 3): peak memory
and time of `tessera process` and `tessera serve` on

  tiff  a 40000 x 40000 RGB tiled TIFF (256 x 256 tiles, uncompressed,
        BigTIFF: 4.8 GB), and
  jpeg  a 30000 x 20000 RGB baseline JPEG (quality 85),

both a real photo (tests/data/hubble_deep_field.jpg) resized to a 4000 x 4000
(JPEG: 3000 x 2000) tile with Gaussian noise (sigma 8, like a camera's) added
and the tile repeated 10 x 10, made with libvips' command line (`vips`)
while streaming, so making them takes a minute or two and little memory.

Pipelines: gaussian-blur|sharpen (stencils, streamed by row windows),
resize:scale=0.25 (geometric, streamed), crop|rotate:angle=30 with the crop
the centred half of each side (20000 x 20000 of the TIFF, 15000 x 10000 of
the JPEG; the rotation spills to a temporary file), equalize and canny
(GLOBAL: spilled, map then apply). Every output is a JPEG (quality 85).

  process  `/usr/bin/time -v tessera process -p P IN -o OUT.jpg`: its
           "Maximum resident set size";
  serve    one `tessera serve --quota-bytes 0` (the other limits are the
           defaults): the upload (streamed from the file), then per
           pipeline a job and the download of its result; the server's
           VmHWM from /proc/PID/status, reset before each step by writing 5
           to /proc/PID/clear_refs, so each figure is that step's peak.

    /usr/bin/python3 bench/gigapixel.py [--bin PATH] [--scale F] [--only tiff,jpeg]
                                        [--paths process,serve] [--pipelines N,N]
                                        [--work DIR] [--keep] [--json FILE]

--scale 0.1 makes 4000 x 4000 and 3000 x 2000 inputs, for a quick check of
the script. Standard library only, plus `vips` and `/usr/bin/time`; every
process it starts is ended when it ends; the work folder (default under
$TMPDIR) is removed unless --keep. See docs/benchmarks.md, "Gigapixel".
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "tests", "data", "hubble_deep_field.jpg")
TOKEN = "9a" * 32  # the admin token of the server started here
INPUTS = {  # name: (width, height, tile side across x down, file name, save options)
    "tiff": (40000, 40000, (4000, 4000), "big.tif",
             "[tile,tile-width=256,tile-height=256,bigtiff,compression=none]"),
    "jpeg": (30000, 20000, (3000, 2000), "big.jpg", "[Q=85]"),
}
NOISE_SIGMA = 8
PIPELINES = [  # label, text ({x},{y},{w},{h}: the centred half of each side)
    ("gaussian-blur|sharpen", "gaussian-blur|sharpen"),
    ("resize:scale=0.25", "resize:scale=0.25"),
    ("crop|rotate:angle=30", "crop:x={x},y={y},width={w},height={h}|rotate:angle=30"),
    ("equalize", "equalize"),
    ("canny", "canny"),
]
OUTPUT = {"format": "jpeg", "quality": 85}
JOB_TIMEOUT_S = 3600
START_TIMEOUT_S = 60
CHUNK = 1 << 20


class BenchError(Exception):
    pass


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise BenchError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr[-2000:]))
    return r


def make_input(name, work, scale):
    """Makes input NAME in WORK (kept across runs: delete it to remake);
    returns (path, width, height, seconds to make it)."""
    w, h, (tw, th), fname, options = INPUTS[name]
    w, h, tw, th = (max(16, int(v * scale)) for v in (w, h, tw, th))
    path = os.path.join(work, "%dx%d-%s" % (w, h, fname))
    if os.path.exists(path):
        return path, w, h, 0.0
    if not shutil.which("vips"):
        raise BenchError("needs libvips' command line (Debian libvips-tools) to make the inputs")
    t0 = time.monotonic()
    tile, noise, noisy, small = (os.path.join(work, n) for n in
                                 ("tile.v", "noise.v", "noisy.v", "small.v"))
    run(["vips", "thumbnail", PHOTO, tile, str(tw), "--height", str(th), "--size", "force"])
    run(["vips", "gaussnoise", noise, str(tw), str(th), "--sigma", str(NOISE_SIGMA)])
    run(["vips", "add", tile, noise, noisy])
    run(["vips", "cast", noisy, small, "uchar"])  # clips to 0..255
    part = os.path.join(work, "part-" + fname)  # vips picks the format from the name
    run(["vips", "replicate", small, part + options, str(w // tw), str(h // th)])
    os.rename(part, path)
    for f in (tile, noise, noisy, small):
        os.unlink(f)
    return path, w, h, time.monotonic() - t0


def pipeline_text(text, w, h):
    return text.format(x=w // 4, y=h // 4, w=w // 2, h=h // 2)


def max_rss_kib(stderr):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return int(m.group(1)) if m else None


def run_process(binary, src, pipeline, out):
    """`tessera process` under /usr/bin/time -v: (peak RSS bytes, seconds)."""
    t0 = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-v", binary, "process", "-p", pipeline, src, "-o", out],
                       capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if r.returncode != 0:
        raise BenchError("process -p %s failed: %s" % (pipeline, r.stderr[-1500:]))
    return max_rss_kib(r.stderr) * 1024, seconds


# ------------------------------------------------------------------ serve


def hwm_bytes(pid):
    """VmHWM of process PID (peak resident set since start or last reset)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmHWM for pid %d" % pid)


def rss_bytes(pid):
    """VmRSS of process PID now."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmRSS for pid %d" % pid)


def reset_hwm(pid):
    """Makes VmHWM start again from the current RSS (Linux >= 4.0); returns
    that RSS (what the server held before the step)."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")
    return rss_bytes(pid)


class Server:
    def __init__(self, binary, data):
        env = dict(os.environ, TESSERA_ADMIN_TOKEN=TOKEN)
        self.log = open(os.path.join(data, "serve.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data",
                                      os.path.join(data, "d"), "--quota-bytes", "0"],
                                     env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on http://" in line:
                self.host, port = line.strip().rsplit("/", 1)[1].rsplit(":", 1)
                self.port = int(port)
                return
        self.stop()
        raise BenchError("tessera serve did not start (see %s)" % self.log.name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=JOB_TIMEOUT_S)

    def json(self, method, path, doc=None):
        c = self.conn()
        body = json.dumps(doc).encode() if doc is not None else None
        headers = {"Authorization": "Bearer " + TOKEN}
        if body:
            headers["Content-Type"] = "application/json"
        c.request(method, path, body, headers)
        resp = c.getresponse()
        data = resp.read()
        c.close()
        return resp.status, json.loads(data) if data else None

    def upload(self, path):
        """Sends the file in 1 MiB pieces (the client holds no copy)."""
        c = self.conn()
        c.putrequest("POST", "/api/v1/images?name=" + urllib.parse.quote(os.path.basename(path)))
        c.putheader("Authorization", "Bearer " + TOKEN)
        c.putheader("Content-Type", "application/octet-stream")
        c.putheader("Content-Length", str(os.path.getsize(path)))
        c.endheaders()
        with open(path, "rb") as f:
            while True:
                piece = f.read(CHUNK)
                if not piece:
                    break
                c.send(piece)
        resp = c.getresponse()
        body = resp.read()
        c.close()
        if resp.status != 201:
            raise BenchError("upload answered %d: %s" % (resp.status, body[:500]))
        return json.loads(body)["id"]

    def job(self, image, pipeline):
        """Runs one job to its end; returns (seconds from submit to seen ended, job)."""
        t0 = time.monotonic()
        status, job = self.json("POST", "/api/v1/jobs", {"images": [image], "pipeline": pipeline,
                                                         "output": OUTPUT})
        if status not in (201, 202):
            raise BenchError("job answered %d: %s" % (status, job))
        while time.monotonic() - t0 < JOB_TIMEOUT_S:
            time.sleep(0.5)
            status, doc = self.json("GET", "/api/v1/jobs/" + job["id"])
            if status == 200 and doc["state"] in ("succeeded", "failed", "cancelled"):
                if doc["state"] != "succeeded":
                    raise BenchError("job %s: %s" % (pipeline, json.dumps(doc)[:1500]))
                return time.monotonic() - t0, doc
        raise BenchError("job %s did not end in %d s" % (pipeline, JOB_TIMEOUT_S))

    def download(self, job, dest):
        """Streams the job's result into DEST; returns its size."""
        c = self.conn()
        c.request("GET", "/api/v1/jobs/%s/result" % job["id"],
                  headers={"Authorization": "Bearer " + TOKEN})
        resp = c.getresponse()
        if resp.status != 200:
            raise BenchError("download answered %d" % resp.status)
        size = 0
        with open(dest, "wb") as f:
            while True:
                piece = resp.read(CHUNK)
                if not piece:
                    break
                f.write(piece)
                size += len(piece)
        c.close()
        return size


def run_serve(binary, work, name, src, w, h, pipelines, results):
    data = tempfile.mkdtemp(prefix="serve-", dir=work)
    srv = Server(binary, data)
    try:
        pid = srv.proc.pid
        before = reset_hwm(pid)
        t0 = time.monotonic()
        image = srv.upload(src)
        results.append({"input": name, "path": "serve", "step": "upload",
                        "peak_bytes": hwm_bytes(pid), "seconds": time.monotonic() - t0,
                        "before_bytes": before})
        report(results[-1])
        for label, text in pipelines:
            before = reset_hwm(pid)
            seconds, job = srv.job(image, pipeline_text(text, w, h))
            out = os.path.join(work, "serve-out.jpg")
            t1 = time.monotonic()
            size = srv.download(job, out)
            os.unlink(out)
            results.append({"input": name, "path": "serve", "step": label,
                            "peak_bytes": hwm_bytes(pid), "seconds": seconds,
                            "download_seconds": time.monotonic() - t1, "output_bytes": size,
                            "before_bytes": before})
            report(results[-1])
            srv.json("DELETE", "/api/v1/jobs/%s?purge=true" % job["id"])
    finally:
        srv.stop()
        shutil.rmtree(data, ignore_errors=True)


def report(r):
    before = " (held before: %.0f MiB)" % (r["before_bytes"] / 2 ** 20) if "before_bytes" in r else ""
    print("%-5s %-8s %-22s peak %7.0f MiB  %7.1f s%s" % (r["input"], r["path"], r["step"],
                                                         r["peak_bytes"] / 2 ** 20, r["seconds"],
                                                         before), flush=True)


def mib(r, key):
    return "%.0f MiB" % (r[key] / 2 ** 20) if r and key in r else ""


def markdown(results, made):
    lines = ["| input | pipeline | `process` peak RSS | `process` time | `serve` peak (VmHWM) "
             "| `serve` held before | `serve` job time |", "|---|---|---:|---:|---:|---:|---:|"]
    by = {(r["input"], r["path"], r["step"]): r for r in results}
    for name in INPUTS:
        up = by.get((name, "serve", "upload"))
        if up:
            lines.append("| %s | upload (%s) | | | %s | %s | %.0f s |" % (
                name, made.get(name, ""), mib(up, "peak_bytes"), mib(up, "before_bytes"),
                up["seconds"]))
        for label, _ in PIPELINES:
            p, s = by.get((name, "process", label)), by.get((name, "serve", label))
            if not p and not s:
                continue
            lines.append("| %s | `%s` | %s | %s | %s | %s | %s |" % (
                name, label.replace("|", "\\|"), mib(p, "peak_bytes"),
                "%.0f s" % p["seconds"] if p else "", mib(s, "peak_bytes"),
                mib(s, "before_bytes"), "%.0f s" % s["seconds"] if s else ""))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "src", "cli", "tessera"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", default="tiff,jpeg")
    ap.add_argument("--paths", default="process,serve")
    ap.add_argument("--pipelines", default="", help="indexes (0-based) into the pipeline list")
    ap.add_argument("--work", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="tessera-gigapixel-")
    os.makedirs(work, exist_ok=True)
    pipelines = PIPELINES
    if args.pipelines:
        pipelines = [PIPELINES[int(i)] for i in args.pipelines.split(",")]
    results, made = [], {}
    print("load: %s" % open("/proc/loadavg").read().strip(), flush=True)
    try:
        for name in args.only.split(","):
            src, w, h, secs = make_input(name, work, args.scale)
            made[name] = "%dx%d, %.2f GB%s" % (w, h, os.path.getsize(src) / 1e9,
                                               ", made in %.0f s" % secs if secs else "")
            print("%s: %s" % (name, made[name]), flush=True)
            if "process" in args.paths:
                for label, text in pipelines:
                    out = os.path.join(work, "process-out.jpg")
                    peak, seconds = run_process(args.bin, src, pipeline_text(text, w, h), out)
                    results.append({"input": name, "path": "process", "step": label,
                                    "peak_bytes": peak, "seconds": seconds,
                                    "output_bytes": os.path.getsize(out)})
                    os.unlink(out)
                    report(results[-1])
            if "serve" in args.paths:
                run_serve(args.bin, work, name, src, w, h, pipelines, results)
    except BenchError as e:
        print("gigapixel.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("load: %s" % open("/proc/loadavg").read().strip())
    print(markdown(results, made))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "inputs": made, "scale": args.scale}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
