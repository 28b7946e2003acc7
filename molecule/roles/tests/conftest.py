"""Helpers shared by the roles scenario's tests: the lab token and running playbooks like molecule does."""

import os
import re
import subprocess
from pathlib import Path

import pytest

# Must equal lab_frp_token in ../molecule.yml: quotes, a backslash and non-ASCII on purpose.
LAB_TOKEN = "lab-tok\"en\\with'quotes-ß-🚀-Zq81vKp3TmX0wRb6"
DASHBOARD_USER = "lab"
DASHBOARD_PASSWORD = 'dash"pass\\ü'

SCENARIO_DIR = Path(__file__).resolve().parent.parent


def inventory() -> str:
    """The inventory molecule wrote for this scenario (its folder, so group_vars beside it load too)."""
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run these tests through `molecule verify -s roles`")
    return str(Path(path).parent)


def run_playbook(playbook: str, *args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook with molecule's environment (ANSIBLE_CONFIG, collections path) against the lab only.

    playbook: a path relative to the scenario, or absolute.
    """
    cmd = ["ansible-playbook", "-i", inventory(), str(SCENARIO_DIR / playbook), *args]
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


def exposure(host, unit: str) -> float:
    """The overall exposure level `systemd-analyze security` gives the unit."""
    out = host.check_output(f"systemd-analyze security --no-pager {unit}")
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))
