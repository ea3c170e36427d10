"""`Idempotency-Key` on job submission: a retried POST /api/v1/jobs with
the key of an earlier one answers with the job that one made (201, same id)
and makes no second job; the key is the account's own, bound to the body it
came with (another body: 422), and a request that failed made nothing and
keeps no key. Uploads need no key: the same bytes uploaded again by the
same account are the same image."""
import os
import unittest

from harness import DATA, Server


class IdempotencyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.ann = cls.srv.make_user("ann", "user")
        cls.bob = cls.srv.make_user("bob", "user")
        path = os.path.join(DATA, "chelsea.png")
        cls.images = {t: cls.srv.upload(path, token=t)[1]["id"] for t in (cls.ann, cls.bob)}

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def submit(self, token, key, pipeline="invert"):
        body = {"images": [self.images[token]], "pipeline": pipeline}
        return self.srv.json("POST", "/api/v1/jobs", body, {"Idempotency-Key": key}, token)

    def job_ids(self, token):
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs?limit=100", token=token)
        self.assertEqual(status, 200, doc)
        return [j["id"] for j in doc["jobs"]]

    def test_retry_answers_with_the_first_job(self):
        before = len(self.job_ids(self.ann))
        status, first, h = self.submit(self.ann, "retry-1")
        self.assertEqual(status, 201, first)
        for _ in range(3):
            status, again, h2 = self.submit(self.ann, "retry-1")
            self.assertEqual(status, 201, again)
            self.assertEqual(again["id"], first["id"])
            self.assertEqual(h2["location"], h["location"])
        self.assertEqual(len(self.job_ids(self.ann)), before + 1)
        # the same key is another account's own
        status, other, _ = self.submit(self.bob, "retry-1")
        self.assertEqual(status, 201, other)
        self.assertNotEqual(other["id"], first["id"])

    def test_key_with_another_body_is_refused(self):
        self.assertEqual(self.submit(self.ann, "body-1")[0], 201)
        status, doc, _ = self.submit(self.ann, "body-1", "grayscale")
        self.assertEqual(status, 422, doc)
        self.assertEqual(doc["error"]["code"], "idempotency_key_reused")

    def test_failed_request_keeps_no_key(self):
        status, doc, _ = self.submit(self.ann, "fail-1", "blur-it-please")
        self.assertEqual(status, 400, doc)
        status, doc, _ = self.submit(self.ann, "fail-1", "invert")
        self.assertEqual(status, 201, doc)

    def test_bad_keys(self):
        for key in ("x" * 256, "with space", "caf\u00e9"):
            status, doc, _ = self.srv.json(
                "POST", "/api/v1/jobs", {"images": [self.images[self.ann]], "pipeline": "invert"},
                {"Idempotency-Key": key.encode("utf-8").decode("latin-1")}, self.ann)
            self.assertEqual(status, 400, (key, doc))
            self.assertIn("Idempotency-Key", doc["error"]["message"])

    def test_upload_twice_is_one_image(self):
        path = os.path.join(DATA, "coffee.png")
        a = self.srv.upload(path, token=self.ann)
        b = self.srv.upload(path, token=self.ann)
        self.assertEqual(a[1]["id"], b[1]["id"])


if __name__ == "__main__":
    unittest.main()
