"""The frp token, the API key and the load-balancing group key never show: not in -vvv output, journald,
frp's logs, or readable files."""

import json
import re

import pytest

from conftest import run_playbook

LEAK_MSG = "a secret leaked into {}"


def secret_forms(secret):
    """Every way a dump may print the secret: as-is; its JSON, YAML and repr escapings (-vvv prints a token with
    both backslashes and quotes escaped, and non-ASCII as \\u escapes); and its longest run of ASCII letters and
    digits (the random part: found whatever the escaping around it)."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
             secret.replace("\\", "\\\\"), secret.replace('"', '\\"'),
             secret.replace("\\", "\\\\").replace('"', '\\"'), secret.replace("'", "''")}
    random_part = max(re.findall(r"[A-Za-z0-9]+", secret), key=len)
    assert len(random_part) >= 16, f"the lab secret's random part is too short to search for: {len(random_part)}"
    return forms | {random_part}


def test_secret_forms_catch_the_escaped_token(frp_token):
    # The search itself can fail: the token as -vvv prints it, with \\ and \" escaped, is caught.
    printed = json.dumps({"content": frp_token})
    assert frp_token not in printed
    assert any(form in printed for form in secret_forms(frp_token))


@pytest.fixture(scope="module")
def vvv_outputs():
    site = run_playbook("site.yml", "-vvv")
    verify = run_playbook("verify.yml", "-vvv")
    assert site.returncode == 0, site.stdout[-3000:]
    assert verify.returncode == 0, verify.stdout[-3000:]
    return {"site.yml -vvv": site.stdout + site.stderr, "verify.yml -vvv": verify.stdout + verify.stderr}


def test_secrets_absent_from_verbose_playbook_output(vvv_outputs, frp_token, api_key, lb_group_key):
    for name, out in vvv_outputs.items():
        assert len(out) > 10000, f"{name} printed too little to be a -vvv run"
        for secret in (frp_token, api_key, lb_group_key):
            for form in secret_forms(secret):
                assert form not in out, LEAK_MSG.format(name)


@pytest.mark.parametrize("name,unit", [("minipc", "frps"), ("spark", "frpc"), ("spark2", "frpc")])
def test_secrets_absent_from_journal_and_frp_logs(request, name, unit, frp_token, api_key, lb_group_key):
    host = request.getfixturevalue(name)
    journal = host.run("journalctl --no-pager -o cat").stdout
    logs = host.run("cat /var/log/frp/*.log").stdout
    assert unit in journal
    assert logs, "frp wrote no log under /var/log/frp"
    for secret in (frp_token, api_key, lb_group_key):
        for form in secret_forms(secret):
            assert form not in journal, LEAK_MSG.format(f"{name}'s journal")
            assert form not in logs, LEAK_MSG.format(f"{name}'s frp logs")


@pytest.mark.parametrize("name", ["minipc", "spark", "spark2"])
def test_no_world_readable_file_under_etc_frp(request, name):
    host = request.getfixturevalue(name)
    res = host.run("find /etc/frp -perm -o=r -type f")
    assert res.rc == 0
    assert res.stdout.strip() == "", res.stdout
