"""deploy/k8s-ha (issue 17): several coordinators on Kubernetes, sharing an
external PostgreSQL and the object store, behind the Service `tessera`.

The overlay is rendered twice when possible: always by a small reading of
kustomize's rules (the subset deploy/ uses: resources, JSON6902 patches and
`$patch: delete`), and also by `kubectl kustomize` or `kustomize build`
when one of them is installed (neither is a Debian 12 package, so that part
is skipped without them). Both renders must pass the same checks.
"""
import copy
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DEPLOY = os.path.join(harness.ROOT, "deploy")
OVERLAY = os.path.join(DEPLOY, "k8s-ha")
# Where the kubectl and kustomize release binaries are usually put; like
# tests/tools.py, nothing is looked up through $PATH.
KUBECTL_PATHS = ("/usr/local/bin/kubectl", "/usr/bin/kubectl")
KUSTOMIZE_PATHS = ("/usr/local/bin/kustomize", "/usr/bin/kustomize")


def load_yaml(path, many=False):
    import yaml
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d] if many else yaml.safe_load(f)


def pointer(path):
    """The parts of a JSON pointer (RFC 6901)."""
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc, ops, where):
    """Applies the JSON6902 operations OPS to DOC in place (add, replace,
    remove, test, copy); WHERE names the patch file in messages."""
    def parent_of(parts):
        node = doc
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        return node, parts[-1]

    def get(path):
        node, key = parent_of(pointer(path))
        return node[int(key)] if isinstance(node, list) else node[key]

    for op in ops:
        node, key = parent_of(pointer(op["path"]))
        kind = op["op"]
        if kind == "test":
            if get(op["path"]) != op["value"]:
                raise AssertionError(f"{where}: test of {op['path']} failed: "
                                     f"{get(op['path'])!r} is not {op['value']!r}")
            continue
        value = copy.deepcopy(get(op["from"]) if kind == "copy" else op.get("value"))
        if kind in ("add", "copy") and isinstance(node, list):
            node.insert(len(node) if key == "-" else int(key), value)
        elif kind in ("add", "copy"):
            node[key] = value
        elif kind == "replace":
            get(op["path"])  # must exist
            node[int(key) if isinstance(node, list) else key] = value
        elif kind == "remove":
            del node[int(key) if isinstance(node, list) else key]
        else:
            raise AssertionError(f"{where}: op {kind} is not known to this test")


def render(folder):
    """The documents kustomize would build from FOLDER, and the Secrets its
    generators (and its bases') make: ({(kind, name): doc}, {name: env file})."""
    kust = load_yaml(os.path.join(folder, "kustomization.yaml"))
    docs, secrets = {}, {}
    for res in kust.get("resources", []):
        path = os.path.normpath(os.path.join(folder, res))
        if os.path.isdir(path):
            more, more_secrets = render(path)
            docs.update(more)
            secrets.update(more_secrets)
        else:
            for d in load_yaml(path, many=True):
                docs[(d["kind"], d["metadata"]["name"])] = d
    for gen in kust.get("secretGenerator", []):
        secrets[gen["name"]] = os.path.join(folder, gen["envs"][0])
    for p in kust.get("patches", []):
        target = (p["target"]["kind"], p["target"]["name"])
        where = os.path.join(folder, p["path"])
        patch = load_yaml(where)
        if target not in docs:
            raise AssertionError(f"{where}: no {target} to patch")
        if isinstance(patch, list):
            json_patch(docs[target], patch, where)
        elif patch.get("$patch") == "delete":
            del docs[target]
        else:
            raise AssertionError(f"{where}: a strategic merge this test cannot apply")
    return docs, secrets


def built_by_tool():
    """The overlay as kubectl or kustomize builds it ({(kind, name): doc}), in
    a copy of deploy/ whose Secret files are their examples; None when
    neither tool is installed."""
    import yaml
    cmd = None
    for path in KUBECTL_PATHS:
        if os.access(path, os.X_OK):
            r = subprocess.run([path, "version", "--client"], capture_output=True, text=True,
                               timeout=30)
            if "Kustomize Version" in r.stdout:
                cmd = [path, "kustomize"]
                break
    for path in KUSTOMIZE_PATHS if not cmd else ():
        if os.access(path, os.X_OK):
            cmd = [path, "build"]
            break
    if not cmd:
        return None
    tmp = tempfile.mkdtemp(prefix="tessera-k8s-ha-")
    try:
        tree = os.path.join(tmp, "deploy")
        shutil.copytree(DEPLOY, tree)
        for d, _, files in os.walk(tree):
            for f in files:
                if f.endswith(".env.example"):
                    shutil.copy(os.path.join(d, f), os.path.join(d, f[:-len(".example")]))
        r = subprocess.run(cmd + [os.path.join(tree, "k8s-ha")], capture_output=True,
                           text=True, timeout=120)
        if r.returncode:
            raise AssertionError(f"{' '.join(cmd)} deploy/k8s-ha failed: {r.stderr[-2000:]}")
        return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(r.stdout) if d}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def selects(selector, labels):
    """Whether a matchLabels selector picks pods with LABELS."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class DeployHaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if importlib.util.find_spec("yaml") is None:
            raise unittest.SkipTest("python3-yaml is not installed")

    def test_overlay_names_only_files_that_exist(self):
        kust = load_yaml(os.path.join(OVERLAY, "kustomization.yaml"))
        self.assertEqual(kust["resources"][0], "../k8s-object-store")
        for res in kust["resources"]:
            path = os.path.join(OVERLAY, res)
            self.assertTrue(os.path.isfile(path)
                            or os.path.isfile(os.path.join(path, "kustomization.yaml")), res)
        for p in kust["patches"]:
            self.assertTrue(os.path.isfile(os.path.join(OVERLAY, p["path"])), p["path"])
        with open(os.path.join(OVERLAY, ".gitignore")) as f:
            ignored = f.read().split()
        for gen in kust["secretGenerator"]:
            for env in gen["envs"]:
                self.assertTrue(os.path.isfile(os.path.join(OVERLAY, env + ".example")), env)
                self.assertIn(env, ignored)  # the real file holds the password

    def check(self, docs, secrets, how):
        """The checks both renders must pass; HOW names the render."""
        self.assertNotIn(("PersistentVolumeClaim", "tessera-data"), docs, how)
        dep = docs[("Deployment", "tessera-coordinator")]["spec"]
        self.assertGreaterEqual(dep["replicas"], 2, how)
        self.assertEqual(dep["strategy"]["type"], "RollingUpdate", how)
        self.assertEqual(dep["strategy"]["rollingUpdate"]["maxUnavailable"], 0, how)
        self.assertGreaterEqual(dep["strategy"]["rollingUpdate"]["maxSurge"], 1, how)
        labels = dep["template"]["metadata"]["labels"]
        pod = dep["template"]["spec"]
        box = pod["containers"][0]
        self.assertEqual(box["readinessProbe"]["httpGet"]["path"], "/readyz", how)
        self.assertEqual(box["livenessProbe"]["httpGet"]["path"], "/healthz", how)
        args = box["args"]
        self.assertEqual(args[0], "serve", how)
        flags = {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("--")}
        self.assertEqual(flags["--db"], "$(TESSERA_DB_URL)", how)
        self.assertEqual(flags["--store"], "$(TESSERA_STORE)", how)
        self.assertEqual(flags["--s3-endpoint"], "$(TESSERA_S3_ENDPOINT)", how)
        self.assertEqual(flags["--coordinator-id"], "$(POD_NAME)", how)
        self.assertEqual(args.count("--coordinator-id"), 1, how)
        self.assertIn("--redis", flags, how)
        # every $(VAR) of the arguments comes from the pod's name or a Secret
        env = {e["name"]: e for e in box["env"]}
        self.assertEqual(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name",
                         how)
        from_secrets = [s["secretRef"]["name"] for s in box["envFrom"]]
        self.assertIn("tessera-db", from_secrets, how)
        self.assertIn("tessera-s3", from_secrets, how)
        keys = set()
        for name in from_secrets:
            with open(secrets[name] + ".example") as f:
                keys |= {line.split("=")[0] for line in f
                         if "=" in line and not line.startswith("#")}
        for value in args:
            if value.startswith("$("):
                var = value[2:-1]
                self.assertTrue(var in env or var in keys, f"{how}: {value} is never set")
        with open(secrets["tessera-db"] + ".example") as f:
            db = dict(line.strip().split("=", 1) for line in f
                      if "=" in line and not line.startswith("#"))
        self.assertEqual(set(db), {"TESSERA_DB_URL", "PGPASSWORD"}, how)
        self.assertTrue(db["TESSERA_DB_URL"].startswith("postgresql://"), how)
        # --data is scratch only: an emptyDir, no claim
        mount = [m for m in box["volumeMounts"] if m["mountPath"] == flags["--data"]][0]
        volume = [v for v in pod["volumes"] if v["name"] == mount["name"]][0]
        self.assertIn("emptyDir", volume, how)
        self.assertNotIn("persistentVolumeClaim", volume, how)
        # a preStop pause inside the grace period, long enough for a drain
        pause = box["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pause[0], "sleep", how)
        self.assertGreaterEqual(pod["terminationGracePeriodSeconds"], 30 + int(pause[1]), how)
        # the budget and the Service pick the coordinator pods
        pdbs = [d for (kind, _), d in docs.items() if kind == "PodDisruptionBudget"]
        self.assertEqual(len(pdbs), 1, how)
        budget = pdbs[0]["spec"]
        self.assertTrue(selects(budget["selector"]["matchLabels"], labels), how)
        self.assertTrue(budget.get("maxUnavailable") == 1 or budget.get("minAvailable", 0) >= 2,
                        how)
        self.assertLess(budget.get("maxUnavailable", 0), dep["replicas"], how)
        service = docs[("Service", "tessera")]["spec"]
        self.assertTrue(selects(service["selector"], labels), how)
        self.assertTrue(selects(dep["selector"]["matchLabels"], labels), how)

    def test_coordinators(self):
        docs, secrets = render(OVERLAY)
        self.check(docs, secrets, "deploy/k8s-ha as this test reads it")
        built = built_by_tool()
        if built is not None:
            self.check(built, secrets, "deploy/k8s-ha built by kustomize")
            self.assertEqual({k for k in built if k[0] != "Secret"}, set(docs))
            for doc in built.values():
                if doc["kind"] != "Namespace":
                    self.assertEqual(doc["metadata"].get("namespace"), "tessera",
                                     (doc["kind"], doc["metadata"]["name"]))

    def test_flags_exist(self):
        r = subprocess.run([harness.BIN, "serve", "--help"], capture_output=True, text=True,
                           timeout=20)
        for flag in ("--db", "--store", "--s3-endpoint", "--coordinator-id", "--job-lease-ms",
                     "--redis"):
            self.assertIn(flag, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
