"""Faults the tunnel must survive with no manual action, or whose cause the probe names.

Each test breaks one thing, measures how long until the tunnel serves /v1/models again, and
restores the lab. The measured recovery times go to <ephemeral dir>/recovery.json (make bench
reads them) and into the test output.

They run on the user's setup of today, one office server: spark2 leaves frp_clients for this module
(test_failover.py covers several servers), which also proves that a single-server inventory gets
exactly the proxy of before and converges with changed=0 on a second run.
"""

import json
import os
import pathlib
import re
import subprocess
import time

import pytest

from conftest import api_unit, cut_off, lab_host, power_off, power_on, run_playbook, serving, single_server_mode, wait_serving

RESULTS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")) / "recovery.json"


@pytest.fixture(scope="module", autouse=True)
def single_server(spark):
    with single_server_mode(runs=2) as (inv, runs):
        recap = runs[1].stdout.split("PLAY RECAP")[-1]
        assert re.search(r"^spark\s+:.* changed=0 ", recap, re.M), recap
        conf = spark.file("/etc/frp/frpc.toml").content_string
        assert 'name = "llm-api"\n' in conf, conf
        assert "loadBalancer" not in conf
        assert "healthCheck" not in conf
        yield inv


def record(name, seconds):
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = round(seconds, 2)
    RESULTS.write_text(json.dumps(data, indent=2))
    print(f"recovery after {name}: {seconds:.2f} s")


@pytest.fixture(autouse=True)
def tunnel_serves_before(api_key):
    wait_serving(api_key, 60)


def test_frps_restart(minipc, api_key):
    assert minipc.run("systemctl restart frps").rc == 0
    took = wait_serving(api_key, 30)
    record("frps_restart", took)
    assert took < 10


def test_frpc_sigkill(spark, api_key):
    before = spark.run("systemctl show -p MainPID --value frpc").stdout.strip()
    assert spark.run("systemctl kill -s SIGKILL frpc").rc == 0
    took = wait_serving(api_key, 30)
    record("frpc_sigkill", took)
    after = spark.run("systemctl show -p MainPID --value frpc").stdout.strip()
    assert after not in ("", "0", before), "systemd did not restart frpc"
    assert took < 10


def test_spark_cut_off_for_30s(api_key):
    with cut_off("spark"):
        time.sleep(2)
        assert not serving(api_key, timeout=2), "the tunnel still served while spark was cut off"
        time.sleep(28)
    took = wait_serving(api_key, 60)
    record("outage_30s", took)
    assert took < 30


@pytest.mark.parametrize("name", ["spark", "minipc"])
def test_host_restart_brings_services_back(request, name, api_key):
    start = time.monotonic()
    subprocess.run(["docker", "restart", "-t", "10", name], check=True, capture_output=True)
    took = wait_serving(api_key, 90)
    record(f"{name}_container_restart", time.monotonic() - start)
    host = request.getfixturevalue(name)
    unit = "frps" if name == "minipc" else "frpc"
    assert host.service(unit).is_enabled
    assert host.service(unit).is_running
    assert took < 60


def test_llm_api_stopped_is_diagnosed(spark, api_key, single_server):
    unit = api_unit(spark)  # LiteLLM when the lab runs it on the API port: what frpc connects to
    assert spark.run(f"systemctl stop {unit}").rc == 0
    try:
        res = run_playbook("verify.yml", "-e", "verify_wait_timeout=0", inventory=single_server)
        assert res.returncode != 0
        # Through the tcp proxy frpc hangs up when it cannot reach the API; the message says so.
        assert "connection_closed" in res.stdout, res.stdout[-3000:]
        assert "cannot reach the local API" in res.stdout
    finally:
        assert spark.run(f"systemctl start {unit}").rc == 0
    record("llm_api_restart", wait_serving(api_key, 90))


def test_wrong_token_on_frpc_is_diagnosed_and_site_yml_repairs_it(spark, api_key, single_server):
    token_file = "/etc/frp/frpc.token"
    assert f'auth.tokenSource.file.path = "{token_file}"' in spark.file("/etc/frp/frpc.toml").content_string
    assert spark.run(f"printf wrong-token > {token_file} && systemctl restart frpc").rc == 0
    time.sleep(3)
    res = run_playbook("verify.yml", "-e", "verify_wait_timeout=0", inventory=single_server)
    assert res.returncode != 0
    # frpc is not logged in, so frps has closed the API port: the published port's proxy hangs up.
    # Docker's port forwarder in front of minipc resets the connection, a bare frps refuses it.
    assert any(d in res.stdout for d in ("connection_closed", "connection_refused", "connection_reset")), res.stdout[-3000:]
    assert "journalctl -u frpc" in res.stdout
    journal = spark.run("journalctl -u frpc --no-pager -o cat -n 50").stdout + spark.run("tail -n 50 /var/log/frp/frpc.log").stdout
    assert "token" in journal.lower(), journal[-2000:]
    repair = run_playbook("site.yml", "--limit", "spark", inventory=single_server)
    assert repair.returncode == 0, repair.stdout[-3000:]
    assert "changed=0" not in repair.stdout.split("PLAY RECAP")[-1], "site.yml did not notice the drift"
    record("wrong_token_repaired_by_site_yml", wait_serving(api_key, 30))


def test_office_power_cut(minipc, api_key):
    """Spark loses power: no FIN or RST reaches minipc (the router answers nothing for the old session),
    Spark boots 20 s later, and the tunnel must serve within 10 s of frpc and the API both running there
    (the lab's real LiteLLM takes 10-45 s to start: that is the API's boot, not the tunnel's recovery)."""
    peers = minipc.check_output("ss -Htn state established '( sport = :7000 )' | awk '{print $4}'").split()
    assert peers, "no frpc session on minipc:7000"
    rules = []
    for peer in peers:
        ip, port = peer.rsplit(":", 1)
        ip = ip.strip("[]").removeprefix("::ffff:")  # frps listens on both families: v4-mapped peers
        rules += [f"INPUT -s {ip} -p tcp --sport {port} --dport 7000 -j DROP",
                  f"OUTPUT -d {ip} -p tcp --dport {port} --sport 7000 -j DROP"]
    for rule in rules:
        assert minipc.run(f"iptables -I {rule}").rc == 0
    try:
        power_off("spark")
        time.sleep(20)
        power_on("spark")
        spark = lab_host("spark")
        deadline = time.monotonic() + 60
        while spark.run("systemctl is-active frpc").stdout.strip() != "active":
            assert time.monotonic() < deadline, "frpc did not start after the boot"
            time.sleep(0.05)
        deadline = time.monotonic() + 90
        while spark.run("curl -sf -o /dev/null --max-time 2 http://127.0.0.1:4000/health/liveliness").rc != 0:
            assert time.monotonic() < deadline, "the API on spark did not start after the boot"
            time.sleep(0.1)
        took = wait_serving(api_key, 60)
    finally:
        for rule in rules:
            minipc.run(f"iptables -D {rule}")
    record("power_cut_from_frpc_start", took)
    assert took < 10
