"""The plaintext port's exposure (llm_plain_exposure in site.yml) applied for real, on the lab's firewall and frps.

The frps play of site.yml is re-applied with -e llm_plain_exposure=lan, then off, then with the lab's own setting
(public) for the tests after these. Each step is judged by HTTP calls on 8081 and 8443 from four clients:
  hx-home     10.213.40.30  in the allowlist (10.213.40.0/26) and in the test's home LAN (10.213.40.16/28)
  hx-spark    10.213.40.11  in the allowlist, not in that LAN
  controller  10.213.40.1   in the allowlist, not in that LAN (the bridge's gateway: these tests' own process)
  hx-outside  10.213.40.200 in neither
The LAN is narrower than the allowlist on purpose: with both the same, `lan` could not be told from `public`.
This file runs after test_https.py (pytest takes the files in name order): frps restarts here, which would cut the
long call that test_https.py's last test checks.
"""

import http.client
import json
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import API_KEY, MINIPC, PRIVATE_CA, host, put, recap, run_playbook

LAN = ["10.213.40.16/28"]
CLIENTS = ["hx-home", "hx-spark", "controller", "hx-outside"]
NO = "unreachable"


def call(client: str, port: int) -> str:
    """GET /v1/models with the key on MINIPC:port (8443: https, trusting the collection's CA) from a client: the
    HTTP status, NO when the connection was refused or dropped, else what went wrong."""
    scheme = "https" if port == 8443 else "http"
    if client != "controller":
        out = host(client).run(f"curl -sS -o /dev/null -w '%{{http_code}}' --connect-timeout 3 --max-time 10 "
                               f"--cacert /tmp/private-ca.crt -H 'Authorization: Bearer {API_KEY}' "
                               f"{scheme}://{MINIPC}:{port}/v1/models")
        return out.stdout if out.rc == 0 else NO if out.rc in (7, 28) else f"curl rc {out.rc}: {out.stderr.strip()}"
    try:
        sock = socket.create_connection((MINIPC, port), timeout=3)
    except OSError:  # refused, or no answer within 3 s (the firewall drops)
        return NO
    sock.settimeout(10)
    conn = http.client.HTTPConnection(MINIPC, port)  # HTTP over the socket given below (TLS on 8443)
    try:
        conn.sock = (ssl.create_default_context(cafile=str(PRIVATE_CA)).wrap_socket(sock, server_hostname=MINIPC)
                     if port == 8443 else sock)
        conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {API_KEY}"})
        return str(conn.getresponse().status)
    except OSError as exc:
        return f"connected, then {exc!r}"
    finally:
        conn.close()
        sock.close()  # when TLS failed before conn had it (a no-op once wrapped)


def reach() -> dict:
    """{(client, port): outcome} for every client on 8081 and 8443, all at once (a dropped call waits 3 s)."""
    pairs = [(c, p) for c in CLIENTS for p in (8081, 8443)]
    with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
        return dict(zip(pairs, pool.map(lambda cp: call(*cp), pairs)))


def listeners(port: int) -> set:
    """The local addresses the miniPC listens on for this TCP port (ss); "*:port" is every address (IPv4 and IPv6)."""
    out = host("hx-minipc").check_output(f"ss -Hltn 'sport = :{port}'")
    return {line.split()[3] for line in out.splitlines()}


def expected(plain: dict) -> dict:
    """What every client should get: 8443 for the allowlist whatever the exposure; 8081 as given."""
    return {**{(c, 8443): ("200" if c != "hx-outside" else NO) for c in CLIENTS},
            **{(c, 8081): plain[c] for c in CLIENTS}}


@pytest.fixture(scope="module")
def apply():
    for name in ("hx-home", "hx-spark", "hx-outside"):
        put(name, "/tmp/private-ca.crt", PRIVATE_CA.read_text())
    state = {"exposure": "public"}

    def _apply(exposure: str | None):
        """The frps play with llm_plain_exposure (None: the lab's own setting), then wait for the tunnel behind 8443."""
        extra = ["-e", json.dumps({"llm_plain_exposure": exposure, "llm_home_lan": LAN})] if exposure else []
        run = run_playbook("frps.yml", *extra)
        state["exposure"] = exposure or "public"
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        deadline = time.monotonic() + 60
        while call("controller", 8443) != "200":  # frps restarted: frpc logs in again and re-registers its proxies
            assert time.monotonic() < deadline, "the API is not back behind 8443 within 60 s of the frps play"
            time.sleep(0.5)
        return run

    yield _apply
    if state["exposure"] != "public":  # a test failed midway: give the tests after these the lab they expect
        _apply(None)


def test_lan_keeps_8081_for_the_home_lan(apply):
    run = apply("lan")
    assert recap(run.stdout)["hx-minipc"]["changed"] >= 1, run.stdout[-3000:]  # the firewall's 8081/8082 rules
    assert reach() == expected({"hx-home": "200", "hx-spark": NO, "controller": NO, "hx-outside": NO})
    # frps still listens on every address: the firewall alone keeps the allowlist's other members off 8081.
    assert listeners(8081) == {"*:8081"}


def test_off_closes_8081_to_everyone(apply):
    apply("off")
    assert reach() == expected({c: NO for c in CLIENTS})
    # frps binds its tcp proxy ports on loopback only, for nginx.
    assert listeners(8081) == {"127.0.0.1:8081"}
    assert listeners(8082) == {"127.0.0.1:8082"}
    minipc = host("hx-minipc")
    own = minipc.run(f"curl -sS -o /dev/null --max-time 5 http://{MINIPC}:8081/v1/models")
    assert own.rc == 7, (own.rc, own.stderr)  # refused even on the miniPC itself, where no firewall rule applies
    local = minipc.run(f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time 10 -H 'Authorization: Bearer {API_KEY}' "
                       "http://127.0.0.1:8081/v1/models")
    assert local.stdout == "200", (local.rc, local.stdout, local.stderr)


def test_public_again(apply):
    """Back to the lab's own setting (public): 8081 from the allowlist again, on every address."""
    apply(None)
    assert reach() == expected({"hx-home": "200", "hx-spark": "200", "controller": "200", "hx-outside": NO})
    assert listeners(8081) == {"*:8081"}
