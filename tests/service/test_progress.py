"""Honest progress through `tessera serve` (issue 12): a job's ETA is null
until it is stable, its percent never goes backwards and reaches 100 only
at the end, and on multi-image jobs the ETA at 50 % is near the time that
was actually left. The sampling and the error are bench/eta_accuracy.py's,
which measures the same on a larger set of jobs (docs/internals/jobs.md)."""
import os
import statistics
import sys
import tempfile
import unittest

from harness import ROOT, Server

sys.path.insert(0, os.path.join(ROOT, "bench"))
import eta_accuracy  # noqa: E402

# Multi-image jobs of a few seconds each on a loaded 2-core machine.
JOBS = [
    ([(1600, 1600, "png")] * 4, "gaussian-blur:sigma=2", "png"),
    ([(3000, 2000, "jpeg")] * 4, "grayscale|gaussian-blur:sigma=4|sharpen", "webp"),
    ([(2400, 2400, "webp"), (3200, 2400, "jpeg"), (2800, 2800, "png")],
     "median:ksize=5|gaussian-blur:sigma=3|median:ksize=9", "jpeg"),
]
# Measured median at 50 % is far lower (docs/internals/jobs.md); the test
# allows for a machine shared with other builds.
MEDIAN_ERROR_AT_50 = 0.5


class ProgressTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.runs = []
        with tempfile.TemporaryDirectory() as tmp:
            seed = 100
            for images, pipeline, output in JOBS:
                ids = []
                for w, h, fmt in images:
                    seed += 1
                    ids.append(eta_accuracy.upload_image(cls.srv, tmp, w, h, fmt, seed))
                cls.runs.append(eta_accuracy.sample_job(cls.srv, ids, pipeline, output))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_eta_null_at_the_start(self):
        for samples in self.runs:
            self.assertIsNone(samples[0][3], samples[:3])
            # no ETA while under 5 % and under 2 s of running
            for t, state, percent, eta in samples:
                if t < 1.5 and percent < 4.9:
                    self.assertIsNone(eta, (t, state, percent, eta))

    def test_percent_monotonic_and_100_only_at_the_end(self):
        for samples in self.runs:
            self.assertEqual(samples[-1][1], "succeeded", samples[-3:])
            self.assertEqual(samples[-1][2], 100)
            last = 0
            for t, state, percent, eta in samples:
                self.assertGreaterEqual(percent, last, (t, state, percent))
                last = percent
                if state != "succeeded":
                    self.assertLess(percent, 100, (t, state, percent))

    def test_eta_error_at_half_way(self):
        errors = [eta_accuracy.eta_errors(s) for s in self.runs]
        at_50 = [e[50] for e in errors if 50 in e]
        self.assertTrue(at_50, errors)
        print("\nETA errors: %s" % errors, file=sys.stderr)
        self.assertLessEqual(statistics.median(at_50), MEDIAN_ERROR_AT_50, errors)


if __name__ == "__main__":
    unittest.main()
