"""HAProxy (Debian's haproxy) in front of coordinators on loopback ports, as
tests/ha's cluster and the service suite's load-balanced pass
(TESSERA_TEST_HA) run it: round robin, each coordinator checked with
GET /readyz, a refused connection sent to another."""
import http.client
import os
import socket
import subprocess
import time

import tools


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy_config(port, backends):
    """Round robin over the coordinators, each checked with GET /readyz
    every 300 ms (down after 2 failures, up after 1 success); a request
    whose connection is refused goes to another (redispatch); each request
    gains the client's address in X-Forwarded-For."""
    servers = "\n".join("    server c%d 127.0.0.1:%d" % (i, p) for i, p in enumerate(backends))
    return """global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch
    option forwardfor
frontend tessera
    bind 127.0.0.1:%d
    default_backend coordinators
backend coordinators
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 300ms fall 2 rise 1
%s
""" % (port, servers)


class Balancer:
    """One haproxy process over `backends` (ports); `port` is its own.
    Servers start up (HAProxy's default), so the coordinators should be
    listening first; start() waits until HAProxy answers."""

    def __init__(self, folder, backends):
        self.port = free_port()
        self.cfg = os.path.join(folder, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(haproxy_config(self.port, backends))
        self.log = open(os.path.join(folder, "haproxy.log"), "w")
        self.proc = None

    def start(self, timeout=20):
        self.proc = subprocess.Popen([tools.find("haproxy"), "-db", "-f", self.cfg],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/healthz")
                c.getresponse().read()
                c.close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        with open(self.log.name) as f:
            raise RuntimeError("haproxy did not start: " + f.read()[-2000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
