# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lisyoen.frp.frp_common is internal: included by anything but frps_server or frpc_client, every entry point fails
at its first task with a message saying what to apply instead, and changes nothing.

The check is no task of its own: vars/main.yml's _frp_common_role is undefined, with that message as its hint, when
no caller is in ansible_parent_role_names. Run for real with ansible-playbook, on localhost only.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
HINT = "lisyoen.frp.frp_common is internal to the collection: apply lisyoen.frp.frps_server or lisyoen.frp.frpc_client"

PLAYBOOK = """\
- name: Include one entry point of frp_common from a play
  hosts: localhost
  gather_facts: false
  vars:
    # What the entry points read first, as a user might set them by hand.
    frp_common_architecture: x86_64
    frp_archive_src: ""
  tasks:
    - name: Include frp_common
      ansible.builtin.include_role:
        name: {role}
        tasks_from: {entry}
"""


@pytest.mark.parametrize("entry", ["preflight.yml", "deploy.yml", "service.yml"])
@pytest.mark.parametrize("role", ["lisyoen.frp.frp_common"])
def test_an_entry_point_included_from_a_play_fails_naming_the_roles_to_apply(tmp_path, role, entry):
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(PLAYBOOK.format(role=role, entry=entry))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="true",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(playbook)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    # Folded over lines by the output: compare with the whitespace squeezed.
    assert HINT in " ".join(out.split()), out[-3000:]
    assert "changed=0" in out and "failed=1" in out, out[-3000:]
