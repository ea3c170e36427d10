"""HTTP/1.1 relaying for the S3 test servers (s3server.py's front, faultproxy.py).

A RelayHandler reads one request at a time from a keep-alive client
connection (body by Content-Length only, capped), lets a subclass decide what
to do with it, and can forward it unchanged (Host included, so a signature
over it stays valid) to an upstream HTTP server, on a new connection per
request. Only the Python standard library is used.
"""
import http.client
import http.server
import socket
import struct
import threading

BODY_MAX = 256 << 20  # largest request body accepted (the client sends at most 16 MiB)
COPY_CHUNK = 1 << 16  # bytes per read/write when relaying a response body
UPSTREAM_TIMEOUT_S = 60  # a silent upstream is given up after this
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te",
              "trailer", "upgrade"}


def error_xml(code, message):
    """An S3 error document."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '</Error>' % (code, message)).encode()


class RelayServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server on loopback that can be stopped at once:
    close() shuts the listener and every open client connection."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, handler):
        super().__init__(("127.0.0.1", port), handler)
        self.port = self.server_address[1]
        self.open = set()  # client sockets being served
        self.lock = threading.Lock()
        self.closing = False  # set by close(): handlers stop at once
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def process_request_thread(self, request, client_address):
        with self.lock:
            self.open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.open.discard(request)

    def handle_error(self, request, client_address):
        """One line instead of a traceback: clients reset connections on purpose."""
        import sys
        err = sys.exc_info()[1]
        if not isinstance(err, (ConnectionError, TimeoutError)):
            sys.stderr.write("%s: %s: %s\n" % (type(self).__name__, type(err).__name__, err))

    def close(self, reset=False):
        """Stops accepting and drops every client connection (with a TCP
        reset when `reset`, like a killed process)."""
        self.closing = True
        self.shutdown()
        self.server_close()
        with self.lock:
            conns = list(self.open)
        for conn in conns:
            if reset:
                abort(conn)
            else:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(5)


def abort(sock):
    """Closes `sock` with a TCP reset (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


class RelayHandler(http.server.BaseHTTPRequestHandler):
    """Subclasses set `upstream_port` on the server (or override upstream())
    and implement respond(method, body)."""
    protocol_version = "HTTP/1.1"
    upstream_conn = None

    def log_message(self, fmt, *args):  # quiet: tests read the servers' state, not logs
        pass

    def handle_one_request(self):
        if self.server.closing:
            self.close_connection = True
            return
        super().handle_one_request()

    def __getattr__(self, name):  # do_GET, do_PUT, ... all go to one place
        if name.startswith("do_"):
            return lambda: self.dispatch(name[3:])
        raise AttributeError(name)

    def dispatch(self, method):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.reply(411, error_xml("MissingContentLength", "chunked bodies are "
                                             "not supported here"), close=True)
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_MAX:
            return self.reply(400, error_xml("EntityTooLarge", "body over %d bytes" % BODY_MAX),
                              close=True)
        self.respond(method, length)

    def read_body(self, length):
        return self.rfile.read(length) if length else b""

    def reply(self, status, body=b"", headers=(), close=False):
        """Sends a whole response (XML body unless headers say otherwise)."""
        self.send_response_only(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/xml")
        for name, value in headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def forward(self, method, body, on_body=None):
        """Sends the request to the upstream and relays its answer. on_body,
        when given, is called with (bytes sent so far, response length) before
        each body chunk and may return "stop" to end the relay there (the
        caller then stalls or resets). Answers 502 when the upstream is down.
        Returns "stop", "done" or "failed"."""
        try:
            resp = self.upstream_request(method, body)
        except OSError as e:
            self.drop_upstream()
            self.reply(502, error_xml("BadGateway", "upstream unreachable: %s" % e), close=True)
            return "failed"
        self.send_response_only(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        data = None
        if method != "HEAD" and length is None and resp.status not in (204, 304):
            data = resp.read()  # chunked or close-delimited upstream: buffer it
            length = str(len(data))
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if method == "HEAD" or resp.status in (204, 304):
            self.drop_upstream()
            return "done"
        total, sent = int(length), 0
        while sent < total:
            if on_body and on_body(sent, total) == "stop":
                return "stop"
            chunk = data[sent:sent + COPY_CHUNK] if data is not None else \
                resp.read(min(COPY_CHUNK, total - sent))
            if not chunk:
                self.close_connection = True
                return "failed"
            self.wfile.write(chunk)
            sent += len(chunk)
        self.drop_upstream()
        return "done"

    def upstream_request(self, method, body):
        """A new upstream connection per request ("Connection: close"), so no
        request ever meets a kept-alive connection the upstream has dropped."""
        self.drop_upstream()
        conn = self.upstream_conn = http.client.HTTPConnection(
            "127.0.0.1", self.server.upstream_port, timeout=UPSTREAM_TIMEOUT_S)
        conn.putrequest(method, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                conn.putheader(name, value)
        if body or method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        conn.endheaders(body or None)
        return conn.getresponse()

    def drop_upstream(self):
        if self.upstream_conn is not None:
            self.upstream_conn.close()
            self.upstream_conn = None

    def finish(self):
        self.drop_upstream()
        try:
            super().finish()
        except OSError:
            pass
