"""Mutual TLS against a relay that terminates TLS on the way (an inspecting office proxy, or whoever
gets the home address next). The collection's frpc refuses it and says why; the previous setting
(TLS without a pinned CA, frps without client certificates) lets the relay read the login."""

import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, lab_host

RELAY = "10.213.20.2:7443"  # the office router, as spark sees it


def _wait_listening(host, port):
    deadline = time.monotonic() + 20
    while host.run(f"ss -Htln '( sport = :{port} )' | grep -q .").rc != 0:
        assert time.monotonic() < deadline, f"nothing listens on port {port}"
        time.sleep(0.2)


def _start_relay(gw, to):
    gw.run("systemctl stop lab-relay 2>/dev/null; systemctl reset-failed lab-relay 2>/dev/null; rm -f /tmp/relay-saw-login")
    gw.run(f"cat > /opt/lab-relay.py <<'EOF'\n{(ROOT / 'tests/lab/tls_relay.py').read_text()}\nEOF")
    # Its own certificate, even for the right name: only the CA tells it apart.
    assert gw.run("test -f /opt/relay.key || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                  "-days 2 -subj /CN=frps.lisyoen-frp.internal -addext subjectAltName=DNS:frps.lisyoen-frp.internal "
                  "-keyout /opt/relay.key -out /opt/relay.crt").rc == 0
    assert gw.run(f"systemd-run --unit=lab-relay python3 /opt/lab-relay.py --listen 0.0.0.0:7443 --to {to} "
                  "--cert /opt/relay.crt --key /opt/relay.key --saw-login /tmp/relay-saw-login").rc == 0
    _wait_listening(gw, 7443)


def _frpc_through_relay(spark, name, transforms):
    """A throw-away frpc on spark: the real /etc/frp/frpc.toml pointed at the relay, then edited."""
    host, port = RELAY.split(":")
    script = (f"sed -e 's/^serverAddr = .*/serverAddr = \"{host}\"/' -e 's/^serverPort = .*/serverPort = {port}/' "
              "-e 's/^loginFailExit = .*/loginFailExit = true/' -e '/^log\\./d' -e '/^\\[\\[proxies\\]\\]/,$d' "
              + " ".join(f"-e '{t}'" for t in transforms) + f" /etc/frp/frpc.toml > /tmp/{name}.toml "
              f"&& echo 'log.level = \"trace\"' >> /tmp/{name}.toml && timeout 10 /usr/local/bin/frpc -c /tmp/{name}.toml 2>&1")
    return spark.run(script)


@pytest.fixture(scope="module")
def gw():
    host = lab_host("officegw")
    yield host
    host.run("systemctl stop lab-relay lab-old-frps 2>/dev/null")


def test_frpc_refuses_the_relay_and_says_why(gw, spark):
    _start_relay(gw, "10.213.10.10:7000")
    res = _frpc_through_relay(spark, "via-relay", [])
    assert "login to server success" not in res.stdout, res.stdout
    assert "x509: certificate signed by unknown authority" in res.stdout, res.stdout
    assert not gw.file("/tmp/relay-saw-login").exists, "the relay read the login"


def test_the_previous_setting_lets_the_relay_read_the_login(gw, spark, frp_token):
    # The collection before mutual TLS: frps with a throw-away self-signed certificate and no client
    # check; frpc with TLS on but no CA pinned. Run that frps on the router's loopback and relay to it.
    token = Path("/tmp/lab-old-frps.token")
    assert spark.run("test -r /etc/frp/frpc.token").rc == 0
    gw.run("mkdir -p /opt/old-frps")
    subprocess.run(["docker", "cp", "minipc:/usr/local/bin/frps", "/tmp/lab-old-frps"], check=True)
    subprocess.run(["docker", "cp", "/tmp/lab-old-frps", "officegw:/opt/old-frps/frps"], check=True)
    Path("/tmp/lab-old-frps").unlink()
    token.write_text(frp_token)
    subprocess.run(["docker", "cp", str(token), "officegw:/opt/old-frps/frps.token"], check=True)
    token.unlink()
    gw.run("cat > /opt/old-frps/frps.toml <<'EOF'\nbindAddr = \"127.0.0.1\"\nbindPort = 7100\n"
           "auth.tokenSource.type = \"file\"\nauth.tokenSource.file.path = \"/opt/old-frps/frps.token\"\n"
           "transport.tls.force = true\nEOF")
    gw.run("systemctl stop lab-old-frps 2>/dev/null; systemctl reset-failed lab-old-frps 2>/dev/null; "
           "systemd-run --unit=lab-old-frps /opt/old-frps/frps -c /opt/old-frps/frps.toml")
    _wait_listening(gw, 7100)
    _start_relay(gw, "127.0.0.1:7100")
    res = _frpc_through_relay(spark, "old-via-relay", [r"/^transport\.tls\.\(trustedCaFile\|serverName\|certFile\|keyFile\)/d"])
    assert "login to server success" in res.stdout, res.stdout
    assert gw.file("/tmp/relay-saw-login").exists, "the relay should have read the login in clear"
