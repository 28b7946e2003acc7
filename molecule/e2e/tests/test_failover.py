"""Several office servers behind one port: frp's load-balancing group and health checks.

spark and spark2 both carry the API to minipc:8081 through the group `llm-api` (mapping.yml, with
both in frp_clients). Each fault test breaks spark2 in one way while a client sends a request every
100 ms (each on a new connection, so frps places every one) and 20 streams run, and measures:
  - the last failed request, counted from the fault: every request sent later succeeded (< 15 s);
  - the streams: those on spark2 may be cut (counted), those on spark must all complete;
  - recovery: from spark2 coming back until a request is answered by spark2 again (< 30 s).
The assertions are loose (a shared 2-core machine); the figures go to <ephemeral dir>/failover.json
(or $FAILOVER_RESULTS), which tools/bench/failover.py prints.
"""

import concurrent.futures
import contextlib
import json
import os
import pathlib
import threading
import time

import pytest
import requests

from conftest import TUNNEL, api_unit, cut_off, power_off, power_on, run_playbook, wait_serving

MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
VICTIM, HEALTHY = "spark2", "spark"
LITELLM_HOST = "spark"
RESULTS = pathlib.Path(
    os.environ.get("FAILOVER_RESULTS")
    or pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")) / "failover.json"
)
SPREAD_REQUESTS = int(os.environ.get("FAILOVER_SPREAD_REQUESTS", "1000"))
REQUEST_EVERY_S = 0.1
STREAMS = 20
STREAM_INTERVAL_MS = 100


def backend_of(response):
    """Which office server answered: each stand-in names itself in X-Backend. On spark a real LiteLLM
    (prepare_litellm.yml) sits in front of it: it answers /v1/models itself, without that header (and
    without the stand-in's Server header), and passes it on as llm_provider-x-backend with completions."""
    name = response.headers.get("X-Backend") or response.headers.get("llm_provider-x-backend")
    if name:
        return name
    if "fake-openai" not in response.headers.get("Server", ""):
        return LITELLM_HOST
    return None


def record(name, figures):
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = figures
    RESULTS.write_text(json.dumps(data, indent=2))
    print(f"\nfailover {name}: {json.dumps(figures)}")


def _headers(api_key, **extra):
    # Connection: close: every request is a new connection to frps, which is what frps balances.
    return {"Authorization": f"Bearer {api_key}", "Connection": "close", **extra}


class Load:
    """A request every 100 ms plus STREAMS streams, all through the tunnel, each on a new connection."""

    def __init__(self, api_key, stream_seconds):
        self.api_key = api_key
        self.chunks = int(stream_seconds * 1000 / STREAM_INTERVAL_MS)
        self.requests = []  # (sent, ok, backend, error)
        self.streams = []  # {"backend", "chunks", "complete", "error"}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=STREAMS + 150)
        self.ticker = threading.Thread(target=self._tick, daemon=True)

    def start(self):
        stream_futures = []
        for _ in range(STREAMS):
            stream_futures.append(self.pool.submit(self._stream))
            time.sleep(0.02)  # in turn, so that frps alternates them over the members
        self.stream_futures = stream_futures
        self.ticker.start()

    def stop(self):
        # Requests go on for as long as the streams run, so that both cover the same span.
        concurrent.futures.wait(self.stream_futures, timeout=60)
        self.stopping.set()
        self.ticker.join()
        self.pool.shutdown(wait=True)

    def _tick(self):
        start, n = time.monotonic(), 0
        while not self.stopping.is_set():
            self.pool.submit(self._request, time.monotonic())
            n += 1
            time.sleep(max(0.0, start + n * REQUEST_EVERY_S - time.monotonic()))

    def _request(self, sent):
        ok, backend, error = False, None, None
        try:
            r = requests.get(f"{TUNNEL}/v1/models", headers=_headers(self.api_key), timeout=(3, 8))
            backend = backend_of(r)
            ok = r.status_code == 200 and MODEL in [m["id"] for m in r.json()["data"]]
            error = None if ok else f"HTTP {r.status_code}"
        except (requests.RequestException, ValueError) as exc:
            error = type(exc).__name__
        with self.lock:
            self.requests.append((sent, ok, backend, error))

    def _stream(self):
        entry = {"backend": None, "chunks": 0, "complete": False, "error": None}
        payload = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "count"}]}
        hdrs = _headers(self.api_key, **{"x-fake-chunks": str(self.chunks), "x-fake-interval-ms": str(STREAM_INTERVAL_MS)})
        try:
            with requests.post(f"{TUNNEL}/v1/chat/completions", headers=hdrs, json=payload, stream=True,
                               timeout=(3, 20)) as r:
                entry["backend"] = backend_of(r)
                for line in r.iter_lines():
                    if line == b"data: [DONE]":
                        entry["complete"] = entry["chunks"] >= self.chunks
                    elif line.startswith(b"data: "):
                        entry["chunks"] += 1
        except requests.RequestException as exc:
            entry["error"] = type(exc).__name__
        with self.lock:
            self.streams.append(entry)

    def first_answer_from(self, backend, after, limit):
        """Seconds from `after` until a request sent after it was answered by `backend`."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self.lock:
                sent = [s for s, ok, b, _ in self.requests if ok and b == backend and s >= after]
            if sent:
                return min(sent) - after
            time.sleep(0.1)
        return None


def run_fault(name, api_key, break_it, restore_it, down_s, stream_seconds):
    """Break VICTIM under load, keep it down for down_s, bring it back; measure and assert."""
    load = Load(api_key, stream_seconds)
    load.start()
    try:
        time.sleep(1.5)
        fault = time.monotonic()
        break_it()
        time.sleep(max(0.0, fault + down_s - time.monotonic()))
        back = time.monotonic()
        restore_it()
        recovery = load.first_answer_from(VICTIM, back, 45)
    finally:
        load.stop()
    before = [r for r in load.requests if r[0] < fault]
    after = [r for r in load.requests if r[0] >= fault]
    failed = [r for r in after if not r[1]]
    last_failure = max((r[0] - fault for r in failed), default=0.0)
    late = [r for r in after if not r[1] and r[0] - fault >= 15]
    victim_streams = [s for s in load.streams if s["backend"] == VICTIM]
    healthy_streams = [s for s in load.streams if s["backend"] == HEALTHY]
    figures = {
        "requests": len(load.requests),
        "failed_before_fault": sum(1 for r in before if not r[1]),
        "failed_after_fault": len(failed),
        "failure_kinds": sorted({r[3] for r in failed}),
        "last_failure_s": round(last_failure, 2),
        "failed_from_15s": len(late),
        "recovery_s": None if recovery is None else round(recovery, 2),
        "streams_on_victim": len(victim_streams),
        "victim_streams_cut": sum(1 for s in victim_streams if not s["complete"]),
        "streams_on_healthy": len(healthy_streams),
        "healthy_streams_cut": sum(1 for s in healthy_streams if not s["complete"]),
        "streams_unplaced": sum(1 for s in load.streams if s["backend"] not in (VICTIM, HEALTHY)),
    }
    record(name, figures)
    assert figures["failed_before_fault"] == 0, figures
    assert victim_streams and healthy_streams, f"the streams were not spread over both servers: {figures}"
    assert figures["healthy_streams_cut"] == 0, f"streams on the healthy server were cut: {figures}"
    assert figures["streams_unplaced"] == 0, figures
    assert late == [], f"requests still failed 15 s after the fault: {late[:5]} {figures}"
    assert recovery is not None and recovery < 30, f"{VICTIM} took no traffic within 30 s of coming back: {figures}"
    return figures


@pytest.fixture(autouse=True)
def both_serving(api_key, spark, spark2):
    """Each test starts with both servers in the group, and leaves them so."""
    def both_answer():
        seen = set()
        for _ in range(6):
            try:
                seen.add(backend_of(requests.get(f"{TUNNEL}/v1/models", headers=_headers(api_key), timeout=2)))
            except requests.RequestException:
                pass
        return {VICTIM, HEALTHY} <= seen

    wait_serving(api_key, 60)
    deadline = time.monotonic() + 60
    while not both_answer():
        assert time.monotonic() < deadline, "spark and spark2 do not both take requests"
        time.sleep(0.5)
    yield
    spark2.run("systemctl start llm-api frpc")
    spark.run("systemctl start frpc")


def test_spread_over_both_servers(api_key):
    def one(_):
        try:
            r = requests.get(f"{TUNNEL}/v1/models", headers=_headers(api_key), timeout=10)
            models = [m["id"] for m in r.json()["data"]]
            return r.status_code, backend_of(r), models
        except (requests.RequestException, ValueError) as exc:
            return type(exc).__name__, None, []

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(one, range(SPREAD_REQUESTS)))
    took = time.monotonic() - start
    split = {name: sum(1 for _, b, _ in answers if b == name) for name in (HEALTHY, VICTIM)}
    failed = [a[:2] for a in answers if a[0] != 200]
    record("spread", {"requests": len(answers), "failed": len(failed), "split": split, "seconds": round(took, 2)})
    assert failed == [], failed[:10]
    # Per connection, frps hands connections to the members in turn.
    for name, count in split.items():
        assert count >= 0.3 * len(answers), f"{name} got {count} of {len(answers)}"
    # One model name for the clients on every server; per-host model lists may differ (spark2 has one more).
    assert all(MODEL in models for _, _, models in answers)
    assert {b for _, b, models in answers if "lab/spark2-only-model" in models} == {VICTIM}


def test_a_api_stops_on_one_server(api_key, spark2):
    unit = api_unit(spark2)
    run_fault("a_api_stopped", api_key,
              lambda: spark2.run(f"systemctl stop {unit}"),
              lambda: spark2.run(f"systemctl start {unit}"),
              down_s=8, stream_seconds=10)


def test_b_frpc_killed_on_one_server(api_key, spark2):
    # systemd restarts frpc (Restart=on-failure, 1 s): "back" is the kill itself.
    run_fault("b_frpc_killed", api_key,
              lambda: spark2.run("systemctl kill -s SIGKILL frpc"),
              lambda: None,
              down_s=0, stream_seconds=8)


def test_c_one_server_cut_off_silently(api_key):
    with contextlib.ExitStack() as stack:
        run_fault("c_silent_drop", api_key,
                  lambda: stack.enter_context(cut_off(VICTIM)),
                  stack.close,
                  down_s=20, stream_seconds=20)


def test_d_one_server_powers_off(api_key):
    # `docker kill` ends every process first, and their sockets still send FIN and RST before the
    # network goes: a real power cut sends nothing. So the router drops spark2's last words (as
    # test_faults.py's power cut does on minipc) and lets its traffic through again at power-on.
    with contextlib.ExitStack() as stack:
        def cut_and_kill():
            stack.enter_context(cut_off(VICTIM))
            power_off(VICTIM)

        def restore_and_boot():
            stack.close()
            power_on(VICTIM)

        run_fault("d_power_off", api_key, cut_and_kill, restore_and_boot, down_s=20, stream_seconds=20)


def test_group_key_is_checked_before_any_change(spark2):
    before = spark2.file("/etc/frp/frpc.toml").content_string
    res = run_playbook("site.yml", "--limit", VICTIM, "-e", "vault_frp_lb_group_key=CHANGE_ME")
    assert res.returncode != 0
    assert "frpc_client_load_balancer_group_key still holds a placeholder" in res.stdout, res.stdout[-3000:]
    assert "changed=0" in res.stdout.split("PLAY RECAP")[-1]
    assert spark2.file("/etc/frp/frpc.toml").content_string == before
