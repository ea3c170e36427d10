"""Op versions on a fleet (issue 14): the pipeline a coordinator sends its
workers pins every op's version, for tile tasks and image tasks alike, so
a worker computes exactly the version the job recorded; a worker without
that version fails the image with the version message instead of running
another version. Uses the TEST ONLY brightness v2 (TESSERA_TEST_OP_V2=1).
"""
import os
import subprocess
import tempfile

import fleet
from fleet import BIN, DATA, Worker, coordinator, shared_store
from test_fleet import result, run_job

V2 = {"TESSERA_TEST_OP_V2": "1"}
PHOTO = os.path.join(DATA, "chelsea.png")


def local(pipeline, env=None):
    """`tessera process` of chelsea.png as decoded pixels."""
    import cv2
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.png")
        r = subprocess.run([BIN, "process", "-p", pipeline, PHOTO, "-o", out], capture_output=True,
                           text=True, timeout=120, env=dict(os.environ, **(env or {})))
        assert r.returncode == 0, r.stderr
        return cv2.imread(out, cv2.IMREAD_UNCHANGED)


class FleetVersionsTest(fleet.FleetCase):
    TMP_PREFIX = "tessera-fleet-versions-"

    def setUp(self):
        super().setUp()
        self.store, self.store_env = shared_store(self.tmp)

    def start(self, kind, worker_env, server_env):
        self.workers.append(Worker(self.redis.url, "--threads", "1", "--image-threads", "1",
                                   "--block-ms", "500", *self.store,
                                   env=dict(self.store_env, **worker_env), log_dir=self.tmp))
        srv = coordinator(self.redis, "--task-kind", kind, "--tile", "64", *self.store,
                          env=dict(self.store_env, **server_env))
        self.servers.append(srv)
        return srv

    def test_workers_run_the_pinned_versions(self):
        import numpy as np
        v1, v2 = local("brightness@1:delta=10", V2), local("brightness:delta=10", V2)
        self.assertFalse(np.array_equal(v1, v2))
        for kind in ("tile", "image"):
            srv = self.start(kind, V2, V2)
            image = srv.upload(PHOTO)[1]["id"]
            for pipeline, want, version in (("brightness:delta=10", v2, 2),
                                            ("brightness@1:delta=10", v1, 1)):
                job_id, done = run_job(srv, [image], pipeline)
                self.assertEqual(done["state"], "succeeded", (kind, done))
                self.assertEqual(done["versions"]["ops"], [{"op": "brightness", "version": version}])
                self.assertTrue(np.array_equal(result(srv, job_id, image), want), (kind, pipeline))
            for s in self.servers:
                s.stop()
            for w in self.workers:
                w.stop()
            self.servers, self.workers = [], []

    def test_a_worker_without_the_version_fails_the_image(self):
        srv = self.start("image", {}, V2)  # the worker was not upgraded
        image = srv.upload(PHOTO)[1]["id"]
        _, done = run_job(srv, [image], "brightness:delta=10", timeout=60)
        self.assertEqual(done["state"], "failed", done)
        self.assertIn("brightness: version 2 does not exist (versions: 1)", done["error"])
        _, done = run_job(srv, [image], "brightness@1:delta=10", timeout=60)
        self.assertEqual(done["state"], "succeeded", done)
