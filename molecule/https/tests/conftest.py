"""Helpers for the https scenario: the lab's hosts, secrets and certificates, and real TLS clients."""

import functools
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import labtest  # noqa: E402  (molecule/shared: inventory(), run_playbook() and recap(), shared with the roles scenario)
from labtest import recap  # noqa: E402,F401

SCENARIO_DIR = Path(__file__).resolve().parent.parent
inventory = functools.partial(labtest.inventory, SCENARIO_DIR.name)
run_playbook = functools.partial(labtest.run_playbook, SCENARIO_DIR, timeout=400)
MINIPC = "10.213.40.10"
HTTPS = f"https://{MINIPC}:8443"
MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
API_KEY = os.environ.get("LAB_LLM_API_KEY", "")
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
PRIVATE_CA = EPHEMERAL / "pki" / "ca.crt"
FILES_CA = EPHEMERAL / "lab-pki" / "files-ca.crt"
PEBBLE_TLS = EPHEMERAL / "lab-pki" / "pebble-tls.crt"


def host(name: str):
    return testinfra.get_host(f"docker://{name}")


def put(name: str, path: str, content: str) -> None:
    """Write a file into a lab container (certificates for the clients there)."""
    subprocess.run(["docker", "exec", "-i", name, "sh", "-c", f"cat > {path}"], input=content, text=True, check=True)


def pebble_root() -> str:
    """The root Pebble signs with (new at each Pebble start), from its management endpoint."""
    out = host("hx-acme").check_output("curl -sS --cacert /etc/pebble/pebble-tls.crt https://hx-acme:15000/roots/0")
    assert "BEGIN CERTIFICATE" in out, out
    return out


def served_cert(server_name: str | None, cafile: str) -> dict:
    """The certificate nginx serves for this SNI, verified with cafile (fails if it does not verify)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = server_name is not None
    with socket.create_connection((MINIPC, 8443), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=server_name or MINIPC) as tls:
            return {"der": tls.getpeercert(binary_form=True), "info": tls.getpeercert(), "version": tls.version()}


def stream(server_name: str | None, cafile: str, chunks: int, interval_ms: int, timeout: float = 120) -> dict:
    """One streamed chat completion through 8443 over a keep-alive HTTP/1.1 connection (http.client)."""
    import http.client  # pylint: disable=import-outside-toplevel

    class NamedConnection(http.client.HTTPSConnection):
        """Connects to the miniPC's address, with SNI and the certificate check for server_name."""

        def connect(self):
            sock = socket.create_connection((MINIPC, 8443), self.timeout)
            self.sock = ctx.wrap_socket(sock, server_hostname=self.host)

    ctx = ssl.create_default_context(cafile=cafile)
    conn = NamedConnection(server_name or MINIPC, 8443, context=ctx, timeout=timeout)
    body = ('{"model": "%s", "stream": true, "messages": [{"role": "user", "content": "hi"}]}' % MODEL).encode()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json",
               "Host": server_name or MINIPC, "x-fake-chunks": str(chunks), "x-fake-interval-ms": str(interval_ms)}
    started = time.monotonic()
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read().decode(errors="replace")
        return {"status": resp.status, "done": "data: [DONE]" in data, "chunks": data.count("data: {"),
                "seconds": time.monotonic() - started, "error": None}
    except Exception as exc:  # noqa: BLE001 - every failure counts as a cut stream
        return {"status": None, "done": False, "chunks": 0, "seconds": time.monotonic() - started, "error": repr(exc)}
    finally:
        conn.close()


# A non-streamed completion slower than nginx's default 60 s proxy_read_timeout, started when the session starts
# and checked by the last test, so its minute overlaps the others.
LONG_CALL: dict = {}


def _long_call():
    import http.client  # pylint: disable=import-outside-toplevel

    ctx = ssl.create_default_context(cafile=str(PRIVATE_CA))
    conn = http.client.HTTPSConnection(MINIPC, 8443, context=ctx, timeout=300)
    body = ('{"model": "%s", "messages": [{"role": "user", "content": "slow"}]}' % MODEL).encode()
    started = time.monotonic()
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers={
            "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json", "x-fake-delay-s": "75"})
        resp = conn.getresponse()
        LONG_CALL.update(status=resp.status, body=resp.read().decode(errors="replace"))
    except Exception as exc:  # noqa: BLE001
        LONG_CALL.update(status=None, body=repr(exc))
    LONG_CALL["seconds"] = time.monotonic() - started


@pytest.fixture(scope="session", autouse=True)
def long_call():
    thread = threading.Thread(target=_long_call, daemon=True)
    thread.start()
    yield thread


# site.yml in check mode on a host never converged: hx-outside, a client of the lab's only, booted from the same image
# as hx-minipc (nginx and certbot installed, disabled, as Debian leaves them). An inventory of its own, added to the
# lab's, makes it a second miniPC, and --limit keeps the run to it. Started with the session too (it only reads, and
# on a host of its own), and checked in test_playbooks.py: what docker sees added, changed or deleted in its file
# system since the image and its services' states, before and after, and every file (not folder: docker sees those)
# on its root file system modified during the run. Not the host's state: the journal, and Ansible's own working
# folder /root/.ansible (with pipelining, this run may be the first to need it; hence /root itself "changed").
FRESH = "hx-outside"
FRESH_CHECK: dict = {}
_PRUNED = ["/proc", "/sys", "/run", "/tmp", "/var/log/journal", "/root/.ansible"]


def fresh_state() -> dict:
    diff = subprocess.run(["docker", "diff", FRESH], capture_output=True, text=True, timeout=60, check=True).stdout
    return {"diff": sorted(line for line in diff.splitlines()
                           if line != "C /root" and not line[2:].startswith(("/var/log/journal", "/root/.ansible"))),
            "units": host(FRESH).run("systemctl is-enabled nginx certbot.timer frps lisyoen-frp-health.timer;"
                                     " systemctl is-active nginx frps").stdout}


def _fresh_check():
    try:
        extra = EPHEMERAL / "fresh-host.yml"
        extra.write_text(f"all:\n  children:\n    frp_servers:\n      hosts:\n        {FRESH}: {{}}\n", encoding="utf-8")
        since = host(FRESH).check_output("date +%s")
        FRESH_CHECK["before"] = fresh_state()
        FRESH_CHECK["run"] = run_playbook("converge.yml", "--check", "-i", str(extra), "--limit", FRESH)
        FRESH_CHECK["after"] = fresh_state()
        prune = " -o ".join(f"-path {p}" for p in _PRUNED)
        FRESH_CHECK["touched"] = host(FRESH).check_output(
            f"find / -xdev \\( {prune} \\) -prune -o ! -type d -newermt @{since} -print")
    except Exception as exc:  # noqa: BLE001 - reported by the test
        FRESH_CHECK["error"] = repr(exc)


@pytest.fixture(scope="session", autouse=True)
def fresh_check():
    thread = threading.Thread(target=_fresh_check, daemon=True)
    thread.start()
    yield thread
