# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health timer's runner (roles/tunnel_health/files/tunnel_health.py), laid out as the role installs it
and run as the timer runs it, but with `python -I -S`: the standard library only, no ansible-core.

Its diagnoses and messages must be the module's own: each case is also run through llm_api_probe with the
real ansible-core (the run_module fixture) and compared. Then the state file, the journal lines and the
webhook across up -> down -> down -> up.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from llm_probe_servers import API_KEY, MODEL, frp_404_response, simple_response

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "tunnel_health"
HOOK_SECRET = "hook-secret-8c2f1a"


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    """The runner beside its imports in one JSON file {path as imported: source}, as the role installs them
    (roles/tunnel_health/templates/tunnel-health-code.json.j2)."""
    lib = tmp_path_factory.mktemp("lisyoen-frp-health")
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    code = {name: (ROLE / "files" / "shim" / name).read_text() for name in internal["_tunnel_health_shim_files"]}
    code.update({"ansible_collections/lisyoen/frp/" + name: (ROOT / name).read_text()
                 for name in internal["_tunnel_health_probe_files"]})
    (lib / "tunnel_health_code.json").write_text(json.dumps(code))
    (lib / "tunnel_health.py").write_bytes((ROLE / "files" / "tunnel_health.py").read_bytes())
    return lib / "tunnel_health.py"


def run_runner(runner, tmp_path, probe, **extra):
    config = dict({"name": "llm-api", "probe": probe, "state_file": str(tmp_path / "state.json"),
                   "textfile": str(tmp_path / "tunnel.prom")}, **extra)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    # -I -S: no site-packages, so no ansible-core: the shim must carry the probe alone.
    result = subprocess.run([sys.executable, "-I", "-S", str(runner), str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    state = json.loads((tmp_path / "state.json").read_text()) if (tmp_path / "state.json").exists() else None
    return result, state


def test_the_runner_needs_no_ansible(runner, tmp_path, closed_port):
    result = subprocess.run([sys.executable, "-I", "-S", "-c", "import ansible"], capture_output=True, check=False)
    assert result.returncode != 0, "ansible-core is importable without site-packages: the test proves nothing"
    result, state = run_runner(runner, tmp_path, {"url": "http://127.0.0.1:%d" % closed_port})
    assert result.returncode == 0, result.stderr
    assert state["state"] == "down" and state["diagnosis"] == "connection_refused"


def _closer(request, server):
    return None


def _frp_404(request, server):
    return frp_404_response()


def _not_models(request, server):
    return simple_response("200 OK", "<html>router login</html>", "text/html")


@pytest.mark.parametrize("case", ["ok", "wrong_key", "refused", "closed", "frp_404", "not_models", "model_missing"])
def test_same_diagnosis_and_message_as_the_module(case, runner, tmp_path, run_module, fake_api, scripted, closed_port):
    probe = {"url": fake_api.url, "api_key": API_KEY, "expected_models": [MODEL], "timeout": 5}
    if case == "wrong_key":
        probe["api_key"] = "sk-wrong-key-0000"
    elif case == "refused":
        probe["url"] = "http://127.0.0.1:%d" % closed_port
    elif case == "closed":
        probe["url"] = scripted(_closer).url
    elif case == "frp_404":
        probe["url"] = scripted(_frp_404).url
    elif case == "not_models":
        probe["url"] = scripted(_not_models).url
    elif case == "model_missing":
        probe["expected_models"] = ["no/such-model"]
    failed, module = run_module(probe)
    result, state = run_runner(runner, tmp_path, probe)
    assert result.returncode == 0, result.stderr
    assert state["diagnosis"] == module["diagnosis"]
    assert state["state"] == ("down" if failed else "up")
    if failed:
        assert state["message"] == module["msg"]
    assert "sk-wrong-key-0000" not in result.stdout + json.dumps(state)
    assert API_KEY not in result.stdout + json.dumps(state)


def _hook(request, server):
    return b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


def test_changes_are_logged_once_counted_and_posted(runner, tmp_path, fake_api, scripted, closed_port):
    hook = scripted(_hook)
    good = {"url": fake_api.url, "api_key": API_KEY, "expected_models": [MODEL]}
    bad = dict(good, url="http://127.0.0.1:%d" % closed_port)
    extra = {"webhook_url": "%s/hook/%s" % (hook.url, HOOK_SECRET)}
    outputs = []
    for probe in (good, bad, bad, good, bad):
        result, state = run_runner(runner, tmp_path, probe, **extra)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0].startswith("<6>UP: ")
    assert outputs[1].startswith("<3>DOWN (connection_refused): GET /v1/models: connection refused")
    assert outputs[2] == "", "an unchanged state must not be logged again"
    assert outputs[3].startswith("<6>UP again after ") and "connection_refused" in outputs[3]
    assert state["state"] == "down" and state["outages_24h"] == 2
    assert [e["state"] for e in state["events"]] == ["up", "down", "up", "down"]
    assert "down since" in state["summary"] and "2 outages in 24 h" in state["summary"]
    events = [json.loads(r.body) for r in hook.requests]
    assert [(e["previous"], e["state"]) for e in events] == [("unknown", "up"), ("up", "down"), ("down", "up"),
                                                             ("up", "down")]
    assert all(r.headers["content-type"] == "application/json" and r.path == "/hook/" + HOOK_SECRET
               for r in hook.requests)
    assert events[1]["diagnosis"] == "connection_refused" and events[1]["outages_24h"] == 1
    assert API_KEY not in json.dumps(events)
    metrics = (tmp_path / "tunnel.prom").read_text()
    assert 'lisyoen_frp_tunnel_up{tunnel="llm-api"} 0' in metrics
    assert 'lisyoen_frp_tunnel_outages_24h{tunnel="llm-api"} 2' in metrics


def test_a_flapping_cause_is_logged_once_per_outage(runner, tmp_path, fake_api, scripted, closed_port):
    refused = {"url": "http://127.0.0.1:%d" % closed_port}
    closed = {"url": scripted(_closer).url}
    outputs = [run_runner(runner, tmp_path, probe)[0].stdout for probe in (refused, closed, refused, closed)]
    assert outputs[0].startswith("<3>DOWN (connection_refused)")
    assert outputs[1].startswith("<3>STILL DOWN since ") and "now connection_closed" in outputs[1]
    assert outputs[2:] == ["", ""], "a cause already seen in this outage is logged again"
    result, state = run_runner(runner, tmp_path, {"url": fake_api.url, "api_key": API_KEY})
    assert "(down since " in result.stdout and "connection_refused, connection_closed)" in result.stdout
    assert state["outages_24h"] == 1 and state["outage_diagnoses"] == []


def test_a_failing_webhook_is_a_warning_without_its_url(runner, tmp_path, fake_api, closed_port):
    result, state = run_runner(runner, tmp_path, {"url": fake_api.url, "api_key": API_KEY},
                               webhook_url="http://127.0.0.1:%d/hook/%s" % (closed_port, HOOK_SECRET))
    assert result.returncode == 0 and state["state"] == "up"
    assert "<4>webhook to http://127.0.0.1 failed" in result.stdout
    assert HOOK_SECRET not in result.stdout


def test_certificate_expiry_goes_into_the_metrics(runner, tmp_path, tls, fake_api):
    result, state = run_runner(runner, tmp_path, {"url": fake_api.url, "api_key": API_KEY},
                               cert_files=[tls["ca"], str(tmp_path / "missing.crt")])
    assert result.returncode == 0, result.stderr
    metrics = (tmp_path / "tunnel.prom").read_text()
    assert 'lisyoen_frp_certificate_expiry_timestamp_seconds{tunnel="llm-api",path="%s"}' % tls["ca"] in metrics
    assert "missing.crt" not in metrics


def test_an_unusable_configuration_exits_2(runner, tmp_path):
    result, state = run_runner(runner, tmp_path, {"url": "ftp://x", "timeout": 5})
    assert result.returncode == 2 and state is None
    assert "url must be an http:// or https:// URL" in result.stdout
    result, state = run_runner(runner, tmp_path, {"url": "http://127.0.0.1:1", "no_such_option": 1})
    assert result.returncode == 2 and "unknown probe option(s): no_such_option" in result.stdout
