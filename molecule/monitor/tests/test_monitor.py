"""The health timer and the alert rules on real containers.

Self-contained: it needs an frps host (group frp_servers) converged with lisyoen.frp.tunnel_health and
frps' dashboard + /metrics on 127.0.0.1:7500, an frpc host (group frp_clients), and the stand-in API on
the frpc host as the unit lab-llm-api.service. It starts what else it needs itself on the frps host: a
webhook receiver on 127.0.0.1:18599 (tunnel_health_webhook_url must point at it) and Debian's Prometheus
scraping frps and the timer's textfile with the collection's rules (their `for` shortened to seconds).

Probes are triggered with `systemctl start lisyoen-frp-health.service` instead of waiting for the timer.
Assertions are loose on timing (a noisy 2-core machine) and strict on behaviour.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import testinfra
import yaml

UNIT = "lisyoen-frp-health"
STATE = "/var/lib/lisyoen-frp-health/state.json"
CONFIG = "/etc/lisyoen-frp/tunnel-health.json"
API_UNIT = "lab-llm-api"
WEBHOOK_LOG = "/var/lib/lab-webhook/events.jsonl"
WEBHOOK_SECRET = "lab-webhook-secret-5d1e"     # the path part of tunnel_health_webhook_url in molecule.yml
SCENARIO_DIR = Path(__file__).resolve().parent.parent
ROOT = SCENARIO_DIR.parent.parent
RULES = ROOT / "roles/tunnel_health/files/prometheus/lisyoen-frp-alerts.yml"
# Prometheus in the lab scrapes and evaluates every second; alerts hold for 3 s instead of minutes.
LAB_FOR = "3s"

WEBHOOK_RECEIVER = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            event = json.loads(body)
        except ValueError:
            event = {"unparsed": body.decode("utf-8", "replace")}
        with open(sys.argv[1], "a") as log:
            log.write(json.dumps({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                  "event": event}) + "\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", 18599), Hook).serve_forever()
'''


def _inventory():
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run these tests through `molecule verify -s monitor`")
    return str(Path(path).parent)


def _group_host(group):
    hosts = testinfra.get_hosts([f"ansible://{group}"], ansible_inventory=_inventory())
    assert hosts, f"no host in group {group}"
    return hosts[0]


@pytest.fixture(scope="module")
def server():
    return _group_host("frp_servers")


@pytest.fixture(scope="module")
def client():
    return _group_host("frp_clients")


def put_file(host, path, text, mode="0644"):
    data = base64.b64encode(text.encode()).decode()
    host.check_output(f"mkdir -p {os.path.dirname(path)} && echo {data} | base64 -d > {path} && chmod {mode} {path}")


def state(server):
    return json.loads(server.check_output(f"cat {STATE}"))


def probe(server):
    """One probe, as the timer runs it; returns the state file after it."""
    server.check_output(f"systemctl start {UNIT}.service")
    return state(server)


def probe_until(server, wanted, timeout=40):
    deadline = time.monotonic() + timeout
    while True:
        current = probe(server)
        if current["state"] == wanted or time.monotonic() > deadline:
            return current
        time.sleep(1)


def cursor(server):
    out = server.check_output(f"journalctl -u {UNIT} -n 0 --show-cursor --no-pager")
    match = re.search(r"-- cursor: (\S+)", out)
    return match.group(1) if match else ""


def journal_since(server, mark):
    after = f"--after-cursor='{mark}'" if mark else ""
    return server.check_output(f"journalctl -u {UNIT} {after} -o cat --no-pager")


def wait_port(host, port, timeout=20):
    host.check_output(f"timeout {timeout} bash -c 'until (: </dev/tcp/127.0.0.1/{port}) 2>/dev/null; do sleep 0.3; done'")


def api_key(server):
    return json.loads(server.check_output(f"cat {CONFIG}"))["probe"]["api_key"]


@pytest.fixture(scope="module")
def webhook(server):
    put_file(server, "/opt/lab/webhook_receiver.py", WEBHOOK_RECEIVER)
    server.run("systemctl stop lab-webhook.service")
    server.check_output(f"rm -f {WEBHOOK_LOG} && mkdir -p {os.path.dirname(WEBHOOK_LOG)}")
    server.check_output(f"systemd-run --unit=lab-webhook python3 /opt/lab/webhook_receiver.py {WEBHOOK_LOG}")
    wait_port(server, 18599)
    yield lambda: [json.loads(line) for line in server.check_output(f"cat {WEBHOOK_LOG} 2>/dev/null || true").splitlines()]
    server.run("systemctl stop lab-webhook.service")


@pytest.fixture(scope="module")
def prometheus(server):
    """Debian's Prometheus on the frps host: frps' /metrics and the timer's textfile, the collection's rules."""
    web = json.loads(server.check_output(
        "python3 -c \"import json, tomllib; print(json.dumps(tomllib.load(open('/etc/frp/frps.toml', 'rb'))['webServer']))\""))
    rules = re.sub(r"(?m)^(\s+for: )\S+$", r"\g<1>" + LAB_FOR, RULES.read_text())
    put_file(server, "/etc/prometheus/lisyoen-frp-alerts.yml", rules)
    # A stand-in for node_exporter's textfile collector: the timer's .prom file over HTTP, on loopback.
    server.run("systemctl stop lab-textfile.service")
    server.check_output("systemd-run --unit=lab-textfile python3 -m http.server --bind 127.0.0.1 "
                        "--directory /var/lib/lisyoen-frp-health 9101")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["/etc/prometheus/lisyoen-frp-alerts.yml"],
        "scrape_configs": [
            {"job_name": "frps", "basic_auth": {"username": web["user"], "password": web["password"]},
             "static_configs": [{"targets": [f"127.0.0.1:{web['port']}"]}]},
            {"job_name": "lisyoen-frp-health", "metrics_path": "/lisyoen_frp_tunnel.prom",
             "static_configs": [{"targets": ["127.0.0.1:9101"]}]},
        ],
    }
    put_file(server, "/etc/prometheus/prometheus.yml", json.dumps(config, indent=1), mode="0640")
    server.check_output("chgrp prometheus /etc/prometheus/prometheus.yml && promtool check config /etc/prometheus/prometheus.yml")
    server.check_output("systemctl restart prometheus.service")
    server.check_output("timeout 60 sh -c 'until curl -fsS http://127.0.0.1:9090/-/ready >/dev/null 2>&1; do sleep 0.5; done'")
    yield server
    server.run("systemctl stop prometheus.service lab-textfile.service")


def record(**figures):
    """Keep the measured figures in build/monitor/measured.json (for the report; pytest hides prints)."""
    path = ROOT / "build" / "monitor" / "measured.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(figures)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def alerts(server):
    out = json.loads(server.check_output("curl -fsS http://127.0.0.1:9090/api/v1/alerts"))
    return {(a["labels"]["alertname"], a["state"]) for a in out["data"]["alerts"]}


def wait_alert(server, name, firing, timeout=60):
    """Seconds until alert `name` is firing (firing=True) or gone (False); fails after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        now = alerts(server)
        if ((name, "firing") in now) == firing:
            return round(time.monotonic() - start, 1)
        time.sleep(1)
    pytest.fail(f"{name} {'never fired' if firing else 'still firing'} after {timeout} s: {sorted(alerts(server))}")


@pytest.fixture(scope="module")
def baseline(server, client, webhook, prometheus):
    client.check_output(f"systemctl start {API_UNIT}.service frpc.service")
    first = probe_until(server, "up")
    assert first["state"] == "up", first
    return first


# ---- installation -----------------------------------------------------------------------------------

def test_timer_runs_every_minute(server):
    timer = server.service(f"{UNIT}.timer")
    assert timer.is_enabled and timer.is_running
    assert "OnUnitActiveSec=60s" in server.file(f"/etc/systemd/system/{UNIT}.timer").content_string


def test_the_runner_installed_is_the_collections_code(server):
    # A re-run compares each file's sha1 with the controller's: what is installed must be this checkout's code.
    lib = "/usr/local/lib/lisyoen-frp-health"
    role = ROOT / "roles/tunnel_health"
    internal = yaml.safe_load((role / "vars/main.yml").read_text())
    wanted = {name: (role / "files/shim" / name).read_text() for name in internal["_tunnel_health_shim_files"]}
    wanted.update({"ansible_collections/lisyoen/frp/" + name: (ROOT / name).read_text()
                   for name in internal["_tunnel_health_probe_files"]})
    assert json.loads(server.check_output(f"cat {lib}/tunnel_health_code.json")) == wanted
    assert server.file(f"{lib}/tunnel_health.py").sha256sum == hashlib.sha256(
        (role / "files/tunnel_health.py").read_bytes()).hexdigest()
    # Nothing else, not the tree of files an earlier version installed.
    assert sorted(server.check_output(f"ls -A {lib}").split()) == ["tunnel_health.py", "tunnel_health_code.json"]


def test_the_api_key_lives_in_a_group_readable_file_only(server):
    config = server.file(CONFIG)
    assert config.user == "root" and config.group == "frp-health" and config.mode == 0o640
    key = api_key(server)
    assert key, "the lab's config has no API key"
    unit = server.file(f"/etc/systemd/system/{UNIT}.service").content_string
    assert key not in unit and WEBHOOK_SECRET not in unit
    assert f"tunnel_health.py {CONFIG}" in unit


def test_dashboard_and_metrics_stay_on_loopback_and_closed_in_the_firewall(server, client):
    assert server.socket("tcp://127.0.0.1:7500").is_listening
    assert not server.socket("tcp://0.0.0.0:7500").is_listening
    assert "7500" not in server.check_output("ufw status verbose")
    # From the office host, the miniPC's dashboard port is not reachable; its control port is.
    target = server.backend.get_hostname()
    assert client.run(f"timeout 5 bash -c ': </dev/tcp/{target}/7500'").rc != 0
    assert client.run(f"timeout 5 bash -c ': </dev/tcp/{target}/7000'").rc == 0


# ---- state changes ------------------------------------------------------------------------------------

def test_api_stop_logs_down_with_the_diagnosis_then_up(server, client, baseline):
    mark, before = cursor(server), state(server)["outages_24h"]
    client.check_output(f"systemctl stop {API_UNIT}.service")
    try:
        down = probe(server)
        assert down["state"] == "down", down
        # tcp path: frpc accepts, cannot reach the API, and closes the user connection.
        assert down["diagnosis"] in {"connection_closed", "connection_reset", "read_timeout"}, down
        record(api_stopped_diagnosis=down["diagnosis"])
        assert down["outages_24h"] == before + 1
        again = probe(server)
        assert again["since"] == down["since"] and again["outages_24h"] == before + 1, "a second failed probe is no new outage"
    finally:
        client.check_output(f"systemctl start {API_UNIT}.service")
    wait_port(client, 4000)
    up = probe_until(server, "up")
    assert up["state"] == "up", up
    log = journal_since(server, mark)
    assert re.search(rf"DOWN \({down['diagnosis']}\): GET /v1/models", log), log
    assert len(re.findall(r"DOWN \(", log)) == 1, f"the repeated failure was logged again:\n{log}"
    # frp alternates connection_reset and connection_closed for a dead API; the UP line names each cause seen.
    assert re.search(r"UP again after .* down \(down since \d\d:\d\d, [^)]*" + down["diagnosis"], log), log


def test_frpc_stop_is_down_in_the_journal_and_fires_the_alerts(server, client, prometheus, baseline):
    mark, before = cursor(server), state(server)["outages_24h"]
    assert ("FrpNoClientLoggedIn", "firing") not in alerts(server)
    client.check_output("systemctl stop frpc.service")
    stopped = time.monotonic()
    try:
        down = probe(server)
        assert down["state"] == "down", down
        # frps closes the tcp proxy's port once frpc is gone.
        assert down["diagnosis"] in {"connection_refused", "connection_reset", "connection_closed"}, down
        assert down["outages_24h"] == before + 1
        wait_alert(server, "FrpNoClientLoggedIn", firing=True)
        fired = round(time.monotonic() - stopped, 1)
        wait_alert(server, "FrpBackendOffline", firing=True)
        wait_alert(server, "FrpTunnelDown", firing=True)
        record(frpc_stopped_diagnosis=down["diagnosis"], no_client_alert_firing_after_s=fired)
    finally:
        client.check_output("systemctl start frpc.service")
        returned = time.monotonic()
    up = probe_until(server, "up")
    assert up["state"] == "up", up
    wait_alert(server, "FrpNoClientLoggedIn", firing=False)
    cleared = round(time.monotonic() - returned, 1)
    wait_alert(server, "FrpTunnelDown", firing=False)
    record(no_client_alert_cleared_after_s=cleared)
    log = journal_since(server, mark)
    assert f"DOWN ({down['diagnosis']})" in log and "UP again after" in log, log


def test_the_webhook_got_each_change_as_json(server, webhook, baseline):
    events = webhook()
    changes = [(e["event"].get("previous"), e["event"].get("state")) for e in events]
    assert changes.count(("up", "down")) >= 2 and changes.count(("down", "up")) >= 2, events
    for entry in events:
        assert entry["content_type"] == "application/json"
        assert entry["path"] == f"/hook/{WEBHOOK_SECRET}"
        event = entry["event"]
        assert {"tunnel", "host", "state", "diagnosis", "message", "at", "since", "outages_24h"} <= set(event), event
        if event["state"] == "down":
            assert event["diagnosis"] != "ok" and event["message"]


def test_no_secret_in_the_journal_or_the_webhook(server, webhook, baseline):
    key = api_key(server)
    log = server.check_output(f"journalctl -u {UNIT} -o cat --no-pager")
    assert key not in log and WEBHOOK_SECRET not in log
    assert key not in json.dumps(webhook())


def test_the_state_file_counts_outages_and_keeps_the_changes(server, baseline):
    current = state(server)
    assert current["state"] == "up" and current["outages_24h"] >= 2
    downs = [e for e in current["events"] if e["state"] == "down" and e["new_outage"]]
    assert len(downs) == current["outages_24h"]
    assert "%d outages in 24 h" % current["outages_24h"] in current["summary"]


def test_a_broken_webhook_is_a_warning_not_a_lost_record(server, client, webhook, baseline):
    server.check_output("systemctl stop lab-webhook.service")
    mark = cursor(server)
    client.check_output(f"systemctl stop {API_UNIT}.service")
    try:
        assert probe(server)["state"] == "down"
    finally:
        client.check_output(f"systemctl start {API_UNIT}.service")
        server.check_output(f"systemd-run --unit=lab-webhook python3 /opt/lab/webhook_receiver.py {WEBHOOK_LOG}")
    wait_port(client, 4000)
    assert probe_until(server, "up")["state"] == "up"
    log = journal_since(server, mark)
    assert "webhook to http://127.0.0.1 failed" in log and WEBHOOK_SECRET not in log, log


# ---- verify.yml's summary, check mode, bad input --------------------------------------------------------

def run_playbook(playbook, *args, timeout=400):
    cmd = ["ansible-playbook", "-i", _inventory(), str(SCENARIO_DIR / playbook), *args]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def recap(output):
    return {host: dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", counters))
            for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M)}


def test_verify_summary_reads_the_state_file(server, baseline):
    outages = state(server)["outages_24h"]
    result = run_playbook("summary.yml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"health timer: up since \d\d:\d\d \([^)]*\); %d outages in 24 h; last probe \d+ s ago" % outages,
                     result.stdout), result.stdout[-2000:]
    assert "stale" not in result.stdout


BAD = [
    ("tunnel_health_webhook_url", "ftp://hooks.example/x", "tunnel_health_webhook_url (ftp://ho...) is not an http"),
    ("tunnel_health_interval", 0, "tunnel_health_interval is '0'"),
    ("tunnel_health_url", "127.0.0.1:8081", "tunnel_health_url is '127.0.0.1:8081'"),
]


def test_check_mode_and_bad_input_change_nothing(server):
    before = server.check_output(f"stat -c '%Y %s' {CONFIG} /etc/systemd/system/{UNIT}.service /etc/systemd/system/{UNIT}.timer")
    with ThreadPoolExecutor(max_workers=4) as pool:
        check = pool.submit(run_playbook, "health_only.yml", "--check", "--diff")
        bad = {name: pool.submit(run_playbook, "health_only.yml", "-e", json.dumps({name: value}))
               for name, value, _ in BAD}
    result = check.result()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap(result.stdout).values()), out[-3000:]
    assert api_key(server) not in out
    for name, _, message in BAD:
        result = bad[name].result()
        out = result.stdout + result.stderr
        assert result.returncode != 0, f"{name}: accepted\n{out[-2000:]}"
        assert message in out, f"{name}:\n{out[-2000:]}"
        assert all(c["changed"] == 0 for c in recap(result.stdout).values()), out[-2000:]
    after = server.check_output(f"stat -c '%Y %s' {CONFIG} /etc/systemd/system/{UNIT}.service /etc/systemd/system/{UNIT}.timer")
    assert before == after


# ---- re-runs: nothing written when nothing differs, and what was changed by hand put back ------------------

HEALTH_PLAY = "Converge the health timer on the frp server"
# Actions that run on the controller, not a module on the host.
CONTROLLER_ACTIONS = {"assert", "set_fact", "debug", "validate_argument_spec", "meta", "include_tasks",
                      "import_tasks", "include_role", "import_role"}
UNITS = [f"/etc/systemd/system/{UNIT}.service", f"/etc/systemd/system/{UNIT}.timer"]
CODE = "/usr/local/lib/lisyoen-frp-health/tunnel_health_code.json"


def run_json(playbook, *args):
    """A run with the JSON callback: {task name: [(action, result) for each host result, loop items flattened]}."""
    cmd = ["ansible-playbook", "-i", _inventory(), str(SCENARIO_DIR / playbook), *args]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_FORCE_COLOR="false")
    # No other callback printing (profile_tasks...): stdout must be the JSON alone.
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def module_runs(data, play_name):
    """The tasks of one play that ran a module on a host, as (task, changed), one per loop item."""
    runs = []
    for play in data["plays"]:
        if play["play"]["name"] != play_name:
            continue
        for task in play["tasks"]:
            for res in task["hosts"].values():
                action = res.get("action", "").rpartition(".")[2]
                if action in CONTROLLER_ACTIONS:
                    continue
                name = task["task"]["name"].rpartition(" : ")[2]
                for item in res.get("results", [res]):
                    if not item.get("skipped"):
                        runs.append((name, bool(item.get("changed"))))
    return runs


def timer_started(server):
    return server.check_output(f"systemctl show -p ActiveEnterTimestampMonotonic --value {UNIT}.timer")


def test_a_rerun_reads_the_host_once_and_writes_nothing(server):
    started = timer_started(server)
    data = run_json("converge.yml")
    assert all(stats["changed"] == 0 for stats in data["stats"].values()), data["stats"]
    runs = module_runs(data, HEALTH_PLAY)
    # The one find, and the timer's enable-and-start: no stat, copy, template, file, group or user call.
    assert [task for task, _ in runs] == [
        "Read the role's files, the certificates and /usr/bin/python3 on the host, in one call",
        "Enable and start the timer"], runs
    assert timer_started(server) == started, "the timer was restarted though nothing it runs changed"


def test_what_was_changed_by_hand_is_put_back(server):
    sha = {path: server.file(path).sha256sum for path in UNITS + [CONFIG, CODE]}
    started = timer_started(server)
    server.check_output(f"echo '# edited by hand' >> {UNITS[0]} && chmod 0644 {CONFIG} && rm {CODE}")
    data = run_json("health_only.yml")
    written = sorted(task for task, changed in module_runs(data, "Apply lisyoen.frp.tunnel_health to the frp server")
                     if changed)
    assert written == ["Install the probe code and the stand-ins for ansible-core, as one file",
                       "Install the service and the timer", "Restart the health timer",
                       "Write the probe's configuration"], written
    assert {path: server.file(path).sha256sum for path in sha} == sha
    config = server.file(CONFIG)
    assert config.mode == 0o640 and config.user == "root" and config.group == "frp-health"
    # The unit changed: systemd read it again and the timer was restarted, and it still probes.
    assert timer_started(server) != started
    assert "NeedDaemonReload=no" in server.check_output(f"systemctl show -p NeedDaemonReload {UNIT}.service")
    assert probe(server)["state"] in {"up", "down"}
    # Put back, the next run writes nothing again.
    data = run_json("health_only.yml")
    assert all(stats["changed"] == 0 for stats in data["stats"].values()), data["stats"]
