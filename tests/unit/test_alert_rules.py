"""The collection's Prometheus alert rules, checked and unit-tested with promtool (tests/prometheus/).

promtool comes from Debian's prometheus package: tools/lab/setup.sh extracts it into the cache and
tools/ci/env.sh puts it on PATH. Without it these tests fail, naming the fix; they never skip.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "roles/tunnel_health/files/prometheus/lisyoen-frp-alerts.yml"
TESTS = sorted((ROOT / "tests/prometheus").glob("*.test.yml"))
ALERTS = {"FrpTunnelDown", "FrpTunnelHealthStale", "FrpsDown", "FrpNoClientLoggedIn", "FrpBackendOffline",
          "FrpCertificateExpiringSoon", "FrpCertificateExpired"}


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is not on PATH: run `tools/lab/setup.sh promtool` and source tools/ci/env.sh")
    return path


def run(promtool, *args, cwd=ROOT):
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def test_rules_are_valid(promtool):
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: %d rules found" % len(ALERTS) in result.stdout


def test_every_alert_is_unit_tested():
    assert TESTS, "no promtool test files in tests/prometheus"
    tested = set()
    for path in TESTS:
        tested |= set(re.findall(r"alertname: (\w+)", path.read_text()))
    names = set(re.findall(r"- alert: (\w+)", RULES.read_text()))
    assert names == ALERTS
    assert names <= tested, "alerts without a promtool test: %s" % sorted(names - tested)


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_promtool_rule_tests_pass(promtool, test_file):
    result = run(promtool, "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rule_tests_can_fail(promtool, tmp_path):
    # A FrpTunnelDown without its 2-minute grace must break the tests: they check timing, not just names.
    broken = tmp_path / "rules.yml"
    broken.write_text(RULES.read_text().replace("expr: lisyoen_frp_tunnel_up == 0\n        for: 2m",
                                                "expr: lisyoen_frp_tunnel_up == 0\n        for: 0m"))
    assert broken.read_text() != RULES.read_text()
    for test_file in TESTS:
        text = test_file.read_text().replace("../../roles/tunnel_health/files/prometheus/lisyoen-frp-alerts.yml",
                                             str(broken))
        (tmp_path / test_file.name).write_text(text)
    result = run(promtool, "test", "rules", *[str(tmp_path / t.name) for t in TESTS])
    assert result.returncode != 0, result.stdout
    assert "alertname: FrpTunnelDown, time: 1m30s" in result.stdout + result.stderr
