"""Bad input fails before anything changes, with a message that names the variable.

Each case is one play that applies one role to one lab host with good variables except one. Cases run
against a host where that role is installed (its files must stay byte- and mtime-identical, its
service must not restart) and against the other host, where that role was never applied (nothing
of it may appear there). The hosts are snapshotted before and after all cases.
"""

import json
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import testinfra
from conftest import run_playbook

ARCHIVE_DIR = os.environ.get("LAB_FRP_ARCHIVE_DIR", "")
ARCHIVE = f"{ARCHIVE_DIR}/frp_0.65.0_linux_amd64.tar.gz"
GOOD_TOKEN = "good-token-4f9a2c7e1b8d"

GOOD = {
    "frps_server": {"frps_server_archive_src": ARCHIVE, "frps_server_auth_token": GOOD_TOKEN},
    "frpc_client": {
        "frpc_client_archive_src": ARCHIVE,
        "frpc_client_server_addr": "minipc",
        "frpc_client_auth_token": GOOD_TOKEN,
    },
}


def _proxy(**changes):
    proxy = {"name": "llm-api", "type": "http", "local_port": 4000, "custom_domains": ["llm.local"]}
    proxy.update(changes)
    return [{k: v for k, v in proxy.items() if v is not None}]


# (id, role, host, bad variables, raw YAML appended for values that need !unsafe, text the message must contain)
CASES = [
    ("token-empty", "frps_server", "spark", {"frps_server_auth_token": ""}, "", "frps_server_auth_token is empty"),
    ("token-CHANGE_ME", "frps_server", "minipc", {"frps_server_auth_token": "CHANGE_ME"}, "",
     "frps_server_auth_token still holds a placeholder"),
    ("token-changeme", "frps_server", "spark", {"frps_server_auth_token": "changeme"}, "",
     "frps_server_auth_token still holds a placeholder"),
    ("token-angle-brackets", "frps_server", "minipc", {"frps_server_auth_token": "<your frp token>"}, "",
     "frps_server_auth_token still holds a placeholder"),
    ("token-shell-var", "frps_server", "spark", {"frps_server_auth_token": "${FRP_TOKEN}"}, "",
     "frps_server_auth_token still holds a placeholder"),
    ("token-go-template", "frps_server", "minipc", {}, "frps_server_auth_token: !unsafe 'abc{{def-9f8e7d'\n",
     "frps_server_auth_token contains a double opening brace"),
    ("token-trailing-newline", "frps_server", "spark", {"frps_server_auth_token": "Xk3-real-token-77\n"}, "",
     "frps_server_auth_token starts or ends with whitespace"),
    ("bind-port-range", "frps_server", "minipc", {"frps_server_bind_port": 70000}, "", "frps_server_bind_port"),
    ("bind-port-type", "frps_server", "spark", {"frps_server_bind_port": "seven"}, "", "frps_server_bind_port"),
    ("ports-equal", "frps_server", "minipc", {"frps_server_vhost_http_port": 7000}, "",
     "frps_server_bind_port and frps_server_vhost_http_port are all 7000"),
    ("vhost-port-zero", "frps_server", "spark", {"frps_server_vhost_http_port": 0}, "", "frps_server_vhost_http_port"),
    ("dashboard-no-password", "frps_server", "minipc",
     {"frps_server_dashboard_enabled": True, "frps_server_dashboard_user": "admin", "frps_server_dashboard_password": ""}, "",
     "frps_server_dashboard_password is empty"),
    ("archive-missing", "frps_server", "spark", {"frps_server_archive_src": "/nonexistent/frp_0.65.0_linux_amd64.tar.gz"},
     "", "frps_server_archive_src '/nonexistent/frp_0.65.0_linux_amd64.tar.gz' is not a file"),
    ("archive-wrong-arch", "frps_server", "minipc",
     {"frps_server_archive_src": f"{ARCHIVE_DIR}/frp_0.65.0_linux_arm64.tar.gz"}, "",
     "needs the release archive frp_0.65.0_linux_amd64.tar.gz"),
    ("archive-wrong-sha256", "frps_server", "spark", {"frps_server_archive_sha256": "0" * 64}, "",
     "frps_server_archive_sha256"),
    ("archive-bad-checksum-file", "frps_server", "minipc", "BAD_CHECKSUM_FILE", "", "sha256 mismatch"),
    ("version-with-v", "frps_server", "spark", {"frps_server_version": "v0.65.0"}, "", "frps_server_version"),
    ("firewall-not-bool", "frps_server", "minipc", {"frps_server_firewall": "maybe"}, "", "frps_server_firewall"),
    ("allow-from-garbage", "frps_server", "spark", {"frps_server_vhost_http_allow_from": ["my office"]}, "",
     "frps_server_vhost_http_allow_from"),
    ("server-addr-empty", "frpc_client", "minipc", {"frpc_client_server_addr": ""}, "", "frpc_client_server_addr"),
    ("server-addr-url", "frpc_client", "spark", {"frpc_client_server_addr": "http://minipc:7000"}, "",
     "frpc_client_server_addr"),
    ("server-addr-placeholder", "frpc_client", "minipc", {"frpc_client_server_addr": "CHANGE_ME"}, "",
     "frpc_client_server_addr"),
    ("client-token-vault-name", "frpc_client", "spark", {"frpc_client_auth_token": "vault_frp_auth_token"}, "",
     "frpc_client_auth_token still holds a placeholder"),
    ("client-token-empty", "frpc_client", "minipc", {"frpc_client_auth_token": ""}, "", "frpc_client_auth_token is empty"),
    ("server-port-zero", "frpc_client", "spark", {"frpc_client_server_port": 0}, "", "frpc_client_server_port"),
    ("server-port-range", "frpc_client", "minipc", {"frpc_client_server_port": 65536}, "", "frpc_client_server_port"),
    ("proxies-empty", "frpc_client", "spark", {"frpc_client_proxies": []}, "", "frpc_client_proxies is empty"),
    ("proxy-names-duplicate", "frpc_client", "minipc", {"frpc_client_proxies": _proxy() + _proxy(local_port=4001)}, "",
     "frpc_client_proxies[0] has the name 'llm-api'"),
    ("proxy-name-empty", "frpc_client", "spark", {"frpc_client_proxies": _proxy(name="")}, "",
     "frpc_client_proxies[0] has the name ''"),
    ("proxy-type-unknown", "frpc_client", "minipc", {"frpc_client_proxies": _proxy(type="htttp")}, "",
     "frpc_client_proxies"),
    ("proxy-local-port-range", "frpc_client", "spark", {"frpc_client_proxies": _proxy(local_port=70000)}, "",
     "frpc_client_proxies[0] ('llm-api'): local_port"),
    ("proxy-http-no-domain", "frpc_client", "minipc", {"frpc_client_proxies": _proxy(custom_domains=None)}, "",
     "frpc_client_proxies[0] ('llm-api') is of type http"),
    ("proxy-unknown-key", "frpc_client", "spark", {"frpc_client_proxies": _proxy(local_prot=4000)}, "",
     "frpc_client_proxies"),
    ("proxy-go-template", "frpc_client", "minipc", {},
     "frpc_client_proxies:\n  - {name: llm-api, type: http, local_port: 4000, custom_domains: [!unsafe 'llm{{.local']}\n",
     "frpc_client_proxies[0] ('llm-api') has a value containing a double opening brace"),
    ("proxy-health-no-path", "frpc_client", "spark", {"frpc_client_proxies": _proxy(health_check={"type": "http"})}, "",
     "frpc_client_proxies[0] ('llm-api') has an http health_check"),
]

SNAPSHOT = r"""
for f in /etc/frp /etc/frp/* /usr/local/bin/frps /usr/local/bin/frpc /etc/systemd/system/frps.service \
         /etc/systemd/system/frpc.service /var/log/frp; do
  [ -e "$f" ] || continue
  stat -c '%n %y %a %U %G %s' "$f"
  [ -f "$f" ] && sha256sum "$f"
done
getent passwd frps frpc; getent group frps frpc
ufw status verbose
systemctl show -p Id -p ActiveEnterTimestamp -p MainPID -p NRestarts frps.service frpc.service
true
"""


def _host(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _snapshot():
    return {name: _host(name).check_output(SNAPSHOT) for name in ("minipc", "spark")}


def _bad_checksum_dir(tmp):
    # A real archive next to a checksum file that lists a different sha256 for it.
    folder = Path(tmp) / "bad-checksums"
    folder.mkdir()
    (folder / "frp_0.65.0_linux_amd64.tar.gz").write_bytes(Path(ARCHIVE).read_bytes())
    (folder / "frp_sha256_checksums.txt").write_text(f"{'1' * 64}  frp_0.65.0_linux_amd64.tar.gz\n")
    return {"frps_server_archive_src": str(folder / "frp_0.65.0_linux_amd64.tar.gz")}


def _play(tmp, case):
    """One play per case: the good variables plus the bad one as play vars (they beat the inventory)."""
    case_id, role, host, bad, raw_yaml, _ = case
    if bad == "BAD_CHECKSUM_FILE":
        bad = _bad_checksum_dir(tmp)
    variables = dict(GOOD[role], **bad)
    raw_keys = re.findall(r"^(\w+):", raw_yaml, re.M)
    lines = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in variables.items() if k not in raw_keys]
    # Values that must reach the role untemplated are given raw, with !unsafe.
    lines += [f"    {line}" for line in raw_yaml.splitlines()]
    return f"""
- name: {json.dumps(f"bad input {case_id}")}
  hosts: {host}
  become: true
  gather_facts: false
  vars:
{chr(10).join(lines)}
  tasks:
    - name: Apply the role with the bad variable
      block:
        - name: Apply lisyoen.frp.{role}
          ansible.builtin.include_role:
            name: lisyoen.frp.{role}
        - name: Report success
          ansible.builtin.debug:
            msg: {{case: {case_id}, outcome: succeeded}}
      rescue:
        - name: Report the failure
          ansible.builtin.debug:
            msg:
              case: {case_id}
              outcome: failed
              task: "{{{{ ansible_failed_task.name }}}}"
              # A failed loop says "One or more items failed"; the items carry the messages.
              message: >-
                {{{{ ([ansible_failed_result.msg | default('')]
                     + (ansible_failed_result.results | default([]) | selectattr('failed', 'defined')
                        | selectattr('failed') | map(attribute='msg') | list)) | join(' ') }}}}
"""


def _run_host(tmp, host):
    """All cases for one host, as consecutive plays of one ansible-playbook run (JSON output)."""
    cases = [c for c in CASES if c[2] == host]
    playbook = Path(tmp) / f"bad_input_{host}.yml"
    # Facts once, so that each case costs only its own checks.
    plays = [f"- name: Gather facts\n  hosts: {host}\n  gather_facts: true\n  tasks: []\n"]
    playbook.write_text("---\n" + "".join(plays + [_play(tmp, c) for c in cases]))
    result = run_playbook(str(playbook), timeout=300, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(result.stdout)
    reports = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] in ("Report success", "Report the failure"):
                msg = task["hosts"][host]["msg"]
                reports[msg["case"]] = msg
    return reports, data["stats"][host]


@pytest.fixture(scope="module")
def outcome():
    assert os.path.isfile(ARCHIVE), f"LAB_FRP_ARCHIVE_DIR does not hold the lab archive: {ARCHIVE}"
    before = _snapshot()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(["minipc", "spark"], pool.map(lambda h: _run_host(tmp, h), ["minipc", "spark"])))
    after = _snapshot()
    reports = {case: report for host_reports, _ in runs.values() for case, report in host_reports.items()}
    stats = {host: host_stats for host, (_, host_stats) in runs.items()}
    return {"before": before, "after": after, "reports": reports, "stats": stats}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_naming_the_variable(outcome, case):
    case_id, _, _, _, _, expected = case
    report = outcome["reports"].get(case_id)
    assert report, f"{case_id}: no report (the play did not reach the role)"
    assert report["outcome"] == "failed", f"{case_id}: the role accepted the bad input"
    # Compare with whitespace collapsed: messages are folded YAML.
    message = " ".join(report["message"].split())
    assert " ".join(expected.split()) in message, f"{case_id}: {report['task']!r} said {message!r}"


@pytest.mark.parametrize("name", ["minipc", "spark"])
def test_bad_input_runs_changed_nothing(outcome, name):
    # Every case failed before its first change: the whole run reports no change on the host.
    stats = outcome["stats"][name]
    assert stats["changed"] == 0, stats
    assert stats["rescued"] == len([c for c in CASES if c[2] == name]), stats


@pytest.mark.parametrize("name", ["minipc", "spark"])
def test_bad_input_left_files_account_and_service_untouched(outcome, name):
    assert outcome["after"][name] == outcome["before"][name]


def test_never_installed_roles_left_no_trace(outcome):
    # frps_server's bad cases ran on spark and frpc_client's on minipc, where those roles never ran.
    spark, minipc = _host("spark"), _host("minipc")
    for host, prog in ((spark, "frps"), (minipc, "frpc")):
        assert not host.user(prog).exists
        assert not host.group(prog).exists
        assert not host.file(f"/usr/local/bin/{prog}").exists
        assert not host.file(f"/etc/frp/{prog}.toml").exists
        assert not host.file(f"/etc/frp/{prog}.token").exists
        assert not host.file(f"/etc/systemd/system/{prog}.service").exists
    assert "Status: inactive" in spark.check_output("ufw status"), "frps_server's firewall never ran on spark"
