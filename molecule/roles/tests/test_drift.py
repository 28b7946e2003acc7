"""One read, then writes only where the host differs: a no-change run writes nothing, a hand-made change is undone.

frp_common reads every folder and file it manages with one find and writes only what lisyoen.frp.drifted reports
(vars/main.yml lists them). These tests break the client's files by hand the ways an admin might, and prove the
next run puts each back, restarts frpc once, and then changes nothing again.
"""

import re
import time

import pytest
from conftest import LAB_TOKEN, recap, run_playbook

testinfra_hosts = ["ansible://roles-spark"]

# path -> the owner:group and mode the role gives it
MANAGED = {
    "/etc/frp": "root:root 755",
    "/etc/frp/tls": "root:root 755",
    "/var/log/frp": "frpc:frpc 750",
    "/usr/local/bin/frpc": "root:root 755",
    "/etc/systemd/system/frpc.service": "root:root 644",
    "/etc/frp/frpc.token": "root:frpc 640",
    "/etc/frp/frpc.toml": "root:frpc 640",
    "/etc/frp/tls/frpc.key": "root:frpc 640",
    "/etc/frp/tls/frpc.crt": "root:frpc 640",
    "/etc/frp/tls/ca.crt": "root:frpc 640",
}
# On a no-change run install.yml is skipped whole. configure.yml is included all the same in this scenario, which
# applies the role without site.yml's first play: the role then checks its certificate with tunnel_pki itself on
# every run, and each of its writes is skipped. Either way no write task does anything.
INSTALL_INCLUDE = "Install what is missing or differs (verified release, account, folders, binary, hardened unit)"
WRITE_TASKS = [
    "Create the configuration, TLS and log folders",
    "Install the frp program from the controller cache and the hardened systemd unit",
    "Write the auth token file and this host's private key, readable by the service group only",
    "Install the CA certificate and this host's certificate",
    "Write the config, checked by `frp verify` first",
]


def _state(host):
    """owner:group mode and sha1 of every managed path (folders: no sha1)."""
    out = {}
    for path in MANAGED:
        attrs = host.run(f"stat -c '%U:%G %a' {path}").stdout.strip() or "missing"
        digest = "" if host.file(path).is_directory else host.run(f"sha1sum {path}").stdout.split()[:1]
        out[path] = (attrs, digest)
    return out


def _main_pid(host):
    return int(host.check_output("systemctl show -p MainPID --value frpc.service"))


def _task_outcome(stdout, task):
    """The first result line after TASK [... : <task>] for roles-spark ('skipping', 'ok', 'changed')."""
    match = re.search(re.escape(task) + r"\].*?\n(skipping|ok|changed): \[roles-spark\]", stdout, re.S)
    assert match, f"task {task!r} not found in the output"
    return match.group(1)


@pytest.fixture(scope="module")
def before(host):
    return _state(host)


def test_the_role_gives_every_managed_path_its_owner_and_mode(host, before):
    assert {path: attrs for path, (attrs, _) in before.items()} == MANAGED


def test_a_no_change_run_writes_nothing(host, before):
    result = run_playbook("converge.yml", "--limit", "roles-spark")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result.stdout)["roles-spark"]["changed"] == 0, result.stdout[-3000:]
    assert _task_outcome(result.stdout, INSTALL_INCLUDE) == "skipping"
    for task in WRITE_TASKS:
        assert f": {task}]" not in result.stdout or _task_outcome(result.stdout, task) == "skipping", task
    assert _state(host) == before


def test_hand_made_changes_are_undone_and_frpc_restarted_once(host, before):
    pid = _main_pid(host)
    host.run_test(
        "printf '\\n# edited by hand\\n' >> /etc/frp/frpc.toml"
        " && chmod 0644 /etc/frp/tls/frpc.key"
        " && chown root:root /etc/frp/frpc.token"
        " && chmod 0777 /var/log/frp"
        " && sed -i 's/^RestartSec=.*/RestartSec=30s/' /etc/systemd/system/frpc.service"
        " && rm /etc/frp/tls/ca.crt"
    )
    assert _state(host) != before

    result = run_playbook("converge.yml", "--limit", "roles-spark")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert LAB_TOKEN not in out
    # Both halves ran, each write task with them (the no-change test's names are the real ones).
    for task in WRITE_TASKS:
        assert f": {task}]" in out, task
    # The folder, the unit, the token and key (one task), the CA certificate, the config, and the restart.
    assert out.count("RUNNING HANDLER [lisyoen.frp.frpc_client : Restart frpc]") == 1
    assert recap(result.stdout)["roles-spark"]["changed"] >= 6, out[-3000:]
    assert _state(host) == before

    deadline = time.monotonic() + 20
    while _main_pid(host) in (0, pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _main_pid(host) not in (0, pid), "frpc was not restarted"
    assert host.check_output("systemctl show -p RestartUSec --value frpc.service") == "1s"


def test_the_run_after_the_repair_changes_nothing(host, before):
    result = run_playbook("converge.yml", "--limit", "roles-spark")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result.stdout)["roles-spark"]["changed"] == 0, result.stdout[-3000:]
    assert _state(host) == before
