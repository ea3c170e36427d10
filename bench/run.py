#!/usr/bin/env python3
"""tessera benchmark harness: the same file-to-file jobs done by tessera and by
its peers (OpenCV, libvips, ImageMagick, GraphicsMagick), one process
invocation per job, timed end to end with peak RSS from os.wait4.

    python3 bench/run.py [--runs N] [--only WORKLOAD[,...]] [--tessera PATH]
                         [--threads N] [--update-docs] [--keep-outputs]

Standard library only. Generated inputs go to bench/inputs/, the peer
programs, results.md / results.json and the work files to bench/out/ (both
gitignored). See bench/README.md and docs/benchmarks.md for the method.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
OUT = os.path.join(BENCH, "out")
INPUTS = os.path.join(BENCH, "inputs")
DATA = os.path.join(ROOT, "tests", "data")
DOCS = os.path.join(ROOT, "docs", "benchmarks.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
JPEG_Q = 85  # quality of every JPEG output, all tools

# Generated inputs: name -> (source photo in tests/data, width, height).
# Each is the photo upscaled with Gaussian noise of NOISE_SIGMA added, as a
# camera's sensor leaves it: a smooth upscale decodes, compresses and finds
# edges unrealistically fast. INPUT_RECIPE names the recipe; inputs made by
# another one are made again.
NOISE_SIGMA = 8
INPUT_RECIPE = "upscale+gaussnoise8"
INPUT_SPECS = {
    "big.tif": ("astronaut.png", 5000, 5000),
    "big10k.tif": ("astronaut.png", 10000, 10000),
    "uhd.jpg": ("coffee.png", 3840, 2160),
    "huge.jpg": ("rocket.jpg", 7360, 4912),
}

# Tools in table order: key -> display name.
TOOLS = {
    "tessera": "tessera",
    "opencv": "OpenCV (C++)",
    "libvips": "libvips (C API)",
    "vips": "vips (CLI)",
    "imagemagick": "ImageMagick",
    "graphicsmagick": "GraphicsMagick",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def find_tool(name):
    """Path of executable NAME on PATH, preferring a native (ELF) binary over
    a wrapper script found earlier, so no interpreter start-up is timed."""
    found = []
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK) and p not in found:
            found.append(p)
    for p in found:
        with open(p, "rb") as f:
            if f.read(4) == b"\x7fELF":
                return p
    return found[0] if found else None


def run_quiet(argv, **kw):
    """Runs ARGV to completion; returns (returncode, combined output)."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    except OSError as e:
        return 127, str(e)
    return r.returncode, r.stdout.decode(errors="replace")


# ---------------------------------------------------------------- inputs


def image_size(ctx, path):
    """(width, height) of PATH read with vipsheader, or None."""
    dims = []
    for field in ("width", "height"):
        rc, out = run_quiet([ctx["vipsheader"], "-f", field, path])
        if rc:
            return None
        dims.append(int(out))
    return tuple(dims)


def check_recipe():
    """Deletes the generated inputs when bench/inputs/RECIPE names another
    recipe than INPUT_RECIPE (older inputs had no noise), then records it."""
    marker = os.path.join(INPUTS, "RECIPE")
    os.makedirs(INPUTS, exist_ok=True)
    try:
        with open(marker) as f:
            if f.read().strip() == INPUT_RECIPE:
                return
    except OSError:
        pass
    for name in INPUT_SPECS:
        if os.path.exists(os.path.join(INPUTS, name)):
            log(f"removing {name}: made by another recipe than {INPUT_RECIPE}")
            os.unlink(os.path.join(INPUTS, name))
    with open(marker, "w") as f:
        f.write(INPUT_RECIPE + "\n")


def make_input(ctx, name):
    """Creates bench/inputs/NAME by upscaling its tests/data photo and adding
    sensor-like noise, unless it exists. Written under a temporary name and
    renamed, so an interrupted run never leaves a partial input behind."""
    path = os.path.join(INPUTS, name)
    if os.path.exists(path):
        return path
    src_name, w, h = INPUT_SPECS[name]
    src = os.path.join(DATA, src_name)
    os.makedirs(INPUTS, exist_ok=True)
    tmp = os.path.join(INPUTS, ".tmp-" + name)
    tiff = name.endswith(".tif")
    log(f"generating {path} ({w}x{h} from {src_name})")
    with tempfile.TemporaryDirectory(dir=INPUTS) as td:
        if ctx["vips"] and ctx["vipsheader"]:
            up, noise, noisy, big = (os.path.join(td, n + ".v")
                                     for n in ("up", "noise", "noisy", "big"))
            sw, sh = image_size(ctx, src)
            steps = [[ctx["vips"], "resize", src, up, repr(w / sw), "--vscale", repr(h / sh)],
                     [ctx["vips"], "gaussnoise", noise, str(w), str(h),
                      "--sigma", str(NOISE_SIGMA)],
                     [ctx["vips"], "add", up, noise, noisy],
                     [ctx["vips"], "cast", noisy, big, "uchar"]]  # clips to 0..255
            if tiff:
                steps.append([ctx["vips"], "tiffsave", big, tmp, "--tile", "--tile-width", "256",
                              "--tile-height", "256", "--compression", "none"])
            else:
                steps.append([ctx["vips"], "jpegsave", big, tmp, "--Q", "90"])
        elif ctx["convert"]:
            argv = [ctx["convert"], src, "-resize", f"{w}x{h}!", "-attenuate",
                    str(NOISE_SIGMA / 30), "+noise", "Gaussian"]
            if tiff:
                argv += ["-define", "tiff:tile-geometry=256x256", "-compress", "none",
                         "tiff:" + tmp]
            else:
                argv += ["-quality", "90", "jpeg:" + tmp]
            steps = [argv]
        else:
            sys.exit("run.py: need vips or ImageMagick's convert to generate the inputs")
        for argv in steps:
            rc, msg = run_quiet(argv)
            if rc:
                sys.exit(f"run.py: input generation failed: {' '.join(argv)}\n{msg}")
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- peers


def build_peers():
    """Builds bench/out/opencv_peer (and vips_peer when libvips-dev is there)
    if missing or older than its source. Returns {key: path or None} and a
    {key: note} for the ones that could not be built."""
    os.makedirs(OUT, exist_ok=True)
    peers, notes = {}, {}
    specs = {
        "opencv": ("opencv_peer.cpp", "g++", "opencv4"),
        "libvips": ("vips_peer.c", "gcc", "vips"),
    }
    for key, (src_name, compiler, pkg) in specs.items():
        src = os.path.join(BENCH, src_name)
        exe = os.path.join(OUT, os.path.splitext(src_name)[0])
        peers[key] = None
        if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
            peers[key] = exe
            continue
        rc, flags = run_quiet(["pkg-config", "--cflags", "--libs", pkg])
        if rc or not shutil.which(compiler):
            notes[key] = f"skipped: {compiler} or pkg-config {pkg} not found"
            continue
        argv = [compiler, "-O2", "-o", exe, src] + flags.split()
        log("building " + " ".join(argv))
        rc, msg = run_quiet(argv)
        if rc:
            notes[key] = f"skipped: build failed: {msg.strip()[:200]}"
            continue
        peers[key] = exe
    return peers, notes


# ---------------------------------------------------------------- workloads
#
# Each workload: input, output extension, a description, and per tool a
# function (ctx, in, out) -> (argv, note); a tool that cannot do the job is
# listed under "missing" with the reason, a tool absent from both has no row.
# ctx has the tool paths, the thread count and the workload's work dir.

def vips_bench_pipe(side):
    """vips-bench as a tessera pipeline, for a SIDE x SIDE input."""
    return (f"crop:x=100,y=100,width={side - 200},height={side - 200}|"
            "resize:scale=0.9,interp=linear|"
            "convolve:kernel=-1 -1 -1 -1 16 -1 -1 -1 -1,divisor=8")
SHARPEN = "-1,-1,-1,-1,16,-1,-1,-1,-1"


def tessera_cmd(pipe, fmt, quality=None):
    def cmd(ctx, src, dst):
        argv = [ctx["tessera"], "process", "-p", pipe, src, "-o", dst, "--format", fmt,
                "--threads", str(ctx["threads"])]
        if quality:
            argv += ["--quality", str(quality)]
        return argv, ""
    return cmd


def opencv_cmd(job, note=""):
    return lambda ctx, src, dst: ([ctx["opencv"], str(ctx["threads"]), job, src, dst], note)


def im_cmd(args, note=""):
    return lambda ctx, src, dst: ([ctx["convert"], src] + args + [dst], note)


def gm_cmd(args, note=""):
    return lambda ctx, src, dst: ([ctx["gm"], "convert", src] + args + [dst], note)


def vips_chain(side):
    return lambda ctx, src, dst: vips_chain_cmd(ctx, src, dst, side - 200)


def vips_chain_cmd(ctx, src, dst, inner):
    """vips-bench with the vips CLI: three commands chained through .v files
    (no Python binding on Debian 12, and the CLI cannot fuse a pipeline)."""
    work = ctx["work"]
    mask = os.path.join(work, "sharpen.mat")
    with open(mask, "w") as f:
        f.write("3 3 8 0\n-1 -1 -1\n-1 16 -1\n-1 -1 -1\n")
    t1, t2 = os.path.join(work, "t1.v"), os.path.join(work, "t2.v")
    v, q = ctx["vips"], shlex.quote
    script = (f"{v} crop {q(src)} {q(t1)} 100 100 {inner} {inner} && "
              f"{v} resize {q(t1)} {q(t2)} 0.9 --kernel linear && "
              f"{v} conv {q(t2)} {q(dst)} {q(mask)} --precision integer; "
              f"rc=$?; rm -f {q(t1)} {q(t2)}; exit $rc")
    return ["sh", "-c", script], "3 processes chained through .v temp files (not fused)"


def vips_bench_workload(side, name):
    """The vips-bench job (crop, shrink, sharpen) on a SIDE x SIDE TIFF."""
    inner = side - 200
    return {
        "input": name,
        "ext": "tif",
        "what": f"{side}x{side} tiled RGB TIFF: crop 100 px per edge, resize x0.9 linear, "
                "3x3 sharpen (-1..16..-1)/8, save TIFF",
        "tessera": tessera_cmd(vips_bench_pipe(side), "tiff"),
        "opencv": opencv_cmd("vips-bench"),
        "libvips": lambda ctx, src, dst: ([ctx["libvips"], src, dst],
                                          "one streaming pipeline (bench/vips_peer.c)"),
        "vips": vips_chain(side),
        "imagemagick": im_cmd(["-crop", f"{inner}x{inner}+100+100", "+repage", "-filter",
                               "Triangle", "-resize", "90%", "-define", "convolve:scale=0.125",
                               "-morphology", "Convolve", "3x3: " + SHARPEN]),
        "graphicsmagick": gm_cmd(["-crop", f"{inner}x{inner}+100+100", "+repage", "-filter",
                                  "Triangle", "-resize", "90%", "-convolve", SHARPEN],
                                 "-convolve normalises the kernel by its sum (8)"),
    }


WORKLOADS = {
    "vips-bench": vips_bench_workload(5000, "big.tif"),
    "vips-bench-10k": vips_bench_workload(10000, "big10k.tif"),
    "canny": {
        "input": "uhd.jpg",
        "ext": "png",
        "what": "3840x2160 JPEG: Canny low 100 high 200 on the colour image, save PNG",
        "tessera": tessera_cmd("canny:low=100,high=200", "png"),
        "opencv": opencv_cmd("canny", "cv::Canny(BGR, 100, 200)"),
        "vips": lambda ctx, src, dst: ([ctx["vips"], "canny", src, dst],
                                       "different algorithm: sigma 1.4 blur + gradient with "
                                       "non-max suppression, no thresholds/hysteresis"),
        "imagemagick": im_cmd(["-canny", "0x1+10%+30%"],
                              "different algorithm: -canny 0x1+10%+30% on grey"),
        "missing": {"graphicsmagick": "GraphicsMagick has no Canny operator"},
    },
    "design": {
        "input": "uhd.jpg",
        "ext": "png",
        "what": "3840x2160 JPEG: the original design's pipeline, greyscale, Gaussian blur 5x5, "
                "Canny low 100 high 200, save PNG",
        "tessera": tessera_cmd("grayscale|gaussian-blur:ksize=5|canny:low=100,high=200", "png"),
        "opencv": opencv_cmd("design", "cvtColor GRAY, GaussianBlur 5x5, Canny(100, 200)"),
        "missing": {"vips": "no Canny with thresholds (vips canny is another algorithm)",
                    "imagemagick": "-canny is another algorithm",
                    "graphicsmagick": "GraphicsMagick has no Canny operator"},
    },
    "blur": {
        "input": "uhd.jpg",
        "ext": "jpg",
        "what": f"3840x2160 JPEG: Gaussian blur sigma 2, save JPEG q{JPEG_Q}",
        "tessera": tessera_cmd("gaussian-blur:sigma=2", "jpeg", JPEG_Q),
        "opencv": opencv_cmd("blur", "GaussianBlur(Size(0,0), 2)"),
        "vips": lambda ctx, src, dst: ([ctx["vips"], "gaussblur", src, f"{dst}[Q={JPEG_Q}]",
                                        "2"], ""),
        "imagemagick": im_cmd(["-gaussian-blur", "0x2", "-quality", str(JPEG_Q)]),
        "graphicsmagick": gm_cmd(["-gaussian", "0x2", "-quality", str(JPEG_Q)]),
    },
    "rotate": {
        "input": "uhd.jpg",
        "ext": "jpg",
        "what": f"3840x2160 JPEG: rotate 30 degrees, bilinear, black fill, save JPEG q{JPEG_Q}",
        "tessera": tessera_cmd("rotate:angle=30", "jpeg", JPEG_Q),
        "opencv": opencv_cmd("rotate", "warpAffine, same canvas"),
        "vips": lambda ctx, src, dst: ([ctx["vips"], "rotate", src, f"{dst}[Q={JPEG_Q}]",
                                        "--", "-30"], "canvas expands to hold the whole image"),
        "imagemagick": im_cmd(["-virtual-pixel", "black", "-interpolate", "Bilinear",
                               "-filter", "Point", "-distort", "SRT", "-30",
                               "-quality", str(JPEG_Q)],
                              "-distort SRT, same canvas, bilinear lookup"),
        "graphicsmagick": gm_cmd(["-background", "black", "-rotate", "-30", "-quality",
                                  str(JPEG_Q)], "canvas expands (no same-canvas rotate)"),
    },
    "resize": {
        "input": "uhd.jpg",
        "ext": "jpg",
        "what": f"3840x2160 JPEG: resize x0.5 linear, save JPEG q{JPEG_Q}",
        "tessera": tessera_cmd("resize:scale=0.5,interp=linear", "jpeg", JPEG_Q),
        "opencv": opencv_cmd("resize", "INTER_LINEAR"),
        "vips": lambda ctx, src, dst: ([ctx["vips"], "resize", src, f"{dst}[Q={JPEG_Q}]", "0.5",
                                        "--kernel", "linear"], ""),
        "imagemagick": im_cmd(["-filter", "Triangle", "-resize", "50%", "-quality", str(JPEG_Q)],
                              "Triangle filter widened to the scale (area-like)"),
        "graphicsmagick": gm_cmd(["-filter", "Triangle", "-resize", "50%", "-quality",
                                  str(JPEG_Q)], "Triangle filter widened to the scale"),
    },
    "median3": {
        "input": "uhd.jpg",
        "ext": "jpg",
        "what": f"3840x2160 JPEG: median 3x3 (replicate border), save JPEG q{JPEG_Q}",
        "tessera": tessera_cmd("median:ksize=3", "jpeg", JPEG_Q),
        "opencv": opencv_cmd("median3", "medianBlur(3)"),
    },
    "median5": {
        "input": "uhd.jpg",
        "ext": "jpg",
        "what": f"3840x2160 JPEG: median 5x5 (replicate border), save JPEG q{JPEG_Q}",
        "tessera": tessera_cmd("median:ksize=5", "jpeg", JPEG_Q),
        "opencv": opencv_cmd("median5", "medianBlur(5)"),
    },
    "thumbnail": {
        "input": "huge.jpg",
        "ext": "jpg",
        "what": f"7360x4912 JPEG: thumbnail 500 px wide, save JPEG q{JPEG_Q}",
        "tessera": tessera_cmd("thumbnail:width=500", "jpeg", JPEG_Q),
        "opencv": opencv_cmd("thumbnail", "IMREAD_REDUCED_COLOR_8 + INTER_AREA"),
        "vips": lambda ctx, src, dst: ([ctx["vipsthumbnail"], src, "-s", "500", "-o",
                                        f"{dst}[Q={JPEG_Q}]"], "vipsthumbnail (shrink-on-load)"),
        "imagemagick": im_cmd(["-thumbnail", "500x", "-quality", str(JPEG_Q)],
                              "decodes the full image (no jpeg:size hint)"),
        "graphicsmagick": gm_cmd(["-thumbnail", "500x", "-quality", str(JPEG_Q)],
                                 "decodes the full image (no -size hint)"),
    },
}


# ---------------------------------------------------------------- timing


def measure(argv, env, log_path):
    """Runs ARGV once; returns (wall seconds, CPU seconds (user + system),
    peak RSS in KiB, exit status).
    Peak RSS is the child's ru_maxrss from os.wait4, which on Linux also
    covers the children it waited for (the vips CLI chain's commands)."""
    with open(log_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode


def output_info(ctx, path):
    """'WxH, N KiB' for an output file, for the reader to see what each tool
    really produced (dimensions via vipsheader when installed)."""
    if not os.path.exists(path):
        return ""
    size = f"{os.path.getsize(path) // 1024} KiB"
    if ctx.get("vipsheader"):
        rc, w = run_quiet([ctx["vipsheader"], "-f", "width", path])
        rc2, h = run_quiet([ctx["vipsheader"], "-f", "height", path])
        if rc == 0 and rc2 == 0:
            return f"{w.strip()}x{h.strip()}, {size}"
    return size


def shown_command(argv):
    """ARGV as a shell-quoted line with repository paths made relative."""
    if argv[:2] == ["sh", "-c"]:
        line = argv[2]  # a chain of commands: show the script itself
    else:
        line = " ".join(shlex.quote(a) for a in argv)
    return line.replace(ROOT + os.sep, "")


def run_workload(name, spec, ctx, runs):
    """Times every available tool on workload NAME, RUNS rounds, alternating
    tools inside each round. Returns the workload's result record."""
    src = ctx["inputs"][spec["input"]]
    work = os.path.join(ctx["work"], name)
    os.makedirs(work, exist_ok=True)
    wctx = dict(ctx, work=work)
    tools, rows = [], {}
    for key, label in TOOLS.items():
        reason = spec.get("missing", {}).get(key)
        if key not in spec and not reason:
            continue  # the tool has no row in this workload
        reason = reason or ctx["unavailable"].get(key)
        row = {"tool": key, "label": label, "times": [], "cpu_times": [], "rss_kib": [], "note": "",
               "status": "ok", "cmd": ""}
        rows[key] = row
        if reason:
            row["status"], row["note"] = "skipped", reason
            continue
        dst = os.path.join(work, f"{key}.{spec['ext']}")
        argv, note = spec[key](wctx, src, dst)
        row.update(argv=argv, dst=dst, note=note, cmd=shown_command(argv))
        tools.append(key)
    for r in range(runs):
        for key in tools:
            row = rows[key]
            if row["status"] != "ok":
                continue
            if os.path.exists(row["dst"]):
                os.remove(row["dst"])
            err_path = os.path.join(work, key + ".log")
            secs, cpu, rss, rc = measure(row["argv"], ctx["env"], err_path)
            if rc != 0 or not os.path.exists(row["dst"]) or os.path.getsize(row["dst"]) == 0:
                with open(err_path, errors="replace") as f:
                    msg = " ".join(f.read().split())[:300]
                row["status"] = "failed"
                row["note"] = f"failed (exit {rc}): {msg}" if msg else f"failed (exit {rc})"
                log(f"  {name} {key}: {row['note']}")
                continue
            row["times"].append(secs)
            row["cpu_times"].append(cpu)
            row["rss_kib"].append(rss)
            log(f"  {name} run {r + 1}/{runs} {key}: {secs:.3f} s (cpu {cpu:.3f} s), "
                f"{rss / 1024:.0f} MiB")
    for key in tools:
        row = rows[key]
        if row["status"] == "ok":
            row["output"] = output_info(ctx, row["dst"])
            row["median_s"] = statistics.median(row["times"])
            row["median_cpu_s"] = statistics.median(row["cpu_times"])
            row["peak_mib"] = max(row["rss_kib"]) / 1024
        if not ctx["keep"] and os.path.exists(row["dst"]):
            os.remove(row["dst"])
        row.pop("argv", None)
        row.pop("dst", None)
    base = rows.get("tessera", {"status": "skipped"})
    for row in rows.values():
        if row["status"] == "ok" and base["status"] == "ok" and row is not base:
            row["time_ratio"] = base["median_s"] / row["median_s"]
            row["mem_ratio"] = base["peak_mib"] / row["peak_mib"]
    return {"workload": name, "what": spec["what"], "input": spec["input"],
            "tools": list(rows.values())}


# ---------------------------------------------------------------- report


def fmt_ratio(row, key):
    return f"{row[key]:.2f}" if key in row else "—"


def markdown(results, meta):
    lines = [f"Runs per tool: {meta['runs']} (median wall time, median CPU time user + system, "
             f"max peak RSS); "
             f"threads: {meta['threads']}; machine: {meta['cpu']}, {meta['cores']} cores "
             f"(1-minute load average {meta['load'][0]:.1f} before, {meta['load'][1]:.1f} "
             f"after); {meta['date']}.", "",
             "Ratios are tessera / peer: below 1.00 tessera is faster or smaller.", ""]
    for res in results:
        lines += [f"### {res['workload']}", "", res["what"] + f" (input `{res['input']}`).", "",
                  "| tool | median s | cpu s | peak MiB | time ratio | mem ratio | output | note |",
                  "|---|---:|---:|---:|---:|---:|---|---|"]
        for row in res["tools"]:
            if row["status"] == "ok":
                lines.append(f"| {row['label']} | {row['median_s']:.3f} | "
                             f"{row['median_cpu_s']:.3f} | {row['peak_mib']:.0f} | "
                             f"{fmt_ratio(row, 'time_ratio')} | {fmt_ratio(row, 'mem_ratio')} | "
                             f"{row.get('output', '')} | {row['note']} |")
            else:
                lines.append(f"| {row['label']} | — | — | — | — | — | | {row['note']} |")
        lines += ["", "<details><summary>commands</summary>", ""]
        lines += [f"- {row['label']}: `{row['cmd']}`" for row in res["tools"] if row["cmd"]]
        lines += ["", "</details>", ""]
    lines += ["Tool versions: " + "; ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "."]
    return "\n".join(lines) + "\n"


def update_docs(md):
    """Replaces the text between the bench markers in docs/benchmarks.md."""
    with open(DOCS) as f:
        text = f.read()
    b, e = text.find(BEGIN), text.find(END)
    if b < 0 or e < b:
        sys.exit(f"run.py: {DOCS} lacks the {BEGIN} / {END} markers")
    text = text[:b + len(BEGIN)] + "\n" + md + text[e:]
    with open(DOCS, "w") as f:
        f.write(text)
    log(f"updated {DOCS}")


def versions(ctx):
    """One short version string per tool that is available."""
    out = {}
    probes = {
        "tessera": [ctx.get("tessera"), "--version"],
        "vips": [ctx.get("vips"), "--version"],
        "imagemagick": [ctx.get("convert"), "-version"],
        "graphicsmagick": [ctx.get("gm"), "version"],
    }
    for key, argv in probes.items():
        if argv[0] and key not in ctx["unavailable"]:
            rc, msg = run_quiet(argv)
            first = msg.strip().splitlines()[0] if msg.strip() else ""
            if rc == 0 and first:
                words = first.replace("Version: ", "").split()
                out[key] = words[-1] if key == "tessera" else " ".join(words[:3])
    rc, msg = run_quiet(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    if rc == 0 and "tessera" in out:
        out["tessera"] += f" (tree at commit {msg.strip()})"
    rc, msg = run_quiet(["pkg-config", "--modversion", "opencv4"])
    if rc == 0:
        out["opencv"] = msg.strip()
    return out


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool (default 3)")
    ap.add_argument("--only", help="comma-separated workloads: " + ", ".join(WORKLOADS))
    ap.add_argument("--tessera", default=os.path.join(ROOT, "build", "src", "cli", "tessera"),
                    help="tessera binary (default build/src/cli/tessera)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="threads for every tool (default: all cores)")
    ap.add_argument("--update-docs", action="store_true",
                    help="rewrite the results section of docs/benchmarks.md")
    ap.add_argument("--keep-outputs", action="store_true",
                    help="keep the last run's output images under bench/out/work/")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            ap.error(f"unknown workload {n!r}; choose from {', '.join(WORKLOADS)}")
    if args.runs < 1 or args.threads < 1:
        ap.error("--runs and --threads must be at least 1")

    ctx = {"threads": args.threads, "keep": args.keep_outputs, "unavailable": {}}
    tessera = os.path.abspath(args.tessera)
    ctx["tessera"] = tessera if os.access(tessera, os.X_OK) else None
    for key, exe in (("vips", "vips"), ("vipsthumbnail", "vipsthumbnail"),
                     ("vipsheader", "vipsheader"), ("convert", "convert"), ("gm", "gm")):
        ctx[key] = find_tool(exe)
    missing = {"tessera": (ctx["tessera"], f"skipped: no tessera binary at {tessera}"),
               "vips": (ctx["vips"], "skipped: vips not installed"),
               "imagemagick": (ctx["convert"], "skipped: ImageMagick not installed"),
               "graphicsmagick": (ctx["gm"], "skipped: GraphicsMagick not installed")}
    for key, (path, note) in missing.items():
        if not path:
            ctx["unavailable"][key] = note
    peers, notes = build_peers()
    ctx.update(peers)
    ctx["unavailable"].update(notes)
    if ctx["vips"] and not ctx["vipsthumbnail"]:
        ctx["vipsthumbnail"] = ctx["vips"] + "thumbnail"

    needed = sorted({WORKLOADS[n]["input"] for n in names})
    check_recipe()
    ctx["inputs"] = {n: make_input(ctx, n) for n in needed}
    for path in ctx["inputs"].values():  # warm the page cache for everyone alike
        with open(path, "rb") as f:
            while f.read(1 << 22):
                pass

    env = dict(os.environ)
    n = str(args.threads)
    env.update(VIPS_CONCURRENCY=n, OMP_NUM_THREADS=n, MAGICK_THREAD_LIMIT=n)
    ctx["env"] = env
    ctx["work"] = os.path.join(OUT, "work")
    os.makedirs(ctx["work"], exist_ok=True)

    started, load_before = time.time(), os.getloadavg()[0]
    results = [run_workload(n, WORKLOADS[n], ctx, args.runs) for n in names]
    meta = {"runs": args.runs, "threads": args.threads, "cores": os.cpu_count(),
            "cpu": cpu_model(), "date": datetime.date.today().isoformat(),
            "versions": versions(ctx), "seconds": round(time.time() - started, 1),
            "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "env": {"VIPS_CONCURRENCY": n, "OMP_NUM_THREADS": n, "MAGICK_THREAD_LIMIT": n}}
    md = markdown(results, meta)
    print(md)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"meta": meta, "workloads": results}, f, indent=2)
        f.write("\n")
    if not args.keep_outputs:
        shutil.rmtree(ctx["work"], ignore_errors=True)
    log(f"wrote {OUT}/results.md and results.json ({meta['seconds']} s)")
    if args.update_docs:
        update_docs(md)


if __name__ == "__main__":
    main()
