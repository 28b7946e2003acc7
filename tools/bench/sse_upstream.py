"""A tiny OpenAI-shaped streaming upstream for benchmarks (stdlib only, Python 3.11+).

It answers, over HTTP/1.1 keep-alive with chunked transfer encoding:

  POST /v1/chat/completions   {"stream": true, ...}  -> N SSE chunks, then "data: [DONE]"
  GET  /stream?chunks=N&interval_ms=M                 -> same, for curl
  GET  /ping                                          -> 2-byte body, for latency runs
  GET  /stats                                         -> JSON counters (streams started/finished/cut)

Chunk count and cadence come from the request (JSON fields "bench_chunks" / "bench_interval_ms", or
the query string), else from --chunks / --interval-ms. Every header block and every SSE event is
sent in one write with TCP_NODELAY, so each event leaves at once. A stream whose socket breaks
before "[DONE]" is counted as "cut" in /stats: that is the upstream's view of a cut stream.

  python tools/bench/sse_upstream.py --port 18080 --chunks 20 --interval-ms 50

Only ever bind it to loopback or a lab-internal address.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {"started": 0, "finished": 0, "cut": 0, "pings": 0, "connections": 0}

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.counts)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bench-sse/1"
    wbufsize = 0  # unbuffered writes: one send() per write call

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stats.add("connections")

    def log_message(self, fmt: str, *args) -> None:  # quiet by default
        if self.server.verbose:
            super().log_message(fmt, *args)

    # -- helpers ---------------------------------------------------------
    def _send_simple(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
        head = (
            f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + body)

    def _stream(self, chunks: int, interval: float, close_after: bool) -> None:
        st = self.server.stats
        st.add("started")
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\n" + ("Connection: close\r\n" if close_after else "") + "\r\n"
        ).encode()
        try:
            self.wfile.write(head)
            created = int(time.time())
            i = -1
            for i in range(chunks):
                if i:
                    time.sleep(interval)
                event = {
                    "id": "bench",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": "bench",
                    "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}],
                    "bench_seq": i,
                }
                data = f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            done = b"data: [DONE]\n\n"
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
        except OSError as exc:
            st.add("cut")
            if self.server.log_cuts:
                print(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} cut stream from "
                      f"{self.client_address[0]}:{self.client_address[1]} after {i + 1}/{chunks} events: {exc!r}",
                      flush=True)
            self.close_connection = True
            return
        st.add("finished")
        if close_after:
            self.close_connection = True

    def _params(self, body: dict | None) -> tuple[int, float]:
        q = parse_qs(urlsplit(self.path).query)
        srv = self.server
        chunks = int((body or {}).get("bench_chunks") or q.get("chunks", [srv.chunks])[0])
        interval_ms = float((body or {}).get("bench_interval_ms") or q.get("interval_ms", [srv.interval_ms])[0])
        return max(0, min(chunks, 100000)), max(0.0, interval_ms) / 1000.0

    # -- verbs -----------------------------------------------------------
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/ping":
            self.server.stats.add("pings")
            self._send_simple(200, b"ok")
        elif path == "/stats":
            self._send_simple(200, json.dumps(self.server.stats.snapshot()).encode(), "application/json")
        elif path == "/stream":
            chunks, interval = self._params(None)
            self._stream(chunks, interval, self.server.close_after)
        else:
            self._send_simple(404, b"not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_simple(400, b"bad json")
            return
        if urlsplit(self.path).path.endswith("/chat/completions") and body.get("stream"):
            chunks, interval = self._params(body)
            self._stream(chunks, interval, self.server.close_after)
        else:
            self._send_simple(200, b'{"object":"chat.completion","choices":[]}', "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--interval-ms", type=float, default=50.0)
    ap.add_argument("--close-after", action="store_true", help="close the connection after each stream")
    ap.add_argument("--log-cuts", action="store_true", help="print one line per cut stream to stdout")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    srv = Server((args.bind, args.port), Handler)
    srv.stats = Stats()
    srv.chunks, srv.interval_ms = args.chunks, args.interval_ms
    srv.close_after, srv.verbose, srv.log_cuts = args.close_after, args.verbose, args.log_cuts
    print(f"sse_upstream listening on {args.bind}:{args.port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
