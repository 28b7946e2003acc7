"""Check mode, bad input, the exposure switch's mapping, and verify.yml over HTTPS, against the converged lab."""

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import EPHEMERAL, FRESH, FRESH_CHECK, host, inventory, recap, run_playbook

LIVE = ["/etc/nginx/conf.d/https-front.conf", "/etc/https-front/certs/10.213.40.10.crt", "/etc/frp/frps.toml"]


def snapshot():
    minipc = host("hx-minipc")
    return {p: minipc.check_output(f"stat -c '%Y %s' {p}; sha256sum {p}") for p in LIVE} | {
        "nginx": minipc.check_output("systemctl show -p ExecMainPID -p ActiveEnterTimestamp nginx"),
        "letsencrypt": minipc.check_output("ls -R /etc/letsencrypt/archive")}


@pytest.fixture(scope="module")
def runs():
    """This file's playbook runs against the converged lab, all at once: check mode, the bad inputs and verify.yml only
    read it (the snapshots before and after all of them prove it), and each waits mostly on the containers."""
    before = snapshot()
    cases = CASES + [_files_key_mismatch()]
    jobs = {"check": ("side.yml", "--check", "--diff"), "verify": ("../../playbooks/verify.yml",)}
    jobs.update((c[0], ("side.yml", "-e", json.dumps(c[1]))) for c in cases)
    with ThreadPoolExecutor(max_workers=5) as pool:
        done = dict(zip(jobs, pool.map(lambda args: run_playbook(*args), jobs.values())))
    return {"before": before, "after": snapshot(), "cases": cases, "runs": done}


def test_check_mode_changes_nothing(runs):
    run = runs["runs"]["check"]
    assert run.returncode == 0, run.stdout[-3000:]
    assert recap(run.stdout)["hx-minipc"]["changed"] == 0, run.stdout[-3000:]
    assert runs["after"] == runs["before"]


def test_check_mode_on_a_fresh_host(fresh_check):
    """site.yml (what the scenario converges with) in check mode on a host never converged (conftest's FRESH, run
    alongside test_https.py): no failure, and nothing changed on it, though check mode reports what a run would do."""
    fresh_check.join(timeout=400)
    run, before, after, touched = (FRESH_CHECK.get(k) for k in ("run", "before", "after", "touched"))
    assert run is not None, FRESH_CHECK
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counters = recap(run.stdout)
    assert set(counters) == {FRESH}, counters
    assert counters[FRESH]["failed"] == 0 and counters[FRESH]["changed"] >= 10, counters
    for task in ("lisyoen.frp.frps_server : ", "lisyoen.frp.https_front : Render the nginx config",
                 "lisyoen.frp.https_front : Request the certificates", "lisyoen.frp.tunnel_health : "):
        assert f"TASK [{task}" in run.stdout, task  # each play really ran on the fresh host
    assert after == before
    assert touched == "", touched


# (id, extra vars, text the failure must contain)
CASES = [
    ("acme-without-email", {"llm_https_mode": "acme", "llm_https_domain": "llm.hx-lab.test", "llm_https_acme_email": ""},
     "set https_front_acme_email"),
    ("acme-without-domain", {"llm_https_mode": "acme", "llm_https_domain": ""}, "llm_https_domain"),
    ("files-without-key", {"llm_https_mode": "files", "vault_https_key": ""}, "https_front_files_key"),
    ("domain-not-hostname", {"llm_https_domain": "llm_api.example.org!"}, "'llm_api.example.org!' in server_names"),
    ("rate-zero", {"llm_rate_per_second": 0}, "https_front_rate_per_second is 0"),
    ("allowlist-not-cidr", {"llm_allow_from": ["10.213.40.0/26", "10.0.0.300"]}, "https_front_allow_from has '10.0.0.300'"),
    ("allowlist-name", {"llm_allow_from": ["home-pc"]}, "https_front_allow_from has 'home-pc'"),
]


def _files_key_mismatch():
    other = (EPHEMERAL / "lab-pki" / "other.key").read_text()
    return ("files-key-mismatch", {"vault_https_key": other}, "https_front_files_key does not match https_front_files_cert")


@pytest.mark.parametrize("case", [c[0] for c in CASES] + ["files-key-mismatch"])
def test_bad_input_fails_before_any_change(runs, case):
    expected = dict((c[0], c[2]) for c in runs["cases"])[case]
    run = runs["runs"][case]
    assert run.returncode != 0, run.stdout[-2000:]
    text = re.sub(r"\s+", " ", run.stdout + run.stderr)
    assert expected in text, run.stdout[-2000:]
    assert recap(run.stdout)["hx-minipc"]["changed"] == 0


def test_bad_input_left_the_host_alone(runs):
    assert runs["after"] == runs["before"]


@pytest.mark.parametrize("exposure,bind", [("public", ""), ("lan", ""), ("off", "127.0.0.1")])
def test_exposure_switch_maps_onto_frps(exposure, bind):
    """The switch in site.yml, as the real mapping turns it into frps_server's variables (not applied)."""
    res = subprocess.run(["ansible", "-i", inventory(), "hx-minipc", "-m", "ansible.builtin.debug", "-a",
                          "msg={{ [frps_server_proxy_bind_addr, frps_server_allow_ports_from, frps_server_allow_from,"
                          " frps_server_firewall_extra_ports, frps_server_firewall_open_ports] | to_json }}",
                          "-e", json.dumps({"llm_plain_exposure": exposure, "llm_home_lan": ["192.168.50.0/24"]})],
                         capture_output=True, text=True, timeout=60, check=False,
                         env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"))
    assert res.returncode == 0, res.stdout + res.stderr
    values = json.loads(json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["hx-minipc"]["msg"])
    assert values[0] == bind
    assert values[1] == (["192.168.50.0/24"] if exposure == "lan" else [])
    assert values[3] == [8443] and values[4] == [80]


def test_verify_playbook_over_https(runs):
    run = runs["runs"]["verify"]
    assert run.returncode == 0, run.stdout[-3000:]
    text = run.stdout
    assert "https://10.213.40.10:8443" in text and "http://10.213.40.10:8081" in text, text[-3000:]
    assert "curl --cacert" in text and "SSL_CERT_FILE" in text, text[-3000:]
    assert "cert_days_left" in text or "days left" in text, text[-3000:]
