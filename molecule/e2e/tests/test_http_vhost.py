"""The other path: llm_tunnel_type=http, frps' HTTP vhost routing on the Host header.

site.yml switches the running lab over (and back at the end), so this also proves that changing
the path is one variable and one run.
"""

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
