"""The whole tunnel, end to end: home PC -> frps on minipc -> frpc on spark -> LLM API on spark:4000.

These run on the collection's default path (llm_tunnel_type: tcp); test_http_vhost.py covers the other.
"""

import json
import statistics
import time

import requests

from conftest import TUNNEL, run_playbook

MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"


def _headers(api_key, host="llm.local", **extra):
    return {"Host": host, "Authorization": f"Bearer {api_key}", **extra}


def test_models_through_the_tunnel(api_key):
    r = requests.get(f"{TUNNEL}/v1/models", headers=_headers(api_key), timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    assert MODEL in [m["id"] for m in body["data"]]


def test_wrong_api_key_is_rejected_by_the_api(api_key):
    # Either office server may answer: spark's real LiteLLM (a master key, no database) rejects a wrong key
    # with 400 no_db_connection, spark2's stand-in with 401. Never with an answer.
    for _ in range(6):
        r = requests.get(f"{TUNNEL}/v1/models", headers=_headers(api_key + "-wrong"), timeout=10)
        assert r.status_code in (400, 401), (r.status_code, r.text[:200])
        if r.status_code == 400:
            assert r.json()["error"]["type"] == "no_db_connection", r.text[:200]


def test_default_tcp_path_ignores_the_host_header(api_key):
    # The default path is a tcp proxy: the port as a whole belongs to the API.
    r = requests.get(f"{TUNNEL}/v1/models", headers=_headers(api_key, host="anything.example"), timeout=10)
    assert r.status_code == 200


def test_stream_arrives_chunk_by_chunk_at_the_upstream_pace(api_key):
    interval_ms, chunks = 200, 10
    payload = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "count"}]}
    hdrs = _headers(api_key, **{"x-fake-chunks": str(chunks), "x-fake-interval-ms": str(interval_ms)})
    start = time.monotonic()
    arrivals, done = [], False
    with requests.post(f"{TUNNEL}/v1/chat/completions", headers=hdrs, json=payload, stream=True, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line.startswith(b"data: "):
                continue
            if line == b"data: [DONE]":
                done = True
                break
            json.loads(line[6:])
            arrivals.append(time.monotonic() - start)
    assert done, "stream ended without [DONE]"
    assert len(arrivals) >= chunks
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    # Not buffered: chunks arrive spread over the stream, not in one lump at the end. The bounds are loose on
    # purpose (a busy 2-core box); make bench reports the exact cadence.
    assert arrivals[0] < 0.5 * chunks * interval_ms / 1000, f"first chunk after {arrivals[0]:.3f} s"
    assert arrivals[-1] - arrivals[0] >= 0.8 * (chunks - 1) * interval_ms / 1000, arrivals
    assert 0.5 * interval_ms / 1000 < statistics.median(gaps) < 2 * interval_ms / 1000, gaps


def test_spark_reaches_minipc_control_port_outbound(spark):
    res = spark.run("timeout 3 bash -c 'exec 3<>/dev/tcp/10.213.10.10/7000'")
    assert res.rc == 0, res.stderr


def test_verify_playbook_reports_a_healthy_tunnel():
    res = run_playbook("verify.yml")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "): ok" in res.stdout, res.stdout[-3000:]
    assert MODEL in res.stdout
    assert "minipc frps: active" in res.stdout
    assert "spark frpc: active" in res.stdout


def test_verify_playbook_diagnoses_a_wrong_api_key():
    res = run_playbook("verify.yml", "-e", "vault_llm_api_key=sk-wrong", "-e", "verify_wait_timeout=0")
    assert res.returncode != 0
    assert "api_key_rejected" in res.stdout, res.stdout[-3000:]


def test_default_path_config_and_firewall_on_minipc(minipc):
    conf = minipc.file("/etc/frp/frps.toml").content_string
    assert "{ single = 8081 }" in conf
    assert "vhostHTTPPort =" not in conf
    rules = {line.split()[0] for line in minipc.check_output("ufw status").splitlines() if " ALLOW " in f" {line} "}
    # SSH, the control port and the API's tcp proxy port (each also for IPv6); nothing else.
    assert rules == {"22/tcp", "7000/tcp", "8081/tcp"}, rules
