"""`tessera serve --backend opencl`: the server's own pool computes on the
OpenCL device (PoCL's CPU device in CI), results are byte-identical to a
CPU server's, /api/v1/workers names the backend and device, /metrics
counts device tiles, and device errors (injected with
TESSERA_TEST_CL_FAIL_EVERY) are redone on the CPU and counted, never a
failed job."""
import os
import shutil
import tempfile
import unittest

from harness import Server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHOTO = os.path.join(os.path.dirname(ROOT), "shared", "testdata", "coffee.png")
PIPELINE = "invert|brightness:delta=-30"


def metric(srv, name):
    """A counter of /metrics, summed over the server's coordinators."""
    value = srv.metric(name)
    assert value is not None, name
    return int(value)


class OpenCLServeTest(unittest.TestCase):
    def setUp(self):
        self.cache = tempfile.mkdtemp(prefix="tessera-cl-cache-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.cache, ignore_errors=True)

    def serve(self, *args, env=None):
        srv = Server("--tile", "64", *args, env=dict({"TESSERA_CL_CACHE": self.cache}, **(env or {})))
        self.servers.append(srv)
        return srv

    def result(self, srv):
        _, img, _ = srv.upload(PHOTO)
        status, job, _ = srv.json("POST", "/api/v1/jobs", {"images": [img["id"]],
                                                           "pipeline": PIPELINE})
        self.assertEqual(status, 201, job)
        done = srv.wait_job(job["id"])
        self.assertEqual(done["state"], "succeeded", done)
        status, _, body = srv.request("GET", "/api/v1/jobs/%s/result/%s" % (job["id"], img["id"]))
        self.assertEqual(status, 200)
        return body

    def test_device_pool_same_bytes_and_reported(self):
        cpu = self.serve()
        want = self.result(cpu)
        status, body, _ = cpu.json("GET", "/api/v1/workers")
        self.assertEqual((body["backend"], body["device"]), ("cpu", ""), body)
        self.assertEqual(metric(cpu, "tessera_opencl_tiles_total"), 0)
        dev = self.serve("--backend", "opencl")
        self.assertEqual(self.result(dev), want)
        status, body, _ = dev.json("GET", "/api/v1/workers")
        self.assertEqual(body["backend"], "opencl", body)
        self.assertTrue(body["device"], body)
        self.assertGreater(metric(dev, "tessera_opencl_tiles_total"), 0)
        self.assertEqual(metric(dev, "tessera_opencl_fallbacks_total"), 0)

    def test_device_errors_are_counted_not_failed(self):
        want = self.result(self.serve())
        dev = self.serve("--backend", "opencl", env={"TESSERA_TEST_CL_FAIL_EVERY": "2"})
        self.assertEqual(self.result(dev), want)
        self.assertGreater(metric(dev, "tessera_opencl_fallbacks_total"), 0)
        self.assertGreater(metric(dev, "tessera_opencl_tiles_total"), 0)


if __name__ == "__main__":
    unittest.main()
