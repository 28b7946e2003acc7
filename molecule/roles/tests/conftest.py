"""Helpers shared by the roles scenario's tests: the lab token and running playbooks like molecule does."""

import functools
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import labtest  # noqa: E402  (molecule/shared: inventory(), run_playbook() and recap(), shared with the https scenario)
from labtest import recap  # noqa: E402,F401

# Must equal lab_frp_token in ../molecule.yml: quotes, a backslash and non-ASCII on purpose.
LAB_TOKEN = "lab-tok\"en\\with'quotes-ß-🚀-Zq81vKp3TmX0wRb6"
DASHBOARD_USER = "lab"
DASHBOARD_PASSWORD = 'dash"pass\\ü'

SCENARIO_DIR = Path(__file__).resolve().parent.parent
inventory = functools.partial(labtest.inventory, SCENARIO_DIR.name)
run_playbook = functools.partial(labtest.run_playbook, SCENARIO_DIR, timeout=300)


def exposure(host, unit: str) -> float:
    """The overall exposure level `systemd-analyze security` gives the unit."""
    out = host.check_output(f"systemd-analyze security --no-pager {unit}")
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))
