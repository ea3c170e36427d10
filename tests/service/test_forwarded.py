"""Clients behind a load balancer (--trusted-proxies): a request from a
trusted proxy counts against, and is audited as, the client its
X-Forwarded-For names; from any other peer the header is ignored, so a
client cannot pick the address its requests spend."""
import json
import unittest

from harness import HA, Server, one_coordinator_only

BAD_TOKEN = "0" * 64


def audit(srv, event):
    return [d for d in (json.loads(line) for line in srv.log_text().splitlines()
                        if '"msg":"audit"' in line) if d["event"] == event]


def guess(srv, forwarded):
    """An unauthenticated request (a wrong token): it spends an address's bucket."""
    return srv.json("GET", "/api/v1/jobs", token=BAD_TOKEN,
                    headers={"X-Forwarded-For": forwarded})[0]


class TrustedProxyTest(unittest.TestCase):
    def setUp(self):
        # the load-balanced pass: HAProxy (tests/balancer.py) appends the
        # address it saw, 127.0.0.1, trusted too
        self.srv = Server("--trusted-proxies", "127.0.0.1,10.0.0.0/8", "--rate-limit", "1",
                          "--rate-burst", "6" if HA else "3")

    def tearDown(self):
        self.srv.stop()

    def test_audit_names_the_forwarded_client(self):
        self.assertEqual(guess(self.srv, "198.51.100.1, 203.0.113.5, 10.1.2.3"), 401)
        lines = audit(self.srv, "signin_failed")
        self.assertTrue(lines, self.srv.log_text()[-2000:])
        # from the right: past the trusted 10.1.2.3, the first untrusted hop
        self.assertEqual(lines[-1]["address"], "203.0.113.5")

    @one_coordinator_only("each coordinator takes a share of the burst")
    def test_each_forwarded_client_has_its_own_bucket(self):
        codes = [guess(self.srv, "203.0.113.5") for _ in range(5)]
        self.assertEqual(codes, [401] * 3 + [429] * 2)
        self.assertEqual(guess(self.srv, "203.0.113.6"), 401)  # another client: its own bucket
        limited = audit(self.srv, "rate_limited")
        self.assertEqual({a["address"] for a in limited}, {"203.0.113.5"})


@one_coordinator_only("HAProxy's own X-Forwarded-For names 127.0.0.1, a proxy it must trust")
class UntrustedPeerTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server("--trusted-proxies", "10.0.0.0/8", "--rate-limit", "1",
                          "--rate-burst", "3")

    def tearDown(self):
        self.srv.stop()

    def test_header_of_an_untrusted_peer_is_ignored(self):
        codes = [guess(self.srv, "203.0.113.%d" % i) for i in range(5)]
        self.assertEqual(codes, [401] * 3 + [429] * 2)  # one bucket: the peer's
        self.assertEqual({a["address"] for a in audit(self.srv, "signin_failed")}, {"127.0.0.1"})

    def test_a_bad_list_is_refused_at_start(self):
        with self.assertRaises(RuntimeError) as e:
            Server("--trusted-proxies", "10.0.0.0/33")
        self.assertIn("--trusted-proxies wants IP addresses or CIDR blocks", str(e.exception))


if __name__ == "__main__":
    unittest.main()
