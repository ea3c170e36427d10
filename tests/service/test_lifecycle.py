"""Process lifecycle of `tessera serve`: SIGTERM drains and exits cleanly
after serving an event stream; a restart keeps users, tokens and images
and does not print the admin token again."""
import os
import signal
import subprocess
import time
import unittest

import harness
from harness import ADMIN_TOKEN, BIN, DATA, Server


class LifecycleTest(unittest.TestCase):
    def test_sigterm_after_stream_and_restart(self):
        srv = Server()
        try:
            status, img, _ = srv.upload(os.path.join(DATA, "chelsea.png"))
            self.assertEqual(status, 201, img)
            status, job, _ = srv.json("POST", "/api/v1/jobs",
                                      {"images": [img["id"]], "pipeline": "grayscale"})
            srv.wait_job(job["id"])
            c = srv.conn()
            c.request("GET", "/api/v1/jobs/%s/events" % job["id"],
                      headers={"Authorization": "Bearer " + ADMIN_TOKEN})
            c.getresponse().read()
            c.close()
            t0 = time.time()
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(srv.proc.wait(20), 0)
            self.assertLess(time.time() - t0, 10)
            self.assertIn('"msg":"stopped"', srv.log_text())
            # restart on the same data: no new token, same objects
            env = dict(os.environ, TESSERA_ADMIN_TOKEN="")
            store = []
            if harness.STORE == "s3":  # the same store as the first start
                store, s3_env = harness.s3_store_args(srv.data)
                env.update(s3_env)
            p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data", srv.data,
                                  *store, *harness.db_args(srv.data)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                 text=True)
            line = p.stdout.readline()
            self.assertIn("listening on", line)
            srv.port = int(line.rsplit(":", 1)[1])
            status, doc, _ = srv.json("GET", "/api/v1/images/" + img["id"])
            self.assertEqual(status, 200, doc)
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(20), 0)
            p.stdout.close()
        finally:
            srv.stop()

    def test_bad_arguments(self):
        r = subprocess.run([BIN, "serve", "--listen", "nope"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([BIN, "serve", "--threads", "-1"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
