#!/usr/bin/env python3
"""Figures of the highly available control plane (issue 17 point 5):
requests per second and p50/p99 latency of job-status polling
(GET /api/v1/jobs/{id}) and of job submission (POST /api/v1/jobs, a small
job) through HAProxy in front of 1, 2 and 3 coordinators on PostgreSQL and
an S3 store (tests/ha/ha.py starts them all), and one coordinator reached
directly on PostgreSQL against one on SQLite (the embedded default).

Standard library only: `--concurrency` threads, each with a keep-alive
connection, for `--seconds` per figure. The coordinators run with
`--rate-limit 0`, `--quota-jobs 0` and admission opened up (the default
100 requests a second and 100 active jobs per account would be the figure
otherwise); submitted jobs run meanwhile on the same cores. Everything shares this machine's cores, so more
coordinators cannot add CPU here: the figures show what the balancer and
the shared database cost, not a cluster's capacity.

    python3 bench/ha_load.py --bin build/src/cli/tessera --markdown ha.md
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "ha"))
PHOTO = os.path.join(ROOT, "tests", "data", "rocket.jpg")
# No request rate limit, no admission refusals: the figures are the API's.
OPEN = ("--rate-limit", "0", "--pixel-budget", "1000000000000", "--max-active-jobs", "1000000",
        "--quota-jobs", "0")


def percentile(values, p):
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def hammer(port, token, method, path, body, concurrency, seconds):
    """Runs the request from `concurrency` threads for `seconds`; returns
    (requests per second, p50 ms, p99 ms, failures)."""
    lat, fails, lock, codes = [], [0], threading.Lock(), {}
    end = time.time() + seconds
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None

    def run():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.time() < end:
            t = time.perf_counter()
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                r.read()
                ok = r.status in (200, 201)
                if not ok:
                    with lock:
                        codes[r.status] = codes.get(r.status, 0) + 1
            except OSError:
                ok = False
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if ok:
                mine.append(time.perf_counter() - t)
            else:
                with lock:
                    fails[0] += 1
        with lock:
            lat.extend(mine)
        c.close()

    start = time.time()
    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - start
    if codes:
        print("%s %s: answers other than 2xx: %s" % (method, path[:20], codes), file=sys.stderr)
    return (len(lat) / wall, 1000 * statistics.median(lat), 1000 * percentile(lat, 99), fails[0])


def figures(port, token, args):
    """Status polling and submission against `port`."""
    upload = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    with open(PHOTO, "rb") as f:
        upload.request("POST", "/api/v1/images?name=rocket.jpg", body=f.read(),
                       headers={"Authorization": "Bearer " + token,
                                "Content-Type": "application/octet-stream"})
    image = json.loads(upload.getresponse().read())["id"]
    job = {"images": [image], "pipeline": "invert"}
    upload.request("POST", "/api/v1/jobs", body=json.dumps(job),
                   headers={"Authorization": "Bearer " + token,
                            "Content-Type": "application/json"})
    job_id = json.loads(upload.getresponse().read())["id"]
    upload.close()
    time.sleep(1)
    status = hammer(port, token, "GET", "/api/v1/jobs/" + job_id, None, args.concurrency,
                    args.seconds)
    submit = hammer(port, token, "POST", "/api/v1/jobs", job, args.concurrency, args.seconds)
    return status, submit


def single(binary, db_url, token, args):
    """One coordinator reached directly: SQLite (db_url None) or PostgreSQL."""
    tmp = tempfile.mkdtemp(prefix="tessera-ha-bench-")
    env = dict(os.environ, TESSERA_ADMIN_TOKEN=token)
    cmd = [binary, "serve", "--listen", "127.0.0.1:0", "--data", os.path.join(tmp, "d"),
           *OPEN, "--threads", "1"] + (["--db", db_url] if db_url else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            text=True)
    port = None
    while port is None:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("serve did not start")
        if "listening on http://" in line:
            port = int(line.rsplit(":", 1)[1])
    try:
        return figures(port, token, args)
    finally:
        proc.terminate()
        proc.wait(30)


def row(name, status, submit):
    return "| %s | %.0f | %.1f / %.1f | %.0f | %.1f / %.1f | %d |" % (
        name, status[0], status[1], status[2], submit[0], submit[1], submit[2],
        status[3] + submit[3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "src", "cli", "tessera"))
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--markdown", help="write the table here too")
    args = ap.parse_args()
    os.environ["TESSERA_BIN"] = os.path.abspath(args.bin)
    import ha
    ha.BIN = os.environ["TESSERA_BIN"]
    rows = []
    for n in (1, 2, 3):
        cluster = ha.Cluster(n, extra=OPEN)
        try:
            rows.append(row("HAProxy + %d coordinator%s, PostgreSQL" % (n, "s" * (n > 1)),
                            *figures(cluster.port, ha.ADMIN_TOKEN, args)))
            if n == 1:
                rows.append(row("1 coordinator direct, PostgreSQL",
                                *single(ha.BIN, cluster.pg.create_db(), ha.ADMIN_TOKEN, args)))
        finally:
            cluster.close()
    rows.append(row("1 coordinator direct, SQLite", *single(ha.BIN, None, ha.ADMIN_TOKEN, args)))
    cores = os.cpu_count()
    table = "\n".join([
        "%d cores, concurrency %d, %g s per figure; status: GET /api/v1/jobs/{id}; "
        "submit: POST /api/v1/jobs (invert on a 640x427 JPEG)" % (cores, args.concurrency,
                                                                  args.seconds),
        "",
        "| setup | status rps | status p50 / p99 ms | submit rps | submit p50 / p99 ms | "
        "failed |",
        "|---|---|---|---|---|---|", *rows])
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
