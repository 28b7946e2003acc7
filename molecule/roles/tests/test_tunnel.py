"""The tunnel, as the roles' defaults build it: a tcp proxy on roles-minipc:8081 to roles-spark's 127.0.0.1:4000,
over mutual TLS from the lab's CA. Every check is behaviour seen from outside, not config text."""

import json
import os
import shlex
import time
from pathlib import Path

import testinfra

from conftest import DASHBOARD_PASSWORD, DASHBOARD_USER

testinfra_hosts = ["ansible://roles-spark"]

ROOT = Path(__file__).resolve().parents[3]


def _minipc():
    return testinfra.get_host("ansible://roles-minipc", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _curl(host, *args):
    return host.run("curl -sS --max-time 10 " + " ".join(shlex.quote(a) for a in args))


def _until(check, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)


def _bare_frpc(host, name, body, seconds=12):
    """Runs a second, throw-away frpc on roles-spark with its own config; returns (exit code, its log)."""
    config = f"/tmp/{name}.toml"
    host.run(f"cat > {config} <<'EOF'\n{body}\nEOF")
    res = host.run(f"timeout {seconds} /usr/local/bin/frpc -c {config} 2>&1")
    return res.rc, res.stdout


BASE = """serverAddr = "roles-minipc"
serverPort = 7000
loginFailExit = true
auth.tokenSource.type = "file"
auth.tokenSource.file.path = "/etc/frp/frpc.token"
"""
PINNED = """transport.tls.trustedCaFile = "/etc/frp/tls/ca.crt"
transport.tls.serverName = "frps.lisyoen-frp.internal"
"""
CLIENT_CERT = """transport.tls.certFile = "/etc/frp/tls/frpc.crt"
transport.tls.keyFile = "/etc/frp/tls/frpc.key"
"""


def test_request_crosses_the_tunnel(host):
    # The stand-in API listens on spark's loopback only: /stats answering on minipc:8081 is the tunnel.
    ok = _until(lambda: _curl(host, "http://roles-minipc:8081/ping").stdout == "ok")
    assert ok, _curl(host, "-i", "http://roles-minipc:8081/ping").stdout
    stats = json.loads(_curl(host, "http://roles-minipc:8081/stats").stdout)
    assert stats["pings"] >= 1


def test_llm_port_not_reachable_directly_from_outside(host):
    assert _curl(host, "http://roles-spark:4000/ping").rc != 0
    assert _curl(host, "http://127.0.0.1:4000/ping").stdout == "ok", "positive control: the API is up"


def test_dashboard_not_reachable_from_the_network(host):
    # Bound to 127.0.0.1 and closed in ufw (which drops, so do not wait long).
    assert _curl(host, "--max-time", "3", "http://roles-minipc:7500/").rc != 0


def test_frps_registered_the_tcp_proxy_online(host):
    frps = _minipc()
    auth = f"{DASHBOARD_USER}:{DASHBOARD_PASSWORD}"

    def online():
        res = _curl(frps, "-u", auth, "http://127.0.0.1:7500/api/proxy/tcp")
        if res.rc != 0:
            return False
        proxies = {p["name"]: p for p in json.loads(res.stdout)["proxies"]}
        return proxies.get("llm-api", {}).get("status") == "online"

    assert _until(online)
    assert "new proxy [llm-api] type [tcp] success" in frps.file("/var/log/frp/frps.log").content_string


def test_prometheus_metrics_on_loopback(host):
    frps = _minipc()
    res = _curl(frps, "-u", f"{DASHBOARD_USER}:{DASHBOARD_PASSWORD}", "http://127.0.0.1:7500/metrics")
    assert res.rc == 0
    assert "frp_server_client_counts" in res.stdout


def test_a_client_with_the_right_token_but_no_certificate_is_refused(host):
    rc, log = _bare_frpc(host, "no-cert", BASE + "transport.tls.enable = true\n" + PINNED)
    assert rc != 0, log
    assert "login to server success" not in log, log
    # frpc only sees "stream closed"; at the TLS layer frps' refusal is explicit. TLS 1.3 sends the
    # alert after the handshake, on the first read.
    probe = host.run(
        "python3 -c \"import socket, ssl; c = ssl.create_default_context(cafile='/etc/frp/tls/ca.crt'); "
        "s = c.wrap_socket(socket.create_connection(('roles-minipc', 7000), 5), "
        "server_hostname='frps.lisyoen-frp.internal'); s.settimeout(5); s.recv(1)\"")
    assert probe.rc != 0
    assert "CERTIFICATE_REQUIRED" in probe.stderr, probe.stderr


def test_a_client_without_tls_is_refused(host):
    rc, log = _bare_frpc(host, "no-tls", BASE + "transport.tls.enable = false\n")
    assert rc != 0, log
    assert "login to server success" not in log, log


def test_the_same_client_with_its_certificate_logs_in(host):
    # Positive control for the two refusals above, and frps' allowPorts: a proxy asking for a port
    # outside frps_server_allow_ports is refused even after a good login.
    body = BASE + "transport.tls.enable = true\n" + PINNED + CLIENT_CERT + (
        '[[proxies]]\nname = "outside-allowports"\ntype = "tcp"\nlocalPort = 4000\nremotePort = 9999\n')
    rc, log = _bare_frpc(host, "with-cert", body, seconds=6)
    assert "login to server success" in log, log
    assert "port not allowed" in log, log
    assert _curl(host, "--max-time", "3", "http://roles-minipc:9999/ping").rc != 0


def test_frpc_refuses_a_server_certificate_for_another_name(host):
    rc, log = _bare_frpc(host, "wrong-name", BASE + "transport.tls.enable = true\n" + CLIENT_CERT
                         + 'transport.tls.trustedCaFile = "/etc/frp/tls/ca.crt"\n'
                         + 'transport.tls.serverName = "not-the-server.example"\n'
                         # frpc names the TLS cause only at trace level; at info it says "session shutdown".
                         + 'log.level = "trace"\n')
    assert rc != 0, log
    assert "login to server success" not in log, log
    assert "x509: certificate is valid for frps.lisyoen-frp.internal, not not-the-server.example" in log, log


def test_private_keys_are_readable_by_root_and_the_service_only(host):
    key = host.file("/etc/frp/tls/frpc.key")
    assert (key.user, key.group, key.mode) == ("root", "frpc", 0o640)
    assert host.file("/etc/frp/tls/ca.crt").mode == 0o640
    assert not host.file("/etc/frp/tls/ca.key").exists, "the CA key never leaves the controller"


def test_default_path_cuts_no_stream_of_2000(host):
    # frp 0.65.0's HTTP vhost cut 11 of 2,000 such streams against an upstream that answers at once;
    # the roles' default tcp proxy must cut none. 40 waves of 50 concurrent keep-alive streams.
    host.run("mkdir -p /opt/lab")
    host.run(f"cat > /opt/lab/stream_load.py <<'EOF'\n{(ROOT / 'tools/bench/stream_load.py').read_text()}\nEOF")
    before = json.loads(_curl(host, "http://127.0.0.1:4000/stats").stdout)
    res = host.run("python3 /opt/lab/stream_load.py --url http://roles-minipc:8081 --waves 40 --concurrency 50 "
                   "--chunks 20 --interval-ms 2 --max-seconds 240")
    assert res.rc == 0, res.stderr
    out = json.loads(res.stdout)
    print("default path, 2,000 streams:", out["streams"], out["errors"])
    assert out["streams"]["total"] == 2000, out
    assert out["streams"]["cut"] == 0 and out["streams"]["failed"] == 0, out
    after = json.loads(_curl(host, "http://127.0.0.1:4000/stats").stdout)
    assert after["finished"] - before["finished"] == 2000
    assert after["cut"] == before["cut"], "the upstream saw a stream cut"
