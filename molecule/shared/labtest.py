"""What the molecule scenarios' tests share: the inventory molecule wrote, ansible-playbook runs like molecule's, and
the PLAY RECAP counters. A plain module: each scenario's tests/conftest.py puts this folder on sys.path and binds
its scenario's folder (and its playbook timeout) to run_playbook."""

import os
import re
import subprocess
from pathlib import Path

import pytest


def inventory(scenario: str) -> str:
    """The inventory molecule wrote for the scenario (its folder, so group_vars beside it load too)."""
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        pytest.fail(f"MOLECULE_INVENTORY_FILE is not set: run these tests through `molecule verify -s {scenario}`")
    return str(Path(path).parent)


def run_playbook(scenario_dir: Path, playbook: str, *args: str, timeout: int = 300,
                 env: dict | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook with molecule's environment (ANSIBLE_CONFIG, collections path) against the lab only.

    playbook: a path relative to scenario_dir (the scenario's folder, named like the scenario), or absolute.
    """
    cmd = ["ansible-playbook", "-i", inventory(scenario_dir.name), str(scenario_dir / playbook), *args]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true", **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def recap(output: str) -> dict:
    """PLAY RECAP counters per host, summed over plays: {'roles-minipc': {'ok': 3, 'changed': 0, ...}}."""
    totals: dict = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        per_host = totals.setdefault(host, {})
        for key, value in re.findall(r"(\w+)=(\d+)", counters):
            per_host[key] = per_host.get(key, 0) + int(value)
    return totals
