"""The lab hosts are real systemd machines that Ansible converged."""

import pytest

testinfra_hosts = ["ansible://minipc", "ansible://spark"]


def test_systemd_is_pid1_and_running(host):
    assert host.process.get(pid=1).comm == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_marker_written_by_converge(host):
    name = host.backend.get_hostname()
    group = {"minipc": "frp_servers", "spark": "frp_clients"}[name]
    marker = host.file("/etc/lisyoen-frp-lab")
    assert marker.is_file
    assert marker.mode == 0o644
    assert marker.content_string == f"{name} {group}\n"


@pytest.mark.parametrize("unit", ["systemd-journald.service"])
def test_journald_runs(host, unit):
    assert host.service(unit).is_running


def test_lab_address_is_in_the_lab_subnet(host):
    # The lab must never share an address range with the user's real networks.
    addrs = host.interface("eth0").addresses
    assert any(a.startswith("10.213.") for a in addrs), addrs
