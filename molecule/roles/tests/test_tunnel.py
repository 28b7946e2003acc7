"""The tunnel really carries requests: minipc:8081 with Host llm.local reaches spark's 127.0.0.1:4000."""

import json
import os
import shlex
import time

import testinfra

from conftest import DASHBOARD_PASSWORD, DASHBOARD_USER

testinfra_hosts = ["ansible://spark"]


def _minipc():
    return testinfra.get_host("ansible://minipc", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _curl(host, *args):
    return host.run("curl -sS --max-time 10 " + " ".join(shlex.quote(a) for a in args))


def _until(check, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)


def test_request_crosses_the_tunnel(host):
    # The page only exists on spark's loopback: getting it from minipc:8081 proves the whole path
    # (ufw on minipc, frps vhost routing, frpc login with the token file, TLS, the proxy).
    ok = _until(lambda: _curl(host, "-H", "Host: llm.local", "http://minipc:8081/").stdout == "lab llm api on spark\n")
    assert ok, _curl(host, "-i", "-H", "Host: llm.local", "http://minipc:8081/").stdout


def test_unknown_host_gets_frps_404(host):
    out = _curl(host, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: other.local", "http://minipc:8081/")
    assert out.stdout == "404"


def test_llm_port_not_reachable_directly_from_outside(host):
    # The local service listens on spark's loopback only; only the tunnel reaches it.
    assert _curl(host, "http://spark:4000/").rc != 0


def test_dashboard_not_reachable_from_the_network(host):
    # Bound to 127.0.0.1 and closed in ufw (which drops, so do not wait long).
    assert _curl(host, "--max-time", "3", "http://minipc:7500/").rc != 0


def test_frps_registered_the_proxy_online(host):
    frps = _minipc()
    auth = f"{DASHBOARD_USER}:{DASHBOARD_PASSWORD}"

    def online():
        res = _curl(frps, "-u", auth, "http://127.0.0.1:7500/api/proxy/http")
        if res.rc != 0:
            return False
        proxies = {p["name"]: p for p in json.loads(res.stdout)["proxies"]}
        return proxies.get("llm-api", {}).get("status") == "online"

    assert _until(online)
    assert "new proxy [llm-api] type [http] success" in frps.file("/var/log/frp/frps.log").content_string


def test_prometheus_metrics_on_loopback(host):
    frps = _minipc()
    res = _curl(frps, "-u", f"{DASHBOARD_USER}:{DASHBOARD_PASSWORD}", "http://127.0.0.1:7500/metrics")
    assert res.rc == 0
    assert "frp_server_client_counts" in res.stdout
