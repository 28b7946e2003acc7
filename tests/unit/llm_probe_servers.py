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

LiteLLM's answers are recorded from a real LiteLLM 1.110.2 (fixtures/litellm-1.110.2-responses.json,
its _comment says how) in the reduced form litellm_shape() gives, and replayed by litellm_responder().
"""

import base64
import json
import socket
import ssl
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

    def __init__(self, respond, port=0, tls=None):
        self.respond = respond
        self.requests = []
        self.tls = tls  # an ssl.SSLContext (server side) to serve https
        super().__init__(("127.0.0.1", port), _ScriptedHandler)
        self.port = self.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()

    def get_request(self):
        sock, address = super().get_request()
        if self.tls:
            # The handshake happens in the handler's thread, so a client that gives up cannot stall the server.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def stop(self):
        self.shutdown()
        self.server_close()


class _ScriptedHandler(socketserver.StreamRequestHandler):
    def setup(self):
        self.handshake_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            try:
                self.request.do_handshake()
            except OSError:  # ssl.SSLError included: a client that does not trust the certificate
                self.handshake_failed = True
        super().setup()

    def handle(self):
        try:
            while not self.handshake_failed and self._one():
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


# --- LiteLLM ------------------------------------------------------------------------------------

LITELLM_FIXTURE = FIXTURES / "litellm-1.110.2-responses.json"

# Keys of a chat completion (or chunk) that change from one answer to the next.
_VOLATILE_KEYS = ("id", "created", "system_fingerprint")


def litellm_shape(status, body, content_type=None):
    """The stable parts of one LiteLLM answer, as the LiteLLM fixture records them.

    status: the HTTP status, or None when no HTTP answer came. body: the raw body (bytes or str; JSON,
    an event stream, or anything else). content_type: the Content-Type header, if it should be kept.
    Returns {"status", "error_type", "body"} (+ "content_type"): error_type is error.type of an
    OpenAI-shaped error body or None; body is the decoded JSON, or for an event stream the list of its
    events (JSON, or the text "[DONE]"); the id, created and system_fingerprint of chat completions are
    replaced by "<volatile>". Compare a live answer with a recorded one by comparing these dicts.
    """
    shape = {"status": status}
    if content_type is not None:
        shape["content_type"] = content_type.split(";")[0].strip().lower()
    doc = _decode_body(body, content_type)
    error = doc.get("error") if isinstance(doc, dict) else None
    shape["error_type"] = error.get("type") if isinstance(error, dict) else None
    shape["body"] = _stable(doc)
    return shape


def _decode_body(body, content_type):
    if body is None:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if "event-stream" in (content_type or "") or text.startswith("data:"):
        events = [line[len("data:"):].strip() for line in text.splitlines() if line.startswith("data:")]
        return [_json_or_text(event) for event in events]
    return _json_or_text(text)


def _json_or_text(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _stable(value):
    if isinstance(value, list):
        return [_stable(item) for item in value]
    if not isinstance(value, dict):
        return value
    volatile = str(value.get("object", "")).startswith("chat.completion")
    return dict((key, "<volatile>" if volatile and key in _VOLATILE_KEYS else _stable(item))
                for key, item in value.items())


def litellm_cases():
    """The recorded cases: {name: {"request": ..., "status", "content_type", "error_type", "body"}}."""
    doc = json.loads(LITELLM_FIXTURE.read_text(encoding="utf-8"))
    return dict((name, case) for name, case in doc.items() if not name.startswith("_"))


def litellm_answer(case):
    """The raw HTTP answer (bytes) for a recorded case, rebuilt from its shape."""
    status = case["status"]
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "Status")
    if case["content_type"] == "text/event-stream":
        body = "".join("data: %s\n\n" % (event if isinstance(event, str) else json.dumps(event))
                       for event in case["body"])
        content_type = "text/event-stream; charset=utf-8"
    else:
        body = json.dumps(case["body"], separators=(",", ":"))
        content_type = case["content_type"]
    return simple_response("%d %s" % (status, reason), body, content_type)


def litellm_responder(models_case, chat_case=None):
    """A respond() for ScriptedServer: GET /v1/models answers models_case, a chat completion chat_case."""
    cases = litellm_cases()

    def respond(request, server):
        if request.path.endswith("/models"):
            return litellm_answer(cases[models_case])
        return litellm_answer(cases[chat_case])

    return respond


# --- TLS -----------------------------------------------------------------------------------------

def make_ca_and_certs(directory, days=(90,), host="127.0.0.1"):
    """A throwaway CA, and for each entry of `days` a certificate for `host` it signed, valid that long.

    Returns (ca_path, {days: (cert_path, key_path)}), PEM files in `directory`. Needs the cryptography
    package (an ansible-core dependency).
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    directory = Path(directory)

    def build(subject, public_key, valid_days, extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=valid_days)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    def write(name, data):
        (directory / name).write_bytes(data)
        return str(directory / name)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lisyoen.frp unit test CA")])
    ca_cert = build(ca_name, ca_key.public_key(), 365, [
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                       encipher_only=False, decipher_only=False), True),
        (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)])
    ca_path = write("ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
    certs = {}
    for valid_days in days:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]), key.public_key(), valid_days, [
            (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)])
        certs[valid_days] = (
            write("cert-%dd.pem" % valid_days, cert.public_bytes(serialization.Encoding.PEM)),
            write("key-%dd.pem" % valid_days, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))
    return ca_path, certs


def server_tls_context(cert_path, key_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
