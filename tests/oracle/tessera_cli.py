"""Shared helpers for the Python tests: the tessera binary and image I/O."""
import os
import subprocess
import tempfile

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TESSERA_BIN", os.path.join(ROOT, "build", "src", "cli", "tessera"))
DATA = os.path.join(ROOT, "tests", "data")


def have_binary():
    return os.access(BIN, os.X_OK)


def run(*args, check=True, **kw):
    r = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"tessera {' '.join(map(str, args))} exited {r.returncode}: {r.stderr}")
    return r


def read_rgb(path):
    """Reads an image as tessera sees it: RGB(A) or gray, uint8."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise AssertionError(f"cv2 could not read {path}")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


def process(pipeline, img_rgb=None, path=None, extra=(), env=None):
    """Runs a pipeline on an RGB/gray array (written as PNG) or a file; returns the PNG output.
    `env`: variables added to the environment (e.g. TESSERA_SIMD)."""
    with tempfile.TemporaryDirectory() as d:
        if path is None:
            path = os.path.join(d, "in.png")
            arr = img_rgb
            if arr.ndim == 3 and arr.shape[2] == 3:
                arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
            elif arr.ndim == 3 and arr.shape[2] == 4:
                arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
            cv2.imwrite(path, arr)
        out = os.path.join(d, "out.png")
        run("process", "-p", pipeline, path, "-o", out, *extra,
            env=dict(os.environ, **env) if env else None)
        return read_rgb(out)


def photo(name):
    return read_rgb(os.path.join(DATA, name))


def max_diff(a, b):
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return int(np.max(np.abs(a.astype(np.int32) - b.astype(np.int32)))) if a.size else 0
