"""Reproducible versions (issue 14 point 3) against a real server:

- every job answer (GET /jobs/{id}, the list, `tessera status`) shows the
  tessera version, each op's version and the output settings;
- pipelines pin `op@N` (text) or "version" (JSON); an unknown version is
  refused naming the versions there are;
- saved pipelines: create, update (a new version), get any version, list,
  rollback (a new version equal to an old one), delete, per account,
  viewers read-only; jobs from a saved pipeline record which version;
- rerun repeats a job's versions and settings with identical bytes;
- the upgrade: jobs run with brightness v1, the server restarts with the
  TEST ONLY brightness v2 as the default (TESSERA_TEST_OP_V2=1), new jobs
  give v2's bytes while the old jobs rerun with v1's bytes, identically;
  after a "downgrade" the v2 job's rerun is refused (version_unavailable).
"""
import json
import os
import shutil
import harness
import subprocess
import tempfile
import unittest

from harness import BIN, DATA, Server

V2_ENV = {"TESSERA_TEST_OP_V2": "1"}


def tessera_version():
    out = subprocess.run([BIN, "version"], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


class Base(unittest.TestCase):
    def start(self, data=None, env=None):
        self.srv = Server(data=data, env=env)
        return self.srv

    def tearDown(self):
        self.srv.stop()

    def upload(self, name, token):
        status, doc, _ = self.srv.upload(os.path.join(DATA, name), token=token)
        self.assertIn(status, (200, 201), doc)
        return doc["id"]

    def submit(self, token, images, **body):
        body["images"] = images
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", body, token=token)
        self.assertEqual(status, 201, doc)
        return self.srv.wait_job(doc["id"], token=token)

    def result(self, job, token):
        self.assertEqual(job["state"], "succeeded", job)
        status, _, data = self.srv.request(
            "GET", "/api/v1/jobs/%s/result/%s" % (job["id"], job["items"][0]["image"]), token=token)
        self.assertEqual(status, 200)
        return data

    def rerun(self, job, token):
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs/%s/rerun" % job["id"], {}, token=token)
        self.assertEqual(status, 201, doc)
        return self.srv.wait_job(doc["id"], token=token)


class VersionsTest(Base):
    def setUp(self):
        self.start()
        self.token = self.srv.make_user("vera", "user")
        self.image = self.upload("chelsea.png", self.token)

    def test_job_answer_carries_versions_and_settings(self):
        job = self.submit(self.token, [self.image], pipeline="grayscale|gaussian-blur:sigma=2",
                          output={"format": "jpeg", "quality": 70, "tile": 64})
        self.assertEqual(job["versions"], {"tessera": tessera_version(),
                                           "ops": [{"op": "grayscale", "version": 1},
                                                   {"op": "gaussian-blur", "version": 1}]})
        self.assertEqual(job["output"], {"format": "jpeg", "quality": 70, "tile": 64})
        self.assertIsNone(job["saved_pipeline"])
        self.assertEqual(job["pipeline_text"], "grayscale@1|gaussian-blur@1:sigma=2,ksize=0")
        self.assertEqual([s["version"] for s in job["pipeline"]], [1, 1])
        # the tile side defaults to the server's, and is recorded
        other = self.submit(self.token, [self.image], pipeline="invert")
        self.assertEqual(other["output"], {"format": "png", "quality": 85, "tile": 256})
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs", token=self.token)
        listed = {j["id"]: j for j in doc["jobs"]}
        self.assertEqual(listed[job["id"]]["versions"], job["versions"])
        self.assertEqual(listed[job["id"]]["output"], job["output"])
        r = subprocess.run([BIN, "status", "--server", "http://127.0.0.1:%d" % self.srv.port,
                            "--token", self.token, job["id"]], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("versions: tessera %s; grayscale@1, gaussian-blur@1" % tessera_version(),
                      r.stdout)
        self.assertIn("output:   jpeg, quality 70, tile 64", r.stdout)
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [self.image], "pipeline": "invert",
                                        "output": {"tile": 8}}, token=self.token)
        self.assertEqual(status, 400, doc)
        self.assertIn("tile", doc["error"]["message"])

    def test_pinning_and_unknown_versions(self):
        pinned = self.submit(self.token, [self.image], pipeline="gaussian-blur@1:sigma=2")
        same = self.submit(self.token, [self.image],
                           pipeline=[{"op": "gaussian-blur", "version": 1, "sigma": 2}])
        at = self.submit(self.token, [self.image], pipeline=[{"op": "gaussian-blur@1", "sigma": 2}])
        self.assertEqual(pinned["pipeline_text"], same["pipeline_text"])
        self.assertEqual(at["pipeline_text"], same["pipeline_text"])
        self.assertEqual(self.result(pinned, self.token), self.result(same, self.token))
        for pipeline in ("gaussian-blur@9:sigma=2", [{"op": "gaussian-blur", "version": 9}]):
            status, doc, _ = self.srv.json("POST", "/api/v1/pipelines/validate",
                                           {"pipeline": pipeline}, token=self.token)
            self.assertEqual(status, 400, doc)
            self.assertEqual(doc["error"]["code"], "bad_pipeline")
            self.assertIn("gaussian-blur: version 9 does not exist (versions: 1)",
                          doc["error"]["message"])
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [self.image], "pipeline": "gausian-blur@1"},
                                       token=self.token)
        self.assertEqual(status, 400, doc)
        self.assertIn("did you mean 'gaussian-blur'?", doc["error"]["message"])
        status, doc, _ = self.srv.json("GET", "/api/v1/operations", token=self.token)
        blur = [op for op in doc if op["name"] == "gaussian-blur"][0]
        self.assertEqual((blur["version"], blur["versions"]), (1, [1]))

    def test_rerun_repeats_versions_settings_and_bytes(self):
        job = self.submit(self.token, [self.image], pipeline="grayscale|sharpen",
                          output={"format": "webp", "quality": 60, "tile": 32}, name="sharp")
        again = self.rerun(job, self.token)
        self.assertNotEqual(again["id"], job["id"])
        for key in ("pipeline_text", "pipeline", "versions", "output", "name"):
            self.assertEqual(again[key], job[key], key)
        self.assertEqual(self.result(again, self.token), self.result(job, self.token))


class SavedPipelinesTest(Base):
    def setUp(self):
        self.start()
        self.alice = self.srv.make_user("alice", "user")
        self.bob = self.srv.make_user("bob", "user")
        self.viewer = self.srv.make_user("vic", "viewer")

    def call(self, method, path, body=None, token=None):
        return self.srv.json(method, "/api/v1/pipelines/saved" + path, body,
                             token=token or self.alice)[:2]

    def test_crud_versions_rollback(self):
        status, v1, h = self.srv.json("POST", "/api/v1/pipelines/saved",
                                      {"name": "thumbs", "pipeline": "thumbnail:width=64",
                                       "output": {"format": "jpeg"}}, token=self.alice)
        self.assertEqual(status, 201, v1)
        self.assertEqual(h["location"], "/api/v1/pipelines/saved/thumbs/versions/1")
        self.assertEqual((v1["name"], v1["version"], v1["latest"]), ("thumbs", 1, 1))
        self.assertEqual(v1["pipeline_text"], "thumbnail@1:width=64")
        self.assertEqual(v1["output"], {"format": "jpeg", "quality": None, "tile": None,
                                        "frame": None, "speed": None})
        self.assertIsNone(v1["rollback_of"])
        status, doc = self.call("POST", "", {"name": "thumbs", "pipeline": "invert"})
        self.assertEqual((status, doc["error"]["code"]), (409, "exists"))
        for bad in ("has space", "", "x" * 65, "../etc"):
            status, doc = self.call("POST", "", {"name": bad, "pipeline": "invert"})
            self.assertEqual(status, 400, bad)
        status, doc = self.call("POST", "", {"name": "broken", "pipeline": "invert@7"})
        self.assertEqual((status, doc["error"]["code"]), (400, "bad_pipeline"))
        self.assertIn("versions: 1", doc["error"]["message"])
        status, v2 = self.call("PUT", "/thumbs", {"pipeline": "thumbnail:width=32|grayscale",
                                                   "output": {"quality": 50, "tile": 128}})
        self.assertEqual(status, 200, v2)
        self.assertEqual((v2["version"], v2["latest"]), (2, 2))
        self.assertEqual(v2["output"], {"format": None, "quality": 50, "tile": 128,
                                        "frame": None, "speed": None})
        status, doc = self.call("PUT", "/nothing", {"pipeline": "invert"})
        self.assertEqual(status, 404)
        status, newest = self.call("GET", "/thumbs")
        self.assertEqual((status, newest["version"]), (200, 2))
        status, old = self.call("GET", "/thumbs/versions/1")
        self.assertEqual((status, old["pipeline_text"], old["latest"]),
                         (200, "thumbnail@1:width=64", 2))
        self.assertEqual(self.call("GET", "/thumbs/versions/3")[0], 404)
        self.assertEqual(self.call("GET", "/thumbs/versions/x")[0], 400)
        # rollback: a new version equal to the old one
        status, v3 = self.call("POST", "/thumbs/rollback", {"version": 1})
        self.assertEqual(status, 201, v3)
        self.assertEqual((v3["version"], v3["rollback_of"], v3["pipeline_text"], v3["output"]),
                         (3, 1, old["pipeline_text"], old["output"]))
        self.assertEqual(self.call("POST", "/thumbs/rollback", {"version": 9})[0], 404)
        self.assertEqual(self.call("POST", "/thumbs/rollback", {})[0], 400)
        status, hist = self.call("GET", "/thumbs/versions")
        self.assertEqual([v["version"] for v in hist["versions"]], [1, 2, 3])
        self.assertEqual([v["rollback_of"] for v in hist["versions"]], [None, None, 1])
        self.call("POST", "", {"name": "another", "pipeline": "invert"})
        status, doc = self.call("GET", "")
        self.assertEqual(status, 200)
        self.assertEqual([(p["name"], p["version"]) for p in doc["pipelines"]],
                         [("another", 1), ("thumbs", 3)])
        self.assertEqual(doc["total"], 2)
        self.assertEqual(self.call("DELETE", "/another")[0], 204)
        self.assertEqual(self.call("DELETE", "/another")[0], 404)
        self.assertEqual(self.call("GET", "/another/versions")[0], 404)

    def test_ownership_and_viewer(self):
        self.call("POST", "", {"name": "mine", "pipeline": "invert"})
        for method, path, body in (("GET", "/mine", None), ("GET", "/mine/versions", None),
                                   ("PUT", "/mine", {"pipeline": "grayscale"}),
                                   ("POST", "/mine/rollback", {"version": 1}),
                                   ("DELETE", "/mine", None)):
            self.assertEqual(self.call(method, path, body, token=self.bob)[0], 404, (method, path))
        self.assertEqual(self.call("GET", "", token=self.bob)[1]["total"], 0)
        # bob's own "mine" is his own
        self.assertEqual(self.call("POST", "", {"name": "mine", "pipeline": "grayscale"},
                                   token=self.bob)[0], 201)
        self.assertEqual(self.call("GET", "/mine")[1]["pipeline_text"], "invert@1")
        status, doc = self.call("GET", "", token=self.viewer)
        self.assertEqual((status, doc["total"]), (200, 0))
        # an admin works in its own names, and in another account's with ?user=ID
        status, me, _ = self.srv.json("GET", "/api/v1/users/me", token=self.alice)
        self.assertEqual(self.srv.json("GET", "/api/v1/pipelines/saved/mine")[0], 404)
        status, doc, _ = self.srv.json("GET", "/api/v1/pipelines/saved/mine?user=" + me["id"])
        self.assertEqual((status, doc["pipeline_text"]), (200, "invert@1"))
        status, doc, _ = self.srv.json("GET", "/api/v1/pipelines/saved?user=" + me["id"])
        self.assertEqual([p["name"] for p in doc["pipelines"]], ["mine"])
        self.assertEqual(self.call("GET", "/mine?user=" + me["id"], token=self.bob)[0], 404)
        self.assertEqual(self.call("GET", "?user=" + me["id"], token=self.bob)[0], 404)
        self.assertEqual(self.call("GET", "?user=x", token=self.bob)[0], 400)
        for method, path in (("POST", ""), ("PUT", "/mine"), ("DELETE", "/mine"),
                             ("POST", "/mine/rollback")):
            status, _ = self.call(method, path, {"name": "v", "pipeline": "invert", "version": 1},
                                  token=self.viewer)
            self.assertEqual(status, 403, (method, path))

    def test_jobs_from_saved_pipelines(self):
        image = self.upload("coffee.png", self.alice)
        self.call("POST", "", {"name": "look", "pipeline": "brightness:delta=20",
                               "output": {"format": "jpeg", "quality": 90}})
        self.call("PUT", "/look", {"pipeline": "brightness:delta=-20|grayscale"})
        newest = self.submit(self.alice, [image], saved_pipeline="look")
        self.assertEqual(newest["saved_pipeline"], {"name": "look", "version": 2})
        self.assertEqual(newest["pipeline_text"], "brightness@1:delta=-20|grayscale@1")
        self.assertEqual(newest["output"]["format"], "png")
        first = self.submit(self.alice, [image], saved_pipeline={"name": "look", "version": 1},
                            output={"quality": 40})
        self.assertEqual(first["saved_pipeline"], {"name": "look", "version": 1})
        self.assertEqual(first["pipeline_text"], "brightness@1:delta=20")
        self.assertEqual((first["output"]["format"], first["output"]["quality"]), ("jpeg", 40))
        again = self.rerun(first, self.alice)
        self.assertEqual(again["saved_pipeline"], first["saved_pipeline"])
        self.assertEqual(self.result(again, self.alice), self.result(first, self.alice))
        for body, status in (({"saved_pipeline": "nope"}, 404),
                             ({"saved_pipeline": {"name": "look", "version": 5}}, 404),
                             ({"saved_pipeline": {"name": "look", "extra": 1}}, 400),
                             ({"saved_pipeline": "look", "pipeline": "invert"}, 400),
                             ({}, 400)):
            body["images"] = [image]
            got, doc, _ = self.srv.json("POST", "/api/v1/jobs", body, token=self.alice)
            self.assertEqual(got, status, (body, doc))
        # another account cannot run alice's saved pipeline
        other = self.upload("coffee.png", self.bob)
        got, doc, _ = self.srv.json("POST", "/api/v1/jobs",
                                    {"images": [other], "saved_pipeline": "look"}, token=self.bob)
        self.assertEqual(got, 404, doc)

    def test_cli(self):
        url = "http://127.0.0.1:%d" % self.srv.port

        def cli(*args):
            return subprocess.run([BIN, "pipelines", "--server", url, "--token", self.alice,
                                   *args], capture_output=True, text=True, timeout=60)
        r = cli("save", "edges", "-p", "grayscale|canny", "--format", "png", "--frame", "0",
                "--speed", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("edges version 1 of 1", r.stdout)
        self.assertIn("output:   format png, quality -, tile -, frame 0, speed 3", r.stdout)
        self.assertIn("pipeline: grayscale@1|canny@1:low=100,high=200", r.stdout)
        r = cli("save", "edges", "-p", "grayscale|canny:low=50")
        self.assertIn("edges version 2 of 2", r.stdout)
        r = cli("rollback", "edges", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("edges version 3 of 3", r.stdout)
        self.assertIn("(rollback to version 1)", r.stdout)
        r = cli("show", "edges", "--versions")
        self.assertRegex(r.stdout, r"\n2 .*grayscale@1\|canny@1:low=50,high=200")
        self.assertRegex(r.stdout, r"\n3 .*to 1 +grayscale@1\|canny@1:low=100")
        r = cli("show", "edges", "--version", "2", "--json")
        self.assertEqual(json.loads(r.stdout)["version"], 2)
        r = cli("list")
        self.assertRegex(r.stdout, r"edges +3 ")
        r = cli("show", "nothing")
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertIn("saved pipeline nothing not found", r.stderr)
        r = cli("save", "bad", "-p", "canny@4")
        self.assertEqual(r.returncode, 2)
        self.assertIn("canny: version 4 does not exist (versions: 1)", r.stderr)
        r = cli("delete", "edges")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "deleted edges"))


class UpgradeTest(Base):
    """Jobs made with brightness v1, then the server "upgraded" to one where
    brightness v2 (TEST ONLY, different bytes) is the default."""

    def test_old_jobs_rerun_identically_after_an_upgrade(self):
        tmp = tempfile.mkdtemp(prefix="tessera-versions-")
        self.addCleanup(shutil.rmtree, tmp, True)
        keep = os.path.join(tmp, "data")  # the data folder outlives each server
        srv = self.start(data=keep)
        token = srv.make_user("up", "user")
        image = self.upload("chelsea.png", token)
        old = self.submit(token, [image], pipeline="brightness:delta=10|invert")
        self.assertEqual(old["versions"]["ops"][0], {"op": "brightness", "version": 1})
        old_bytes = self.result(old, token)
        legacy = self.submit(token, [image], pipeline="brightness:delta=10|invert")
        status, _ = srv.json("POST", "/api/v1/pipelines/saved",
                             {"name": "bright", "pipeline": "brightness:delta=10|invert"},
                             token=token)[:2]
        self.assertEqual(status, 201)
        srv.stop()
        # a job recorded before versions were printed: its pipeline has no
        # "version" members, its op_versions record says brightness 1
        harness.query(keep, "UPDATE jobs SET pipeline_json = ?, pipeline_text = ?,"
                      " tessera_version = NULL, tile = NULL WHERE id = ?",
                      ('[{"op":"brightness","delta":10},{"op":"invert"}]',
                       "brightness:delta=10|invert", legacy["id"]))

        srv = self.start(data=keep, env=V2_ENV)  # the upgrade
        status, ops, _ = srv.json("GET", "/api/v1/operations", token=token)
        bright = [op for op in ops if op["name"] == "brightness"][0]
        self.assertEqual((bright["version"], bright["versions"]), (2, [1, 2]))
        new = self.submit(token, [image], pipeline="brightness:delta=10|invert")
        self.assertEqual(new["versions"]["ops"][0], {"op": "brightness", "version": 2})
        new_bytes = self.result(new, token)
        self.assertNotEqual(new_bytes, old_bytes, "v2 is meant to give other bytes")
        # the old jobs rerun with v1, byte for byte
        for job in (old, legacy):
            again = self.rerun(job, token)
            self.assertEqual(again["versions"]["ops"][0], {"op": "brightness", "version": 1})
            self.assertEqual(again["pipeline_text"], "brightness@1:delta=10|invert@1")
            self.assertEqual(self.result(again, token), old_bytes, job["id"])
        status, doc, _ = srv.json("GET", "/api/v1/jobs/" + legacy["id"], token=token)
        self.assertEqual(doc["versions"]["ops"], [{"op": "brightness", "version": 1},
                                                  {"op": "invert", "version": 1}])
        self.assertIsNone(doc["versions"]["tessera"])
        # the saved pipeline pinned v1 when it was saved; a pin picks v1 too
        saved = self.submit(token, [image], saved_pipeline="bright")
        self.assertEqual(self.result(saved, token), old_bytes)
        pinned = self.submit(token, [image], pipeline="brightness@1:delta=10|invert")
        self.assertEqual(self.result(pinned, token), old_bytes)
        srv.stop()

        srv = self.start(data=keep)  # v2 gone again: its job cannot rerun exactly
        status, doc, _ = srv.json("POST", "/api/v1/jobs/%s/rerun" % new["id"], {}, token=token)
        self.assertEqual(status, 409, doc)
        self.assertEqual(doc["error"]["code"], "version_unavailable")
        self.assertIn("brightness: version 2 does not exist (versions: 1)", doc["error"]["message"])
        r = subprocess.run([BIN, "jobs", "rerun", new["id"], "--server",
                            "http://127.0.0.1:%d" % srv.port, "--token", token],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertIn("version_unavailable", r.stderr)
        self.assertEqual(self.result(self.rerun(old, token), token), old_bytes)
        srv.stop()


if __name__ == "__main__":
    unittest.main()
