"""The frp token and the API key never show: not in -vvv output, journald, frp's logs, or readable files."""

import pytest

from conftest import run_playbook

LEAK_MSG = "a secret leaked into {}"


@pytest.fixture(scope="module")
def vvv_outputs():
    site = run_playbook("site.yml", "-vvv")
    verify = run_playbook("verify.yml", "-vvv")
    assert site.returncode == 0, site.stdout[-3000:]
    assert verify.returncode == 0, verify.stdout[-3000:]
    return {"site.yml -vvv": site.stdout + site.stderr, "verify.yml -vvv": verify.stdout + verify.stderr}


def test_secrets_absent_from_verbose_playbook_output(vvv_outputs, frp_token, api_key):
    for name, out in vvv_outputs.items():
        assert len(out) > 10000, f"{name} printed too little to be a -vvv run"
        for secret in (frp_token, api_key):
            assert secret not in out, LEAK_MSG.format(name)
        # Also the escaped forms a TOML or JSON dump would carry.
        assert frp_token.replace("\\", "\\\\") not in out, LEAK_MSG.format(name)
        assert frp_token.replace('"', '\\"') not in out, LEAK_MSG.format(name)


@pytest.mark.parametrize("name,unit", [("minipc", "frps"), ("spark", "frpc")])
def test_secrets_absent_from_journal_and_frp_logs(request, name, unit, frp_token, api_key):
    host = request.getfixturevalue(name)
    journal = host.run("journalctl --no-pager -o cat").stdout
    logs = host.run("cat /var/log/frp/*.log").stdout
    assert unit in journal
    assert logs, "frp wrote no log under /var/log/frp"
    for secret in (frp_token, api_key):
        assert secret not in journal
        assert secret not in logs


@pytest.mark.parametrize("name", ["minipc", "spark"])
def test_no_world_readable_file_under_etc_frp(request, name):
    host = request.getfixturevalue(name)
    res = host.run("find /etc/frp -perm -o=r -type f")
    assert res.rc == 0
    assert res.stdout.strip() == "", res.stdout
