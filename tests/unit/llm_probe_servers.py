# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real HTTP servers on 127.0.0.1 for the llm_api_probe tests, and what they share with the tests.

The frp replies are replayed byte for byte from real frps 0.65.0 (captured with frps listening on
127.0.0.1 and frpc registering http proxies):
- no working proxy for the Host (unknown Host, local service down, health check failed):
    HTTP/1.1 404 Not Found / Date / Content-Length: 489 / Content-Type: text/html; charset=utf-8,
    body = fixtures/frp-0.65.0-404.html (sha256 967e369d...1023);
- upstream slower than vhostHTTPTimeout:
    HTTP/1.1 504 Gateway Timeout / Date / Content-Length: 0, empty body, connection kept alive;
- dashboard GET /api/proxy/http: 200, Content-Type: text/plain; charset=utf-8, body as in
  fixtures/frps-0.65.0-api-proxy-http-{online,offline}.json; without credentials 401 "Unauthorized\\n".
"""

import base64
import socket
import socketserver
import struct
import threading
import time
from email.utils import formatdate
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"

API_KEY = "sk-unit-3f9c1e7a5b2d4c6e8f0a"
MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
DASH_USER = "admin"
DASH_PASSWORD = "dash-pw-5e1b9d"
FRP_404_PAGE = (FIXTURES / "frp-0.65.0-404.html").read_bytes()


def http_date():
    return formatdate(usegmt=True)


def frp_404_response():
    return (b"HTTP/1.1 404 Not Found\r\nDate: " + http_date().encode() + b"\r\nContent-Length: %d\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n" % len(FRP_404_PAGE)) + FRP_404_PAGE


def frp_504_response():
    return b"HTTP/1.1 504 Gateway Timeout\r\nDate: " + http_date().encode() + b"\r\nContent-Length: 0\r\n\r\n"


def simple_response(status_line, body, content_type="application/json", extra=b""):
    if isinstance(body, str):
        body = body.encode()
    return (b"HTTP/1.1 " + status_line.encode() + b"\r\nDate: " + http_date().encode()
            + b"\r\nContent-Type: " + content_type.encode()
            + b"\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n") + body


class Request(object):
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


# What a respond() function returns to reset the connection (RST) right after reading the request,
# as a port forwarder in front of frps does while frpc is not connected to a tcp proxy.
RESET = "reset"


class ScriptedServer(socketserver.ThreadingTCPServer):
    """An HTTP/1.1 server on 127.0.0.1 whose answers come from a function.

    respond(request, server) returns the raw bytes to send, a list of (bytes, pause) steps for a
    streamed answer, or None to close the connection without answering. Requests are recorded.
    """

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, respond, port=0):
        self.respond = respond
        self.requests = []
        super().__init__(("127.0.0.1", port), _ScriptedHandler)
        self.port = self.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


class _ScriptedHandler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            while self._one():
                pass
        except (ConnectionError, socket.timeout, OSError):
            pass

    def _one(self):
        line = self.rfile.readline(65536)
        if not line:
            return False
        method, path = line.decode("latin-1").split()[:2]
        headers = {}
        while True:
            raw = self.rfile.readline(65536)
            if raw in (b"\r\n", b"\n", b""):
                break
            key, value = raw.decode("latin-1").split(":", 1)
            headers[key.strip().lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length") or 0))
        request = Request(method, path, headers, body)
        self.server.requests.append(request)
        answer = self.server.respond(request, self.server)
        if answer is None:
            return False
        if answer == RESET:
            # Close now, with no linger: the kernel sends RST (socketserver would shut down with a FIN first).
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.request.close()
            return False
        if isinstance(answer, bytes):
            answer = [(answer, 0)]
        for data, pause in answer:
            if pause:
                time.sleep(pause)
            if data is None:  # cut the connection here
                return False
            self.wfile.write(data)
            self.wfile.flush()
        return True


def dashboard_responder(fixture_name, user=DASH_USER, password=DASH_PASSWORD):
    page = (FIXTURES / fixture_name).read_bytes()
    expected = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()

    def respond(request, server):
        if request.headers.get("authorization") != expected:
            return simple_response("401 Unauthorized", "Unauthorized\n", "text/plain; charset=utf-8",
                                   b'Www-Authenticate: Basic realm="Restricted"\r\n')
        if request.path != "/api/proxy/http":
            return simple_response("404 Not Found", "404 page not found\n", "text/plain; charset=utf-8")
        return simple_response("200 OK", page, "text/plain; charset=utf-8")

    return respond
