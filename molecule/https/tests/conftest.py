"""Helpers for the https scenario: the lab's hosts, secrets and certificates, and real TLS clients."""

import os
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import testinfra

SCENARIO_DIR = Path(__file__).resolve().parent.parent
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


def inventory() -> str:
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run these tests through `molecule verify -s https`")
    return str(Path(path).parent)


def run_playbook(playbook: str, *args: str, timeout: int = 400, env: dict | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook against the lab's inventory, with molecule's environment; playbook relative to the scenario."""
    cmd = ["ansible-playbook", "-i", inventory(), str(SCENARIO_DIR / playbook), *args]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true", **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def recap(output: str) -> dict:
    totals: dict = {}
    for name, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        per_host = totals.setdefault(name, {})
        for key, value in re.findall(r"(\w+)=(\d+)", counters):
            per_host[key] = per_host.get(key, 0) + int(value)
    return totals


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
