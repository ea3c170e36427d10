#!/usr/bin/python3
"""A fault-injecting HTTP proxy on loopback, in front of the test S3 server.

It relays each request unchanged (Host and signature included) to its
upstream, until told to break the next N requests in one of these ways:

    add("status", n, code=503)          answer `code` with an S3 error body
                                        (500 InternalError, 503 SlowDown, ...)
    add("reset", n)                     read the head and a little of the
                                        body, then reset the connection
    add("reset", n, after="body")       forward, send half the response
                                        body, then reset
    add("stall", n, seconds=20)         hold the connection without
                                        answering, then close it; bounded by
                                        `seconds` (at most STALL_MAX_S), and
                                        ended early when the client gives up
    add("stall", n, seconds, after="body")  send half the response body, then hold

Faults queue in order; each is used by one request; skip=N lets N requests
through before the faults start. stats() counts
requests seen and faults served. With the upstream down it answers 502.

    proxy = FaultProxy(upstream_port)   # proxy.endpoint
    proxy.add("status", 3, code=500); ...; proxy.close()
"""
import threading
import time

import relay

STALL_MAX_S = 120  # no stall lasts longer than this
RESET_READ = 1 << 16  # bytes of a request body read before a reset
ERRORS = {500: ("InternalError", "We encountered an internal error. Please try again."),
          502: ("BadGateway", "Bad gateway"),
          503: ("SlowDown", "Please reduce your request rate."),
          429: ("SlowDown", "Please reduce your request rate."),
          504: ("GatewayTimeout", "Gateway timeout")}


class Handler(relay.RelayHandler):
    def respond(self, method, length):
        fault = self.server.take()
        if fault is None:
            return self.forward(method, self.read_body(length))
        kind, code, seconds, after = fault
        if kind == "status":
            self.read_body(length)
            name, message = ERRORS.get(code, ("InternalError", "injected error"))
            return self.reply(code, relay.error_xml(name, message))
        if after == "body":
            state = self.forward(method, self.read_body(length),
                                 on_body=lambda sent, total: "stop" if sent >= total // 2 else None)
            if state != "stop":
                return
            self.wfile.flush()
        elif kind == "reset":
            self.rfile.read(min(length, RESET_READ))
        if kind == "stall":
            self.hold(seconds)
        else:
            relay.abort(self.connection)
        self.close_connection = True

    def hold(self, seconds):
        """Keeps the connection open, answering nothing, for `seconds` or
        until the client closes it or the proxy stops."""
        import select
        deadline = time.monotonic() + min(seconds, STALL_MAX_S)
        sock = self.connection
        while time.monotonic() < deadline and not self.server.closing:
            ready, _, _ = select.select([sock], [], [], 0.1)
            if ready:
                try:
                    if not sock.recv(1 << 16):  # the client gave up
                        return
                except OSError:
                    return


class FaultProxy(relay.RelayServer):
    def __init__(self, upstream_port, port=0):
        self.faults = []  # queued (kind, code, seconds, after)
        self.requests = 0  # requests seen
        self.served = 0  # faults served
        self.fault_lock = threading.Lock()
        super().__init__(port, Handler)
        self.upstream_port = upstream_port
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def add(self, kind, count, code=500, seconds=10, after=None, skip=0):
        """Queues `count` faults, after letting `skip` more requests through."""
        if kind not in ("status", "reset", "stall") or after not in (None, "request", "body"):
            raise ValueError("unknown fault %s after %s" % (kind, after))
        with self.fault_lock:
            self.faults += [None] * skip + [(kind, code, seconds, after)] * count
            return {"queued": len(self.faults)}

    def clear(self):
        with self.fault_lock:
            self.faults = []

    def take(self):
        with self.fault_lock:
            self.requests += 1
            fault = self.faults.pop(0) if self.faults else None
            self.served += fault is not None
            return fault

    def stats(self):
        with self.fault_lock:
            return {"requests": self.requests, "faults": self.served,
                    "queued": len(self.faults)}
