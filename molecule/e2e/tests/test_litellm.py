"""A real LiteLLM proxy (requirements/litellm.txt) on spark's port 4000, in front of the fake model server.

The probe must name every failure the way the user meets it through the tunnel: right key, wrong key,
no key, unknown model, model server down, LiteLLM down. And LiteLLM must answer in exactly the shapes
tests/unit/fixtures/litellm-<version>-responses.json records (the unit tests replay those), so that a
LiteLLM upgrade that changes them fails here.

molecule/e2e/prepare_litellm.yml sets LiteLLM up. The target defaults to the e2e lab (the tunnel on
127.0.0.1:18081, host `spark` of molecule's inventory); LAB_LITELLM_URL points the same tests at another
lab with a host named spark in MOLECULE_INVENTORY_FILE.
"""

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pytest
import requests

from conftest import ROOT, TUNNEL, lab_host

for _extra in (ROOT / "collections", ROOT / "tests" / "unit"):
    if str(_extra) not in sys.path:
        sys.path.insert(0, str(_extra))

# The probe's own code, as lisyoen.frp.llm_api_probe runs it; the shapes as the unit tests reduce them.
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_diagnoses import explain  # noqa: E402
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_http import HttpClient  # noqa: E402
from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_openai import (  # noqa: E402
    chat_smoke_test,
    probe_models,
)
from llm_probe_servers import LITELLM_FIXTURE, litellm_cases, litellm_shape  # noqa: E402

URL = os.environ.get("LAB_LITELLM_URL", TUNNEL)
HOST_HEADER = "llm.local"
MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"  # the lab's llm_model
CASES = litellm_cases()
SHAPE_KEYS = ("status", "content_type", "error_type", "body")
# The other Authorization headers the fixture's requests use (none of them a secret).
OTHER_AUTH = {"wrong_key": "Bearer sk-wrong-key-0000", "basic": "Basic " + base64.b64encode(b"admin:secret").decode()}


@pytest.fixture(scope="module")
def office():
    return lab_host(os.environ.get("LAB_LITELLM_HOST", "spark"))


@pytest.fixture(scope="module")
def client():
    return HttpClient(timeout=15)


@pytest.fixture(scope="module", autouse=True)
def litellm_serves(office, api_key):
    """LiteLLM answers through the tunnel before the first test (earlier tests restart hosts)."""
    start = time.monotonic()
    while time.monotonic() - start < 120:
        if models_ok(api_key):
            return
        time.sleep(0.5)
    journal = office.run("journalctl --no-pager -o cat -n 20 -u litellm").stdout
    pytest.fail(f"LiteLLM did not answer through {URL} within 120 s; its journal on the office host:\n{journal}")


def wait_until(check, limit, what):
    """Seconds until check() is true, polling every 0.2 s; fails after `limit` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    pytest.fail(f"{what} not within {limit} s")


def models_ok(api_key):
    try:
        return requests.get(f"{URL}/v1/models", headers=_auth("master_key", api_key), timeout=2).status_code == 200
    except requests.RequestException:
        return False


def chat_ok(api_key):
    try:
        return _send(CASES["chat_ok"]["request"], api_key, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _auth(kind, api_key):
    headers = {"Host": HOST_HEADER}
    if kind == "master_key":
        headers["Authorization"] = f"Bearer {api_key}"
    elif kind != "none":
        headers["Authorization"] = OTHER_AUTH[kind]
    return headers


def _send(request, api_key, timeout=30):
    """Send one of the fixture's requests through the tunnel, as it was recorded."""
    return requests.request(request["method"], URL + request["path"], headers=_auth(request["auth"], api_key),
                            json=request.get("json"), timeout=timeout)


def live_shape(response):
    return litellm_shape(response.status_code, response.content, response.headers.get("Content-Type"))


def recorded(name):
    return {key: CASES[name][key] for key in SHAPE_KEYS}


def assert_recorded(name, response):
    assert live_shape(response) == recorded(name), (
        f"LiteLLM's answer to '{name}' is not the one {LITELLM_FIXTURE.name} records: re-record the fixture "
        f"and check the probe's diagnoses against the new shape. Live: {live_shape(response)}")


def assert_message_is_clean(diagnosis, result, api_key, **kwargs):
    message = explain(diagnosis, URL, HOST_HEADER, status=result.get("status"), detail=result.get("detail"),
                      body=result.get("body") or b"", secrets=(api_key,), **kwargs)
    assert api_key not in message
    return message


# --- the answers, against the recording ------------------------------------------------------------

@pytest.mark.parametrize("name", [name for name, case in CASES.items() if "setup" not in case])
def test_litellm_answers_as_recorded(name, api_key):
    assert_recorded(name, _send(CASES[name]["request"], api_key))


# --- what the probe says -----------------------------------------------------------------------------

def test_right_key_lists_the_model(client, api_key):
    result = probe_models(client, URL, HOST_HEADER, api_key, expected_models=[MODEL])
    assert result["diagnosis"] == "ok", result
    assert result["models"] == [MODEL]


def test_wrong_key_is_named_as_a_key_problem(client, api_key):
    result = probe_models(client, URL, HOST_HEADER, api_key + "-wrong", expected_models=[MODEL])
    # LiteLLM with a master key and no database: 400 no_db_connection, not 401.
    assert (result["status"], result["diagnosis"]) == (400, "api_key_rejected"), result
    message = assert_message_is_clean("api_key_rejected", result, api_key)
    assert "API key was rejected" in message and "No connected db." in message


def test_missing_key_is_named_as_missing(client):
    result = probe_models(client, URL, HOST_HEADER, "", expected_models=[MODEL])
    assert (result["status"], result["diagnosis"]) == (401, "api_key_missing"), result


def test_unknown_model_is_named(client, api_key):
    result = probe_models(client, URL, HOST_HEADER, api_key, expected_models=["nope/model"])
    assert (result["diagnosis"], result["missing"], result["models"]) == ("expected_model_missing", ["nope/model"],
                                                                          [MODEL]), result
    chat = chat_smoke_test(client, URL, "nope/model", "ping", HOST_HEADER, api_key, stream=True, timeout=30)
    assert (chat["chat"]["status"], chat["diagnosis"]) == (400, "chat_rejected"), chat


@pytest.mark.parametrize("key,diagnosis", [("wrong", "api_key_rejected"), ("none", "api_key_missing")])
def test_chat_key_failures_are_named(client, api_key, key, diagnosis):
    sent = api_key + "-wrong" if key == "wrong" else ""
    chat = chat_smoke_test(client, URL, MODEL, "ping", HOST_HEADER, sent, stream=True, timeout=30)
    assert chat["diagnosis"] == diagnosis, chat


def test_streamed_chat_through_litellm(client, api_key):
    chat = chat_smoke_test(client, URL, MODEL, "count", HOST_HEADER, api_key, stream=True, timeout=60,
                           max_tokens=8)
    assert chat["diagnosis"] == "ok", chat
    info = chat["chat"]
    assert info["done"] and info["finish_reason"] == "length" and info["content_chunks"] == 8, info


def test_stream_keeps_the_model_servers_pace(api_key):
    # LiteLLM passes the client's x-* headers on (forward_client_headers_to_llm_api), so the fake's knobs work.
    interval_ms, chunks = 200, 10
    headers = {**_auth("master_key", api_key), "x-fake-chunks": str(chunks), "x-fake-interval-ms": str(interval_ms)}
    payload = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "count"}]}
    start = time.monotonic()
    arrivals, done = [], False
    with requests.post(f"{URL}/v1/chat/completions", headers=headers, json=payload, stream=True, timeout=30) as r:
        assert r.status_code == 200, r.text
        for line in r.iter_lines():
            if line == b"data: [DONE]":
                done = True
                break
            if line.startswith(b"data: ") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                arrivals.append(time.monotonic() - start)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    print(f"LiteLLM stream: first content after {arrivals[0] * 1000:.0f} ms, median gap "
          f"{statistics.median(gaps) * 1000:.0f} ms, max gap {max(gaps) * 1000:.0f} ms")
    assert done and len(arrivals) == chunks, arrivals
    assert arrivals[0] < 2.0, f"first chunk after {arrivals[0]:.3f} s"
    assert abs(statistics.median(gaps) - interval_ms / 1000) < 0.05, gaps


def test_the_module_names_the_wrong_key(api_key):
    """The module itself, run by ansible-playbook as verify.yml runs it (the key comes from the environment)."""
    playbook = (
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - lisyoen.frp.llm_api_probe:\n"
        f"        url: {URL}\n        host_header: {HOST_HEADER}\n"
        "        api_key: \"{{ lookup('ansible.builtin.env', 'LAB_LLM_API_KEY') }}-wrong\"\n"
        f"        expected_models: ['{MODEL}']\n        wait_timeout: 0\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.yml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(playbook)
        env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
               "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
        res = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", path], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert api_key not in res.stdout + res.stderr
    task = json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert task.get("failed") and task["diagnosis"] == "api_key_rejected", task
    assert "No connected db." in task["msg"]


def test_litellm_keeps_the_key_out_of_its_logs_and_command_line(office, api_key):
    assert office.service("litellm").is_running
    assert api_key not in office.run("journalctl --no-pager -o cat -u litellm -u llm-api").stdout
    assert api_key not in office.run("ps -eo args").stdout
    keys = office.file("/etc/litellm/keys.env")
    assert (keys.user, keys.group, keys.mode) == ("root", "root", 0o600)
    assert api_key not in office.file("/etc/litellm/config.yaml").content_string


# --- outages (each restores the lab) -----------------------------------------------------------------

def test_model_server_down_is_litellm_passing_on_the_error(office, client, api_key):
    assert office.run("systemctl stop llm-api").rc == 0
    try:
        response = _send(CASES["model_server_down"]["request"], api_key)
        assert_recorded("model_server_down", response)
        # LiteLLM still lists its models; the chat names the model server, not the key or the tunnel.
        assert probe_models(client, URL, HOST_HEADER, api_key, expected_models=[MODEL])["diagnosis"] == "ok"
        chat = chat_smoke_test(client, URL, MODEL, "ping", HOST_HEADER, api_key, stream=False, timeout=30)
        assert (chat["chat"]["status"], chat["diagnosis"]) == (500, "upstream_error"), chat
        assert "LiteLLM passed on an error from the model server" in (chat["detail"] or ""), chat
    finally:
        assert office.run("systemctl start llm-api").rc == 0
    took = wait_until(lambda: chat_ok(api_key), 60, "chat through LiteLLM after the model server's restart")
    print(f"chat through LiteLLM again {took:.1f} s after the model server's start")


def test_litellm_down_is_diagnosed_and_comes_back(office, client, api_key):
    assert office.run("systemctl stop litellm").rc == 0
    try:
        # On spark itself: nothing listens, as the fixture's api_down case recorded.
        res = office.run("curl -s -o /dev/null --max-time 5 http://127.0.0.1:4000/v1/models")
        assert CASES["api_down"]["transport_error"] == "connection_refused"
        assert res.rc == 7, f"curl exit {res.rc}, not 7 (connection refused)"
        # Through the tcp proxy frpc hangs up when it cannot reach the API.
        result = probe_models(client, URL, HOST_HEADER, api_key, expected_models=[MODEL])
        assert result["diagnosis"] == "connection_closed", result
        message = assert_message_is_clean("connection_closed", result, api_key)
        assert "cannot reach the local API" in message
    finally:
        started = time.monotonic()
        assert office.run("systemctl start litellm").rc == 0
    wait_until(lambda: models_ok(api_key), 90, "LiteLLM serving through the tunnel again")
    print(f"LiteLLM served through the tunnel {time.monotonic() - started:.1f} s after `systemctl start litellm`")
