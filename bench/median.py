#!/usr/bin/env python3
"""median against OpenCV's cv2.medianBlur: in-memory and file-to-file times
for several window sizes on the 3840x2160 JPEG of bench/run.py, and a byte
check of both outputs (docs/benchmarks.md, "Median").

    python3 bench/median.py [--runs 5] [--ksizes 3,5,15,51,99] [--threads 2]
                            [--tessera build/src/cli/tessera] [--op-time build/bench/op_time]
                            [--wait-load 1.0] [--update-docs]

Per round and ksize, four timings alternate: tessera file to file (`tessera
process`, decode + median + JPEG q85 encode, one process), OpenCV file to
file (bench/opencv_peer medianK), tessera in memory (bench/op_time: the
decoded image through the pipeline, 3 warm-up runs then 5 timed, their
median) and OpenCV in memory (opencv_peer with PEER_TIME_OP=5: the same
with cv::medianBlur, its output Mat reused as OpenCV's API intends, where
tessera allocates its output image each run as its API does). The tables
show medians over the rounds and the 1-minute load
average before each round; --wait-load waits (up to 10 minutes) for the
load to fall to that level before starting, since other work on the
machine moves the figures. Standard library only; reuses run.py's input,
peer build and timing. Exit 1 when a tool fails or the outputs differ.
"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (bench/run.py)

BEGIN, END = "<!-- median:begin -->", "<!-- median:end -->"
MEM_RUNS = 5  # timed in-memory runs per process, after 3 warm-ups


def op_seconds(argv, env):
    """Runs ARGV, which prints lines "op_s=S cpu_s=C", one per timed run;
    returns the medians (S, C)."""
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"median.py: {' '.join(argv)} exited {r.returncode}: {r.stderr.strip()[:300]}")
    runs = [dict(f.split("=") for f in line.split()) for line in r.stdout.splitlines()
            if line.startswith("op_s=")]
    return (statistics.median(float(x["op_s"]) for x in runs),
            statistics.median(float(x["cpu_s"]) for x in runs))


def file_seconds(argv, env, work, name):
    secs, cpu, _, rc = harness.measure(argv, env, os.path.join(work, name + ".log"))
    if rc:
        sys.exit(f"median.py: {' '.join(argv)} exited {rc} (log in {work})")
    return secs, cpu


def same_pixels(tessera, peer, src, k, threads, work, env):
    """Both tools write binary PPM (deterministic bytes): compares them."""
    a, b = os.path.join(work, "tessera.ppm"), os.path.join(work, "opencv.ppm")
    subprocess.run([tessera, "process", "-p", f"median:ksize={k}", src, "-o", a, "--threads",
                    str(threads)], env=env, check=True, capture_output=True)
    subprocess.run([peer, str(threads), f"median{k}", src, b], env=env, check=True,
                   capture_output=True)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        same = fa.read() == fb.read()
    os.remove(a)
    os.remove(b)
    return same


def rounds(args, tools, src, env, work):
    """Times every ksize args.runs times; returns {k: {series: [values]}} and the loads."""
    res = {k: {} for k in args.ksizes}
    loads = []
    out = os.path.join(work, "out.jpg")
    for r in range(args.runs):
        loads.append(os.getloadavg()[0])
        for k in args.ksizes:
            t = res[k]
            steps = [
                ("tessera_file", lambda: file_seconds(
                    [tools["tessera"], "process", "-p", f"median:ksize={k}", src, "-o", out,
                     "--format", "jpeg", "--quality", str(harness.JPEG_Q), "--threads",
                     str(args.threads)], env, work, "tessera")),
                ("opencv_file", lambda: file_seconds(
                    [tools["opencv"], str(args.threads), f"median{k}", src, out], env, work,
                    "opencv")),
                ("tessera_mem", lambda: op_seconds(
                    [tools["op_time"], src, f"median:ksize={k}", "--threads", str(args.threads),
                     "--warmup", "3", "--runs", str(MEM_RUNS)], env)),
                ("opencv_mem", lambda: op_seconds(
                    [tools["opencv"], str(args.threads), f"median{k}", src, out],
                    dict(env, PEER_TIME_OP=str(MEM_RUNS)))),
            ]
            for name, fn in steps:
                secs, cpu = fn()
                t.setdefault(name, []).append(secs)
                t.setdefault(name + "_cpu", []).append(cpu)
            harness.log(f"  round {r + 1}/{args.runs} ksize {k}: " + ", ".join(
                f"{n} {t[n][-1]:.3f} s" for n, _ in steps))
    return res, loads


def markdown(args, res, loads, checks, meta):
    med = {k: {n: statistics.median(v) for n, v in t.items()} for k, t in res.items()}
    lines = [f"Input `bench/inputs/uhd.jpg` (3840x2160 RGB JPEG q90), output JPEG q{harness.JPEG_Q}; "
             f"{args.threads} threads for both tools; median of {args.runs} alternating rounds; "
             f"machine: {meta['cpu']}, {meta['cores']} cores, tessera SIMD level {meta['simd']}; "
             f"1-minute load average before each round: "
             + ", ".join(f"{x:.1f}" for x in loads) + f"; {meta['date']}, tree at commit "
             f"{meta['commit']}.", "",
             "| ksize | in memory: tessera s | OpenCV s | ratio | tessera cpu s | OpenCV cpu s "
             "| file to file: tessera s | OpenCV s | ratio | same pixels |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for k in args.ksizes:
        m = med[k]
        lines.append(f"| {k} | {m['tessera_mem']:.4f} | {m['opencv_mem']:.4f} | "
                     f"{m['tessera_mem'] / m['opencv_mem']:.2f} | {m['tessera_mem_cpu']:.4f} | "
                     f"{m['opencv_mem_cpu']:.4f} | {m['tessera_file']:.3f} | "
                     f"{m['opencv_file']:.3f} | {m['tessera_file'] / m['opencv_file']:.2f} | "
                     f"{'yes' if checks[k] else '**no**'} |")
    lines += ["", "Ratios are tessera / OpenCV: below 1.00 tessera is faster. cpu s is the CPU "
              "time of every thread of the process during the in-memory run.", "",
              f"Command: `{meta['command']}`"]
    return "\n".join(lines) + "\n"


def update_docs(md):
    with open(harness.DOCS) as f:
        text = f.read()
    b, e = text.find(BEGIN), text.find(END)
    if b < 0 or e < b:
        sys.exit(f"median.py: {harness.DOCS} lacks the {BEGIN} / {END} markers")
    with open(harness.DOCS, "w") as f:
        f.write(text[:b + len(BEGIN)] + "\n" + md + text[e:])
    harness.log(f"updated {harness.DOCS}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ksizes", default="3,5,15,51,99")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tessera", default=os.path.join(harness.ROOT, "build", "src", "cli", "tessera"))
    ap.add_argument("--op-time", default=os.path.join(harness.ROOT, "build", "bench", "op_time"))
    ap.add_argument("--wait-load", type=float, help="wait until the 1-minute load is at most this")
    ap.add_argument("--update-docs", action="store_true")
    args = ap.parse_args()
    args.ksizes = [int(k) for k in args.ksizes.split(",")]
    ctx = {"vips": harness.find_tool("vips"), "vipsheader": harness.find_tool("vipsheader"),
           "convert": harness.find_tool("convert")}
    peers, notes = harness.build_peers()
    if not peers.get("opencv"):
        sys.exit(f"median.py: no OpenCV peer: {notes.get('opencv')}")
    tools = {"tessera": os.path.abspath(args.tessera), "op_time": os.path.abspath(args.op_time),
             "opencv": peers["opencv"]}
    for name, path in tools.items():
        if not os.access(path, os.X_OK):
            sys.exit(f"median.py: no {name} at {path}")
    src = harness.make_input(ctx, "uhd.jpg")
    work = os.path.join(harness.OUT, "work", "median")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    deadline = time.time() + 600
    while args.wait_load is not None and os.getloadavg()[0] > args.wait_load:
        if time.time() > deadline:
            harness.log(f"load still {os.getloadavg()[0]:.1f} after 10 minutes; going on")
            break
        time.sleep(15)
    checks = {k: same_pixels(tools["tessera"], tools["opencv"], src, k, args.threads, work, env)
              for k in args.ksizes}
    res, loads = rounds(args, tools, src, env, work)
    simd = subprocess.run([tools["tessera"], "version"], capture_output=True, text=True)
    commit = subprocess.run(["git", "-C", harness.ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    meta = {"cpu": harness.cpu_model(), "cores": os.cpu_count(), "commit": commit,
            "date": datetime.date.today().isoformat(),
            "simd": simd.stdout.split("simd: ")[-1].strip() if "simd: " in simd.stdout else "?",
            "command": "python3 bench/median.py " + " ".join(sys.argv[1:]).replace(
                harness.ROOT + os.sep, "")}
    md = markdown(args, res, loads, checks, meta)
    print(md)
    if args.update_docs:
        update_docs(md)
    if not all(checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
