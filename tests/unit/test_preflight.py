# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of frps_server and frpc_client (each role's vars/main.yml, one task in tasks/preflight.yml) report
every problem at once, each message naming its variable, and pass good values. Two stages: frp_common's shared
checks, then the role's own; each fails once with all of its messages.

Run for real with ansible-playbook on localhost, the preflight only (it changes nothing). molecule/roles'
test_bad_input.py proves each message on real hosts through the whole role; this proves that several bad values
give several messages, including checks the argument specs stop before them there (a proxy type frp does not know).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
TOKEN = "Xk3-real-token-77-Qm3xK7pV0sLw9ZtR-8fa"
GOOD_PROXY = {"name": "llm-api", "type": "http", "local_port": 4000, "custom_domains": ["llm.local"]}

CASES = {
    "frpc-good": ("frpc_client", {"frpc_client_auth_token": TOKEN, "frpc_client_server_addr": "203.0.113.7",
                                  "frpc_client_proxies": [GOOD_PROXY]}, []),
    "frpc-several": ("frpc_client", {
        "frpc_client_auth_token": TOKEN, "frpc_client_server_addr": "http://203.0.113.7",
        "frpc_client_proxies": [GOOD_PROXY, dict(GOOD_PROXY, type="bogus", local_port=99999)],
    }, [
        "frpc_client_server_addr is 'http://203.0.113.7': give only an IP address or host name",
        "frpc_client_proxies[0] has the name 'llm-api': every proxy needs its own non-empty name",
        "frpc_client_proxies[1] ('llm-api') has type 'bogus': frp 0.65.0 knows tcp, udp, http",
        "frpc_client_proxies[1] ('llm-api'): local_port must be a port between 1 and 65535 (got '99999'",
    ]),
    "frps-good": ("frps_server", {"frps_server_auth_token": TOKEN}, []),
    # frp_common's shared checks run first (release, secrets, ports, TLS), then the role's own: each stage reports
    # all of its problems in one failed task.
    "frps-shared-several": ("frps_server", {
        "frps_server_auth_token": "CHANGE_ME", "frps_server_vhost_http_port": 7000,
    }, [
        "frps_server_auth_token still holds a placeholder",
        "frps_server_bind_port and frps_server_vhost_http_port are all 7000: each needs its own port.",
    ]),
    "frps-own-several": ("frps_server", {
        "frps_server_auth_token": TOKEN, "frps_server_allow_from": ["10.0.0.0/8", "not-a-network"],
        "frps_server_prometheus_enabled": True, "frps_server_user": "root",
    }, [
        "frps_server_user is 'root': give the name of a dedicated unprivileged account",
        "frps_server_prometheus_enabled needs frps_server_dashboard_enabled: true",
        "frps_server_allow_from has 'not-a-network': give IP addresses or CIDR networks",
    ]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_preflight_reports_every_problem_at_once(tmp_path, case):
    role, variables, messages = CASES[case]
    play = [{
        "name": f"Run the {role} checks",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": dict(variables, ansible_facts={"architecture": "x86_64", "os_family": "Debian"}, frp_archive_src=""),
        "tasks": [{"name": "Run the checks",
                   "ansible.builtin.include_role": {"name": f"lisyoen.frp.{role}", "tasks_from": "preflight.yml"}}],
    }]
    (tmp_path / "playbook.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="true",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(tmp_path / "playbook.yml")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    flat = " ".join(out.replace("''", "'").split())
    if not messages:
        assert proc.returncode == 0, out[-3000:]
        return
    assert proc.returncode == 2, out[-3000:]
    # One failed task, holding every message.
    assert flat.count("FAILED!") == 1, out[-3000:]
    for message in messages:
        assert message in flat, f"{message!r} missing from:\n{out[-3000:]}"
