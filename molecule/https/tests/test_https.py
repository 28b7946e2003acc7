"""The HTTPS front with real clients: curl from the lab's home PC, the openai SDK from the controller.

Private mode (the inventory's default) serves https://10.213.40.10:8443; the lab adds a files-mode site
(files.hx-lab.test), an ACME site issued by Pebble (acme.hx-lab.test) and a second service
(other.hx-lab.test, its own frp tcp proxy) on the same port.
"""

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from conftest import (API_KEY, FILES_CA, HTTPS, LONG_CALL, MINIPC, MODEL, PRIVATE_CA, host, pebble_root, put,
                      served_cert, stream)

CURL = "curl -sS --max-time 20 --cacert {ca} -H 'Authorization: Bearer {key}'"


@pytest.fixture(scope="module")
def home():
    h = host("hx-home")
    put("hx-home", "/tmp/private-ca.crt", PRIVATE_CA.read_text())
    put("hx-home", "/tmp/files-ca.crt", FILES_CA.read_text())
    put("hx-home", "/tmp/pebble-root.crt", pebble_root())
    return h


def curl(h, args: str, ca: str = "/tmp/private-ca.crt"):
    return h.run(CURL.format(ca=ca, key=API_KEY) + " " + args)


def test_acme_certificate_requested_once():
    """After converge and molecule's idempotence run: exactly one certificate issued, renewal timer on."""
    minipc = host("hx-minipc")
    issued = minipc.check_output("ls /etc/letsencrypt/archive/acme.hx-lab.test/").split()
    assert sorted(issued) == ["cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem"], issued
    assert minipc.service("certbot.timer").is_enabled
    assert minipc.service("certbot.timer").is_running
    assert minipc.file("/etc/letsencrypt/renewal-hooks/deploy/https-front-reload-nginx").mode == 0o755


def test_private_mode_with_curl(home):
    out = curl(home, f"-w '\\n%{{http_code}} %{{http_version}}' {HTTPS}/v1/models")
    assert out.rc == 0, out.stderr
    body, _, status = out.stdout.rpartition("\n")
    assert status == "200 2", out.stdout  # HTTP/2 to the client
    assert MODEL in body
    # Without the CA, curl refuses the certificate: the trust really comes from --cacert.
    bare = home.run(f"curl -sS --max-time 10 {HTTPS}/v1/models")
    assert bare.rc == 60, (bare.rc, bare.stderr)


def test_tls_versions(home):
    old = home.run(f"curl -sS --max-time 10 --cacert /tmp/private-ca.crt --tlsv1.1 --tls-max 1.1 {HTTPS}/v1/models")
    assert old.rc != 0, "TLS 1.1 was accepted"
    for version in ("1.2", "1.3"):
        ok = home.run(f"curl -sS -o /dev/null --max-time 10 --cacert /tmp/private-ca.crt --tlsv{version} --tls-max {version} "
                      f"-w '%{{http_code}}' {HTTPS}/v1/models")
        assert ok.rc == 0 and ok.stdout == "401", (version, ok.rc, ok.stdout, ok.stderr)  # no key: the API's 401


def test_openai_sdk_with_ca_bundle():
    """The official client, trusting the collection's CA through its HTTP client (verify=...) and SSL_CERT_FILE.

    openai.DefaultHttpxClient is the SDK's own client class (httpx.Client in older SDKs, httpx2.Client now).
    """
    client = openai.OpenAI(base_url=f"{HTTPS}/v1", api_key=API_KEY,
                           http_client=openai.DefaultHttpxClient(verify=str(PRIVATE_CA), timeout=60))
    assert MODEL in [m.id for m in client.models.list()]
    chunks = client.chat.completions.create(model=MODEL, stream=True, messages=[{"role": "user", "content": "hi"}],
                                            extra_headers={"x-fake-chunks": "5", "x-fake-interval-ms": "20"})
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 5
    script = ("import openai; c = openai.OpenAI(base_url=%r, api_key=%r); print(len(c.models.list().data))"
              % (f"{HTTPS}/v1", API_KEY))
    with_env = subprocess.run(["python", "-c", script], capture_output=True, text=True, timeout=60,
                              env={"PATH": __import__("os").environ["PATH"], "SSL_CERT_FILE": str(PRIVATE_CA)})
    assert with_env.returncode == 0, with_env.stderr
    without = subprocess.run(["python", "-c", script], capture_output=True, text=True, timeout=60,
                             env={"PATH": __import__("os").environ["PATH"]})
    assert without.returncode != 0 and "APIConnectionError" in without.stderr, without.stderr[-500:]


def test_host_routing_and_unknown_host(home):
    other = curl(home, f"--resolve other.hx-lab.test:8443:{MINIPC} https://other.hx-lab.test:8443/v1/models")
    assert other.rc == 0 and "other/model" in other.stdout and MODEL not in other.stdout, other.stdout + other.stderr
    started = time.monotonic()
    unknown = home.run(f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time 10 -k -H 'Host: nobody.example' {HTTPS}/v1/models")
    assert unknown.stdout in ("421", "404"), (unknown.stdout, unknown.stderr)
    assert time.monotonic() - started < 8


def test_files_mode(home):
    out = curl(home, f"--resolve files.hx-lab.test:8443:{MINIPC} https://files.hx-lab.test:8443/v1/models", "/tmp/files-ca.crt")
    assert out.rc == 0 and MODEL in out.stdout, out.stderr
    cert = served_cert("files.hx-lab.test", str(FILES_CA))
    assert dict(x[0] for x in cert["info"]["issuer"])["commonName"] == 'hx lab "commercial" CA'


def test_acme_mode(home):
    out = curl(home, f"--resolve acme.hx-lab.test:8443:{MINIPC} https://acme.hx-lab.test:8443/v1/models", "/tmp/pebble-root.crt")
    assert out.rc == 0 and MODEL in out.stdout, out.stderr
    # Port 80 serves the ACME challenge folder only.
    other = home.run(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 http://{MINIPC}/")
    assert other.stdout == "404", other.stdout


def test_allowlist():
    outside = host("hx-outside")
    for url in (f"{HTTPS}/v1/models", f"http://{MINIPC}:8081/v1/models"):
        refused = outside.run(f"curl -sk -o /dev/null --connect-timeout 3 --max-time 5 {url}")
        assert refused.rc in (7, 28), (url, refused.rc)  # the firewall drops it
    inside = host("hx-home").run(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 "
                                 f"-H 'Authorization: Bearer {API_KEY}' http://{MINIPC}:8081/v1/models")
    assert inside.stdout == "200", inside.stdout  # 8081 kept public (the inventory's default), within the allowlist
    # nginx's own allow/deny, behind the firewall: 127.0.0.1 is not in the allowlist.
    local = host("hx-minipc").run(f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 10 -H 'Host: {MINIPC}' "
                                  "https://127.0.0.1:8443/v1/models")
    assert local.stdout == "403", local.stdout
    # frps' tcp proxy port stays public here (exposure "public"): bound on all addresses.
    assert host("hx-minipc").socket("tcp://0.0.0.0:8081").is_listening


def test_rate_limit_spares_a_well_behaved_client(home):
    """hx-home fires 400 requests, 40 at a time; the controller, alongside, calls 4 times a second."""
    errors, calls, stop = [], [], threading.Event()
    client = openai.DefaultHttpxClient(verify=str(PRIVATE_CA), timeout=30, headers={"Authorization": f"Bearer {API_KEY}"})

    def polite():
        while not stop.is_set():
            try:
                status = client.get(f"{HTTPS}/v1/models").status_code
            except Exception as exc:  # noqa: BLE001 - any failure is an error of the polite client
                status = repr(exc)
            calls.append(status)
            if status != 200:
                errors.append(status)
            time.sleep(0.25)

    thread = threading.Thread(target=polite)
    thread.start()
    try:
        flood = home.run(f"curl -s -o /dev/null -w '%{{http_code}}\\n' --parallel --parallel-max 40 --max-time 60 "
                         f"--cacert /tmp/private-ca.crt -H 'Authorization: Bearer {API_KEY}' '{HTTPS}/v1/models?n=[1-400]'")
        time.sleep(1)
    finally:
        stop.set()
        thread.join()
    codes = flood.stdout.split()
    assert len(codes) == 400, flood.stdout[-300:]
    assert codes.count("429") >= 100, {c: codes.count(c) for c in set(codes)}
    assert codes.count("200") >= 60, {c: codes.count(c) for c in set(codes)}  # the burst passes
    assert len(calls) >= 3 and errors == [], (len(calls), errors)
    time.sleep(1.5)
    burst = home.run(f"curl -s -D - -o /dev/null --parallel --parallel-max 40 --cacert /tmp/private-ca.crt "
                     f"'{HTTPS}/v1/models?n=[1-150]'")
    assert "retry-after: 2" in burst.stdout.lower(), burst.stdout[-500:]


def test_renewal_under_50_streams():
    """Force an ACME renewal while 50 streams run through the ACME site: the new certificate is served, none is cut."""
    root = pebble_root()
    cafile = "/tmp/hx-pebble-root.crt"
    with open(cafile, "w", encoding="utf-8") as handle:
        handle.write(root)
    before = served_cert("acme.hx-lab.test", cafile)["der"]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        futures = [pool.submit(stream, "acme.hx-lab.test", cafile, 60, 250) for _ in range(50)]
        time.sleep(2)
        renew = host("hx-minipc").run("REQUESTS_CA_BUNDLE=/etc/https-front/acme-server-ca.pem "
                                      "certbot renew --force-renewal --cert-name acme.hx-lab.test --no-random-sleep-on-renew")
        renewed_at = time.monotonic()
        results = [f.result() for f in futures]
    assert renew.rc == 0, renew.stdout + renew.stderr
    cut = [r for r in results if not (r["status"] == 200 and r["done"] and r["chunks"] >= 60)]
    assert cut == [], cut[:3]
    # The renewal (and its reload) finished while every stream still ran, else this proves nothing.
    assert renewed_at - started < min(r["seconds"] for r in results), (renewed_at - started, renew.stdout)
    after = served_cert("acme.hx-lab.test", cafile)["der"]
    assert after != before, "nginx still serves the old certificate"
    assert "fullchain2.pem" in host("hx-minipc").check_output("ls /etc/letsencrypt/archive/acme.hx-lab.test/")


def test_zz_long_non_streamed_call(long_call):
    """The 75 s non-streamed completion started with the session passed nginx (its default would cut it at 60 s)."""
    long_call.join(timeout=150)
    assert LONG_CALL.get("status") == 200, LONG_CALL
    assert LONG_CALL["seconds"] >= 70, LONG_CALL
