"""Check mode on the converged lab: no change reported, and secrets never shown, even by --diff."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import DASHBOARD_PASSWORD, LAB_TOKEN, recap, run_playbook

NEW_TOKEN = "rotated-Tok\"en-\\-ü-7c1f-Hq4Vn8Ws2Kx6Lp0Zr3"


@pytest.fixture(scope="module")
def runs():
    # Both check runs at once: they only read the hosts.
    with ThreadPoolExecutor(max_workers=2) as pool:
        converged = pool.submit(run_playbook, "converge.yml", "--check", "--diff", "-v")
        rotated = pool.submit(
            run_playbook,
            "converge.yml", "--check", "--diff", "-v", "--limit", "roles-minipc",
            "-e", json.dumps({"frps_server_auth_token": NEW_TOKEN}),
        )
        return {"converged": converged.result(), "rotated": rotated.result()}


@pytest.fixture(scope="module")
def converged_check(runs):
    return runs["converged"]


def test_check_mode_on_converged_hosts_reports_no_change(converged_check):
    # molecule's check step proves check mode runs; this proves it predicts "nothing to do".
    result = converged_check
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    counters = recap(result.stdout)
    assert set(counters) == {"roles-minipc", "roles-spark"}, result.stdout[-2000:]
    for host, c in counters.items():
        assert c["failed"] == 0 and c["unreachable"] == 0, (host, c)
        assert c["changed"] == 0, (host, c, result.stdout[-4000:])


def test_converged_check_shows_no_secret(converged_check):
    out = converged_check.stdout + converged_check.stderr
    assert LAB_TOKEN not in out
    assert DASHBOARD_PASSWORD not in out


def test_token_change_is_detected_but_never_shown(runs):
    # A rotated token changes the token file (and so restarts frps): check mode must say so, and
    # neither -v nor --diff may print the new or the old token.
    result = runs["rotated"]
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert recap(result.stdout)["roles-minipc"]["changed"] >= 1, out[-3000:]
    assert NEW_TOKEN not in out
    assert LAB_TOKEN not in out
    assert "the output has been hidden" in out
