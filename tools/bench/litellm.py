#!/usr/bin/env python3
"""Streaming through a real LiteLLM proxy vs the model server direct: first-chunk delay and chunk cadence.

By default it runs everything itself on 127.0.0.1, on free ports, and stops it again:
  - tests/lab/fake_openai.py as the model server (what LiteLLM forwards to in the e2e lab);
  - LiteLLM from the pinned venv (tools/lab/setup.sh litellm; LAB_LITELLM_VENV, set by tools/ci/env.sh),
    configured as in the lab (molecule/e2e/prepare_litellm.yml): one model, a master key, no database.
Both get a random key made for this run. It then sends the same streamed chat completions, one at a
time and interleaved, to the model server direct and through LiteLLM, and prints a markdown table:
first content chunk after the request (median, p99), gap between content chunks (median, p99, max),
for a paced stream (like a model generating) and a burst (chunks as fast as the server writes them,
which shows LiteLLM's own cost per chunk). Also LiteLLM's start time and resident memory.

    . tools/ci/env.sh current && python tools/bench/litellm.py [--streams 20] [--out build/bench/litellm.json]

Or against servers already running (e.g. the e2e lab's LiteLLM through the tunnel and its model server),
the key in an environment variable (never on the command line):
    BENCH_API_KEY=... python tools/bench/litellm.py --litellm-url http://127.0.0.1:18081 \\
        --direct-url http://127.0.0.1:4001

Bounded: --streams per target and profile, each stream at most --timeout s, the whole run --max-seconds.
"""

import argparse
import http.client
import json
import os
import pathlib
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
# name: (content chunks, ms between them at the model server)
PROFILES = {"paced": (20, 50), "burst": (200, 0)}


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid):
    """Resident memory of a process and its children, MiB."""
    total = 0
    pids = [pid]
    try:
        children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in pathlib.Path(f"/proc/{p}/status").read_text(encoding="ascii").splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def stream_once(url, api_key, chunks, interval_ms, timeout):
    """One streamed chat completion. Returns (first content chunk s, [gaps s]), or raises."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    body = json.dumps({"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "count"}]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}",
               "x-fake-chunks": str(chunks), "x-fake-interval-ms": str(interval_ms)}
    try:
        start = time.monotonic()
        conn.request("POST", parts.path.rstrip("/") + "/v1/chat/completions", body=body, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read(300)!r}")
        arrivals, done = [], False
        while time.monotonic() - start < timeout:
            line = response.readline()
            if not line:
                break
            if line.startswith(b"data: [DONE]"):
                done = True
                break
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if any((c.get("delta") or {}).get("content") for c in event.get("choices") or []):
                    arrivals.append(time.monotonic() - start)
        if not done or len(arrivals) != chunks:
            raise RuntimeError(f"stream incomplete: {len(arrivals)} of {chunks} chunks, [DONE] {done}")
        return arrivals[0], [b - a for a, b in zip(arrivals, arrivals[1:])]
    finally:
        conn.close()


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def summarise(firsts, gaps):
    ms = 1000.0
    return {"streams": len(firsts),
            "first_chunk_ms_p50": round(statistics.median(firsts) * ms, 1),
            "first_chunk_ms_p99": round(pct(firsts, 99) * ms, 1),
            "gap_ms_p50": round(statistics.median(gaps) * ms, 2),
            "gap_ms_p99": round(pct(gaps, 99) * ms, 2),
            "gap_ms_max": round(max(gaps) * ms, 2)}


class LocalServers:
    """fake_openai.py and LiteLLM on 127.0.0.1, with a random key made for this run."""

    def __init__(self, venv, workdir):
        self.key = "sk-bench-" + secrets.token_hex(16)
        self.workdir = pathlib.Path(workdir)
        self.fake_port, self.litellm_port = free_port(), free_port()
        self.venv = pathlib.Path(venv)
        self.procs = []
        self.litellm = None
        self.start_s = None

    def __enter__(self):
        env = {**os.environ, "FAKE_OPENAI_API_KEY": self.key}
        self.procs.append(subprocess.Popen(
            [sys.executable, str(ROOT / "tests/lab/fake_openai.py"), "--host", "127.0.0.1",
             "--port", str(self.fake_port), "--quiet"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True))
        config = self.workdir / "config.yaml"
        config.write_text(
            "model_list:\n"
            f"  - model_name: {MODEL}\n"
            "    litellm_params:\n"
            f"      model: openai/{MODEL}\n"
            f"      api_base: http://127.0.0.1:{self.fake_port}/v1\n"
            "      api_key: os.environ/LAB_UPSTREAM_API_KEY\n"
            "general_settings:\n"
            "  master_key: os.environ/LITELLM_MASTER_KEY\n"
            "  forward_client_headers_to_llm_api: true\n",
            encoding="utf-8")
        env = {**os.environ, "LITELLM_MASTER_KEY": self.key, "LAB_UPSTREAM_API_KEY": self.key,
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HOME": str(self.workdir)}
        started = time.monotonic()
        with open(self.workdir / "litellm.log", "wb") as out:
            self.litellm = subprocess.Popen(
                [str(self.venv / "bin/python"), "-m", "litellm.proxy.proxy_cli", "--config", str(config),
                 "--host", "127.0.0.1", "--port", str(self.litellm_port)],
                env=env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(self.litellm)
        while time.monotonic() - started < 120:
            if self.litellm.poll() is not None:
                raise SystemExit(f"LiteLLM exited ({self.litellm.returncode}); see {self.workdir}/litellm.log")
            conn = http.client.HTTPConnection("127.0.0.1", self.litellm_port, timeout=1)
            try:
                conn.request("GET", "/health/liveliness")
                if conn.getresponse().status == 200:
                    self.start_s = round(time.monotonic() - started, 1)
                    break
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.2)
        else:
            raise SystemExit("LiteLLM did not answer within 120 s")
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def run(targets, api_key, streams, timeout, max_seconds, litellm_pid=None):
    """Interleave the targets stream by stream, for each profile; returns {profile: {target: summary}}."""
    deadline = time.monotonic() + max_seconds
    results = {}
    rss = []
    for profile, (chunks, interval_ms) in PROFILES.items():
        firsts = {name: [] for name in targets}
        gaps = {name: [] for name in targets}
        for name, url in targets.items():  # one warm-up stream each, not counted
            stream_once(url, api_key, chunks, interval_ms, timeout)
        for _ in range(streams):
            for name, url in targets.items():
                if time.monotonic() > deadline:
                    raise SystemExit(f"stopped: the run took longer than --max-seconds {max_seconds}")
                first, stream_gaps = stream_once(url, api_key, chunks, interval_ms, timeout)
                firsts[name].append(first)
                gaps[name].extend(stream_gaps)
            if litellm_pid:
                rss.append(rss_mib(litellm_pid))
        results[profile] = {name: summarise(firsts[name], gaps[name]) for name in targets}
    return results, (max(rss) if rss else None)


def markdown(results, extra):
    lines = ["| profile | path | streams | first chunk p50 / p99 (ms) | gap p50 / p99 / max (ms) |",
             "|---|---|---:|---:|---:|"]
    for profile, by_target in results.items():
        chunks, interval_ms = PROFILES[profile]
        for name, s in by_target.items():
            lines.append(f"| {profile} ({chunks} chunks, {interval_ms} ms) | {name} | {s['streams']} | "
                         f"{s['first_chunk_ms_p50']} / {s['first_chunk_ms_p99']} | "
                         f"{s['gap_ms_p50']} / {s['gap_ms_p99']} / {s['gap_ms_max']} |")
    lines += [""] + [f"- {k}: {v}" for k, v in extra.items() if v is not None]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=20, help="streams per path and profile (default 20)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per stream at most")
    parser.add_argument("--max-seconds", type=float, default=300, help="the whole run at most")
    parser.add_argument("--venv", default=os.environ.get("LAB_LITELLM_VENV"),
                        help="the LiteLLM venv (default $LAB_LITELLM_VENV)")
    parser.add_argument("--litellm-url", help="a running LiteLLM instead of a local one")
    parser.add_argument("--direct-url", help="its model server, reached directly (with --litellm-url)")
    parser.add_argument("--api-key-env", default="BENCH_API_KEY",
                        help="environment variable holding the key (with --litellm-url)")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.streams < 1:
        parser.error("--streams must be at least 1")
    extra = {"litellm": "unknown"}
    if args.litellm_url:
        if not args.direct_url:
            parser.error("--litellm-url needs --direct-url")
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            parser.error(f"set {args.api_key_env} to the API key")
        targets = {"model server direct": args.direct_url, "through LiteLLM": args.litellm_url}
        results, _ = run(targets, api_key, args.streams, args.timeout, args.max_seconds)
    else:
        if not args.venv or not (pathlib.Path(args.venv) / "bin/python").exists():
            parser.error("no LiteLLM venv: run `tools/lab/setup.sh litellm` and source tools/ci/env.sh "
                         "(LAB_LITELLM_VENV)")
        with tempfile.TemporaryDirectory(prefix="bench-litellm-") as work, LocalServers(args.venv, work) as lab:
            version = subprocess.run([str(pathlib.Path(args.venv) / "bin/python"), "-c",
                                      "import importlib.metadata as m; print(m.version('litellm'))"],
                                     capture_output=True, text=True, check=True).stdout.strip()
            log(f"LiteLLM {version} answered {lab.start_s} s after its start; streaming")
            extra.update(litellm=version, litellm_start_s=lab.start_s,
                         litellm_rss_mib_idle=rss_mib(lab.litellm.pid))
            targets = {"model server direct": f"http://127.0.0.1:{lab.fake_port}",
                       "through LiteLLM": f"http://127.0.0.1:{lab.litellm_port}"}
            results, peak = run(targets, lab.key, args.streams, args.timeout, args.max_seconds, lab.litellm.pid)
            extra["litellm_rss_mib_after_streams"] = peak
    print(markdown(results, extra))
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(json.dumps({"results": results, **extra}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
