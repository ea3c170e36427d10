"""Backup and recovery (issue 14 point 1) against a real `tessera serve`:
`tessera backup` taken while a slow job runs and others wait, the data
folder destroyed, `tessera restore` into a fresh one, and every account,
token, image, job and result back byte-identical, the job that was running
finishing after the restart; later backups copy only new blobs; a flipped,
truncated or cut backup is reported by `tessera verify --backup` and refused
by `tessera restore`, which leaves nothing behind; `tessera verify --data`
on a live store lists a planted orphan and a damaged blob; backups into an
S3 prefix (s3rver) and of an encrypted store (the key's fingerprint, never
the key). In the suite's S3 pass (TESSERA_TEST_STORE=s3) the live stores
are on S3 too."""
import datetime
import glob
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import harness
from harness import ADMIN_TOKEN, BIN, DATA, Server, one_coordinator_only, read_file, unique_bytes

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "s3"))
import s3server  # noqa: E402
import sigv4  # noqa: E402

PHOTOS = ["coffee.png", "chelsea.png", "rocket.jpg"]
SLOW = "gaussian-blur:sigma=30|gaussian-blur:sigma=30|median:ksize=5"
QUICK = "grayscale|sharpen"
CREDS = {"AWS_ACCESS_KEY_ID": s3server.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": s3server.SECRET_KEY,
         "AWS_REGION": s3server.REGION}
HAVE_S3RVER = os.path.exists(s3server.S3RVER_JS)
# a snapshot's metadata: SQLite's copy, or a pg_dump archive in the PostgreSQL pass
META = "metadata.dump" if harness.DB == "postgresql" else "metadata.db"


def store_args(data):
    """The --store options (and environment) a server on `data` has in this
    pass of the suite: none on files, its S3 prefix on S3."""
    if harness.STORE != "s3":
        return [], {}
    return harness.s3_store_args(data)


def tessera(*args, env=None, timeout=300):
    full = dict(os.environ, **CREDS)
    full.update(env or {})
    return subprocess.run([BIN, *harness.with_db(args)], capture_output=True, text=True,
                          timeout=timeout, env=full)


def noise_png(path, side):
    """A noisy photo-sized PNG: heavy to blur, so its job runs for seconds."""
    import numpy as np
    import cv2
    rng = np.random.default_rng(side)
    cv2.imwrite(path, rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def s3_put(endpoint, bucket, key, body):
    """PUTs one object into the test S3 server, SigV4-signed (for planting)."""
    host = endpoint.split("://", 1)[1]
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    sha = hashlib.sha256(body).hexdigest()
    path = "/%s/%s" % (bucket, key)
    headers = {"host": host, "x-amz-content-sha256": sha, "x-amz-date": amz_date,
               "x-amz-meta-sha256": sha}
    names = sorted(headers)
    request = "\n".join(["PUT", sigv4.canonical_uri(path), "",
                         "".join("%s:%s\n" % (n, headers[n]) for n in names), ";".join(names),
                         sha])
    scope = "%s/%s/s3/aws4_request" % (day, s3server.REGION)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(request.encode()).hexdigest()])
    k = sigv4.hmac256(("AWS4" + s3server.SECRET_KEY).encode(), day)
    for part in (s3server.REGION, "s3", "aws4_request"):
        k = sigv4.hmac256(k, part)
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                                "Signature=%s" % (s3server.ACCESS_KEY, scope, ";".join(names),
                                                  signature))
    del headers["host"]
    req = urllib.request.Request(endpoint + path, data=body, method="PUT", headers=headers)
    urllib.request.urlopen(req, timeout=30).read()


def blob_of(data, image_id):
    """The blob id of an image, from the live database (read-only)."""
    return harness.query(data, "SELECT blob FROM images WHERE id = ?", (image_id,))[0][0]


def dump_states(path):
    """Job id -> state in a pg_dump archive (its COPY of public.jobs)."""
    r = subprocess.run([harness.tools.find("pg_restore"), "--data-only", "--table=jobs", "-f",
                        "-", path], capture_output=True, text=True, check=True)
    lines = iter(r.stdout.splitlines())
    for line in lines:
        if line.startswith("COPY public.jobs ("):
            cols = [c.strip() for c in line[len("COPY public.jobs ("):].split(")")[0].split(",")]
            break
    else:
        return {}
    states = {}
    for line in lines:
        if line == "\\.":
            break
        row = line.split("\t")
        states[row[cols.index("id")]] = row[cols.index("state")]
    return states


def wait_all(srv, token=ADMIN_TOKEN, timeout=300):
    status, doc, _ = srv.json("GET", "/api/v1/jobs", token=token)
    assert status == 200, (status, doc)
    return [srv.wait_job(j["id"], token=token, timeout=timeout) for j in doc["jobs"]]


def contents(srv, tokens):
    """What a person sees, per account: images with their bytes, jobs with
    their states and result bytes, and the account's tokens."""
    out = {}
    for name, token in sorted(tokens.items()):
        status, imgs, _ = srv.json("GET", "/api/v1/images", token=token)
        assert status == 200, (name, status, imgs)
        images = {}
        for im in imgs["images"]:
            status, _, body = srv.request("GET", "/api/v1/images/%s/content" % im["id"],
                                          token=token)
            assert status == 200, (name, im["id"], status)
            images[im["id"]] = (im["sha256"], im["name"], hashlib.sha256(body).hexdigest())
        jobs = {}
        for job in wait_all(srv, token):
            results = []
            for item in job["items"]:
                status, _, body = srv.request(
                    "GET", "/api/v1/jobs/%s/result/%s" % (job["id"], item["image"]), token=token)
                results.append((item["image"], status, hashlib.sha256(body).hexdigest()))
            jobs[job["id"]] = (job["state"], job["pipeline_text"], results)
        status, toks, _ = srv.json("GET", "/api/v1/tokens", token=token)
        assert status == 200, (name, status, toks)
        tok = sorted((t["id"], bool(t.get("revoked"))) for t in toks["tokens"])
        out[name] = {"images": images, "jobs": jobs, "tokens": tok}
    return out


class BackupTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-backup-")
        self.data = os.path.join(self.tmp, "data")
        self.dest = os.path.join(self.tmp, "backup")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, data, *args):
        srv = Server(*args, data=data)
        self.servers.append(srv)
        return srv

    def stop(self, srv):
        srv.stop()
        self.servers.remove(srv)

    def run_ok(self, *args, env=None):
        r = tessera(*args, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def backup(self, data, dest, *extra):
        args, env = store_args(data)
        r = self.run_ok("backup", "--data", data, *args, *extra, "--json", dest, env=env)
        return json.loads(r.stdout)

    def restore(self, src, data, *extra, rc=0):
        args, env = store_args(data)
        r = tessera("restore", src, "--data", data, *args, *extra, env=env)
        self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
        return r

    def upload(self, srv, n, token=ADMIN_TOKEN, salt=0):
        ids = []
        for i in range(n):
            body = unique_bytes(read_file(PHOTOS[i % len(PHOTOS)]), salt + i)
            status, doc, _ = srv.upload_bytes(body, "p%d-%s" % (salt + i, PHOTOS[i % 3]), token)
            self.assertEqual(status, 201, doc)
            ids.append(doc["id"])
        return ids

    def job(self, srv, images, pipeline, token=ADMIN_TOKEN):
        status, doc, _ = srv.json("POST", "/api/v1/jobs", {"images": images, "pipeline": pipeline},
                                  token=token)
        self.assertIn(status, (201, 202), doc)
        return doc["id"]

    def snapshot_states(self, manifest_name):
        if harness.DB == "postgresql":
            return dump_states(os.path.join(self.dest, "snapshots", manifest_name,
                                            "metadata.dump"))
        path = os.path.join(self.dest, "snapshots", manifest_name, "metadata.db")
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            return dict(db.execute("SELECT id, state FROM jobs").fetchall())
        finally:
            db.close()

    # ---- the whole drill ----

    def populate(self, srv):
        """Accounts, tokens (one revoked), 20 images, finished jobs and
        thumbnails; returns the tokens by account."""
        alice, bob = srv.make_user("alice", "user"), srv.make_user("bob", "viewer")
        status, tok2, _ = srv.json("POST", "/api/v1/tokens", {}, token=alice)
        self.assertEqual(status, 201, tok2)
        status, tok3, _ = srv.json("POST", "/api/v1/tokens", {}, token=alice)
        status, _, _ = srv.request("DELETE", "/api/v1/tokens/" + tok3["id"], token=alice)
        self.assertEqual(status, 204)
        mine = self.upload(srv, 12)
        hers = self.upload(srv, 8, token=alice, salt=100)
        srv.wait_job(self.job(srv, mine[:3], QUICK))
        srv.wait_job(self.job(srv, hers[:2], "invert", token=alice), token=alice)
        for i in mine[3:5]:
            status, _, _ = srv.request("GET", "/api/v1/images/%s/thumbnail" % i)
            self.assertEqual(status, 200)
        tokens = {"admin": ADMIN_TOKEN, "alice": alice, "bob": bob}
        return tokens, tok2["token"], tok3["token"], mine

    def start_slow_job(self, srv):
        """A slow job, running; then two quick ones queued behind it."""
        noise = os.path.join(self.tmp, "noise.png")
        noise_png(noise, 2000)
        status, doc, _ = srv.upload(noise)
        self.assertEqual(status, 201, doc)
        slow = self.job(srv, [doc["id"]], SLOW)
        deadline = time.time() + 60
        while time.time() < deadline:
            status, job, _ = srv.json("GET", "/api/v1/jobs/" + slow)
            if job["state"] == "running":
                break
            time.sleep(0.02)
        self.assertEqual(job["state"], "running", job)
        status, imgs, _ = srv.json("GET", "/api/v1/images")
        ids = [im["id"] for im in imgs["images"] if im["id"] != doc["id"]]
        queued = [self.job(srv, ids[:2], QUICK), self.job(srv, ids[2:4], "rotate90")]
        return slow, queued

    @one_coordinator_only("--runners 1 is each coordinator's: three run three jobs at once, "
                          "none stays queued")
    def test_backup_while_jobs_run_then_restore_everything(self):
        srv = self.serve(self.data, "--runners", "1")
        tokens, alice2, revoked, mine = self.populate(srv)
        slow, queued = self.start_slow_job(srv)
        report = self.backup(self.data, self.dest)
        states = self.snapshot_states(report["snapshot"])
        self.assertEqual(states[slow], "running", "the slow job was running at backup time")
        self.assertEqual([states[q] for q in queued], ["queued", "queued"])
        self.assertEqual(report["copied"]["blobs"], report["blobs"])
        self.assertGreaterEqual(report["blobs"], 21 + 5 + 2)  # originals, results, thumbnails
        before = contents(srv, tokens)  # waits for every job on the original server
        self.stop(srv)
        shutil.rmtree(self.data)  # the data folder is lost (and with it the files store)
        fresh = os.path.join(self.tmp, "restored")
        r = self.restore(self.dest, fresh)
        self.assertIn("restore: snapshot %s" % report["snapshot"], r.stdout)
        srv = self.serve(fresh, "--runners", "1")
        status, job, _ = srv.json("GET", "/api/v1/jobs/" + slow)
        self.assertIn(job["state"], ("queued", "running"), "resumed, not lost or finished")
        after = contents(srv, tokens)  # the resumed jobs finish
        self.assertEqual(after, before)
        self.assertEqual(after["admin"]["jobs"][slow][0], "succeeded")
        status, me, _ = srv.json("GET", "/api/v1/images", token=alice2)
        self.assertEqual(status, 200, "a second token of alice still authenticates")
        status, _, _ = srv.json("GET", "/api/v1/images", token=revoked)
        self.assertEqual(status, 401, "a revoked token stays revoked")
        status, users, _ = srv.json("GET", "/api/v1/users")
        self.assertEqual(sorted((u["name"], u["role"]) for u in users["users"]),
                         [("admin", "admin"), ("alice", "user"), ("bob", "viewer")])
        r = tessera("verify", "--data", fresh, *store_args(fresh)[0], "--json",
                    env=store_args(fresh)[1])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # ---- incremental ----

    def test_later_backups_copy_only_new_blobs(self):
        srv = self.serve(self.data)
        self.upload(srv, 5)
        first = self.backup(self.data, self.dest)
        self.assertEqual((first["blobs"], first["copied"]["blobs"], first["reused"]["blobs"]),
                         (5, 5, 0))
        self.upload(srv, 3, salt=50)
        second = self.backup(self.data, self.dest)
        self.assertEqual((second["blobs"], second["copied"]["blobs"], second["reused"]["blobs"]),
                         (8, 3, 5))
        self.assertEqual(second["reused"]["bytes"], first["bytes"])
        self.assertEqual(second["hashed_blobs"], 3, "unchanged blobs are not read again")
        third = self.backup(self.data, self.dest)
        self.assertEqual((third["copied"]["blobs"], third["reused"]["blobs"],
                          third["hashed_blobs"]), (0, 8, 0))
        self.assertEqual(len(os.listdir(os.path.join(self.dest, "blobs"))), 8)
        self.assertEqual(len(os.listdir(os.path.join(self.dest, "snapshots"))), 3)
        r = self.run_ok("verify", self.dest, "--json")  # = --backup DEST
        doc = json.loads(r.stdout)
        self.assertEqual((doc["clean"], doc["snapshots"], doc["blobs"], doc["orphans"]),
                         (True, 3, 8, []))
        self.check_manifest(third)

    def check_manifest(self, report):
        """The manifest names every blob with its size and SHA-256 (checked
        against the files), the schema and tessera versions, the time; no key."""
        folder = os.path.join(self.dest, "snapshots", report["snapshot"])
        with open(os.path.join(folder, "manifest.json")) as f:
            m = json.load(f)
        version = tessera("version").stdout.split()[1]
        self.assertEqual((m["format"], m["snapshot"], m["tessera_version"], m["schema_version"]),
                         (1, report["snapshot"], version, report["schema_version"]))
        self.assertGreaterEqual(m["schema_version"], 3)
        self.assertLess(abs(m["created"] / 1000 - time.time()), 600)
        self.assertIsNone(m["store"]["key_fingerprint"])
        with open(os.path.join(folder, META), "rb") as f:
            meta = f.read()
        self.assertEqual((m["metadata"]["bytes"], m["metadata"]["sha256"]),
                         (len(meta), hashlib.sha256(meta).hexdigest()))
        self.assertEqual(len(m["blobs"]), report["blobs"])
        for b in m["blobs"]:
            self.assertRegex(b["id"], "^[0-9a-f]{32}$")
            with open(os.path.join(self.dest, "blobs", b["sha256"]), "rb") as f:
                body = f.read()
            self.assertEqual((len(body), hashlib.sha256(body).hexdigest()),
                             (b["bytes"], b["sha256"]))

    # ---- blobs deleted or lost while backing up ----

    def test_blobs_deleted_during_a_backup_make_it_copy_the_metadata_again(self):
        srv = self.serve(self.data)
        ids = self.upload(srv, 5)
        gone_job = srv.wait_job(self.job(srv, ids[:2], QUICK))["id"]
        kept_job = srv.wait_job(self.job(srv, ids[2:4], QUICK))["id"]
        args, env = store_args(self.data)
        env = dict(env, **CREDS, TESSERA_TEST_BACKUP_PAUSE_MS="4000")
        proc = subprocess.Popen([BIN, *harness.with_db(["backup", "--data", self.data, *args,
                                                        "--json", self.dest])],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, **env))
        time.sleep(1.5)  # the metadata is copied; the backup waits before the blobs
        status, _, _ = srv.request("DELETE", "/api/v1/jobs/%s?purge=true" % gone_job)
        self.assertEqual(status, 204)
        status, _, _ = srv.request("DELETE", "/api/v1/images/" + ids[4])
        self.assertEqual(status, 204)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        report = json.loads(out)
        self.assertEqual(report["retakes"], 1, "the metadata was copied again")
        self.assertEqual(report["blobs"], 4 + 2, "4 images and the kept job's 2 results")
        self.assertEqual(list(self.snapshot_states(report["snapshot"])), [kept_job])
        r = self.run_ok("verify", "--backup", self.dest, "--json")
        self.assertEqual(json.loads(r.stdout)["orphans"], [])

    @harness.files_store_only("removes a blob file from data/blobs")
    def test_a_lost_blob_stops_the_backup(self):
        srv = self.serve(self.data)
        ids = self.upload(srv, 3)
        lost = blob_of(self.data, ids[1])
        os.unlink(os.path.join(self.data, "blobs", lost[:2], lost))
        r = tessera("backup", "--data", self.data, self.dest)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("blob %s, which the database refers to, is missing" % lost, r.stderr)
        self.assertEqual(os.listdir(os.path.join(self.dest, "snapshots")), [])
        r = tessera("verify", "--data", self.data)
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertIn("problem: blob %s: image: missing" % lost, r.stdout)

    # ---- damage ----

    def test_damaged_backup_is_reported_and_refused(self):
        srv = self.serve(self.data)
        ids = self.upload(srv, 4)
        srv.wait_job(self.job(srv, ids[:2], QUICK))
        old = self.backup(self.data, self.dest)
        self.upload(srv, 1, salt=9)
        new = self.backup(self.data, self.dest)
        with open(os.path.join(self.dest, "snapshots", old["snapshot"], "manifest.json")) as f:
            blobs = sorted(b["sha256"] for b in json.load(f)["blobs"])
        flipped, cut = (os.path.join(self.dest, "blobs", s) for s in blobs[:2])
        with open(flipped, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0x01]))
        os.truncate(cut, os.path.getsize(cut) // 2)
        meta = os.path.join(self.dest, "snapshots", new["snapshot"], META)
        os.truncate(meta, 8192)
        r = tessera("verify", "--backup", self.dest, "--json")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        found = {p["object"]: p["message"] for p in doc["problems"]}
        self.assertIn("SHA-256", found["blobs/" + blobs[0]])
        self.assertIn("truncated", found["blobs/" + blobs[1]])
        self.assertIn("truncated", found["snapshots/%s/%s" % (new["snapshot"], META)])
        self.assertEqual(len(found), 3, doc)
        r = tessera("verify", "--backup", self.dest)
        self.assertIn("NOT CLEAN, 3 problems", r.stdout)
        target = os.path.join(self.tmp, "restored")
        r = self.restore(self.dest, target, rc=3)
        self.assertIn(META + " is truncated", r.stderr)
        self.assertFalse(os.path.exists(target))
        r = self.restore(self.dest, target, "--snapshot", old["snapshot"], rc=3)
        self.assertRegex(r.stderr, r"blobs/(%s failed its SHA-256|%s is truncated)"
                         % (blobs[0], blobs[1]))
        self.assertFalse(os.path.exists(target))
        self.assertEqual([n for n in os.listdir(self.tmp) if "restore" in n], [],
                         "no half-restored folder is left beside the target")
        os.mkdir(target)
        with open(os.path.join(target, "keep"), "w") as f:
            f.write("mine")
        r = self.restore(self.dest, target, "--snapshot", old["snapshot"], rc=2)
        self.assertIn("is not empty", r.stderr)
        self.assertEqual(os.listdir(target), ["keep"])

    # ---- a live store ----

    def test_verify_live_store_lists_orphans_and_damage(self):
        srv = self.serve(self.data)
        ids = self.upload(srv, 3)
        srv.wait_job(self.job(srv, ids, QUICK))
        args, env = store_args(self.data)
        r = tessera("verify", "--data", self.data, *args, "--json", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["clean"], doc["blobs"], doc["orphans"]), (True, 6, []))
        orphan = "ab" + "0" * 29 + "1"
        if harness.STORE == "s3":
            prefix = args[1].split("/", 3)[3]
            s3_put(harness._s3.endpoint, harness._s3.bucket, prefix + "/blobs/" + orphan, b"x")
        else:
            os.makedirs(os.path.join(self.data, "blobs", "ab"), exist_ok=True)
            with open(os.path.join(self.data, "blobs", "ab", orphan), "wb") as f:
                f.write(b"x")
        r = tessera("verify", "--data", self.data, *args, "--json", env=env)
        doc = json.loads(r.stdout)
        self.assertEqual((r.returncode, doc["clean"], doc["orphans"]), (0, True, [orphan]), doc)
        r = tessera("verify", "--data", self.data, *args, env=env)
        self.assertIn("orphan: %s" % orphan, r.stdout)
        damaged = blob_of(self.data, ids[0])
        if harness.STORE == "s3":
            harness._s3.corrupt(prefix + "/blobs/" + damaged)
        else:
            path = os.path.join(self.data, "blobs", damaged[:2], damaged)
            with open(path, "r+b") as f:
                f.seek(50)
                byte = f.read(1)
                f.seek(50)
                f.write(bytes([byte[0] ^ 0x01]))
        r = tessera("verify", "--data", self.data, *args, "--json", env=env)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        problems = json.loads(r.stdout)["problems"]
        self.assertEqual([p["object"] for p in problems], ["blob " + damaged])
        self.assertRegex(problems[0]["message"], "SHA-256|integrity")

    # ---- encryption at rest ----

    def test_encrypted_store_keeps_the_fingerprint_never_the_key(self):
        key, other = os.path.join(self.tmp, "key"), os.path.join(self.tmp, "other")
        for k in (key, other):
            self.run_ok("data", "keygen", k)
        with open(key) as f:
            key_hex = f.read().strip()
        srv = self.serve(self.data, "--data-key", key)
        ids = self.upload(srv, 2)
        srv.wait_job(self.job(srv, ids, QUICK))
        before = contents(srv, {"admin": ADMIN_TOKEN})
        args, env = store_args(self.data)
        r = tessera("backup", "--data", self.data, *args, "--data-key", other, self.dest, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not this store's key", r.stderr)
        report = self.backup(self.data, self.dest)  # the key is not needed to back up
        with open(os.path.join(self.dest, "snapshots", report["snapshot"], "manifest.json")) as f:
            manifest = json.load(f)
        self.assertEqual(manifest["store"]["key_fingerprint"], report["key_fingerprint"])
        self.assertRegex(report["key_fingerprint"], "^[0-9a-f]{16}$")
        for path in glob.glob(os.path.join(self.dest, "**"), recursive=True):
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    body = f.read()
                self.assertNotIn(key_hex.encode(), body, path)
                self.assertNotIn(bytes.fromhex(key_hex), body, path)
        self.stop(srv)
        target = os.path.join(self.tmp, "restored")
        r = self.restore(self.dest, target, "--data-key", other, rc=2)
        self.assertIn("not the key of snapshot", r.stderr)
        self.assertFalse(os.path.exists(target))
        r = self.restore(self.dest, target, "--data-key", key)
        srv = self.serve(target, "--data-key", key)
        self.assertEqual(contents(srv, {"admin": ADMIN_TOKEN}), before)


@unittest.skipUnless(HAVE_S3RVER, "s3rver is not installed in tests/s3 (npm install)")
class ObjectStoreDestTest(unittest.TestCase):
    """DEST an s3:// prefix (its own s3rver), whatever the live store is."""

    @classmethod
    def setUpClass(cls):
        cls.s3 = s3server.S3Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.s3.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-backup-s3-")
        self.data = os.path.join(self.tmp, "data")
        self.dest = "s3://%s/backups/%s" % (self.s3.bucket, self.id().rsplit(".", 1)[1])
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tessera(self, data, cmd, *args):
        store, env = store_args(data)
        return tessera(cmd, *args, *store, "--backup-endpoint", self.s3.endpoint, env=env)

    def test_backup_into_a_prefix_then_restore(self):
        srv = Server(data=self.data)
        self.servers.append(srv)
        ids = []
        for i in range(4):
            status, doc, _ = srv.upload_bytes(unique_bytes(read_file(PHOTOS[i % 3]), i), "p%d" % i)
            self.assertEqual(status, 201, doc)
            ids.append(doc["id"])
        srv.wait_job(srv.json("POST", "/api/v1/jobs", {"images": ids, "pipeline": QUICK})[1]["id"])
        before = contents(srv, {"admin": ADMIN_TOKEN})
        r = self.tessera(self.data, "backup", "--data", self.data, "--json", self.dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        first = json.loads(r.stdout)
        self.assertEqual((first["blobs"], first["copied"]["blobs"]), (8, 8))
        r = self.tessera(self.data, "backup", "--data", self.data, "--json", self.dest)
        second = json.loads(r.stdout)
        self.assertEqual((second["copied"]["blobs"], second["reused"]["blobs"]), (0, 8))
        r = tessera("verify", "--backup", self.dest, "--backup-endpoint", self.s3.endpoint)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        srv.stop()
        self.servers.remove(srv)
        shutil.rmtree(self.data)
        target = os.path.join(self.tmp, "restored")
        r = self.tessera(target, "restore", self.dest, "--data", target)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        srv = Server(data=target)
        self.servers.append(srv)
        self.assertEqual(contents(srv, {"admin": ADMIN_TOKEN}), before)
        prefix = self.dest.split("/", 3)[3]
        victim = [k for k in self.s3.objects() if k.startswith(prefix + "/blobs/")][0]
        self.s3.corrupt(victim)
        r = tessera("verify", "--backup", self.dest, "--backup-endpoint", self.s3.endpoint,
                    "--json")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        problems = json.loads(r.stdout)["problems"]
        self.assertEqual([p["object"] for p in problems], [victim[len(prefix) + 1:]])
        self.assertIn("SHA-256", problems[0]["message"])
        again = os.path.join(self.tmp, "again")
        r = self.tessera(again, "restore", self.dest, "--data", again)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("failed its SHA-256 check", r.stderr)
        self.assertFalse(os.path.exists(again))


if __name__ == "__main__":
    unittest.main()
