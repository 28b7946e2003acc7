"""frpc_client on roles-spark: files, account, service, rendered config, no inbound port, sandbox."""

import tomllib

import pytest
from conftest import LAB_TOKEN, exposure

testinfra_hosts = ["ansible://roles-spark"]

# systemd-analyze security in the lab container (Debian 12, systemd 252) rates the unit 1.2.
MAX_EXPOSURE = 1.2


def test_binary_is_frpc_0_65_0(host):
    binary = host.file("/usr/local/bin/frpc")
    assert (binary.user, binary.group, binary.mode) == ("root", "root", 0o755)
    assert host.check_output("/usr/local/bin/frpc --version") == "0.65.0"


def test_no_frps_on_the_client(host):
    assert not host.file("/usr/local/bin/frps").exists
    assert not host.user("frps").exists


def test_service_user_is_unprivileged_and_cannot_log_in(host):
    user = host.user("frpc")
    assert user.exists
    assert user.group == "frpc"
    assert user.uid < 1000
    assert user.shell == "/usr/sbin/nologin"
    assert user.home == "/nonexistent"


@pytest.mark.parametrize("path", ["/etc/frp/frpc.toml", "/etc/frp/frpc.token"])
def test_config_and_token_readable_by_root_and_frpc_only(host, path):
    f = host.file(path)
    assert (f.user, f.group, f.mode) == ("root", "frpc", 0o640)


def test_token_file_holds_the_token_exactly(host):
    assert host.file("/etc/frp/frpc.token").content == LAB_TOKEN.encode()


def test_rendered_config(host):
    config = tomllib.loads(host.file("/etc/frp/frpc.toml").content_string)
    assert config["serverAddr"] == "roles-minipc"
    assert config["serverPort"] == 7000
    assert config["loginFailExit"] is False
    assert config["transport"]["tls"] == {
        "enable": True,
        "certFile": "/etc/frp/tls/frpc.crt",
        "keyFile": "/etc/frp/tls/frpc.key",
        "trustedCaFile": "/etc/frp/tls/ca.crt",
        "serverName": "frps.lisyoen-frp.internal",
    }
    assert "heartbeatInterval" not in config["transport"]
    assert config["auth"]["tokenSource"] == {"type": "file", "file": {"path": "/etc/frp/frpc.token"}}
    assert "token" not in config["auth"]
    assert config["log"] == {"to": "/var/log/frp/frpc.log", "level": "info", "maxDays": 7}
    # The role's default proxy: tcp, not frps' HTTP vhost.
    assert config["proxies"] == [
        {"name": "llm-api", "type": "tcp", "localIP": "127.0.0.1", "localPort": 4000, "remotePort": 8081}
    ]


def test_log_folder_belongs_to_the_service(host):
    d = host.file("/var/log/frp")
    assert (d.user, d.group, d.mode) == ("frpc", "frpc", 0o750)
    assert host.file("/var/log/frp/frpc.log").user == "frpc"


def test_service_enabled_running_as_frpc(host):
    service = host.service("frpc")
    assert service.is_enabled
    assert service.is_running
    procs = host.process.filter(comm="frpc")
    assert len(procs) == 1
    assert procs[0].user == "frpc"


def test_unit_is_hardened(host):
    props = host.service("frpc").systemd_properties
    assert props["User"] == "frpc"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    # An empty bounding set: no capability at all (testinfra drops empty properties, so ask systemctl).
    assert host.check_output("systemctl show -p CapabilityBoundingSet -p AmbientCapabilities frpc").split() == [
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
    ]
    assert props["ReadWritePaths"] == "/var/log/frp"


def test_systemd_security_exposure(host):
    assert exposure(host, "frpc.service") <= MAX_EXPOSURE


def test_frpc_opens_no_inbound_port(host):
    # frpc only dials out; its sockets are all connections, none listens.
    assert "frpc" not in host.check_output("ss -ltnupH")


def test_client_firewall_untouched(host):
    assert "Status: inactive" in host.check_output("ufw status")
