"""docs/openapi.yaml and the server's route table (`tessera serve
--print-routes`) list the same routes, both ways."""
import os
import subprocess
import unittest

from harness import BIN, ROOT

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def spec_routes():
    path = os.path.join(ROOT, "docs", "openapi.yaml")
    try:
        import yaml
        with open(path) as f:
            doc = yaml.safe_load(f)
        return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops if m in METHODS}
    except ImportError:  # a small line parser: 2-space path keys, 4-space methods
        routes, cur, inside = set(), None, False
        with open(path) as f:
            for line in f:
                if line.startswith("paths:"):
                    inside = True
                elif inside and line[:1] not in (" ", "\n"):
                    inside = False
                elif inside and line.startswith("  /") and line.rstrip().endswith(":"):
                    cur = line.strip()[:-1]
                elif inside and cur and line.startswith("    ") and not line.startswith("     "):
                    key = line.strip().rstrip(":")
                    if key in METHODS:
                        routes.add((key.upper(), cur))
        return routes


def server_routes():
    out = subprocess.run([BIN, "serve", "--print-routes"], capture_output=True, text=True,
                         check=True).stdout
    return {tuple(line.split(" ", 1)) for line in out.splitlines() if line}


class SpecTest(unittest.TestCase):
    def test_every_server_route_is_in_the_spec(self):
        missing = server_routes() - spec_routes()
        self.assertEqual(missing, set(), "routes the server has but docs/openapi.yaml lacks")

    def test_every_spec_route_is_served(self):
        missing = spec_routes() - server_routes()
        self.assertEqual(missing, set(), "routes docs/openapi.yaml has but the server lacks")


if __name__ == "__main__":
    unittest.main()
