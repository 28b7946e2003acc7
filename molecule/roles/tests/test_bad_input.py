"""Bad input fails before anything changes, with a message that names the variable.

Each case is one ansible-playbook run that applies one role to one lab host with good variables except
one; it must exit non-zero, name the variable, and report no change. Cases run against a host where that
role is installed (its files must stay byte- and mtime-identical, its service must not restart) and
against the other host, where that role was never applied (nothing of it may appear there). Both hosts
are snapshotted before and after all cases.
"""

import json
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import testinfra
from conftest import run_playbook

ARCHIVE_DIR = os.environ.get("LAB_FRP_ARCHIVE_DIR", "")
ARCHIVE = f"{ARCHIVE_DIR}/frp_0.65.0_linux_amd64.tar.gz"
GOOD_TOKEN = "good-token-4f9a2c7e1b8d-Qm3xK7pV0sLw9ZtR"

GOOD = {
    "frps_server": {"frp_archive_src": ARCHIVE, "frps_server_auth_token": GOOD_TOKEN},
    "frpc_client": {
        "frp_archive_src": ARCHIVE,
        "frpc_client_server_addr": "roles-minipc",
        "frpc_client_auth_token": GOOD_TOKEN,
    },
}


def _proxy(**changes):
    proxy = {"name": "llm-api", "type": "http", "local_port": 4000, "custom_domains": ["llm.local"]}
    proxy.update(changes)
    return [{k: v for k, v in proxy.items() if v is not None}]


# (id, role, host, bad variables, raw YAML appended for values that need !unsafe, text the message must contain)
CASES = [
    ("token-empty", "frps_server", "roles-spark", {"frps_server_auth_token": ""}, "", "frps_server_auth_token is empty"),
    ("token-CHANGE_ME", "frps_server", "roles-minipc", {"frps_server_auth_token": "CHANGE_ME"}, "",
     "frps_server_auth_token still holds a placeholder"),
    ("token-changeme", "frps_server", "roles-spark", {"frps_server_auth_token": "changeme"}, "",
     "frps_server_auth_token still holds a placeholder"),
    ("token-angle-brackets", "frps_server", "roles-minipc", {"frps_server_auth_token": "<your frp token>"}, "",
     "frps_server_auth_token still holds a placeholder"),
    ("token-shell-var", "frps_server", "roles-spark", {"frps_server_auth_token": "${FRP_TOKEN}"}, "",
     "frps_server_auth_token still holds a placeholder"),
    ("token-go-template", "frps_server", "roles-minipc", {}, "frps_server_auth_token: !unsafe 'abc{{def-9f8e7d'\n",
     "frps_server_auth_token contains a double opening brace"),
    ("token-trailing-newline", "frps_server", "roles-spark",
     {"frps_server_auth_token": "Xk3-real-token-77-Qm3xK7pV0sLw9ZtR-8f\n"}, "",
     "frps_server_auth_token starts or ends with whitespace"),
    ("token-short", "frps_server", "roles-minipc", {"frps_server_auth_token": "Xk3-real-token-77"}, "",
     "frps_server_auth_token is 17 characters long: use at least 32"),
    ("token-not-random", "frpc_client", "roles-spark", {"frpc_client_auth_token": "abab" * 10}, "",
     "frpc_client_auth_token uses only 2 distinct characters"),
    ("tls-partial", "frpc_client", "roles-spark", {"frpc_client_tls_cert": "x"}, "",
     "frpc_client_tls_cert set, but not frpc_client_tls_key and frpc_client_tls_ca_cert"),
    ("tls-key-mismatch", "frps_server", "roles-minipc", "TLS_KEY_MISMATCH", "", "frps_server_tls_key does not match frps_server_tls_cert"),
    ("bind-port-range", "frps_server", "roles-minipc", {"frps_server_bind_port": 70000}, "", "frps_server_bind_port"),
    ("bind-port-type", "frps_server", "roles-spark", {"frps_server_bind_port": "seven"}, "", "frps_server_bind_port"),
    ("ports-equal", "frps_server", "roles-minipc", {"frps_server_vhost_http_port": 7000}, "",
     "frps_server_bind_port and frps_server_vhost_http_port are all 7000"),
    ("no-client-port", "frps_server", "roles-spark", {"frps_server_vhost_http_port": 0, "frps_server_allow_ports": []}, "",
     "frps_server_vhost_http_port is 0 and frps_server_allow_ports is empty"),
    ("allow-port-is-bind-port", "frps_server", "roles-minipc", {"frps_server_allow_ports": [7000]}, "",
     "frps_server_bind_port and frps_server_allow_ports are all 7000"),
    ("allow-port-range", "frps_server", "roles-spark", {"frps_server_allow_ports": [8081, 70000]}, "",
     "frps_server_allow_ports is '70000'"),
    ("dashboard-no-password", "frps_server", "roles-minipc",
     {"frps_server_dashboard_enabled": True, "frps_server_dashboard_user": "admin", "frps_server_dashboard_password": ""}, "",
     "frps_server_dashboard_password is empty"),
    ("archive-missing", "frps_server", "roles-spark", {"frp_archive_src": "/nonexistent/frp_0.65.0_linux_amd64.tar.gz"},
     "", "frp_archive_src '/nonexistent/frp_0.65.0_linux_amd64.tar.gz' is not a file"),
    ("archive-wrong-arch", "frps_server", "roles-minipc",
     {"frp_archive_src": f"{ARCHIVE_DIR}/frp_0.65.0_linux_arm64.tar.gz"}, "",
     "needs the release archive frp_0.65.0_linux_amd64.tar.gz"),
    ("archive-wrong-sha256", "frps_server", "roles-spark", {"frp_archive_sha256": "0" * 64}, "",
     "frp_archive_sha256"),
    ("archive-bad-checksum-file", "frps_server", "roles-minipc", "BAD_CHECKSUM_FILE", "", "sha256 mismatch"),
    ("version-with-v", "frps_server", "roles-spark", {"frp_version": "v0.65.0"}, "", "frp_version is 'v0.65.0'"),
    # The per-role name of collection 1.0 still wins, and the message names it.
    ("version-deprecated-name", "frpc_client", "roles-minipc", {"frpc_client_version": "0.65"}, "",
     "frpc_client_version is '0.65'"),
    ("firewall-not-bool", "frps_server", "roles-minipc", {"frps_server_firewall": "maybe"}, "", "frps_server_firewall"),
    ("allow-from-garbage", "frps_server", "roles-spark", {"frps_server_allow_from": ["my office"]}, "",
     "frps_server_allow_from has 'my office'"),
    # The deprecated name is still read (and checked) while it is set.
    ("allow-from-deprecated-name-garbage", "frps_server", "roles-minipc", {"frps_server_vhost_http_allow_from": ["my office"]},
     "", "frps_server_vhost_http_allow_from has 'my office'"),
    ("server-addr-empty", "frpc_client", "roles-minipc", {"frpc_client_server_addr": ""}, "", "frpc_client_server_addr"),
    ("server-addr-url", "frpc_client", "roles-spark", {"frpc_client_server_addr": "http://roles-minipc:7000"}, "",
     "frpc_client_server_addr"),
    ("server-addr-placeholder", "frpc_client", "roles-minipc", {"frpc_client_server_addr": "CHANGE_ME"}, "",
     "frpc_client_server_addr"),
    ("client-token-vault-name", "frpc_client", "roles-spark", {"frpc_client_auth_token": "vault_frp_auth_token"}, "",
     "frpc_client_auth_token still holds a placeholder"),
    ("client-token-empty", "frpc_client", "roles-minipc", {"frpc_client_auth_token": ""}, "", "frpc_client_auth_token is empty"),
    ("server-port-zero", "frpc_client", "roles-spark", {"frpc_client_server_port": 0}, "", "frpc_client_server_port"),
    ("server-port-range", "frpc_client", "roles-minipc", {"frpc_client_server_port": 65536}, "", "frpc_client_server_port"),
    ("proxies-empty", "frpc_client", "roles-spark", {"frpc_client_proxies": []}, "", "frpc_client_proxies is empty"),
    ("proxy-names-duplicate", "frpc_client", "roles-minipc", {"frpc_client_proxies": _proxy() + _proxy(local_port=4001)}, "",
     "frpc_client_proxies[0] has the name 'llm-api'"),
    ("proxy-name-empty", "frpc_client", "roles-spark", {"frpc_client_proxies": _proxy(name="")}, "",
     "frpc_client_proxies[0] has the name ''"),
    ("proxy-type-unknown", "frpc_client", "roles-minipc", {"frpc_client_proxies": _proxy(type="htttp")}, "",
     "frpc_client_proxies"),
    ("proxy-local-port-range", "frpc_client", "roles-spark", {"frpc_client_proxies": _proxy(local_port=70000)}, "",
     "frpc_client_proxies[0] ('llm-api'): local_port"),
    ("proxy-http-no-domain", "frpc_client", "roles-minipc", {"frpc_client_proxies": _proxy(custom_domains=None)}, "",
     "frpc_client_proxies[0] ('llm-api') is of type http"),
    ("proxy-unknown-key", "frpc_client", "roles-spark", {"frpc_client_proxies": _proxy(local_prot=4000)}, "",
     "frpc_client_proxies"),
    ("proxy-go-template", "frpc_client", "roles-minipc", {},
     "frpc_client_proxies:\n  - {name: llm-api, type: http, local_port: 4000, custom_domains: [!unsafe 'llm{{.local']}\n",
     "frpc_client_proxies[0] ('llm-api') has a value containing a double opening brace"),
    ("proxy-health-no-path", "frpc_client", "roles-spark", {"frpc_client_proxies": _proxy(health_check={"type": "http"})}, "",
     "frpc_client_proxies[0] ('llm-api') has an http health_check"),
]

SNAPSHOT = r"""
for f in /etc/frp /etc/frp/* /usr/local/bin/frps /usr/local/bin/frpc /etc/systemd/system/frps.service \
         /etc/systemd/system/frpc.service /var/log/frp; do
  [ -e "$f" ] || continue
  stat -c '%n %y %a %U %G %s' "$f"
  [ -f "$f" ] && sha256sum "$f"
done
getent passwd frps frpc; getent group frps frpc
ufw status verbose
systemctl show -p Id -p ActiveEnterTimestamp -p MainPID -p NRestarts frps.service frpc.service
true
"""


def _host(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _snapshot():
    return {name: _host(name).check_output(SNAPSHOT) for name in ("roles-minipc", "roles-spark")}


def _bad_checksum_dir(tmp):
    # A real archive next to a checksum file that lists a different sha256 for it.
    folder = Path(tmp) / "bad-checksums"
    folder.mkdir()
    (folder / "frp_0.65.0_linux_amd64.tar.gz").write_bytes(Path(ARCHIVE).read_bytes())
    (folder / "frp_sha256_checksums.txt").write_text(f"{'1' * 64}  frp_0.65.0_linux_amd64.tar.gz\n")
    return {"frp_archive_src": str(folder / "frp_0.65.0_linux_amd64.tar.gz")}


def _run_case(tmp, case):
    """One ansible-playbook run: the role on the case's host, good variables plus the bad one as play vars
    (they beat the inventory's group_vars). Returns the return code, the failure messages and the host's stats."""
    case_id, role, host, bad, raw_yaml, _ = case
    if bad == "BAD_CHECKSUM_FILE":
        bad = _bad_checksum_dir(tmp)
    elif bad == "TLS_KEY_MISMATCH":
        bad = _mismatched_tls()
    variables = dict(GOOD[role], **bad)
    raw_keys = re.findall(r"^(\w+):", raw_yaml, re.M)
    lines = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in variables.items() if k not in raw_keys]
    # Values that must reach the role untemplated are given raw, with !unsafe.
    lines += [f"    {line}" for line in raw_yaml.splitlines()]
    playbook = Path(tmp) / f"{case_id}.yml"
    playbook.write_text(
        f"""---
- name: {json.dumps(f"bad input {case_id}")}
  hosts: {host}
  become: true
  gather_facts: false
  vars:
{chr(10).join(lines)}
  tasks:
    - name: Apply lisyoen.frp.{role}
      ansible.builtin.include_role:
        name: lisyoen.frp.{role}
"""
    )
    result = run_playbook(str(playbook), timeout=180, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        return {"rc": result.returncode, "messages": [result.stdout[-2000:], result.stderr[-2000:]], "stats": {}}
    messages = []
    for play in data["plays"]:
        for task in play["tasks"]:
            res = task["hosts"].get(host, {})
            if res.get("failed"):
                # A failed loop says "One or more items failed"; the items carry the messages.
                messages.append(f"{task['task']['name']}: {res.get('msg', '')}")
                # (the JSON callback drops the items' own "failed" flag; passed asserts say so)
                messages += [r.get("msg", "") for r in res.get("results", []) if r.get("msg") != "All assertions passed"]
    return {"rc": result.returncode, "messages": messages, "stats": data["stats"].get(host, {})}


@pytest.fixture(scope="module")
def outcome():
    assert os.path.isfile(ARCHIVE), f"LAB_FRP_ARCHIVE_DIR does not hold the lab archive: {ARCHIVE}"
    before = _snapshot()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(zip([c[0] for c in CASES], pool.map(lambda c: _run_case(tmp, c), CASES)))
    after = _snapshot()
    return {"before": before, "after": after, "runs": runs}


def _mismatched_tls():
    """A real CA certificate given with a key that is not its own."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bad-input CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    other_pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    return {"frps_server_tls_cert": pem, "frps_server_tls_key": other_pem, "frps_server_tls_ca_cert": pem}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_naming_the_variable(outcome, case):
    case_id, _, _, _, _, expected = case
    run = outcome["runs"][case_id]
    # Ansible folds long messages; compare with whitespace collapsed.
    message = " ".join(" ".join(run["messages"]).split())
    assert run["rc"] != 0, f"{case_id}: ansible-playbook succeeded: the role accepted the bad input"
    assert " ".join(expected.split()) in message, f"{case_id}: the failure does not say {expected!r}: {message!r}"
    # It failed before its first change.
    assert run["stats"].get("changed") == 0, run["stats"]
    assert run["stats"].get("failures") == 1, run["stats"]


@pytest.mark.parametrize("name", ["roles-minipc", "roles-spark"])
def test_bad_input_left_files_account_and_service_untouched(outcome, name):
    assert outcome["after"][name] == outcome["before"][name]


def test_never_installed_roles_left_no_trace(outcome):
    # frps_server's bad cases ran on spark and frpc_client's on minipc, where those roles never ran.
    spark, minipc = _host("roles-spark"), _host("roles-minipc")
    for host, prog in ((spark, "frps"), (minipc, "frpc")):
        assert not host.user(prog).exists
        assert not host.group(prog).exists
        assert not host.file(f"/usr/local/bin/{prog}").exists
        assert not host.file(f"/etc/frp/{prog}.toml").exists
        assert not host.file(f"/etc/frp/{prog}.token").exists
        assert not host.file(f"/etc/systemd/system/{prog}.service").exists
    assert "Status: inactive" in spark.check_output("ufw status"), "frps_server's firewall never ran on roles-spark"


def test_office_host_running_its_own_play_without_its_bundle_stops_before_any_change(tmp_path):
    """The README's Spark step: site.yml run on the office host itself (--connection local). With neither its
    certificate bundle nor the tunnel's CA on that machine, frpc_client must stop in its checks and say how to
    bring the bundle. Run in check mode as well, so that even a broken guard could not change this machine."""
    playbook = tmp_path / "spark-local.yml"
    variables = dict(GOOD["frpc_client"], ansible_connection="local", tunnel_pki_dir=str(tmp_path / "no-ca-here"))
    playbook.write_text(
        "---\n- name: The office host's own run, without its bundle\n  hosts: roles-spark\n  gather_facts: false\n"
        f"  vars: {json.dumps(variables)}\n  roles:\n    - role: lisyoen.frp.frpc_client\n"
    )
    result = run_playbook(str(playbook), "--check", timeout=180)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert "runs its own play (--connection local)" in out, out[-3000:]
    assert "ansible-vault encrypt" in out and "export/roles-spark.yml" in out, out[-3000:]
    assert not (tmp_path / "no-ca-here").exists(), "the guard let tunnel_pki create a CA on the office host"
