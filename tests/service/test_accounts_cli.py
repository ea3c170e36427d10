"""`tessera user` and `tessera token`: accounts made straight on a data folder
work against a server started on it afterwards; revoked tokens get 401; the
commands refuse, saying why, while a server holds the folder."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, DB, Server, with_db


def tessera(*args):
    """Runs the CLI; returns (exit code, stdout, stderr)."""
    p = subprocess.run([BIN, *with_db(args)], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


class AccountsCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tessera-accounts-")
        self.data = os.path.join(self.tmp, "data")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_ok(self, *args):
        code, out, err = tessera(*args, "--data", self.data)
        self.assertEqual(code, 0, (args, out, err))
        return out, err

    def add_user(self, name, role):
        out, err = self.run_ok("user", "add", name, "--role", role)
        token = out.strip()
        self.assertRegex(token, r"^[0-9a-f]{64}$")
        self.assertIn("user %s" % name, err)
        return token

    def token_list(self, *args):
        out, _ = self.run_ok("token", "list", "--json", *args)
        return json.loads(out)["tokens"]

    def serve_on(self):
        """A server on self.data (the harness's own data folder replaced)."""
        return Server("--data", self.data)

    def test_user_add_and_list(self):
        self.add_user("root", "admin")
        self.add_user("alice", "user")
        self.add_user("val", "viewer")
        users = json.loads(self.run_ok("user", "list", "--json")[0])["users"]
        self.assertEqual([(u["name"], u["role"]) for u in users],
                         [("root", "admin"), ("alice", "user"), ("val", "viewer")])
        table = self.run_ok("user", "list")[0]
        self.assertRegex(table, r"(?m)^\d+\s+alice\s+user\s+\d{4}-")
        # a taken name, a bad role, a bad name: errors, nothing added
        code, _, err = tessera("user", "add", "alice", "--role", "user", "--data", self.data)
        self.assertEqual(code, 2, err)
        self.assertIn("already exists", err)
        code, _, err = tessera("user", "add", "eve", "--role", "root", "--data", self.data)
        self.assertEqual(code, 2, err)
        code, _, err = tessera("user", "add", "../eve", "--role", "user", "--data", self.data)
        self.assertEqual(code, 2, err)
        code, _, err = tessera("user", "add", "eve", "--data", self.data)
        self.assertEqual(code, 2, err)
        self.assertEqual(len(json.loads(self.run_ok("user", "list", "--json")[0])["users"]), 3)

    def test_offline_changes_are_audited(self):
        """No server sees offline changes: each is an audit line on stderr and
        in DATA/audit.log (0600), naming the OS user; tokens never appear."""
        token = self.add_user("root", "admin")
        out, err = self.run_ok("token", "issue", "--user", "root")
        second = out.strip()
        tid = [t["id"] for t in self.token_list()][-1]
        self.run_ok("token", "revoke", str(tid))
        path = os.path.join(self.data, "audit.log")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path) as f:
            text = f.read()
        lines = [json.loads(line) for line in text.splitlines()]
        self.assertEqual([(l["msg"], l["event"], l["source"]) for l in lines],
                         [("audit", "user_created", "cli"), ("audit", "token_created", "cli"),
                          ("audit", "token_revoked", "cli")])
        self.assertEqual(lines[0]["user"], "root")
        self.assertEqual(lines[0]["role"], "admin")
        self.assertEqual(lines[2]["token_id"], tid)
        self.assertTrue(all(l["os_user"] and l["ts"].endswith("Z") for l in lines))
        self.assertNotIn(token, text)
        self.assertNotIn(second, text)
        self.assertIn('"event":"token_created"', err)

    def test_missing_store_is_an_error(self):
        for args in (("user", "list"), ("token", "list"), ("token", "issue", "--user", "x"),
                     ("token", "revoke", "1")):
            code, _, err = tessera(*args, "--data", self.data)
            self.assertEqual(code, 2, (args, err))
            self.assertIn("no tessera store", err)
        self.assertFalse(os.path.exists(self.data))

    def test_tokens_issue_list_revoke_then_serve(self):
        root = self.add_user("root", "admin")
        alice = self.add_user("alice", "user")
        self.add_user("bob", "user")
        out, err = self.run_ok("token", "issue", "--user", "alice")
        second = out.strip()
        self.assertRegex(second, r"^[0-9a-f]{64}$")
        self.assertNotEqual(second, alice)
        second_id = int(re.search(r"token (\d+) issued for alice", err).group(1))
        code, _, err = tessera("token", "issue", "--user", "nobody", "--data", self.data)
        self.assertEqual(code, 2, err)
        self.assertIn("no user nobody", err)

        everything = self.token_list()
        self.assertEqual(len(everything), 4)
        mine = self.token_list("--user", "alice")
        self.assertEqual([t["user"] for t in mine], ["alice", "alice"])
        self.assertIn(second_id, [t["id"] for t in mine])
        self.assertFalse(any(t["revoked"] for t in mine))
        # tokens are never shown again: not in lists, not in the database file
        listing = self.run_ok("token", "list")[0] + json.dumps(everything)
        db = b""
        if DB == "sqlite":  # PostgreSQL keeps them elsewhere; the store code is the same
            with open(os.path.join(self.data, "tessera.db"), "rb") as f:
                db = f.read()
        for t in (root, alice, second):
            self.assertNotIn(t, listing)
            self.assertNotIn(t.encode(), db)

        first_id = [t["id"] for t in mine if t["id"] != second_id][0]
        self.run_ok("token", "revoke", str(first_id))
        self.run_ok("token", "revoke", str(first_id))  # twice is harmless
        code, _, err = tessera("token", "revoke", "999", "--data", self.data)
        self.assertEqual(code, 2, err)
        code, _, err = tessera("token", "revoke", "abc", "--data", self.data)
        self.assertEqual(code, 2, err)
        states = {t["id"]: t["revoked"] for t in self.token_list("--user", "alice")}
        self.assertEqual(states, {first_id: True, second_id: False})

        # the accounts made offline are the server's accounts
        srv = self.serve_on()
        try:
            self.assertNotIn("admin token", "".join(srv.stdout))  # users exist: no first start
            status, doc, _ = srv.json("GET", "/api/v1/images", token=alice)
            self.assertEqual(status, 401, doc)
            status, doc, _ = srv.json("GET", "/api/v1/images", token=second)
            self.assertEqual(status, 200, doc)
            status, doc, _ = srv.json("GET", "/api/v1/users", token=second)
            self.assertEqual(status, 403, doc)
            status, doc, _ = srv.json("GET", "/api/v1/users", token=root)
            self.assertEqual(status, 200, doc)
            self.assertEqual(sorted(u["name"] for u in doc["users"]), ["alice", "bob", "root"])

            # while the server holds the folder, the CLI refuses and says why
            for args in (("user", "add", "carol", "--role", "user"), ("user", "list"),
                         ("token", "issue", "--user", "alice"), ("token", "list"),
                         ("token", "revoke", str(second_id))):
                code, out, err = tessera(*args, "--data", self.data)
                self.assertEqual(code, 4, (args, err))
                self.assertEqual(out, "")
                self.assertIn("in use by a running tessera server", err)
                self.assertIn("POST /api/v1/users", err)
            status, doc, _ = srv.json("GET", "/api/v1/images", token=second)
            self.assertEqual(status, 200, doc)
        finally:
            srv.stop()

        # after the server stopped, revoking works again and takes effect
        self.run_ok("token", "revoke", str(second_id))
        srv = self.serve_on()
        try:
            status, doc, _ = srv.json("GET", "/api/v1/images", token=second)
            self.assertEqual(status, 401, doc)
            self.assertEqual(doc["error"]["code"], "unauthorized")
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
