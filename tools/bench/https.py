"""Benchmark of the HTTPS front (nginx on 8443) against the tcp path (8081) and the API directly.

Runs against the molecule `https` lab (hx-minipc: nginx + frps, hx-spark: frpc + the stand-in API):

  . tools/ci/env.sh current
  python tools/bench/https.py --up --out build/bench          # create + converge the lab first
  python tools/bench/https.py --out build/bench --down        # reuse a running lab, remove it afterwards

What it measures, all clients on hx-spark (the same host for every path, stdlib only):
  * 2,000 streamed completions in waves of 50 through 8443, each thread on its own keep-alive connection
    (like the openai SDK): complete / cut / failed;
  * GET /v1/models latency, p50 and p99, on one keep-alive connection and on a new connection per request:
    direct (127.0.0.1:4000 on hx-spark), the tcp path (http://minipc:8081) and HTTPS (https://minipc:8443);
  * one non-streamed completion of --long-seconds (600 by default) through 8443, running alongside;
  * nginx's RSS (all its processes, summed) sampled every second during the run: peak and idle.

The lab's rate limit (10 requests/s per address) would answer most of this load with 429, so the bench
re-applies the HTTPS play with the limit lifted for the run and puts the lab's setting back afterwards.
Load goes only to the lab's own containers; every loop is bounded in count and time.

From tools/bench/bench.py (the integrator's call): after its e2e part,
  subprocess.run([sys.executable, "tools/bench/https.py", "--up", "--down", "--out", out], check=True)
and merge <out>/https.json / https.md into its report.

Worker mode (--worker latency|streams|long) is what runs inside hx-spark.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import ssl
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

# Beside this file here, and beside its copy in hx-spark (/opt/lab, copied with it): the script's folder is on sys.path.
import stream_load

ROOT = pathlib.Path(__file__).resolve().parents[2]
MINIPC = "10.213.40.10"
MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
REMOTE = "/opt/lab/bench_https.py"
REMOTE_CA = "/opt/lab/bench-ca.crt"
REMOTE_LIB = str(pathlib.PurePosixPath(REMOTE).parent / "stream_load.py")  # pct() for the worker, beside it


# ------------------------------------------------------------------------------------------- worker side
def pct(values, p):
    """stream_load's percentile of durations in seconds, in milliseconds (None when there are none)."""
    value = stream_load.pct(values, p)
    return None if value is None else round(value * 1000, 3)


def connect(url, ca, timeout):
    parts = urlsplit(url)
    if parts.scheme == "https":
        ctx = ssl.create_default_context(cafile=ca)
        return http.client.HTTPSConnection(parts.hostname, parts.port, context=ctx, timeout=timeout)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def headers(extra=None):
    h = {"Authorization": f"Bearer {os.environ.get('BENCH_API_KEY', '')}"}
    h.update(extra or {})
    return h


def worker_latency(args):
    """Interleaved rounds: per target one keep-alive GET and one new-connection GET."""
    targets = [t.split("=", 1) for t in args.target]
    keep = {name: connect(url, args.ca, 10) for name, url in targets}
    res = {name: {"keepalive": [], "new": [], "errors": 0} for name, _ in targets}
    deadline = time.monotonic() + args.max_seconds
    for _ in range(args.requests):
        if time.monotonic() > deadline:
            break
        for name, url in targets:
            for kind in ("keepalive", "new"):
                conn = keep[name] if kind == "keepalive" else connect(url, args.ca, 10)
                start = time.perf_counter()
                try:
                    conn.request("GET", "/v1/models", headers=headers())
                    resp = conn.getresponse()
                    resp.read()
                    ok = resp.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    if kind == "keepalive":
                        keep[name] = connect(url, args.ca, 10)
                took = time.perf_counter() - start
                if kind == "new":
                    conn.close()
                if ok:
                    res[name][kind].append(took)
                else:
                    res[name]["errors"] += 1
    out = {}
    for name, r in res.items():
        out[name] = {"errors": r["errors"]}
        for kind in ("keepalive", "new"):
            out[name][kind] = {"n": len(r[kind]), "p50_ms": pct(r[kind], 50), "p99_ms": pct(r[kind], 99)}
    return out


def worker_streams(args):
    """Waves of --concurrency streams; each thread keeps its own keep-alive connection across waves."""
    body = json.dumps({"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "count"}]}).encode()
    extra = {"Content-Type": "application/json", "x-fake-chunks": str(args.chunks),
             "x-fake-interval-ms": str(args.interval_ms)}
    counts = {"complete": 0, "cut": 0, "failed": 0}
    lock = threading.Lock()
    conns = [None] * args.concurrency
    waves = args.streams // args.concurrency
    deadline = time.monotonic() + args.max_seconds

    def one(i):
        for attempt in range(2):  # a keep-alive connection the server closed while idle: reconnect once
            if conns[i] is None:
                conns[i] = connect(args.url, args.ca, 120)
            got_status = False
            try:
                conns[i].request("POST", "/v1/chat/completions", body=body, headers=headers(extra))
                resp = conns[i].getresponse()
                got_status = True
                data = resp.read().decode(errors="replace")
                if resp.status != 200:
                    kind = "failed"
                elif "data: [DONE]" in data and data.count("data: {") >= args.chunks:
                    kind = "complete"
                else:
                    kind = "cut"
            except (OSError, http.client.HTTPException):
                conns[i].close()
                conns[i] = None
                if not got_status and attempt == 0:
                    continue
                kind = "cut" if got_status else "failed"
            with lock:
                counts[kind] += 1
            return

    done = 0
    started = time.monotonic()
    for _ in range(waves):
        if time.monotonic() > deadline:
            break
        threads = [threading.Thread(target=one, args=(i,)) for i in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done += args.concurrency
    return dict(counts, streams=done, seconds=round(time.monotonic() - started, 1))


def worker_long(args):
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "think long"}]}).encode()
    conn = connect(args.url, args.ca, args.long_seconds + 120)
    start = time.monotonic()
    try:
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers=headers({"Content-Type": "application/json", "x-fake-delay-s": str(args.long_seconds)}))
        resp = conn.getresponse()
        data = resp.read()
        status = resp.status
        ok = status == 200 and b"chat.completion" in data
    except (OSError, http.client.HTTPException) as exc:
        status, ok = repr(exc), False
    return {"status": status, "ok": ok, "seconds": round(time.monotonic() - start, 1)}


# ----------------------------------------------------------------------------------- controller side
def log(msg):
    print(f"==> {msg}", flush=True)


def sh(*cmd, check=True, env=None, **kw):
    return subprocess.run(cmd, check=check, text=True, cwd=ROOT, env=env, **kw)


def molecule_env(up):
    """With --up the lab's molecule state lives in a folder of the bench's own (as bench.py's e2e lab), so
    that no other clone's or run's state is picked up; without, MOLECULE_EPHEMERAL_DIRECTORY names the lab
    `molecule converge -s https` brought up, or molecule's own default is used."""
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    if up and "MOLECULE_EPHEMERAL_DIRECTORY" not in env:
        cache = pathlib.Path(env.get("LISYOEN_FRP_CACHE", pathlib.Path.home() / ".cache" / "lisyoen-frp"))
        env["MOLECULE_EPHEMERAL_DIRECTORY"] = str(cache / "bench-https")
    return env


def ephemeral_dir(env):
    out = sh("molecule", "list", "-s", "https", "-f", "plain", capture_output=True, env=env, check=False).stdout
    if "hx-minipc" not in out:
        return None
    if "MOLECULE_EPHEMERAL_DIRECTORY" in env:
        return pathlib.Path(env["MOLECULE_EPHEMERAL_DIRECTORY"])
    # molecule's default: ~/.ansible/tmp/molecule.<hash of the project folder>.https; the newest with the lab's CA.
    found = sorted((d for d in pathlib.Path.home().glob(".ansible/tmp/molecule.*.https") if (d / "pki" / "ca.crt").exists()),
                   key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def rate_limit(env, ephemeral, lifted):
    extra = ["-e", json.dumps({"llm_rate_per_second": 100000, "llm_rate_burst": 100000})] if lifted else []
    run_env = dict(env, MOLECULE_EPHEMERAL_DIRECTORY=str(ephemeral),
                   ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    res = sh("ansible-playbook", "-i", str(ephemeral / "inventory"), "molecule/https/side.yml", *extra,
             capture_output=True, env=run_env, check=False)
    if res.returncode != 0:
        sys.exit(f"re-applying the HTTPS play failed:\n{res.stdout[-3000:]}")


def in_spark(mode, *args, timeout):
    res = sh("docker", "exec", "-e", "BENCH_API_KEY", "hx-spark", "python3", REMOTE, "--worker", mode,
             "--ca", REMOTE_CA, *args, capture_output=True, check=False, timeout=timeout,
             env=dict(os.environ, BENCH_API_KEY=os.environ["LAB_LLM_API_KEY"]))
    if res.returncode != 0:
        sys.exit(f"worker {mode} failed: {res.stderr[-2000:]}")
    return json.loads(res.stdout)


def nginx_rss_kib():
    res = sh("docker", "exec", "hx-minipc", "ps", "-C", "nginx", "-o", "rss=", capture_output=True, check=False)
    return sum(int(x) for x in res.stdout.split() if x.isdigit())


def markdown(r):
    lines = ["# HTTPS front benchmark", "",
             f"{r['streams']['streams']} streamed completions through 8443 in waves of {r['concurrency']}: "
             f"**{r['streams']['cut']} cut**, {r['streams']['failed']} failed, {r['streams']['complete']} complete "
             f"({r['streams']['seconds']} s).", "",
             "| path | keep-alive p50 | p99 | new connection p50 | p99 | errors |", "|---|---|---|---|---|---|"]
    for name, v in r["latency"].items():
        lines.append(f"| {name} | {v['keepalive']['p50_ms']} | {v['keepalive']['p99_ms']} | {v['new']['p50_ms']} "
                     f"| {v['new']['p99_ms']} | {v['errors']} |")
    lines += ["", f"Non-streamed completion of {r['long_seconds']} s through 8443: status {r['long']['status']}, "
              f"{r['long']['seconds']} s.", "",
              f"nginx RSS (all processes): idle {r['nginx_rss_mib']['idle']} MiB, peak under load "
              f"{r['nginx_rss_mib']['peak']} MiB.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=("latency", "streams", "long"))
    ap.add_argument("--ca", default="")
    ap.add_argument("--url", default=f"https://{MINIPC}:8443")
    ap.add_argument("--target", action="append", default=[])
    ap.add_argument("--requests", type=int, default=3000, help="latency: per path and connection kind")
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--interval-ms", type=int, default=50)
    ap.add_argument("--long-seconds", type=int, default=600)
    ap.add_argument("--max-seconds", type=float, default=900, help="bound of each load phase")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench"))
    ap.add_argument("--up", action="store_true", help="create and converge the molecule https lab first")
    ap.add_argument("--down", action="store_true", help="destroy the lab afterwards")
    args = ap.parse_args()

    if args.worker:
        fn = {"latency": worker_latency, "streams": worker_streams, "long": worker_long}[args.worker]
        print(json.dumps(fn(args)))
        return

    env = molecule_env(args.up)
    if args.up:
        log("molecule destroy + create + converge -s https")
        for step in ("destroy", "create", "converge"):
            sh("molecule", step, "-s", "https", env=env, stdout=subprocess.DEVNULL)
    ephemeral = ephemeral_dir(env)
    if not ephemeral:
        sys.exit("the https lab is not up: run with --up (or `molecule converge -s https`)")
    try:
        log("lifting the rate limit for the run (the bench measures proxying, not limit_req)")
        rate_limit(env, ephemeral, lifted=True)
        sh("docker", "cp", str(pathlib.Path(__file__)), f"hx-spark:{REMOTE}")
        sh("docker", "cp", str(pathlib.Path(stream_load.__file__)), f"hx-spark:{REMOTE_LIB}")
        sh("docker", "cp", str(ephemeral / "pki" / "ca.crt"), f"hx-spark:{REMOTE_CA}")
        idle = nginx_rss_kib()
        peak = [idle]
        stop = threading.Event()

        def sample():
            while not stop.wait(1):
                peak.append(nginx_rss_kib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        long_result = {}
        long_thread = threading.Thread(target=lambda: long_result.update(
            in_spark("long", "--url", args.url, "--long-seconds", str(args.long_seconds),
                     timeout=args.long_seconds + 300)), daemon=True)
        log(f"a {args.long_seconds} s non-streamed completion through 8443, in the background")
        long_thread.start()
        log(f"{args.streams} streams through 8443 in waves of {args.concurrency}")
        streams = in_spark("streams", "--url", args.url, "--streams", str(args.streams), "--concurrency",
                           str(args.concurrency), "--chunks", str(args.chunks), "--interval-ms", str(args.interval_ms),
                           "--max-seconds", str(args.max_seconds), timeout=args.max_seconds + 300)
        log(f"latency, {args.requests} requests per path and kind")
        lat = in_spark("latency", "--requests", str(args.requests), "--max-seconds", str(args.max_seconds),
                       "--target", "direct=http://127.0.0.1:4000", "--target", f"tcp 8081=http://{MINIPC}:8081",
                       "--target", f"https 8443={args.url}", timeout=args.max_seconds + 300)
        log("waiting for the long completion")
        long_thread.join(args.long_seconds + 400)
        stop.set()
        result = {"streams": streams, "concurrency": args.concurrency, "latency": lat, "long": long_result,
                  "long_seconds": args.long_seconds,
                  "nginx_rss_mib": {"idle": round(idle / 1024, 1), "peak": round(max(peak) / 1024, 1)}}
    finally:
        log("restoring the lab's rate limit")
        rate_limit(env, ephemeral, lifted=False)
        if args.down:
            sh("molecule", "destroy", "-s", "https", env=env, stdout=subprocess.DEVNULL, check=False)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "https.json").write_text(json.dumps(result, indent=2))
    (out / "https.md").write_text(markdown(result))
    print(markdown(result))
    ok = streams["cut"] == 0 and streams["failed"] == 0 and long_result.get("ok")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
