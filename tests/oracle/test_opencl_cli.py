"""The OpenCL backend from the command line: `tessera info --devices`
lists PoCL's CPU device (installed by the test set-up), `process
--backend opencl` gives the CPU backend's bytes on real photos, the
program is built once and then read from the disk cache, and a machine
without an OpenCL runtime (OCL_ICD_VENDORS pointing to an empty folder)
runs on the CPU with one notice, never an error."""
import filecmp
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from tessera_cli import BIN, ROOT

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "testdata")
PIPELINES = [
    "invert|brightness:delta=-30",
    "grayscale|gaussian-blur:ksize=5|canny:low=100,high=200",  # the original design's
    "equalize|threshold-otsu",
    "rotate:angle=30|resize:scale=0.5,interp=area",
    "gaussian-blur:sigma=2|sharpen|median:ksize=5",
]


class OpenCLCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-opencl-cli-")
        self.env = dict(os.environ, TESSERA_CL_CACHE=os.path.join(self.tmp, "cache"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tessera(self, *args, env=None, code=0):
        r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300,
                           env=env or self.env)
        self.assertEqual(r.returncode, code, r.stderr)
        return r

    def test_info_devices_lists_pocl(self):
        doc = json.loads(self.tessera("info", "--devices", "--json").stdout)
        devices = [d for p in doc["platforms"] for d in p["devices"]]
        self.assertTrue(devices, doc)
        pocl = [p for p in doc["platforms"] if "Portable Computing Language" in p["name"]]
        self.assertTrue(pocl, "PoCL (pocl-opencl-icd) is not installed: %s" % doc)
        for d in devices:
            for key in ("index", "name", "type", "global_memory", "compute_units", "driver"):
                self.assertIn(key, d)
            self.assertGreater(d["global_memory"], 0)
            self.assertGreater(d["compute_units"], 0)
        self.assertEqual(sorted(d["index"] for d in devices), list(range(len(devices))))
        text = self.tessera("info", "--devices").stdout
        self.assertIn("device 0:", text)
        self.assertIn("compute units", text)

    def test_opencl_output_equals_cpu(self):
        for name in ("hubble_deep_field.jpg", "astronaut.png", "coffee.png"):
            src = os.path.join(SHARED, name)
            for i, p in enumerate(PIPELINES):
                cpu, ocl = (os.path.join(self.tmp, "%s-%d-%s.png" % (name, i, b))
                            for b in ("cpu", "ocl"))
                self.tessera("process", "-p", p, src, "-o", cpu, "--tile", "128")
                self.tessera("process", "--backend", "opencl", "-p", p, src, "-o", ocl,
                             "--tile", "96")
                self.assertTrue(filecmp.cmp(cpu, ocl, shallow=False), (name, p))

    def test_program_cache(self):
        src = os.path.join(SHARED, "astronaut.png")
        out = os.path.join(self.tmp, "o.png")
        first = self.tessera("process", "--backend", "opencl", "-p", "invert", src, "-o", out)
        self.assertIn('"program":"built"', first.stderr)
        cached = os.listdir(os.path.join(self.tmp, "cache"))
        self.assertEqual(len(cached), 1, cached)
        self.assertTrue(cached[0].endswith(".bin"))
        again = self.tessera("process", "--backend", "opencl", "-p", "invert", src, "-o", out)
        self.assertIn('"program":"cached"', again.stderr)
        # A damaged cache entry is rebuilt, not an error.
        with open(os.path.join(self.tmp, "cache", cached[0]), "wb") as f:
            f.write(b"not a program")
        third = self.tessera("process", "--backend", "opencl", "-p", "invert", src, "-o", out)
        self.assertIn('"program":"built"', third.stderr)

    def test_no_runtime_runs_on_the_cpu(self):
        empty = os.path.join(self.tmp, "no-vendors")
        os.mkdir(empty)
        env = dict(self.env, OCL_ICD_VENDORS=empty)
        doc = json.loads(self.tessera("info", "--devices", "--json", env=env).stdout)
        self.assertEqual(doc["platforms"], [])
        self.assertIn("no OpenCL platform", doc["error"])
        src = os.path.join(SHARED, "rocket.jpg")
        cpu, ocl = os.path.join(self.tmp, "cpu.png"), os.path.join(self.tmp, "ocl.png")
        self.tessera("process", "-p", PIPELINES[1], src, "-o", cpu)
        for backend in ("opencl", "auto"):
            r = self.tessera("process", "--backend", backend, "-p", PIPELINES[1], src, "-o", ocl,
                             env=env)
            self.assertEqual(r.stderr.count("notice:"), 1, r.stderr)
            self.assertIn("running on the CPU", r.stderr)
            self.assertTrue(filecmp.cmp(cpu, ocl, shallow=False))

    def test_device_errors_fail_over_to_the_cpu(self):
        """Every third device tile fails (TESSERA_TEST_CL_FAIL_EVERY, the
        path of an out-of-resources or lost-device error): the CPU redoes
        those tiles, the output is the same, the run succeeds, and the
        fallbacks are logged."""
        src = os.path.join(SHARED, "hubble_deep_field.jpg")
        cpu, ocl = os.path.join(self.tmp, "cpu.png"), os.path.join(self.tmp, "ocl.png")
        p = "invert|brightness:delta=-30"
        self.tessera("process", "-p", p, src, "-o", cpu, "--tile", "64")
        env = dict(self.env, TESSERA_TEST_CL_FAIL_EVERY="3")
        r = self.tessera("process", "--backend", "opencl", "-p", p, src, "-o", ocl, "--tile",
                         "64", env=env)
        self.assertTrue(filecmp.cmp(cpu, ocl, shallow=False))
        warnings = [ln for ln in r.stderr.splitlines() if "computed on the CPU instead" in ln]
        self.assertEqual(len(warnings), 10, r.stderr)  # the first ten; the rest are counted
        self.assertIn('"error":"i/o error"', warnings[0])

    def test_auto_without_a_gpu_and_bad_choices(self):
        src = os.path.join(SHARED, "rocket.jpg")
        out = os.path.join(self.tmp, "o.png")
        doc = json.loads(self.tessera("info", "--devices", "--json").stdout)
        gpus = [d for p in doc["platforms"] for d in p["devices"] if d["type"] == "gpu"]
        r = self.tessera("process", "--backend", "auto", "-p", "invert", src, "-o", out)
        if not gpus:
            self.assertIn("no GPU OpenCL device: running on the CPU", r.stderr)
        r = self.tessera("process", "--backend", "gpu", "-p", "invert", src, "-o", out, code=2)
        self.assertIn("cpu, opencl or auto", r.stderr)
        r = self.tessera("process", "--device", "63", "-p", "invert", src, "-o", out, code=2)
        self.assertIn("--device 63", r.stderr)


if __name__ == "__main__":
    unittest.main()
