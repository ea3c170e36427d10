"""User feedback on finished jobs (issue 14, point 4) against a real server:
POST /api/v1/jobs/{id}/feedback by the job's owner (recorded, shown in the
job object, replaced by a second post), clear 400s for bad fields, 404 for
another user's job, 403 for an admin on someone else's job and for
viewers, 409 for a job that is not finished or was cancelled, a failed job
rated; the admins' GET /api/v1/feedback (filters from/to/rating/op, paging,
totals) and its CSV export parsed with Python's csv module and matched to
the JSON; feedback that outlives its job; tessera_feedback_ratings_total
counted by op and kept across a restart."""
import csv
import io
import os
import re
import tempfile
import time
import unittest
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from harness import Server, files_store_only, one_coordinator_only, read_file, unique_bytes

RATINGS = re.compile(r'^tessera_feedback_ratings_total\{op="([^"]+)",rating="(\d)"\} (\d+)$', re.M)


def ratings(srv):
    """{(op, rating): count} from /metrics."""
    status, _, body = srv.request("GET", "/metrics", token=None)
    assert status == 200, status
    return {(op, int(r)): int(n) for op, r, n in RATINGS.findall(body.decode())}


class FeedbackTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server()
        self.alice = self.srv.make_user("alice", "user")
        self.bob = self.srv.make_user("bob", "user")
        self.viewer = self.srv.make_user("vera", "viewer")
        self.uploads = 0

    def tearDown(self):
        self.srv.stop()

    def image(self, token):
        self.uploads += 1
        status, doc, _ = self.srv.upload_bytes(unique_bytes(read_file("chelsea.png"), self.uploads),
                                               "chelsea-%d.png" % self.uploads, token=token)
        self.assertIn(status, (200, 201), doc)
        return doc["id"]

    def finished_job(self, pipeline="grayscale|canny", token=None, output=None):
        token = token or self.alice
        body = {"images": [self.image(token)], "pipeline": pipeline}
        if output:
            body["output"] = output
        status, job, _ = self.srv.json("POST", "/api/v1/jobs", body, token=token)
        self.assertEqual(status, 201, job)
        done = self.srv.wait_job(job["id"], token=token)
        self.assertEqual(done["state"], "succeeded", done)
        return done

    def rate(self, job_id, body, token=None):
        return self.srv.json("POST", "/api/v1/jobs/%s/feedback" % job_id, body,
                             token=token or self.alice)

    def test_post_shows_in_the_job_and_a_second_post_replaces_it(self):
        job = self.finished_job("grayscale|gaussian-blur:sigma=2",
                                output={"format": "webp", "quality": 70})
        self.assertIsNone(job["feedback"])
        status, fb, _ = self.rate(job["id"], {"rating": 4, "comment": "Sharp enough.\nThanks!"})
        self.assertEqual(status, 201, fb)
        self.assertEqual((fb["job"], fb["rating"], fb["comment"]),
                         (job["id"], 4, "Sharp enough.\nThanks!"))
        self.assertEqual(fb["user"]["name"], "alice")
        self.assertEqual(fb["job_state"], "succeeded")
        self.assertEqual(fb["pipeline_text"], job["pipeline_text"])
        self.assertEqual(fb["output"], {"format": "webp", "quality": 70})
        self.assertEqual(sorted(fb["op_versions"]), ["gaussian-blur", "grayscale"])
        self.assertTrue(all(isinstance(v, int) for v in fb["op_versions"].values()))
        self.assertEqual(fb["created"], fb["updated"])
        _, got, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"], token=self.alice)
        self.assertEqual((got["feedback"]["rating"], got["feedback"]["comment"]),
                         (4, "Sharp enough.\nThanks!"))
        time.sleep(0.01)
        status, again, _ = self.rate(job["id"], {"rating": 2})
        self.assertEqual(status, 200, again)
        self.assertEqual((again["rating"], again["comment"]), (2, ""))
        self.assertEqual(again["created"], fb["created"])
        self.assertGreater(again["updated"], fb["updated"])
        _, got, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"], token=self.alice)
        self.assertEqual((got["feedback"]["rating"], got["feedback"]["comment"]), (2, ""))
        _, listed, _ = self.srv.json("GET", "/api/v1/feedback")
        self.assertEqual(listed["total"], 1)
        self.assertEqual(listed["feedback"][0]["rating"], 2)
        # the job list carries it too; an unrated job has null
        other = self.finished_job()
        _, jobs, _ = self.srv.json("GET", "/api/v1/jobs", token=self.alice)
        by_id = {j["id"]: j["feedback"] for j in jobs["jobs"]}
        self.assertEqual(by_id[job["id"]]["rating"], 2)
        self.assertIsNone(by_id[other["id"]])

    def test_bad_fields_answer_400_naming_them(self):
        job = self.finished_job()
        cases = [
            ({}, "rating is required"),
            ({"comment": "no rating"}, "rating is required"),
            ({"rating": 0}, "rating must be an integer from 1 to 5 (got 0)"),
            ({"rating": 6}, "rating must be an integer from 1 to 5 (got 6)"),
            ({"rating": "4"}, "rating must be an integer from 1 to 5 (got \"4\")"),
            ({"rating": 4.5}, "rating must be an integer from 1 to 5 (got 4.5)"),
            ({"rating": None}, "rating must be an integer from 1 to 5 (got null)"),
            ({"rating": True}, "rating must be an integer from 1 to 5 (got true)"),
            ({"rating": 3, "comment": 7}, "comment must be a string"),
            ({"rating": 3, "comment": ["a"]}, "comment must be a string"),
            ({"rating": 3, "comment": "x" * 2001}, "comment is longer than 2000 characters (got 2001)"),
            ({"rating": 3, "comment": "é" * 2001}, "comment is longer than 2000 characters (got 2001)"),
            ({"rating": 3, "comment": "bell\x07"}, "comment has a control character (byte 4)"),
            ({"rating": 3, "comment": "nul\x00x"}, "not valid JSON"),  # JSON parsing refuses it
            ({"rating": 3, "stars": 3}, "unknown field \"stars\""),
        ]
        for body, message in cases:
            with self.subTest(body=str(body)[:60]):
                status, doc, _ = self.rate(job["id"], body)
                self.assertEqual(status, 400, doc)
                self.assertEqual(doc["error"]["code"], "bad_request")
                self.assertIn(message, doc["error"]["message"])
        for raw, message in ((b"[4]", "must be a JSON object"), (b"{rating", "not valid JSON")):
            status, _, data = self.srv.request(
                "POST", "/api/v1/jobs/%s/feedback" % job["id"], raw,
                {"Content-Type": "application/json"}, token=self.alice)
            self.assertEqual(status, 400, data)
            self.assertIn(message, data.decode())
        status, _, _ = self.srv.request("POST", "/api/v1/jobs/%s/feedback" % job["id"],
                                        b"rating=4", {"Content-Type": "text/plain"},
                                        token=self.alice)
        self.assertEqual(status, 415)
        # nothing was recorded; the limits themselves pass
        _, got, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"], token=self.alice)
        self.assertIsNone(got["feedback"])
        for body in ({"rating": 1, "comment": "é" * 2000}, {"rating": 5, "comment": None},
                     {"rating": 3, "comment": "tabs\tand\r\nbreaks"}):
            status, doc, _ = self.rate(job["id"], body)
            self.assertIn(status, (200, 201), doc)
            self.assertEqual(doc["comment"], body["comment"] or "")

    def test_only_the_owner_rates_and_admins_list(self):
        job = self.finished_job()
        path = "/api/v1/jobs/%s/feedback" % job["id"]
        status, doc, _ = self.srv.json("POST", path, {"rating": 5}, token=self.bob)
        self.assertEqual((status, doc["error"]["code"]), (404, "not_found"))
        status, doc, _ = self.srv.json("POST", path, {"rating": 5})  # the admin
        self.assertEqual((status, doc["error"]["code"]), (403, "forbidden"), doc)
        self.assertIn("only the owner", doc["error"]["message"])
        status, doc, _ = self.srv.json("POST", path, {"rating": 5}, token=self.viewer)
        self.assertEqual(status, 403, doc)
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs/%s/feedback" % ("0" * 32),
                                       {"rating": 5}, token=self.alice)
        self.assertEqual(status, 404, doc)
        status, _, _ = self.srv.json("POST", path, {"rating": 5}, token=None)
        self.assertEqual(status, 401)
        for token in (self.alice, self.bob, self.viewer):
            status, doc, _ = self.srv.json("GET", "/api/v1/feedback", token=token)
            self.assertEqual(status, 403, doc)
            status, _, _ = self.srv.request("GET", "/api/v1/feedback?format=csv", token=token)
            self.assertEqual(status, 403)
        # bob never sees alice's rating through his own view of her job
        self.assertEqual(self.rate(job["id"], {"rating": 3})[0], 201)
        status, _, _ = self.srv.json("GET", "/api/v1/jobs/" + job["id"], token=self.bob)
        self.assertEqual(status, 404)
        _, listed, _ = self.srv.json("GET", "/api/v1/feedback")
        self.assertEqual([(f["user"]["name"], f["rating"]) for f in listed["feedback"]],
                         [("alice", 3)])

    def big_image(self):
        import cv2
        import numpy as np
        img = (np.random.default_rng(7).random((2000, 2400, 3)) * 255).astype(np.uint8)
        path = os.path.join(tempfile.mkdtemp(), "noise.png")
        cv2.imwrite(path, img)
        status, doc, _ = self.srv.upload(path, token=self.alice)
        self.assertEqual(status, 201, doc)
        return doc["id"]

    def test_a_job_not_finished_or_cancelled_answers_409(self):
        pipe = "gaussian-blur:sigma=30|rotate:angle=17|gaussian-blur:sigma=30|canny"
        status, job, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [self.big_image()], "pipeline": pipe},
                                       token=self.alice)
        self.assertEqual(status, 201, job)
        status, doc, _ = self.rate(job["id"], {"rating": 5})
        self.assertEqual((status, doc["error"]["code"]), (409, "not_finished"), doc)
        self.assertRegex(doc["error"]["message"], r"is (queued|running): rate it once")
        status, doc, _ = self.srv.json("DELETE", "/api/v1/jobs/" + job["id"], token=self.alice)
        self.assertEqual((status, doc["state"]), (200, "cancelled"))
        status, doc, _ = self.rate(job["id"], {"rating": 5})
        self.assertEqual((status, doc["error"]["code"]), (409, "not_finished"), doc)
        self.assertIn("was cancelled", doc["error"]["message"])
        _, listed, _ = self.srv.json("GET", "/api/v1/feedback")
        self.assertEqual(listed["total"], 0)

    @files_store_only("makes a job fail by removing its input's blob file")
    def test_a_failed_job_takes_feedback(self):
        before = set(self.blob_files())
        image = self.image(self.alice)
        for path in set(self.blob_files()) - before:
            os.unlink(path)
        status, job, _ = self.srv.json("POST", "/api/v1/jobs",
                                       {"images": [image], "pipeline": "invert"},
                                       token=self.alice)
        self.assertEqual(status, 201, job)
        done = self.srv.wait_job(job["id"], token=self.alice)
        self.assertEqual(done["state"], "failed", done)
        status, fb, _ = self.rate(job["id"], {"rating": 1, "comment": "It broke."})
        self.assertEqual(status, 201, fb)
        self.assertEqual((fb["job_state"], fb["pipeline_text"]), ("failed", "invert@1"))

    def blob_files(self):
        for d, _, names in os.walk(os.path.join(self.srv.data, "blobs")):
            for name in names:
                yield os.path.join(d, name)

    def rated_set(self):
        """Four ratings: alice's canny 5, invert 1, grayscale|canny 3, bob's invert 5,
        given in this order a few milliseconds apart; returns the jobs."""
        jobs = []
        for pipe, token, rating in (("canny", self.alice, 5), ("invert", self.alice, 1),
                                    ("grayscale|canny", self.alice, 3), ("invert", self.bob, 5)):
            job = self.finished_job(pipe, token=token)
            status, doc, _ = self.rate(job["id"], {"rating": rating, "comment": pipe}, token=token)
            self.assertEqual(status, 201, doc)
            jobs.append(job)
            time.sleep(0.01)
        return jobs

    def listed(self, query):
        status, doc, _ = self.srv.json("GET", "/api/v1/feedback" + query)
        self.assertEqual(status, 200, (query, doc))
        return [(f["comment"], f["rating"]) for f in doc["feedback"]], doc["total"]

    def test_admin_list_filters_and_pages(self):
        self.rated_set()
        every = [("invert", 5), ("grayscale|canny", 3), ("invert", 1), ("canny", 5)]
        self.assertEqual(self.listed(""), (every, 4))
        self.assertEqual(self.listed("?limit=2&offset=1"), (every[1:3], 4))
        self.assertEqual(self.listed("?limit=2&offset=4"), ([], 4))
        self.assertEqual(self.listed("?rating=5"), ([every[0], every[3]], 2))
        self.assertEqual(self.listed("?op=canny"), ([every[1], every[3]], 2))
        self.assertEqual(self.listed("?op=invert&rating=1"), ([every[2]], 1))
        self.assertEqual(self.listed("?op=sobel"), ([], 0))
        today = datetime.now(timezone.utc).date()
        self.assertEqual(self.listed("?from=%s&to=%s" % (today, today)), (every, 4))
        self.assertEqual(self.listed("?to=%s" % (today - timedelta(days=1))), ([], 0))
        self.assertEqual(self.listed("?from=%s" % (today + timedelta(days=1))), ([], 0))
        _, doc, _ = self.srv.json("GET", "/api/v1/feedback")
        middle = doc["feedback"][2]["updated"]  # invert 1
        self.assertEqual(self.listed("?from=%s" % middle), (every[:3], 3))
        self.assertEqual(self.listed("?to=%s" % quote(middle.replace("Z", "+00:00"))),
                         (every[2:], 2))
        bad = {"?rating=6": "rating must be 1, 2, 3, 4 or 5", "?rating=x": "rating must be",
               "?op=cany": "unknown operation 'cany'", "?from=yesterday": "from must be a time",
               "?to=2026-02-30": "to must be a time", "?from=2026-12-06T10:00:00": "from must be",
               "?from=2026-12-07&to=2026-12-06": "from must not be later than to",
               "?format=xml": "format must be json or csv", "?limit=0": "limit must be",
               "?offset=-1": "offset must be"}
        for query, message in bad.items():
            with self.subTest(query=query):
                status, doc, _ = self.srv.json("GET", "/api/v1/feedback" + query)
                self.assertEqual(status, 400, doc)
                self.assertIn(message, doc["error"]["message"])

    def test_csv_export_parses_and_matches_the_json(self):
        self.rated_set()
        tricky = ["plain", "comma, and \"quotes\"", "two\nlines", "=HYPERLINK(\"x\")",
                  "-1", "ünïcödé ✓", ""]
        for i, comment in enumerate(tricky):
            job = self.finished_job("brightness:delta=%d" % (i + 1))
            self.assertEqual(self.rate(job["id"], {"rating": 1 + i % 5, "comment": comment})[0],
                             201)
        status, headers, body = self.srv.request("GET", "/api/v1/feedback?format=csv")
        self.assertEqual(status, 200, body[:300])
        self.assertTrue(headers["content-type"].startswith("text/csv"), headers)
        self.assertIn("tessera-feedback.csv", headers["content-disposition"])
        text = body.decode("utf-8")
        self.assertTrue(text.endswith("\r\n"))
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        self.assertEqual(list(rows[0].keys()), [
            "updated", "created", "job", "job_name", "job_state", "user_id", "user", "rating",
            "comment", "pipeline", "output_format", "output_quality", "op_versions"])
        _, listed, _ = self.srv.json("GET", "/api/v1/feedback?limit=1000")
        self.assertEqual(len(rows), listed["total"])
        self.assertEqual(len(rows), 11)
        by_job = {f["job"]: f for f in listed["feedback"]}
        for row in rows:
            f = by_job[row["job"]]
            comment = f["comment"]
            if comment[:1] in ("=", "+", "-", "@"):
                comment = "'" + comment  # not run as a formula by spreadsheets
            self.assertEqual(row["comment"], comment)
            self.assertEqual((row["updated"], row["created"], row["job_state"], row["user"]),
                             (f["updated"], f["created"], f["job_state"], f["user"]["name"]))
            self.assertEqual((int(row["rating"]), row["user_id"], row["job_name"]),
                             (f["rating"], f["user"]["id"], f["job_name"]))
            self.assertEqual((row["pipeline"], row["output_format"], int(row["output_quality"])),
                             (f["pipeline_text"], f["output"]["format"], f["output"]["quality"]))
            self.assertEqual(row["op_versions"],
                             " ".join("%s@%d" % kv for kv in f["op_versions"].items()))
        # oldest first, and the filters apply
        self.assertEqual([r["job"] for r in rows], [f["job"] for f in listed["feedback"]][::-1])
        _, _, body = self.srv.request("GET", "/api/v1/feedback?format=csv&op=invert&rating=5")
        rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
        self.assertEqual([(r["user"], r["comment"]) for r in rows], [("bob", "invert")])
        # no match: the header alone
        _, _, body = self.srv.request("GET", "/api/v1/feedback?format=csv&op=sobel")
        self.assertEqual(body.decode().count("\r\n"), 1)

    def test_a_deleted_job_keeps_its_feedback(self):
        job = self.finished_job("grayscale|canny")
        self.assertEqual(self.rate(job["id"], {"rating": 4, "comment": "keep me"})[0], 201)
        status, _, _ = self.srv.request("DELETE", "/api/v1/jobs/%s?purge=true" % job["id"],
                                        token=self.alice)
        self.assertEqual(status, 204)
        self.assertEqual(self.srv.json("GET", "/api/v1/jobs/" + job["id"],
                                       token=self.alice)[0], 404)
        _, listed, _ = self.srv.json("GET", "/api/v1/feedback")
        self.assertEqual(len(listed["feedback"]), 1)
        f = listed["feedback"][0]
        self.assertEqual((f["job"], f["comment"], f["pipeline_text"]),
                         (job["id"], "keep me", job["pipeline_text"]))
        # and the job can no longer be rated
        self.assertEqual(self.rate(job["id"], {"rating": 1})[0], 404)

    @one_coordinator_only("it restarts one process on its data folder")
    def test_metrics_count_ratings_by_op_across_a_restart(self):
        self.assertEqual(ratings(self.srv), {})
        status, _, body = self.srv.request("GET", "/metrics", token=None)
        self.assertIn(b"# TYPE tessera_feedback_ratings_total counter", body)
        a = self.finished_job("grayscale|canny|grayscale")  # each op counts once
        b = self.finished_job("invert")
        self.rate(a["id"], {"rating": 4})
        self.rate(b["id"], {"rating": 4})
        self.assertEqual(ratings(self.srv), {("grayscale", 4): 1, ("canny", 4): 1,
                                             ("invert", 4): 1})
        self.rate(a["id"], {"rating": 2, "comment": "changed my mind"})
        self.rate(a["id"], {"rating": 2, "comment": "only the comment changed"})
        self.rate(b["id"], {"rating": 9})  # refused: nothing counted
        want = {("grayscale", 4): 1, ("canny", 4): 1, ("invert", 4): 1,
                ("grayscale", 2): 1, ("canny", 2): 1}
        self.assertEqual(ratings(self.srv), want)
        data = self.srv.data
        self.srv.proc.terminate()
        self.srv.proc.wait(15)
        again = Server("--data", data)
        try:
            self.assertEqual(ratings(again), want)
        finally:
            again.stop()


if __name__ == "__main__":
    unittest.main()
