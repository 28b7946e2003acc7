# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small OpenAI-compatible API server, standard library only (Python 3.8+).

It stands in for LiteLLM/vLLM on the office server ("spark") in the lab and for the upstream in the
unit tests of lisyoen.frp.llm_api_probe. It behaves like the real thing in the ways the tunnel cares
about: Bearer key checks with LiteLLM-shaped 401 errors, /v1/models in OpenAI's list shape, streamed
chat completions as Server-Sent Events over chunked transfer encoding (each event flushed on its own),
and non-streamed completions that can be made slower than frps' vhostHTTPTimeout.

Usage:
  fake_openai.py --api-key-file /etc/fake-openai/key [--host 0.0.0.0] [--port 4000]
                 [--models Qwen/Qwen3-Coder-30B-A3B-Instruct,other/model] [--name spark2]

--name NAME adds the header "X-Backend: NAME" to every response, so that a client can tell which of
several load-balanced servers answered (the lab counts the split with it). Without it no such header.

Per-request knobs (request JSON field, header, or query parameter; first found wins):
  fake_chunks / x-fake-chunks / ?fake_chunks=      content chunks of a stream (default 20)
  fake_interval_ms / x-fake-interval-ms            pause between stream chunks (default 50)
  fake_delay_s / x-fake-delay-s                    pause before the response headers (default 0)
  fake_status / x-fake-status                      answer with this HTTP error status instead
  max_tokens (request field)                       caps the chunks; finish_reason becomes "length"
Endpoints:
  GET  /health/liveliness, /health/readiness, /healthz   200 without auth (for frp health checks)
  GET  /v1/models, /models                                the model list
  GET  /v1/models/<id>                                    one model
  POST /v1/chat/completions, /chat/completions            streamed or not
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEFAULT_MODELS = ("Qwen/Qwen3-Coder-30B-A3B-Instruct",)
DEFAULT_CHUNKS = 20
DEFAULT_INTERVAL_MS = 50.0
MAX_BODY = 8 * 1024 * 1024
# Clients that hang up mid-response are normal (a cancelled stream, a probe's timeout); not worth a trace.
DISCONNECT_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)


class FakeOpenAIServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Threads serving keep-alive connections would otherwise make shutdown wait for idle clients.
    block_on_close = False

    def __init__(self, address, api_keys, models, quiet=False, default_chunks=DEFAULT_CHUNKS,
                 default_interval_ms=DEFAULT_INTERVAL_MS, name=None):
        self.name = name or None
        self.api_keys = frozenset(k for k in api_keys if k)
        if not self.api_keys:
            raise ValueError("at least one non-empty API key is required")
        self.models = list(models)
        self.quiet = quiet
        self.default_chunks = default_chunks
        self.default_interval_ms = default_interval_ms
        self.created = int(time.time())
        # Counters the unit tests read; a lock because every connection has its own thread.
        self.stats_lock = threading.Lock()
        self.stats = {"requests": 0, "unauthorized": 0, "streams_completed": 0, "streams_aborted": 0}
        super().__init__(address, FakeOpenAIHandler)

    def count(self, key):
        with self.stats_lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, DISCONNECT_ERRORS):
            return
        super().handle_error(request, client_address)


class FakeOpenAIHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai/1.0"
    sys_version = ""
    # Idle keep-alive connections are dropped after this long so threads do not pile up.
    timeout = 120

    def setup(self):
        super().setup()
        # Every response goes out in one write, and each SSE event too: with Nagle on, a small
        # trailing write waits for the peer's delayed ACK (~40 ms) and hides the tunnel's real latency.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # -- plumbing -----------------------------------------------------------------------------
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by BaseHTTPRequestHandler
        if not self.server.quiet:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

    def _knob(self, name, body=None):
        """A per-request setting from the JSON body, an x-fake-* header or the query string."""
        if isinstance(body, dict) and body.get(name) is not None:
            return body[name]
        header = self.headers.get("x-" + name.replace("_", "-"))
        if header is not None:
            return header
        values = parse_qs(urlsplit(self.path).query).get(name)
        return values[0] if values else None

    def _number(self, name, body, default, kind=float):
        raw = self._knob(name, body)
        if raw is None or raw == "":
            return default
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise BadRequest("%s must be a number, got %r" % (name, raw))
        if value < 0:
            raise BadRequest("%s must not be negative" % name)
        return value

    def _send(self, status, body=b"", content_type="application/json"):
        """Status line, headers and body assembled into one buffer and written at once."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        status = HTTPStatus(status)
        lines = [
            "HTTP/1.1 %d %s" % (status.value, status.phrase),
            "Date: %s" % self.date_time_string(),
            "Server: %s" % self.server_version,
            "Content-Type: %s" % content_type,
            "Content-Length: %d" % len(body),
        ]
        if self.server.name:
            lines.append("X-Backend: %s" % self.server.name)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (body if self.command != "HEAD" else b""))
        self.log_request(status.value, len(body))

    def _send_json(self, status, obj):
        self._send(status, json.dumps(obj, separators=(",", ":")))

    def _error(self, status, message, err_type, code=None):
        # LiteLLM's proxy answers errors in OpenAI's shape, with the status as a string code.
        self._send_json(status, {"error": {"message": message, "type": err_type, "param": None,
                                           "code": str(code if code is not None else status)}})

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise BadRequest("request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise BadRequest("request body too large")
        return self.rfile.read(length) if length else b""

    def _authorized(self):
        auth = self.headers.get("Authorization", "")
        scheme, token = auth.split(" ", 1) if " " in auth else (auth, "")
        if scheme.lower() == "bearer" and token.strip() in self.server.api_keys:
            return True
        self.server.count("unauthorized")
        if not auth:
            message = ("Authentication Error, No api key passed in. "
                       "Send it as 'Authorization: Bearer <key>'.")
        elif scheme.lower() != "bearer":
            message = ("Authentication Error, Authorization header is not a Bearer token "
                       "(got scheme %r). A proxy doing basic auth may have replaced it." % scheme)
        else:
            message = "Authentication Error, Invalid proxy server token passed."
        # The key itself is never echoed back, so a probe that prints this body leaks nothing.
        self._error(401, message, "auth_error", 401)
        return False

    # -- routing ------------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        self.server.count("requests")
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            body_bytes = self._read_body() if method == "POST" else b""
            if path in ("/health/liveliness", "/health/liveness", "/health/readiness", "/healthz"):
                if method != "GET":
                    return self._error(405, "Method Not Allowed", "invalid_request_error")
                return self._send_json(200, "I'm alive!")
            if path in ("/v1/models", "/models") or path.startswith(("/v1/models/", "/models/")):
                if method != "GET":
                    return self._error(405, "Method Not Allowed", "invalid_request_error")
                if not self._authorized():
                    return None
                if not self._delay_or_status(None):
                    return None
                return self._models(path)
            if path in ("/v1/chat/completions", "/chat/completions"):
                if method != "POST":
                    return self._error(405, "Method Not Allowed", "invalid_request_error")
                if not self._authorized():
                    return None
                return self._chat(body_bytes)
            return self._error(404, "Not Found: %s %s" % (method, path), "invalid_request_error")
        except BadRequest as exc:
            self.close_connection = True
            return self._error(400, str(exc), "invalid_request_error")

    def _delay_or_status(self, body):
        delay = self._number("fake_delay_s", body, 0.0)
        if delay:
            time.sleep(delay)
        status = self._knob("fake_status", body)
        if status not in (None, ""):
            try:
                code = int(status)
            except ValueError:
                raise BadRequest("fake_status must be an HTTP status code")
            if not 400 <= code <= 599:
                raise BadRequest("fake_status must be between 400 and 599")
            self._error(code, "Fake error requested with fake_status=%d" % code, "fake_error")
            return False
        return True

    def _models(self, path):
        cards = [{"id": m, "object": "model", "created": self.server.created, "owned_by": "openai"}
                 for m in self.server.models]
        prefix = "/v1/models/" if path.startswith("/v1/") else "/models/"
        if path.startswith(prefix):
            wanted = path[len(prefix):]
            for card in cards:
                if card["id"] == wanted:
                    return self._send_json(200, card)
            return self._error(404, "The model %r does not exist" % wanted, "invalid_request_error",
                               "model_not_found")
        return self._send_json(200, {"object": "list", "data": cards})

    def _chat(self, body_bytes):
        try:
            body = json.loads(body_bytes.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("request body is not valid JSON")
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        model = body.get("model")
        messages = body.get("messages")
        if not model:
            raise BadRequest("'model' is required")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty list")
        if model not in self.server.models:
            # LiteLLM answers an unknown model name with 400 and lists what it has.
            return self._error(400, "Invalid model name passed in model=%s. Call `/v1/models` to view "
                               "available models for your key." % model, "invalid_request_error", 400)
        chunks = int(self._number("fake_chunks", body, self.server.default_chunks, int))
        interval = self._number("fake_interval_ms", body, self.server.default_interval_ms) / 1000.0
        if not self._delay_or_status(body):
            return None
        pieces = _content_pieces(messages, chunks)
        finish_reason = "stop"
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(max_tokens, int) and 0 < max_tokens < len(pieces):
            # One piece stands for one token, so a cap cuts the answer as a real server would.
            pieces = pieces[:max_tokens]
            finish_reason = "length"
        completion_id = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        usage = {"prompt_tokens": _prompt_tokens(messages), "completion_tokens": len(pieces)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            return self._send_json(200, {
                "id": completion_id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "finish_reason": finish_reason,
                             "message": {"role": "assistant", "content": "".join(pieces)}}],
                "usage": usage,
            })
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return self._stream(completion_id, created, model, pieces, interval, finish_reason,
                            usage if include_usage else None)

    def _stream(self, completion_id, created, model, pieces, interval, finish_reason, usage):
        head = ("HTTP/1.1 200 OK\r\n"
                "Date: %s\r\n"
                "Server: %s\r\n"
                "Content-Type: text/event-stream; charset=utf-8\r\n"
                "Cache-Control: no-cache\r\n"
                "X-Accel-Buffering: no\r\n"
                "%s"
                "Transfer-Encoding: chunked\r\n\r\n") % (
                    self.date_time_string(), self.server_version,
                    "X-Backend: %s\r\n" % self.server.name if self.server.name else "")

        def chunk(delta, finish=None):
            obj = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                   "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return "data: %s\n\n" % json.dumps(obj, separators=(",", ":"))

        def frame(text):
            data = text.encode("utf-8")
            return b"%x\r\n%s\r\n" % (len(data), data)

        try:
            # Headers ride with the role chunk so the client sees both in one segment.
            self.wfile.write(head.encode("latin-1") + frame(chunk({"role": "assistant", "content": ""})))
            self.wfile.flush()
            for index, piece in enumerate(pieces):
                if interval and index:
                    time.sleep(interval)
                self.wfile.write(frame(chunk({"content": piece})))
                self.wfile.flush()
            tail = chunk({}, finish_reason)
            if usage:
                tail += "data: %s\n\n" % json.dumps({
                    "id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [], "usage": usage}, separators=(",", ":"))
            tail += "data: [DONE]\n\n"
            self.wfile.write(frame(tail) + b"0\r\n\r\n")
            self.wfile.flush()
        except DISCONNECT_ERRORS:
            self.server.count("streams_aborted")
            self.close_connection = True
            return
        self.server.count("streams_completed")
        self.log_request(200, "-")


class BadRequest(Exception):
    pass


def _content_pieces(messages, chunks):
    """Deterministic text in `chunks` pieces; tests compare it, so it depends only on the count."""
    if chunks <= 0:
        return []
    words = ["pong"] + ["token%d" % i for i in range(1, chunks)]
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _prompt_tokens(messages):
    count = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            count += len(content.split())
    return count


def make_server(host="127.0.0.1", port=0, api_keys=("sk-test",), models=DEFAULT_MODELS, quiet=True,
                **kwargs):
    """Bind a server (port 0 picks a free one); call serve_forever() on it, e.g. in a thread."""
    return FakeOpenAIServer((host, port), api_keys, models, quiet=quiet, **kwargs)


def start_in_thread(**kwargs):
    """Start a server in a daemon thread and return it; stop it with server.shutdown()."""
    server = make_server(**kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="fake-openai", daemon=True)
    thread.start()
    server.thread = thread
    return server


def _read_key_file(path):
    try:
        with open(path, encoding="utf-8") as handle:
            keys = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    except OSError as exc:
        raise SystemExit("fake_openai: cannot read the API key file %s: %s" % (path, exc.strerror))
    if not keys:
        raise SystemExit("fake_openai: the API key file %s holds no key" % path)
    return keys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="OpenAI-compatible fake API server (stdlib only).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4000, help="port to listen on (default 4000; 0 = any)")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--api-key", help="accepted Bearer key (visible in ps: prefer --api-key-file)")
    keys.add_argument("--api-key-file", "--token-file", dest="api_key_file",
                      help="file holding the accepted key(s), one per line")
    parser.add_argument("--models", action="append",
                        help="model id(s), comma-separated or repeated (default %s)" % DEFAULT_MODELS[0])
    parser.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS, help="default stream chunk count")
    parser.add_argument("--interval-ms", type=float, default=DEFAULT_INTERVAL_MS,
                        help="default pause between stream chunks")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument("--name", help="send 'X-Backend: NAME' with every response (tells load-balanced servers apart)")
    args = parser.parse_args(argv)
    env_key = os.environ.get("FAKE_OPENAI_API_KEY")
    if args.api_key_file:
        args.api_keys = _read_key_file(args.api_key_file)
    elif args.api_key:
        args.api_keys = [args.api_key]
    elif env_key:
        args.api_keys = [env_key]
    else:
        parser.error("an API key is required: --api-key-file FILE (or --api-key, or FAKE_OPENAI_API_KEY)")
    models = []
    for item in args.models or DEFAULT_MODELS:
        models.extend(m.strip() for m in item.split(",") if m.strip())
    args.models = models
    return args


def main(argv=None):
    args = parse_args(argv)
    server = make_server(args.host, args.port, args.api_keys, args.models, quiet=args.quiet,
                         default_chunks=args.chunks, default_interval_ms=args.interval_ms, name=args.name)

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns, so it must run outside the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    host, port = server.server_address[:2]
    sys.stderr.write("fake_openai listening on %s:%d, models: %s\n" % (host, port, ", ".join(args.models)))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
