"""Streaming (SSE) load and latency benchmark for an OpenAI-compatible endpoint behind a tunnel.

Target-agnostic: give it a base URL, optionally a Host header (for a vhost such as frps'
vhostHTTPPort) and optionally the NAME of an environment variable holding an API key (never the key
itself on the command line). Needs Python 3.11+ and `requests` (stream mode); latency mode is stdlib.

Stream mode (default) -- waves of concurrent streamed completions, each thread on its own
keep-alive requests.Session (like the openai SDK), counting complete vs cut streams:

  python tools/bench/stream_load.py --url http://127.0.0.1:8081 --host llm.local \\
      --waves 40 --concurrency 50 --chunks 20 --interval-ms 50 --max-seconds 300

A stream is "complete" only if the body ended cleanly after "data: [DONE]" and, when --chunks > 0,
exactly that many data events came before it. "cut" = the body broke or ended early after a 200;
"failed" = no usable 200 (connect error, HTTP status, timeout before headers).

Latency mode -- sequential GETs per target, on one keep-alive connection and on a new connection
each time, interleaved in rounds so all targets share the same run:

  python tools/bench/stream_load.py --mode latency --requests 3000 \\
      --target direct=http://127.0.0.1:18080 --target vhost=http://127.0.0.1:8081@llm.local

Output: JSON (default) or --format markdown on stdout; --out FILE also writes JSON there.
Exit code: 0, or 1 with --fail-on-cut when any stream was cut or failed. Send load only to
addresses you run yourself (loopback or a lab network); every run is bounded by count and time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


# --------------------------------------------------------------------------- helpers
def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def rnd(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def summary_ms(values_s: list[float]) -> dict:
    ms = [v * 1000.0 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": rnd(pct(ms, 50)),
        "p90_ms": rnd(pct(ms, 90)),
        "p99_ms": rnd(pct(ms, 99)),
        "mean_ms": rnd(statistics.fmean(ms)) if ms else None,
        "max_ms": rnd(max(ms)) if ms else None,
    }


def api_headers(args) -> dict:
    headers = {}
    if args.host:
        headers["Host"] = args.host
    key = os.environ.get(args.api_key_env or "", "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


# --------------------------------------------------------------------------- stream mode
@dataclass
class StreamResult:
    outcome: str  # complete | cut | failed
    events: int = 0
    first_event_s: float | None = None
    gaps_s: list[float] = field(default_factory=list)
    error: str = ""
    wave: int = 0


def one_stream(session, args, url: str, headers: dict, body: bytes, wave: int) -> StreamResult:
    import requests  # noqa: PLC0415  (only stream mode needs it)

    t0 = time.perf_counter()
    try:
        resp = session.post(url, data=body, headers=headers, stream=True,
                            timeout=(args.connect_timeout, args.read_timeout))
    except requests.RequestException as exc:
        return StreamResult("failed", error=f"request: {type(exc).__name__}: {exc}"[:300], wave=wave)
    res = StreamResult("cut", wave=wave)
    done = False
    last = None
    buf = b""
    try:
        if resp.status_code != 200:
            res.outcome = "failed"
            res.error = f"HTTP {resp.status_code}: {resp.content[:120]!r}"
            return res
        for piece in resp.iter_content(chunk_size=None):
            buf += piece
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    now = time.perf_counter()
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        done = True
                        continue
                    res.events += 1
                    if res.first_event_s is None:
                        res.first_event_s = now - t0
                    elif last is not None:
                        res.gaps_s.append(now - last)
                    last = now
            if done and args.on_done == "close":
                break
        if not done:
            res.error = f"body ended without [DONE] after {res.events} events"
        elif args.chunks and res.events != args.chunks:
            res.error = f"got {res.events} events, expected {args.chunks}"
        else:
            res.outcome = "complete"
    except requests.RequestException as exc:
        res.error = f"body: {type(exc).__name__}: {exc}"[:300] + f" (after {res.events} events)"
    finally:
        resp.close()
    return res


def run_stream(args) -> dict:
    import requests  # noqa: PLC0415

    url = args.url.rstrip("/") + args.path
    headers = api_headers(args)
    headers.update({"Content-Type": "application/json", "Accept": "text/event-stream"})
    if args.connection_close:
        headers["Connection"] = "close"
    body = json.dumps({
        "model": args.model,
        "stream": True,
        "messages": [{"role": "user", "content": args.prompt}],
        "max_tokens": args.chunks or 64,
        "bench_chunks": args.chunks,
        "bench_interval_ms": args.interval_ms,
        # the same asks in tests/lab/fake_openai.py's words (the lab's stand-in LLM API)
        "fake_chunks": args.chunks or 20,
        "fake_interval_ms": args.interval_ms,
    }).encode()

    results: list[StreamResult] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.max_seconds
    stop = threading.Event()
    barrier = threading.Barrier(args.concurrency)
    waves_run = [0]

    def wave_barrier() -> bool:
        """All workers meet here; False when the run is over (stopped, or a worker gave up)."""
        try:
            barrier.wait(timeout=args.read_timeout + args.connect_timeout + 30)
        except threading.BrokenBarrierError:
            return False
        return not stop.is_set()

    def worker(idx: int) -> None:
        session = requests.Session()
        session.trust_env = False  # never route lab traffic through a proxy from the environment
        try:
            for wave in range(args.waves):
                if not wave_barrier():
                    return
                if idx == 0:
                    waves_run[0] = wave + 1
                if args.new_session:
                    session.close()
                    session = requests.Session()
                    session.trust_env = False
                r = one_stream(session, args, url, headers, body, wave)
                with lock:
                    results.append(r)
                if time.monotonic() > deadline:
                    stop.set()
                # Wait for the whole wave to finish before the next one starts.
                if not wave_barrier():
                    return
                if args.pause_ms:
                    time.sleep(args.pause_ms / 1000.0)
        finally:
            session.close()

    t_start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.max_seconds + args.read_timeout + 120)
    elapsed = time.monotonic() - t_start

    complete = [r for r in results if r.outcome == "complete"]
    cut = [r for r in results if r.outcome == "cut"]
    failed = [r for r in results if r.outcome == "failed"]
    gaps = [g for r in complete for g in r.gaps_s]
    errors: dict[str, int] = {}
    for r in cut + failed:
        key = r.error.split(" (after")[0][:160]
        errors[key] = errors.get(key, 0) + 1
    return {
        "mode": "stream",
        "url": url,
        "host": args.host or None,
        "concurrency": args.concurrency,
        "waves_run": waves_run[0],
        "connection": "close" if args.connection_close else ("new-session" if args.new_session else "keep-alive"),
        "on_done": args.on_done,
        "elapsed_s": round(elapsed, 1),
        "streams": {
            "total": len(results), "complete": len(complete), "cut": len(cut), "failed": len(failed),
            "cut_ratio": round(len(cut) / len(results), 5) if results else None,
        },
        "cut_events_received": sorted(r.events for r in cut),
        "cut_waves": sorted({r.wave for r in cut}),
        "first_event": summary_ms([r.first_event_s for r in complete if r.first_event_s is not None]),
        "chunk_gap": summary_ms(gaps),
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
    }


# --------------------------------------------------------------------------- latency mode
def parse_target(spec: str) -> tuple[str, str, str | None]:
    name, _, rest = spec.partition("=")
    if not rest:
        raise SystemExit(f"--target wants NAME=URL[@HOST], got {spec!r}")
    url, _, host = rest.partition("@")
    return name, url, host or None


def run_latency(args) -> dict:
    targets = [parse_target(t) for t in args.target] if args.target else [("target", args.url, args.host)]
    base_headers = api_headers(argparse.Namespace(host=None, api_key_env=args.api_key_env))
    deadline = time.monotonic() + args.max_seconds
    state = {}
    for name, url, host in targets:
        u = urlsplit(url)
        if u.scheme != "http":
            raise SystemExit("latency mode speaks plain http:// (measure the tunnel, not TLS)")
        path = (u.path.rstrip("/") or "") + args.latency_path
        hdrs = dict(base_headers)
        hdrs["Host"] = host or u.netloc
        state[name] = {"host": u.hostname, "port": u.port or 80, "path": path, "headers": hdrs,
                       "ka": [], "new": [], "errors": 0, "conn": None}

    def once(st: dict, keepalive: bool) -> float | None:
        t0 = time.perf_counter()
        try:
            conn = st["conn"] if keepalive else None
            if conn is None:
                conn = http.client.HTTPConnection(st["host"], st["port"], timeout=10)
                if keepalive:
                    st["conn"] = conn
            conn.request("GET", st["path"], headers=st["headers"] if keepalive
                         else {**st["headers"], "Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            if not keepalive:
                conn.close()
            if resp.status != 200:
                raise OSError(f"HTTP {resp.status}")
            return time.perf_counter() - t0
        except (OSError, http.client.HTTPException):
            st["errors"] += 1
            if keepalive and st["conn"] is not None:
                st["conn"].close()
                st["conn"] = None
            return None

    # warm up each keep-alive connection
    for st in state.values():
        for _ in range(min(20, args.requests)):
            once(st, True)
    block = 50
    done = 0
    while done < args.requests and time.monotonic() < deadline:
        n = min(block, args.requests - done)
        for st in state.values():
            for keepalive, key in ((True, "ka"), (False, "new")):
                for _ in range(n):
                    v = once(st, keepalive)
                    if v is not None:
                        st[key].append(v)
        done += n
    out = {"mode": "latency", "requests_per_path": done, "path": args.latency_path, "targets": {}}
    for name, st in state.items():
        if st["conn"] is not None:
            st["conn"].close()
        out["targets"][name] = {"keep_alive": summary_ms(st["ka"]), "new_connection": summary_ms(st["new"]),
                                "errors": st["errors"]}
    return out


# --------------------------------------------------------------------------- output
def to_markdown(res: dict) -> str:
    if res["mode"] == "latency":
        lines = [f"latency, {res['requests_per_path']} requests per path, GET {res['path']}", "",
                 "| target | keep-alive p50 | p99 | new connection p50 | p99 | errors |",
                 "|---|---|---|---|---|---|"]
        for name, t in res["targets"].items():
            ka, nc = t["keep_alive"], t["new_connection"]
            lines.append(f"| {name} | {ka['p50_ms']} | {ka['p99_ms']} | {nc['p50_ms']} | {nc['p99_ms']} | {t['errors']} |")
        return "\n".join(lines)
    s = res["streams"]
    fe, gap = res["first_event"], res["chunk_gap"]
    return "\n".join([
        f"stream load: {res['url']} (Host: {res['host']}), {res['concurrency']} concurrent x {res['waves_run']} waves, "
        f"{res['connection']}, {res['elapsed_s']} s",
        "",
        "| streams | complete | cut | failed | first event p50 / p99 ms | chunk gap p50 / p99 ms |",
        "|---|---|---|---|---|---|",
        f"| {s['total']} | {s['complete']} | {s['cut']} | {s['failed']} | {fe['p50_ms']} / {fe['p99_ms']} | "
        f"{gap['p50_ms']} / {gap['p99_ms']} |",
        "",
        *(f"- {n} x {e}" for e, n in res["errors"].items()),
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("stream", "latency"), default="stream")
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="base URL, e.g. http://127.0.0.1:8081")
    ap.add_argument("--host", default="", help="Host header to send (vhost routing); default: the URL's")
    ap.add_argument("--api-key-env", default="BENCH_API_KEY",
                    help="NAME of an env var holding a Bearer key (the key never goes on argv)")
    ap.add_argument("--max-seconds", type=float, default=300, help="stop starting new waves/rounds after this")
    g = ap.add_argument_group("stream mode")
    g.add_argument("--path", default="/v1/chat/completions")
    g.add_argument("--model", default="bench")
    g.add_argument("--prompt", default="Count slowly.")
    g.add_argument("--waves", type=int, default=40)
    g.add_argument("--concurrency", type=int, default=50)
    g.add_argument("--chunks", type=int, default=20, help="expected data events per stream (0 = don't check)")
    g.add_argument("--interval-ms", type=float, default=50, help="asked of the bench upstream")
    g.add_argument("--pause-ms", type=float, default=0, help="pause between waves")
    g.add_argument("--connection-close", action="store_true", help="send Connection: close (no keep-alive)")
    g.add_argument("--new-session", action="store_true", help="new requests.Session for every stream")
    g.add_argument("--on-done", choices=("drain", "close"), default="drain",
                   help="after [DONE]: read to the end of the body (drain) or close the response at once")
    g.add_argument("--connect-timeout", type=float, default=10)
    g.add_argument("--read-timeout", type=float, default=120)
    g.add_argument("--fail-on-cut", action="store_true", help="exit 1 if any stream was cut or failed")
    g2 = ap.add_argument_group("latency mode")
    g2.add_argument("--target", action="append", default=[], help="NAME=URL[@HOST], repeatable")
    g2.add_argument("--requests", type=int, default=3000, help="per target and per connection kind")
    g2.add_argument("--latency-path", default="/ping")
    ap.add_argument("--format", choices=("json", "markdown"), default="json")
    ap.add_argument("--out", help="also write the JSON result to this file")
    args = ap.parse_args(argv)
    if args.concurrency < 1 or args.waves < 1 or args.requests < 1:
        ap.error("--concurrency, --waves and --requests must be >= 1")

    res = run_latency(args) if args.mode == "latency" else run_stream(args)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2)
    print(json.dumps(res, indent=2) if args.format == "json" else to_markdown(res))
    if args.fail_on_cut and res["mode"] == "stream" and (res["streams"]["cut"] or res["streams"]["failed"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
