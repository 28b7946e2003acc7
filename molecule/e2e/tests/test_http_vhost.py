"""The other path: llm_tunnel_type=http, frps' HTTP vhost routing on the Host header.

site.yml switches the running lab over (and back at the end), so this also proves that changing
the path is one variable and one run.
"""

import time

import pytest
import requests

from conftest import TUNNEL, run_playbook

MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"


@pytest.fixture(scope="module", autouse=True)
def http_vhost_path(minipc):
    res = run_playbook("site.yml", "-e", "llm_tunnel_type=http")
    assert res.returncode == 0, res.stdout[-3000:]
    yield
    back = run_playbook("site.yml")
    assert back.returncode == 0, back.stdout[-3000:]
    assert "allowPorts =" in minipc.file("/etc/frp/frps.toml").content_string


def test_frps_runs_the_vhost_instead_of_the_tcp_port(minipc):
    conf = minipc.file("/etc/frp/frps.toml").content_string
    assert "vhostHTTPPort = 8081" in conf
    assert "allowPorts =" not in conf


def test_models_with_the_right_host(api_key):
    r = requests.get(
        f"{TUNNEL}/v1/models", headers={"Host": "llm.local", "Authorization": f"Bearer {api_key}"}, timeout=10
    )
    assert r.status_code == 200
    assert MODEL in [m["id"] for m in r.json()["data"]]


def test_wrong_host_gets_frps_not_found_page(api_key):
    r = requests.get(
        f"{TUNNEL}/v1/models", headers={"Host": "other.local", "Authorization": f"Bearer {api_key}"}, timeout=10
    )
    assert r.status_code == 404
    assert "The page you requested was not found." in r.text


@pytest.mark.parametrize("override,diagnosis,hint", [
    ("llm_host_header=wrong.local", "frp_no_proxy", "customDomains"),
    ("vault_llm_api_key=sk-wrong", "api_key_rejected", "rejected"),
])
def test_verify_playbook_names_the_cause(override, diagnosis, hint):
    res = run_playbook("verify.yml", "-e", "llm_tunnel_type=http", "-e", override, "-e", "verify_wait_timeout=0")
    assert res.returncode != 0
    assert diagnosis in res.stdout, res.stdout[-3000:]
    assert hint in res.stdout


def test_completion_slower_than_frps_default_60s_timeout_succeeds(api_key):
    # Only the vhost has a response-header timeout (frps' vhostHTTPTimeout, 60 s by default, which the
    # role raises): through it, a non-streamed completion that thinks for 65 s must still arrive. The tcp
    # path has no such timeout, so this test belongs here, where a broken vhostHTTPTimeout fails it.
    payload = {"model": MODEL, "stream": False, "messages": [{"role": "user", "content": "think long"}]}
    start = time.monotonic()
    r = requests.post(
        f"{TUNNEL}/v1/chat/completions",
        headers={"Host": "llm.local", "Authorization": f"Bearer {api_key}", "x-fake-delay-s": "65"},
        json=payload,
        timeout=120,
    )
    took = time.monotonic() - start
    assert r.status_code == 200, (r.status_code, r.text[:200])
    assert took >= 65, took
    assert r.json()["choices"][0]["message"]["content"]
