"""Self-test of the benchmark harness (no peers, no timing of real tools):
    /usr/bin/python3 -m unittest discover -s bench -p 'test_*.py'
"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def fake_result():
    """One workload record shaped like run_workload's, tessera and one peer."""
    tools = [
        {"tool": "tessera", "label": "tessera", "status": "ok", "median_s": 1.0,
         "median_cpu_s": 1.5, "peak_mib": 50.0, "note": "", "cmd": "tessera process",
         "output": "10x10, 1 KiB"},
        {"tool": "opencv", "label": "OpenCV (C++)", "status": "ok", "median_s": 2.0,
         "median_cpu_s": 2.5, "peak_mib": 100.0, "note": "peer", "cmd": "opencv_peer",
         "time_ratio": 0.5, "mem_ratio": 0.5},
        {"tool": "graphicsmagick", "label": "GraphicsMagick", "status": "skipped",
         "note": "no such operator", "cmd": ""},
    ]
    return {"workload": "demo", "what": "a demo job", "input": "x.jpg", "tools": tools}


META = {"runs": 3, "threads": 2, "cores": 2, "cpu": "cpu", "date": "2026-01-01", "load": [0.5, 1.0],
        "versions": {"opencv": "4.6.0"}}


class HarnessTest(unittest.TestCase):
    def test_measure_reports_time_cpu_rss_and_status(self):
        with tempfile.TemporaryDirectory() as td:
            log = os.path.join(td, "log")
            secs, cpu, rss, rc = run.measure(["sh", "-c", "exit 3"], dict(os.environ), log)
            self.assertEqual(rc, 3)
            self.assertGreater(secs, 0)
            self.assertGreaterEqual(cpu, 0)
            self.assertGreater(rss, 0)

    def test_find_tool_prefers_native_binary_over_script(self):
        with tempfile.TemporaryDirectory() as td:
            first, second = os.path.join(td, "a"), os.path.join(td, "b")
            os.mkdir(first)
            os.mkdir(second)
            script = os.path.join(first, "sh")
            with open(script, "w") as f:
                f.write("#!/bin/sh\nexec /bin/sh \"$@\"\n")
            os.chmod(script, 0o755)
            os.symlink(os.path.realpath("/bin/sh"), os.path.join(second, "sh"))
            old = os.environ["PATH"]
            os.environ["PATH"] = first + os.pathsep + second
            try:
                self.assertEqual(run.find_tool("sh"), os.path.join(second, "sh"))
                self.assertIsNone(run.find_tool("no-such-tool-here"))
            finally:
                os.environ["PATH"] = old

    def test_markdown_has_a_row_per_tool_and_ratios(self):
        md = run.markdown([fake_result()], META)
        self.assertIn("| tessera | 1.000 | 1.500 | 50 | — | — |", md)
        self.assertIn("| OpenCV (C++) | 2.000 | 2.500 | 100 | 0.50 | 0.50 |", md)
        self.assertIn("| GraphicsMagick | — | — | — | — | — | | no such operator |", md)
        self.assertIn("`opencv_peer`", md)

    def test_update_docs_replaces_only_between_markers(self):
        with tempfile.TemporaryDirectory() as td:
            doc = os.path.join(td, "benchmarks.md")
            with open(doc, "w") as f:
                f.write(f"head\n{run.BEGIN}\nold\n{run.END}\ntail\n")
            old, run.DOCS = run.DOCS, doc
            try:
                run.update_docs("new table\n")
            finally:
                run.DOCS = old
            with open(doc) as f:
                self.assertEqual(f.read(), f"head\n{run.BEGIN}\nnew table\n{run.END}\ntail\n")

    def test_every_workload_names_an_input_and_tessera(self):
        for name, spec in run.WORKLOADS.items():
            self.assertIn(spec["input"], run.INPUT_SPECS, name)
            self.assertIn("tessera", spec, name)
            self.assertIn("opencv", spec, name)


if __name__ == "__main__":
    unittest.main()
