"""deploy/monitoring/ (issue 14, point 5): the Prometheus alert rules pass
`promtool check rules` and their own unit tests (`promtool test rules`),
the example Prometheus configuration `promtool check config`; the Grafana
dashboard is well formed and every panel query is valid PromQL; every
metric a rule or a panel names is one a real server exports (after a job
and a rating, so every family has samples), every family the server
exports has a panel, and the exposition passes `promtool check metrics`.
promtool comes from tests/tools.py (Debian's prometheus package)."""
import json
import os
import re
import subprocess
import tempfile
import unittest

from harness import ROOT, Server, read_file, tools

MONITORING = os.path.join(ROOT, "deploy", "monitoring")
RULES = os.path.join(MONITORING, "tessera-alerts.yml")
DASHBOARD = os.path.join(MONITORING, "tessera-dashboard.json")
# Series Prometheus makes itself for every target: not in /metrics.
SYNTHETIC = {"up"}
# Grafana's variables, replaced by plain values so promtool can parse a query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$instance": ".*"}
SELECTOR = re.compile(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\s*\{")
TESSERA_NAME = re.compile(r"\btessera_[a-z0-9_]+")


def promtool(*args, stdin=None):
    r = subprocess.run([tools.find("promtool"), *args], input=stdin, capture_output=True,
                       text=True, timeout=120, cwd=MONITORING)
    return r.returncode, r.stdout + r.stderr


def rule_expressions():
    import yaml
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return {rule["alert"]: rule["expr"] for g in doc["groups"] for rule in g["rules"]}


def dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def panel_expressions(dash):
    """{(panel title, refId): expr} of every query of every panel."""
    return {(p["title"], t["refId"]): t["expr"]
            for p in dash["panels"] for t in p.get("targets", [])}


def plain(expr):
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


class MonitoringFilesTest(unittest.TestCase):
    @tools.needs("promtool")
    def test_promtool_checks_the_rules(self):
        code, out = promtool("check", "rules", RULES)
        self.assertEqual(code, 0, out)
        self.assertIn("SUCCESS: %d rules found" % len(rule_expressions()), out)

    @tools.needs("promtool")
    def test_the_alerts_fire_on_their_unit_tests(self):
        code, out = promtool("test", "rules", "tessera-alerts.test.yml")
        self.assertEqual(code, 0, out)
        self.assertIn("SUCCESS", out)
        # every alert has at least one case that expects it to fire
        with open(os.path.join(MONITORING, "tessera-alerts.test.yml")) as f:
            text = f.read()
        for alert in rule_expressions():
            self.assertIn("alertname: %s\n        exp_alerts:" % alert, text,
                          "no case in tessera-alerts.test.yml expects %s to fire" % alert)

    @tools.needs("promtool")
    def test_the_example_prometheus_config_checks(self):
        code, out = promtool("check", "config", "prometheus.yml")
        self.assertEqual(code, 0, out)
        self.assertIn("tessera-alerts.yml", out)

    def test_dashboard_is_well_formed(self):
        dash = dashboard()
        self.assertEqual(dash["uid"], "tessera-overview")
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        self.assertIn("instance", variables)
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids repeat")
        cells = set()
        for p in dash["panels"]:
            g = p["gridPos"]
            self.assertTrue(0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"])
            mine = {(g["x"] + dx, g["y"] + dy) for dx in range(g["w"]) for dy in range(g["h"])}
            self.assertFalse(cells & mine, "%s overlaps another panel" % p["title"])
            cells |= mine
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${datasource}"},
                             p["title"])
            self.assertTrue(p["targets"] and p.get("description"), p["title"])
            refs = [t["refId"] for t in p["targets"]]
            self.assertEqual(len(refs), len(set(refs)), p["title"])
            for t in p["targets"]:
                self.assertTrue(t["expr"].strip(), p["title"])
                self.assertIn('instance=~"$instance"', t["expr"], p["title"])

    @tools.needs("promtool")
    def test_every_panel_query_is_valid_promql(self):
        import yaml
        rules = [{"record": "dashboard:query_%d" % i, "expr": plain(expr)}
                 for i, expr in enumerate(panel_expressions(dashboard()).values())]
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        try:
            code, out = promtool("check", "rules", f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(code, 0, out)
        self.assertIn("SUCCESS: %d rules found" % len(rules), out)


class MetricNamesTest(unittest.TestCase):
    """Against /metrics of a real server that ran a job and got a rating."""

    @classmethod
    def setUpClass(cls):
        # With a price table, so the cost series is exported too.
        cls.prices = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        cls.prices.write('{"currency": "EUR", "cpu_hour": 1, "gb_month": 0.02}')
        cls.prices.close()
        cls.srv = Server("--prices", cls.prices.name)
        try:
            status, image, _ = cls.srv.upload_bytes(read_file("chelsea.png"), "chelsea.png")
            assert status == 201, image
            status, job, _ = cls.srv.json("POST", "/api/v1/jobs",
                                          {"images": [image["id"]], "pipeline": "grayscale|canny"})
            assert status == 201, job
            assert cls.srv.wait_job(job["id"])["state"] == "succeeded"
            status, fb, _ = cls.srv.json("POST", "/api/v1/jobs/%s/feedback" % job["id"],
                                         {"rating": 5})
            assert status == 201, fb
            status, _, body = cls.srv.request("GET", "/metrics", token=None)
            assert status == 200, status
            cls.text = body.decode()
        except Exception:
            cls.srv.stop()
            raise
        cls.samples = {line.split("{")[0].split(" ")[0] for line in cls.text.splitlines()
                       if line and not line.startswith("#")}
        cls.families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", cls.text, re.M))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        os.unlink(cls.prices.name)

    def names_in(self, expr):
        """The metric names `expr` selects: every tessera_* name, and any
        other name written as a selector (`name{...}`)."""
        return set(TESSERA_NAME.findall(expr)) | set(SELECTOR.findall(expr))

    def test_every_metric_a_rule_or_panel_names_is_exported(self):
        queries = {"alert %s" % a: e for a, e in rule_expressions().items()}
        queries.update({"panel %s (%s)" % k: e for k, e in panel_expressions(dashboard()).items()})
        for where, expr in queries.items():
            with self.subTest(where=where):
                unknown = self.names_in(plain(expr)) - self.samples - SYNTHETIC
                self.assertEqual(unknown, set(), "%s names metrics /metrics lacks" % where)
        self.assertIn("tessera_feedback_ratings_total", self.samples)

    def test_every_exported_family_is_on_the_dashboard(self):
        named = set()
        for expr in panel_expressions(dashboard()).values():
            named |= self.names_in(expr)
        missing = []
        for family, kind in self.families.items():
            series = {family + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" \
                else {family}
            if not series & named:
                missing.append(family)
        self.assertEqual(missing, [], "families /metrics exports that no dashboard panel shows "
                         "(add them to deploy/monitoring/tessera-dashboard.json)")

    @tools.needs("promtool")
    def test_the_exposition_passes_promtool_check_metrics(self):
        code, out = promtool("check", "metrics", stdin=self.text)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.strip(), "", out)


if __name__ == "__main__":
    unittest.main()
