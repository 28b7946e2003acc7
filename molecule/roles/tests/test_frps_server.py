"""frps_server on roles-minipc: files, account, service, ports, firewall, rendered config, sandbox."""

import re
import tomllib

import pytest
from conftest import DASHBOARD_PASSWORD, LAB_TOKEN, exposure

testinfra_hosts = ["ansible://roles-minipc"]

# systemd-analyze security in the lab container (Debian 12, systemd 252) rates the unit 1.2.
MAX_EXPOSURE = 1.2


def test_binary_is_frps_0_65_0(host):
    binary = host.file("/usr/local/bin/frps")
    assert binary.is_file
    assert (binary.user, binary.group, binary.mode) == ("root", "root", 0o755)
    assert host.check_output("/usr/local/bin/frps --version") == "0.65.0"


def test_service_user_is_unprivileged_and_cannot_log_in(host):
    user = host.user("frps")
    assert user.exists
    assert user.group == "frps"
    assert user.uid < 1000, "a system account"
    assert user.shell == "/usr/sbin/nologin"
    assert user.home == "/nonexistent"
    assert not host.file("/nonexistent").exists
    assert host.group("frps").exists


@pytest.mark.parametrize("path", ["/etc/frp/frps.toml", "/etc/frp/frps.token"])
def test_config_and_token_readable_by_root_and_frps_only(host, path):
    f = host.file(path)
    assert f.is_file
    assert (f.user, f.group, f.mode) == ("root", "frps", 0o640)
    assert f.mode & 0o007 == 0, "not world-readable"


def test_config_folder(host):
    d = host.file("/etc/frp")
    assert d.is_directory
    assert (d.user, d.group, d.mode) == ("root", "root", 0o755)


def test_token_file_holds_the_token_exactly(host):
    # No trailing newline, quotes/backslash/non-ASCII unchanged (frp reads the file as-is, minus
    # surrounding whitespace).
    assert host.file("/etc/frp/frps.token").content == LAB_TOKEN.encode()


def test_rendered_config(host):
    config = tomllib.loads(host.file("/etc/frp/frps.toml").content_string)
    assert config["bindPort"] == 7000
    # The defaults: no HTTP vhost (it cuts streams); the API port is a tcp proxy's, allowed here.
    assert "vhostHTTPPort" not in config
    assert config["allowPorts"] == [{"single": 8081}]
    assert config["transport"]["tls"] == {
        "force": True,
        "certFile": "/etc/frp/tls/frps.crt",
        "keyFile": "/etc/frp/tls/frps.key",
        "trustedCaFile": "/etc/frp/tls/ca.crt",
    }
    assert config["transport"]["tcpMuxKeepaliveInterval"] == 5
    assert config["auth"]["method"] == "token"
    assert config["auth"]["tokenSource"] == {"type": "file", "file": {"path": "/etc/frp/frps.token"}}
    assert "token" not in config["auth"], "the token lives in its own file"
    assert config["log"] == {"to": "/var/log/frp/frps.log", "level": "info", "maxDays": 7}
    assert config["webServer"] == {
        "addr": "127.0.0.1",
        "port": 7500,
        "user": "lab",
        "password": DASHBOARD_PASSWORD,
    }
    assert config["enablePrometheus"] is True


def test_config_passes_frps_verify(host):
    out = host.check_output("/usr/local/bin/frps verify -c /etc/frp/frps.toml")
    assert "syntax is ok" in out


def test_config_and_token_never_hold_each_other(host):
    assert LAB_TOKEN not in host.file("/etc/frp/frps.toml").content_string


def test_log_folder_belongs_to_the_service(host):
    d = host.file("/var/log/frp")
    assert d.is_directory
    assert (d.user, d.group, d.mode) == ("frps", "frps", 0o750)
    log = host.file("/var/log/frp/frps.log")
    assert log.is_file
    assert log.user == "frps"
    assert log.mode & 0o077 == 0, "UMask=0077"


def test_service_enabled_running_as_frps(host):
    service = host.service("frps")
    assert service.is_enabled
    assert service.is_running
    procs = host.process.filter(comm="frps")
    assert len(procs) == 1
    assert procs[0].user == "frps"
    assert procs[0].args == "/usr/local/bin/frps -c /etc/frp/frps.toml"


def test_unit_is_hardened(host):
    props = host.service("frps").systemd_properties
    assert props["User"] == "frps"
    assert props["Group"] == "frps"
    assert props["Restart"] == "on-failure"
    # Back within a second after a crash, and never given up on (recovery measured in molecule/e2e).
    assert props["RestartUSec"] == "1s"
    assert props["StartLimitIntervalUSec"] in ("0", "infinity")
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["ProtectHome"] == "yes"
    assert props["PrivateTmp"] == "yes"
    assert props["PrivateDevices"] == "yes"
    # An empty bounding set: no capability at all (testinfra drops empty properties, so ask systemctl).
    assert host.check_output("systemctl show -p CapabilityBoundingSet -p AmbientCapabilities frps").split() == [
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
    ]
    assert props["ReadWritePaths"] == "/var/log/frp"
    assert props["RestrictAddressFamilies"] == "AF_INET AF_INET6 AF_UNIX"
    assert props["UMask"] == "0077"
    assert int(props["LimitNOFILE"]) >= 65536
    assert "network-online.target" in props["After"]
    assert "network-online.target" in props["Wants"]
    unit = host.file("/etc/systemd/system/frps.service").content_string
    assert unit.startswith("#"), "carries the ansible_managed comment"


def test_systemd_security_exposure(host):
    assert exposure(host, "frps.service") <= MAX_EXPOSURE


@pytest.mark.parametrize("port", [7000, 8081])
def test_control_and_api_ports_listen_everywhere(host, port):
    # 8081 is the tcp proxy's port: frps opens it while frpc on spark is logged in.
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening or host.socket(f"tcp://:::{port}").is_listening


def test_dashboard_listens_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:7500").is_listening
    assert not host.socket("tcp://0.0.0.0:7500").is_listening
    assert not host.socket("tcp://:::7500").is_listening


def test_ufw_opens_exactly_ssh_control_and_vhost(host):
    out = host.check_output("ufw status")
    assert "Status: active" in out
    rules = set(re.findall(r"^(\S+)(?: \(v6\))?\s+ALLOW", out, re.M))
    assert rules == {"22/tcp", "7000/tcp", "8081/tcp"}, out
    assert "7500" not in out
