"""Encryption at rest (issue 5 point 5) against a real `tessera serve
--data-key`: round trips give the same bytes as without a key; no plaintext
image byte is on disk; a flipped, truncated or moved blob is never served and
fails the job reading it; a wrong or missing key is refused; `tessera data
rotate-key` re-encrypts, encrypts a plaintext store and refuses to run beside
a server."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, DATA, Server, files_store_only, with_db

PHOTO = os.path.join(DATA, "coffee.png")
OTHER = os.path.join(DATA, "astronaut.png")


def tessera(*args):
    return subprocess.run([BIN, *with_db(args)], capture_output=True, text=True, timeout=120)


def blob_files(data):
    """Every blob file under data/blobs, as a set of paths."""
    out = set()
    for root, _, files in os.walk(os.path.join(data, "blobs")):
        out.update(os.path.join(root, f) for f in files)
    return out


def every_file(data):
    for root, _, files in os.walk(data):
        for f in files:
            yield os.path.join(root, f)


@files_store_only("reads and damages blob files under data/blobs and runs the offline "
                  "`tessera data` commands on them; test_s3_store.py covers encryption on S3")
class EncryptionTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-crypt-")
        self.data = os.path.join(self.tmp, "data")
        self.key = self.keygen("key1")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def keygen(self, name):
        path = os.path.join(self.tmp, name)
        r = tessera("data", "keygen", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        return path

    def serve(self, *args, data=None):
        s = Server(*args, data=data or self.data)
        self.servers.append(s)
        return s

    def stop(self, srv):
        srv.stop()
        self.servers.remove(srv)

    def refused(self, *args):
        """Starts a server that must refuse to start; returns its log."""
        with self.assertRaises(RuntimeError) as cm:
            self.serve(*args)
        return str(cm.exception)

    def upload(self, srv, path):
        status, doc, _ = srv.upload(path)
        self.assertEqual(status, 201, doc)
        return doc["id"]

    def upload_new_blob(self, srv, path):
        """Uploads path; returns (image id, the path of its new blob file)."""
        before = blob_files(srv.data)
        image = self.upload(srv, path)
        new = blob_files(srv.data) - before
        self.assertEqual(len(new), 1)
        return image, new.pop()

    def run_job(self, srv, images, pipeline="grayscale|gaussian-blur:sigma=2"):
        status, doc, _ = srv.json("POST", "/api/v1/jobs",
                                  {"images": images, "pipeline": pipeline})
        self.assertEqual(status, 201, doc)
        return srv.wait_job(doc["id"])

    def get(self, srv, path):
        status, _, body = srv.request("GET", path)
        return status, body

    def round_trip(self, srv):
        """Original bytes, result bytes and zip bytes of one upload + job."""
        a = self.upload(srv, PHOTO)
        b = self.upload(srv, OTHER)
        job = self.run_job(srv, [a, b])
        self.assertEqual(job["state"], "succeeded", job)
        st, original = self.get(srv, "/api/v1/images/%s/content" % a)
        self.assertEqual(st, 200)
        st, result = self.get(srv, "/api/v1/jobs/%s/result/%s" % (job["id"], a))
        self.assertEqual(st, 200)
        st, zipped = self.get(srv, "/api/v1/jobs/%s/result" % job["id"])
        self.assertEqual(st, 200)
        self.assertEqual(zipped[:2], b"PK")
        return original, result, job

    def test_round_trip_same_bytes_and_no_plaintext_on_disk(self):
        plain = self.serve(data=os.path.join(self.tmp, "plain"))
        p_original, p_result, _ = self.round_trip(plain)
        srv = self.serve("--data-key", self.key)
        e_original, e_result, _ = self.round_trip(srv)
        with open(PHOTO, "rb") as f:
            raw = f.read()
        self.assertEqual(e_original, raw)
        self.assertEqual(p_original, raw)
        self.assertEqual(e_result, p_result)
        self.assertTrue(e_result.startswith(b"\x89PNG"))
        # Nothing under DATA (tmp/ and the database included) holds image bytes.
        probes = [b"\x89PNG\r\n\x1a\n", raw[len(raw) // 2:len(raw) // 2 + 64],
                  e_result[len(e_result) // 2:len(e_result) // 2 + 64]]
        files = list(every_file(self.data))
        self.assertTrue(any("/blobs/" in f for f in files))
        for path in files:
            with open(path, "rb") as f:
                content = f.read()
            for probe in probes:
                self.assertNotIn(probe, content, path)
        for path in blob_files(self.data):
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"TSRBLOB1", path)
        # The plaintext store, by contrast, does hold them (the probe works).
        found = False
        for path in blob_files(plain.data):
            with open(path, "rb") as f:
                found = found or probes[1] in f.read()
        self.assertTrue(found)

    def assert_never_served(self, srv, image):
        st, body = self.get(srv, "/api/v1/images/%s/content" % image)
        self.assertEqual(st, 500)
        doc = json.loads(body)
        self.assertEqual(doc["error"]["message"], "stored data failed its integrity check")
        self.assertNotIn(b"\x89PNG", body)
        job = self.run_job(srv, [image])
        self.assertEqual(job["state"], "failed", job)
        self.assertIn("failed its integrity check", job["items"][0]["error"] or "", job)

    def metric(self, srv, name):
        st, body = self.get(srv, "/metrics")
        self.assertEqual(st, 200)
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail("no metric " + name)

    def test_flipped_byte_never_served(self):
        srv = self.serve("--data-key", self.key)
        image, blob = self.upload_new_blob(srv, PHOTO)
        self.assertEqual(self.metric(srv, "tessera_blob_integrity_failures_total"), 0)
        with open(blob, "r+b") as f:
            f.seek(os.path.getsize(blob) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x10]))
        self.assert_never_served(srv, image)
        self.assertGreaterEqual(self.metric(srv, "tessera_blob_integrity_failures_total"), 2)
        log = srv.log_text()
        self.assertIn('"event":"blob_integrity_failure"', log)
        self.assertIn("stored data failed its integrity check", log)

    def test_truncated_blob_never_served(self):
        srv = self.serve("--data-key", self.key)
        image, blob = self.upload_new_blob(srv, PHOTO)
        size = os.path.getsize(blob)
        os.truncate(blob, size - 17 - 1000)  # cut inside the last chunk
        self.assert_never_served(srv, image)
        image2, blob2 = self.upload_new_blob(srv, OTHER)
        os.truncate(blob2, 40 + 65536 + 17)  # cut at a chunk boundary: final chunk missing
        self.assert_never_served(srv, image2)

    def test_blob_moved_to_another_id_detected(self):
        srv = self.serve("--data-key", self.key)
        a, blob_a = self.upload_new_blob(srv, PHOTO)
        b, blob_b = self.upload_new_blob(srv, OTHER)
        shutil.copyfile(blob_a, blob_b)
        self.assert_never_served(srv, b)
        st, body = self.get(srv, "/api/v1/images/%s/content" % a)
        self.assertEqual(st, 200)

    def test_wrong_or_missing_key_refused(self):
        srv = self.serve("--data-key", self.key)
        self.upload(srv, PHOTO)
        self.stop(srv)
        other = self.keygen("key2")
        log = self.refused("--data-key", other)
        self.assertIn("not this store's key", log)
        log = self.refused()
        self.assertIn("is encrypted; start with --data-key FILE", log)
        os.chmod(self.key, 0o644)
        log = self.refused("--data-key", self.key)
        self.assertIn("too open", log)
        os.chmod(self.key, 0o600)
        # Accounts commands still open the encrypted store without its key.
        r = tessera("user", "list", "--data", self.data)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("admin", r.stdout)
        self.serve("--data-key", self.key)

    def test_rotate_old_to_new(self):
        srv = self.serve("--data-key", self.key)
        original, result, job = self.round_trip(srv)
        self.stop(srv)
        new = self.keygen("key2")
        r = tessera("data", "rotate-key", "--data", self.data, "--old-key", self.key,
                    "--new-key", new)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 blobs re-encrypted", r.stdout)
        # A rerun finds everything done.
        r = tessera("data", "rotate-key", "--data", self.data, "--old-key", self.key,
                    "--new-key", new)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 blobs re-encrypted", r.stdout)
        self.assertIn("4 already done", r.stdout)
        self.assertIn("not this store's key", self.refused("--data-key", self.key))
        srv = self.serve("--data-key", new)
        a = job["items"][0]["image"]
        self.assertEqual(self.get(srv, "/api/v1/images/%s/content" % a), (200, original))
        self.assertEqual(
            self.get(srv, "/api/v1/jobs/%s/result/%s" % (job["id"], a)), (200, result))
        # Rotation while the server runs is refused.
        third = self.keygen("key3")
        r = tessera("data", "rotate-key", "--data", self.data, "--old-key", new,
                    "--new-key", third)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("in use", r.stderr)
        self.assertEqual(self.get(srv, "/api/v1/images/%s/content" % a), (200, original))

    def test_encrypt_plaintext_store_then_decrypt(self):
        srv = self.serve()
        original, result, job = self.round_trip(srv)
        self.stop(srv)
        self.assertIn("if they are unencrypted, encrypt them first",
                      self.refused("--data-key", self.key))
        r = tessera("data", "rotate-key", "--data", self.data, "--new-key", self.key)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 blobs encrypted", r.stdout)
        for path in blob_files(self.data):
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"TSRBLOB1")
        self.assertIn("is encrypted", self.refused())
        srv = self.serve("--data-key", self.key)
        a = job["items"][0]["image"]
        self.assertEqual(self.get(srv, "/api/v1/images/%s/content" % a), (200, original))
        self.stop(srv)
        r = tessera("data", "rotate-key", "--data", self.data, "--old-key", self.key)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 blobs decrypted", r.stdout)
        srv = self.serve()
        self.assertEqual(
            self.get(srv, "/api/v1/jobs/%s/result/%s" % (job["id"], a)), (200, result))

    def test_rotation_stops_on_a_damaged_blob_and_resumes(self):
        srv = self.serve("--data-key", self.key)
        _, blob = self.upload_new_blob(srv, PHOTO)
        self.upload(srv, OTHER)
        self.stop(srv)
        with open(blob, "rb") as f:
            good = f.read()
        with open(blob, "r+b") as f:
            f.seek(100)
            f.write(b"\xff")
        new = self.keygen("key2")
        args = ("data", "rotate-key", "--data", self.data, "--old-key", self.key,
                "--new-key", new)
        r = tessera(*args)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(os.path.basename(blob), r.stderr)
        self.assertIn("failed its integrity check", r.stderr)
        # Interrupted: the store refuses to serve until a rerun finishes.
        self.assertIn("interrupted", self.refused("--data-key", self.key))
        with open(blob, "wb") as f:
            f.write(good)
        r = tessera(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.serve("--data-key", new)


if __name__ == "__main__":
    unittest.main()
