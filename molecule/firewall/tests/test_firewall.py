"""frps_server's firewall on both backends, proved with real TCP connections between the lab's containers.

fwlab-ufw (ufw) and fwlab-firewalld (firewalld on Debian) run frps_server with the allowlist 10.213.30.0/28
and the client port 8081; prepare.yml left each one with the role's rules for 9090 (no longer wanted), a
client port open to anywhere and an admitting default. fwlab-inside (10.213.30.5) is inside the allowlist,
fwlab-outside (10.213.30.100) is not. Plain listeners on 8081 and 9090 stand in for frps' tcp proxies, so a
connection that does not open can only have been stopped by the firewall.
"""

import json
import os
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import testinfra

SERVERS = {"fwlab-ufw": "10.213.30.10", "fwlab-firewalld": "10.213.30.11"}
CLIENTS = ("fwlab-inside", "fwlab-outside")
ALLOWLIST = "10.213.30.0/28"
SCENARIO_DIR = Path(__file__).resolve().parent.parent
MARK = "lisyoen.frp:"

# Run on a client: connects to every server port at once; "open", "timeout" (dropped: ufw) or the errno
# name (EHOSTUNREACH: firewalld's reject; ECONNREFUSED would mean nothing listens, never a firewall here).
PROBE = r"""
import errno, json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def probe(target):
    ip, port = target
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((ip, port))
        return f"{ip}:{port}", "open"
    except socket.timeout:
        return f"{ip}:{port}", "timeout"
    except OSError as e:
        return f"{ip}:{port}", errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
targets = [(ip, port) for ip in sys.argv[1].split(",") for port in (7000, 8081, 9090)]
with ThreadPoolExecutor(len(targets)) as pool:
    print(json.dumps(dict(pool.map(probe, targets))))
"""
BLOCKED = ("timeout", "EHOSTUNREACH")


def _host(name):
    # Straight to the container: the inventory's ansible_port (the SSH port the role falls back to) would
    # otherwise become part of the container's name for testinfra.
    return testinfra.get_host(f"docker://{name}")


def _playbook(playbook, *args, json_output=False):
    """ansible-playbook against the lab with molecule's environment (ANSIBLE_CONFIG, collections path)."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true")
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    inventory = str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)
    cmd = ["ansible-playbook", "-i", inventory, str(SCENARIO_DIR / playbook), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)


@pytest.fixture(scope="module")
def reach():
    """{client: {"ip:port": outcome}} for every server port, both clients probing at the same time."""
    servers = ",".join(SERVERS.values())

    def run(client):
        return client, json.loads(_host(client).check_output(f"python3 -c {shlex.quote(PROBE)} {servers}"))

    with ThreadPoolExecutor(len(CLIENTS)) as pool:
        return dict(pool.map(run, CLIENTS))


@pytest.fixture(scope="module")
def side_runs():
    """The converged lab in check mode: the whole converge, and side.yml (fake SSH connections, old name)."""
    with ThreadPoolExecutor(2) as pool:
        check = pool.submit(_playbook, "converge.yml", "--check")
        side = pool.submit(_playbook, "side.yml", "--check", json_output=True)
        return {"check": check.result(), "side": side.result()}


def _results(run, play_prefix, task_name, host):
    """The results (loop items flattened) of one task of one play of a JSON-callback run."""
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    data = json.loads(run.stdout)
    found = []
    for play in data["plays"]:
        if not play["play"]["name"].startswith(play_prefix):
            continue
        for task in play["tasks"]:
            # Tasks of an included role are named "<role> : <task>"; ufw and firewalld share some names.
            if task["task"]["name"].split(" : ")[-1] == task_name and host in task["hosts"]:
                res = task["hosts"][host]
                found += [r for r in res.get("results", [res]) if not r.get("skipped")]
    assert found, f"no result of {task_name!r} on {host} in the play {play_prefix!r}"
    return found


def _ufw_added(name):
    return [line[4:] for line in _host(name).check_output("ufw show added").splitlines() if line.startswith("ufw ")]


# ---------------------------------------------------------------------------------------- both backends
@pytest.mark.parametrize("server", SERVERS)
def test_listeners_stand_behind_the_firewall(server):
    # Without them a closed port would prove nothing about the firewall.
    listening = _host(server).check_output("ss -Hltn")
    for port in (7000, 8081, 9090):
        assert f":{port} " in listening, listening


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("server", SERVERS)
def test_control_port_is_open_to_anywhere(reach, server, client):
    assert reach[client][f"{SERVERS[server]}:7000"] == "open"


@pytest.mark.parametrize("server", SERVERS)
def test_client_port_is_open_inside_the_allowlist(reach, server):
    assert reach["fwlab-inside"][f"{SERVERS[server]}:8081"] == "open"


@pytest.mark.parametrize("server", SERVERS)
def test_client_port_is_closed_outside_the_allowlist(reach, server):
    # prepare.yml opened 8081 to anywhere (and made the default admit everything) and checked it was open.
    assert reach["fwlab-outside"][f"{SERVERS[server]}:8081"] in BLOCKED


@pytest.mark.parametrize("server", SERVERS)
def test_port_no_longer_wanted_is_closed_even_inside_the_allowlist(reach, server):
    # The earlier run in prepare.yml opened 9090 to the allowlist (and prepare checked that fwlab-inside got
    # through); the converge no longer lists it.
    assert reach["fwlab-inside"][f"{SERVERS[server]}:9090"] in BLOCKED


def test_check_mode_reports_no_change_on_the_converged_servers(side_runs):
    run = side_runs["check"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for server in SERVERS:
        recap = [line for line in run.stdout.splitlines() if line.startswith(server + " ")]
        assert recap and " changed=0 " in recap[-1], recap


def test_ssh_port_is_read_from_ssh_connection_on_ufw(side_runs):
    # Over SSH, the server port of the live connection: not ansible_port (2222 for this host).
    [res] = _results(side_runs["side"], "The SSH port comes from SSH_CONNECTION", "Allow the SSH port of this connection",
                     "fwlab-ufw")
    assert res.get("changed") is True, res
    assert any("port 2201 proto tcp comment 'lisyoen.frp: ssh 2201/tcp'" in c for c in res["commands"]), res["commands"]


def test_ssh_port_is_read_from_ssh_client_on_ufw(side_runs):
    [res] = _results(side_runs["side"], "The SSH port comes from SSH_CLIENT", "Allow the SSH port of this connection",
                     "fwlab-ufw")
    assert any("port 2202 proto tcp" in c for c in res["commands"]), res["commands"]


def test_ssh_port_is_read_from_ssh_connection_on_firewalld(side_runs):
    [res] = _results(side_runs["side"], "The SSH port comes from SSH_CONNECTION", "Allow the SSH port of this connection",
                     "fwlab-firewalld")
    # The module tells nothing more in check mode. The zone already has 2200/tcp (ansible_port) and the ssh
    # service (22): a change can only be another port, the fake connection's.
    assert res.get("changed") is True, res


def test_deprecated_allowlist_name_is_used_with_a_warning(side_runs):
    run = side_runs["side"]
    play = "The deprecated frps_server_vhost_http_allow_from"
    [warning] = _results(run, play, "Warn that frps_server_vhost_http_allow_from is deprecated", "fwlab-ufw")
    assert "rename it to frps_server_allow_from" in warning["msg"], warning
    # Its network (/29) replaces the converged one (/28): the /28 rule goes, the /29 one comes.
    deleted = _results(run, play, "Delete the rules the role opened that are no longer wanted, and client ports open to anywhere",
                       "fwlab-ufw")
    assert [r["item"] for r in deleted] == [f"allow from {ALLOWLIST} to any port 8081 proto tcp"]
    added = _results(run, play, "Allow the client ports from each allowed source, or from anywhere without an allowlist",
                     "fwlab-ufw")
    assert [r["item"][1] for r in added if r.get("changed")] == [f"{MARK} frps client 8081/tcp from 10.213.30.0/29"]


# ------------------------------------------------------------------------------------------------- ufw
def test_ufw_sets_the_default_policies():
    # prepare.yml set allow (incoming) and deny (outgoing) after the earlier run.
    assert "Default: deny (incoming), allow (outgoing)" in _host("fwlab-ufw").check_output("ufw status verbose")


def test_ufw_plain_rule_opening_the_client_port_to_anywhere_is_gone():
    # The admin's `ufw allow 8081/tcp` carried no comment of the role's.
    rules = _ufw_added("fwlab-ufw")
    assert not [r for r in rules if r.split(" comment ")[0] in ("allow 8081/tcp", "allow 8081")], rules


def test_ufw_rules_the_role_opened_for_9090_are_gone():
    rules = _ufw_added("fwlab-ufw")
    assert not [r for r in rules if "9090" in r], rules


def test_ufw_admins_limit_on_the_ssh_port_is_kept():
    # ansible_port (2222) is the SSH port here; an allow rule would have replaced the limit.
    rules = _ufw_added("fwlab-ufw")
    assert "limit 2222/tcp" in rules, rules
    assert not [r for r in rules if r.startswith("allow 2222")], rules


def test_ufw_has_exactly_the_wanted_rules_each_marked():
    assert _ufw_added("fwlab-ufw") == [
        "limit 2222/tcp",
        f"allow 7000/tcp comment '{MARK} frps control 7000/tcp'",
        f"allow from {ALLOWLIST} to any port 8081 proto tcp comment '{MARK} frps client 8081/tcp from {ALLOWLIST}'",
    ]


def test_ufw_host_leaves_firewalld_masked():
    host = _host("fwlab-ufw")
    assert host.check_output("systemctl is-enabled firewalld.service || true") == "masked"
    assert not host.service("firewalld").is_running


# ------------------------------------------------------------------------------------------- firewalld
@pytest.mark.parametrize("config", ["runtime", "permanent"])
def test_firewalld_zone_holds_exactly_the_wanted_rules(config):
    host = _host("fwlab-firewalld")
    flag = "--permanent " if config == "permanent" else ""
    # prepare.yml set the zone's target to ACCEPT and opened 8081/tcp to anywhere.
    assert "  target: default" in host.check_output(f"firewall-cmd {flag}--zone public --list-all").splitlines()
    # 7000 from anywhere; 2200: ansible_port, the docker connection having no SSH_CONNECTION.
    assert sorted(host.check_output(f"firewall-cmd {flag}--zone public --list-ports").split()) == ["2200/tcp", "7000/tcp"]
    assert host.check_output(f"firewall-cmd {flag}--zone public --list-rich-rules").splitlines() == [
        f'rule family="ipv4" source address="{ALLOWLIST}" port port="8081" protocol="tcp" accept'
    ]


def test_firewalld_state_file_lists_what_the_role_opened():
    state = json.loads(_host("fwlab-firewalld").file("/etc/frp/.firewall-state.json").content_string)
    assert state == {
        "zone": "public",
        "ports": ["7000/tcp"],
        "rich_rules": [f'rule family="ipv4" source address="{ALLOWLIST}" port port="8081" protocol="tcp" accept'],
    }


def test_firewalld_runs_enabled_and_ufw_stays_off():
    host = _host("fwlab-firewalld")
    assert host.service("firewalld").is_running
    assert host.service("firewalld").is_enabled
    assert host.check_output("firewall-cmd --state") == "running"
    assert "Status: inactive" in host.check_output("ufw status")
