"""A fleet that mixes backends: one `tessera worker --backend cpu` and one
`--backend opencl` (PoCL's CPU device in CI) on the same Redis, for tile
tasks and for image tasks; every output byte-identical to the local CPU
run, the OpenCL worker seen with its backend and device in
/api/v1/workers, and its tiles computed on the device (its exit line
counts them, with no fallback)."""
import os
import re
import signal
import time
import unittest

import numpy as np

import fleet
from fleet import DATA, Worker, coordinator, shared_store
from test_fleet import PIPELINES, local_process, result, run_job

LEASE = "1000"
# A point-only pipeline as well: whatever kernels exist, it runs on the device.
MIXED = ["invert|brightness:delta=-30"] + PIPELINES


class MixedBackendTest(fleet.FleetCase):
    TMP_PREFIX = "tessera-opencl-"

    def setUp(self):
        super().setUp()
        self.cache = {"TESSERA_CL_CACHE": os.path.join(self.tmp, "cl-cache")}

    def start(self, backend, *args, env=None):
        w = Worker(self.redis.url, "--threads", "1", "--lease-ms", LEASE, "--block-ms", "500",
                   "--backend", backend, *args, env=dict(self.cache, **(env or {})),
                   log_dir=self.tmp)
        self.workers.append(w)
        return w

    def device_tiles(self, worker):
        """Drains `worker` and reads its exit line's OpenCL counts."""
        worker.signal(signal.SIGTERM)
        worker.proc.wait(timeout=30)
        m = re.search(r"OpenCL: (\d+) device tiles, (\d+) map tiles, (\d+) fallbacks",
                      worker.text())
        self.assertIsNotNone(m, worker.text())
        return int(m.group(1)) + int(m.group(2)), int(m.group(3))

    def wait_workers(self, srv, n):
        deadline = time.time() + 15
        while time.time() < deadline:
            status, body, _ = srv.json("GET", "/api/v1/workers")
            self.assertEqual(status, 200, body)
            running = [w for w in body["workers"] if w["state"] == "running"]
            if len(running) >= n:
                return running
            time.sleep(0.2)
        self.fail("workers did not register: %s" % body)

    def check_jobs(self, srv, path, image_id, want):
        """Runs every MIXED pipeline; returns the GPU seconds the jobs record."""
        gpu_seconds = 0
        for p in MIXED:
            job_id, done = run_job(srv, [image_id], p)
            self.assertEqual(done["state"], "succeeded", (p, done))
            self.assertTrue(np.array_equal(result(srv, job_id, image_id), want[p]),
                            "%s: a mixed fleet's output differs from the CPU's" % p)
            gpu_seconds += done["usage"]["gpu_seconds"]
        return gpu_seconds

    def test_tile_tasks_on_cpu_and_opencl_workers(self):
        path = os.path.join(DATA, "chelsea.png")
        want = {p: local_process(p, path) for p in MIXED}
        self.start("cpu")
        gpu = self.start("opencl")
        srv = coordinator(self.redis, "--lease-ms", LEASE, "--tile", "64", "--task-kind", "tile")
        self.servers.append(srv)
        listed = self.wait_workers(srv, 2)
        by_backend = {tuple(w["backends"]): w for w in listed}
        self.assertIn(("cpu",), by_backend, listed)
        self.assertIn(("opencl",), by_backend, listed)
        self.assertEqual(by_backend[("cpu",)]["device"], "")
        self.assertTrue(by_backend[("opencl",)]["device"], listed)
        _, img, _ = srv.upload(path)
        gpu_seconds = self.check_jobs(srv, path, img["id"], want)
        # tiles_done arrives with each worker's heartbeat (every 2 s)
        deadline = time.time() + 10
        while True:
            status, body, _ = srv.json("GET", "/api/v1/workers")
            done = {tuple(w["backends"]): w["tiles_done"] for w in body["workers"]}
            if min(done.values()) > 0 or time.time() > deadline:
                break
            time.sleep(0.3)
        self.assertGreater(done[("cpu",)], 0, body)
        self.assertGreater(done[("opencl",)], 0, body)
        on_device, fallbacks = self.device_tiles(gpu)
        self.assertGreater(on_device, 0)
        self.assertEqual(fallbacks, 0)
        # the OpenCL worker's device time comes back with its tile results
        self.assertGreater(gpu_seconds, 0)

    def test_image_tasks_on_cpu_and_opencl_workers(self):
        store, env = shared_store(self.tmp)
        path = os.path.join(DATA, "astronaut.png")
        want = {p: local_process(p, path) for p in MIXED}
        self.start("cpu", "--image-threads", "1", *store, env=env)
        gpu = self.start("opencl", "--image-threads", "1", *store, env=env)
        srv = coordinator(self.redis, "--lease-ms", LEASE, "--task-kind", "image", *store,
                          env=env)
        self.servers.append(srv)
        self.wait_workers(srv, 2)
        _, img, _ = srv.upload(path)
        gpu_seconds = 0
        for _ in range(2):  # both workers take some of the images
            gpu_seconds += self.check_jobs(srv, path, img["id"], want)
        on_device, fallbacks = self.device_tiles(gpu)
        self.assertGreater(on_device, 0)
        self.assertEqual(fallbacks, 0)
        self.assertGreater(gpu_seconds, 0)


if __name__ == "__main__":
    unittest.main()
