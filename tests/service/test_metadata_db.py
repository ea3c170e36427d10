"""`--db`: a bad URL and a PostgreSQL server that is not there stop `serve`
(and an offline command) with one line saying so, and a data folder keeps
the database it was first opened with."""
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

import harness
from harness import BIN, Server


def tessera(*args, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


def closed_port():
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MetadataDbTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-db-")
        self.data = os.path.join(self.tmp, "data")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_bad_url_is_a_usage_error(self):
        r = tessera("serve", "--listen", "127.0.0.1:0", "--data", self.data, "--db",
                    "mysql://db/tessera")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("give sqlite:PATH or postgresql://", r.stderr)

    def test_unreachable_server_is_one_line_naming_it(self):
        port = closed_port()
        url = "postgresql://ann:s3cret@127.0.0.1:%d/tessera" % port
        for args in (("serve", "--listen", "127.0.0.1:0"), ("user", "add", "ann", "--role", "admin")):
            r = tessera(*args, "--data", self.data, "--db", url)
            self.assertEqual(r.returncode, 4, r.stderr)
            lines = [line for line in r.stderr.splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn('"127.0.0.1", port %d failed: Connection refused' % port, lines[0])
            self.assertNotIn("s3cret", r.stderr)
        # nothing recorded: the right URL still starts it
        self.assertFalse(os.path.exists(os.path.join(self.data, "db-url")))

    def test_folder_keeps_its_database(self):
        srv = Server(data=self.data)
        srv.stop()
        other = "sqlite:" + os.path.join(self.tmp, "other.db")
        wanted = harness.db_args(self.data)
        store, env = harness.s3_store_args(self.data) if harness.STORE == "s3" else ([], {})
        serve = ("serve", "--listen", "127.0.0.1:0", "--data", self.data, *store)
        if wanted:  # PostgreSQL pass: the folder wants its database again
            r = tessera(*serve, "--db", other, env=env)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("start it with --db " + wanted[1], r.stderr)
            r = tessera(*serve, env=env)
            self.assertIn("start it with --db " + wanted[1], r.stderr)
        else:  # SQLite: the folder's own tessera.db
            r = tessera(*serve, "--db", other, env=env)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("its own tessera.db; start it without --db", r.stderr)
        Server(data=self.data).stop()  # and the right one still starts


if __name__ == "__main__":
    unittest.main()
