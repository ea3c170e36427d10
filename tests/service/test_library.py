"""The image library and the job history (issue 12, points 5 and 7) against a
real server: thumbnails made by the engine and cached, uploads de-duplicated
by content, search and paging with totals, bulk delete, job names,
durations, sizes, state filters, paging, rerun and delete."""
import os
import struct
import time
import unittest

from harness import DATA, Server, files_store_only, read_file


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise AssertionError("no SOF marker")


def blob_files(data_dir):
    out = []
    for d, _, fs in os.walk(os.path.join(data_dir, "blobs")):
        out += [os.path.join(d, f) for f in fs]
    return out


class LibraryTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server()
        self.token = self.srv.make_user("libby", "user")

    def tearDown(self):
        self.srv.stop()

    def up(self, name, data=None, token=None):
        return self.srv.upload_bytes(data if data is not None else read_file(name), name,
                                     token=token or self.token)

    def test_thumbnail_is_made_once_and_cached(self):
        status, im, _ = self.up("astronaut.png")
        self.assertEqual(status, 201, im)
        path = "/api/v1/images/%s/thumbnail" % im["id"]
        t0 = time.time()
        status, h, body = self.srv.request("GET", path, token=self.token)
        first = time.time() - t0
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(h["content-type"], "image/jpeg")
        w, h2 = jpeg_size(body)
        self.assertEqual(max(w, h2), 256)
        self.assertIn("max-age", h["cache-control"])
        etag = h["etag"]
        t0 = time.time()
        status, h, again = self.srv.request("GET", path, token=self.token)
        self.assertEqual(status, 200)
        self.assertEqual(h["etag"], etag, "a second request serves the cached thumbnail")
        self.assertEqual(again, body)
        self.assertLess(time.time() - t0, max(first, 0.5) + 0.5)
        status, _, _ = self.srv.request("GET", path, headers={"If-None-Match": etag},
                                        token=self.token)
        self.assertEqual(status, 304)

    def test_thumbnail_keeps_alpha_and_small_images(self):
        # palette_color.png is small: a thumbnail never upscales
        status, im, _ = self.up("palette_color.png")
        self.assertEqual(status, 201, im)
        status, h, body = self.srv.request("GET", "/api/v1/images/%s/thumbnail" % im["id"],
                                           token=self.token)
        self.assertEqual(status, 200, body[:200])
        size = png_size(body) if h["content-type"] == "image/png" else jpeg_size(body)
        self.assertLessEqual(max(size), 256)
        self.assertLessEqual(size[0], im["width"])

    def test_thumbnail_is_private(self):
        status, im, _ = self.up("chelsea.png")
        other = self.srv.make_user("eve", "user")
        status, doc, _ = self.srv.json("GET", "/api/v1/images/%s/thumbnail" % im["id"],
                                       token=other)
        self.assertEqual(status, 404, doc)
        status, _, _ = self.srv.request("GET", "/api/v1/images/%s/thumbnail" % im["id"],
                                        token=None)
        self.assertEqual(status, 401)

    @files_store_only("counts blob files on disk")
    def test_thumbnail_is_deleted_with_its_image(self):
        _, im, _ = self.up("chelsea.png")
        self.assertEqual(len(blob_files(self.srv.data)), 1)
        status, _, _ = self.srv.request("GET", "/api/v1/images/%s/thumbnail" % im["id"],
                                        token=self.token)
        self.assertEqual(status, 200)
        self.assertEqual(len(blob_files(self.srv.data)), 2, "the thumbnail is a blob")
        status, _, _ = self.srv.request("DELETE", "/api/v1/images/" + im["id"], token=self.token)
        self.assertEqual(status, 204)
        self.assertEqual(blob_files(self.srv.data), [])
        status, _, _ = self.srv.request("GET", "/api/v1/images/%s/thumbnail" % im["id"],
                                        token=self.token)
        self.assertEqual(status, 404)

    @files_store_only("counts blob files on disk")
    def test_same_bytes_twice_are_one_image(self):
        status, first, _ = self.up("chelsea.png")
        self.assertEqual(status, 201, first)
        self.assertFalse(first["duplicate"])
        status, second, _ = self.up("chelsea.png", data=read_file("chelsea.png"))
        self.assertEqual(status, 200, second)
        self.assertTrue(second["duplicate"])
        self.assertEqual(second["id"], first["id"])
        self.assertEqual(len(blob_files(self.srv.data)), 1, "no second blob")
        _, doc, _ = self.srv.json("GET", "/api/v1/images", token=self.token)
        self.assertEqual(doc["total"], 1)
        # another account uploading the same bytes gets its own image
        other = self.srv.make_user("bob", "user")
        status, theirs, _ = self.up("chelsea.png", token=other)
        self.assertEqual(status, 201, theirs)
        self.assertNotEqual(theirs["id"], first["id"])

    def test_search_and_paging(self):
        for name in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"):
            status, doc, _ = self.up(name)
            self.assertEqual(status, 201, doc)
        _, doc, _ = self.srv.json("GET", "/api/v1/images?q=CO", token=self.token)
        self.assertEqual([i["name"] for i in doc["images"]], ["coffee.png"])
        self.assertEqual(doc["total"], 1)
        _, doc, _ = self.srv.json("GET", "/api/v1/images?q=.png&limit=2", token=self.token)
        self.assertEqual(doc["total"], 3)
        self.assertEqual([i["name"] for i in doc["images"]], ["astronaut.png", "coffee.png"])
        _, doc, _ = self.srv.json("GET", "/api/v1/images?q=.png&limit=2&offset=2",
                                  token=self.token)
        self.assertEqual([i["name"] for i in doc["images"]], ["chelsea.png"])
        status, doc, _ = self.srv.json("GET", "/api/v1/images?offset=-1", token=self.token)
        self.assertEqual(status, 400, doc)

    def test_bulk_delete(self):
        ids = [self.up(n)[1]["id"] for n in ("chelsea.png", "coffee.png", "rocket.jpg")]
        other = self.srv.make_user("mallory", "user")
        _, theirs, _ = self.up("astronaut.png", token=other)
        status, doc, _ = self.srv.json("POST", "/api/v1/images/delete",
                                       {"ids": ids[:2] + [theirs["id"], "nope"]},
                                       token=self.token)
        self.assertEqual(status, 200, doc)
        self.assertEqual(sorted(doc["deleted"]), sorted(ids[:2]))
        self.assertEqual(sorted(doc["not_found"]), sorted([theirs["id"], "nope"]))
        self.assertEqual(doc["in_use"], [])
        _, doc, _ = self.srv.json("GET", "/api/v1/images", token=self.token)
        self.assertEqual([i["id"] for i in doc["images"]], [ids[2]])
        status, _, _ = self.srv.request("GET", "/api/v1/images/" + theirs["id"], token=other)
        self.assertEqual(status, 200, "another account's image is untouched")
        status, doc, _ = self.srv.json("POST", "/api/v1/images/delete", {"ids": "x"},
                                       token=self.token)
        self.assertEqual(status, 400, doc)


class HistoryTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server()

    def tearDown(self):
        self.srv.stop()

    def submit(self, ids, pipeline="grayscale", **extra):
        body = dict({"images": ids, "pipeline": pipeline}, **extra)
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs", body)
        self.assertEqual(status, 201, doc)
        return doc

    def test_history_fields_filters_and_paging(self):
        _, a, _ = self.srv.upload(os.path.join(DATA, "chelsea.png"))
        _, b, _ = self.srv.upload(os.path.join(DATA, "coffee.png"))
        j1 = self.submit([a["id"], b["id"]])
        self.assertEqual(j1["name"], "chelsea.png +1")
        j2 = self.submit([b["id"]], "gaussian-blur:sigma=1")
        self.srv.wait_job(j1["id"])
        self.srv.wait_job(j2["id"])
        j3 = self.submit([a["id"]], name="my run")
        done = self.srv.wait_job(j3["id"])
        self.assertEqual(done["name"], "my run")
        self.assertGreaterEqual(done["seconds"], 0)
        self.assertEqual(done["output_bytes"], done["items"][0]["bytes"])
        _, doc, _ = self.srv.json("GET", "/api/v1/jobs?state=succeeded")
        self.assertEqual(doc["total"], len(doc["jobs"]))
        self.assertTrue(all(j["state"] == "succeeded" for j in doc["jobs"]))
        _, doc, _ = self.srv.json("GET", "/api/v1/jobs?limit=1&offset=1")
        self.assertEqual(doc["total"], 3)
        self.assertEqual(len(doc["jobs"]), 1)
        self.assertEqual(doc["jobs"][0]["id"], j2["id"])
        first = [j for j in self.srv.json("GET", "/api/v1/jobs")[1]["jobs"]
                 if j["id"] == j1["id"]][0]
        self.assertEqual(first["output_bytes"], sum(i["bytes"] for i in first["items"]))
        status, doc, _ = self.srv.json("GET", "/api/v1/jobs?state=bogus")
        self.assertEqual(status, 400, doc)

    def test_rerun_gives_identical_output_and_delete(self):
        _, a, _ = self.srv.upload(os.path.join(DATA, "rocket.jpg"))
        j1 = self.submit([a["id"]], "grayscale|gaussian-blur:sigma=2",
                         output={"format": "png"})
        self.srv.wait_job(j1["id"])
        status, j2, h = self.srv.json("POST", "/api/v1/jobs/%s/rerun" % j1["id"])
        self.assertEqual(status, 201, j2)
        self.assertNotEqual(j2["id"], j1["id"])
        self.assertEqual(j2["pipeline_text"], j1["pipeline_text"])
        self.assertEqual(j2["name"], j1["name"])
        self.assertEqual([i["image"] for i in j2["items"]], [a["id"]])
        self.srv.wait_job(j2["id"])
        _, _, r1 = self.srv.request("GET", "/api/v1/jobs/%s/result" % j1["id"])
        _, _, r2 = self.srv.request("GET", "/api/v1/jobs/%s/result" % j2["id"])
        self.assertEqual(r1, r2)
        other = self.srv.make_user("eve", "user")
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs/%s/rerun" % j1["id"], token=other)
        self.assertEqual(status, 404, doc)
        status, _, _ = self.srv.request("DELETE", "/api/v1/jobs/%s?purge=true" % j1["id"])
        self.assertEqual(status, 204)
        status, _, _ = self.srv.request("GET", "/api/v1/jobs/" + j1["id"])
        self.assertEqual(status, 404)
        # a job whose image was deleted cannot run again
        status, _, _ = self.srv.request("DELETE", "/api/v1/images/" + a["id"])
        self.assertEqual(status, 204)
        status, doc, _ = self.srv.json("POST", "/api/v1/jobs/%s/rerun" % j2["id"])
        self.assertEqual(status, 409, doc)
        self.assertEqual(doc["error"]["code"], "image_deleted")


if __name__ == "__main__":
    unittest.main()
