# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lisyoen.frp.tunnel_pki run for real with ansible-playbook, on localhost only, in a throw-away PKI folder.

The role's no-change fast path (one find, then an in-process decision in vars/main.yml) must run no module of
ca.yml or issue.yml when everything is current, and still send through them whatever drifted: a key's mode, a
deleted or foreign certificate, new SANs, the renew window, an edited bundle, a lost CA. The first run's PKI is
shared (module scope); each test that changes something works on its own copy.
"""

import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
LEAVES = ("minipc", "spark", "spark2")
CLIENTS = ("spark", "spark2")
SERVER_NAME = "frps.lisyoen-frp.internal"
# What a no-change run may execute: the role's argument check, its assert, ONE find, and set_fact.
NO_MODULE_ACTIONS = {"ansible.builtin.validate_argument_spec", "ansible.builtin.assert", "ansible.builtin.set_fact"}

PLAYBOOK = """\
- name: Issue the tunnel's certificates on the controller (as playbooks/site.yml's first play)
  hosts: frp_servers[0]
  gather_facts: false
  roles:
    - role: lisyoen.frp.tunnel_pki
"""


def _inventory(python):
    local = {"ansible_connection": "local", "ansible_python_interpreter": python}
    return {"all": {"children": {
        "frp_servers": {"hosts": {"minipc": dict(local)}},
        "frp_clients": {"hosts": {"spark": dict(local), "spark2": dict(local)}},
    }}}


class Run:
    """One ansible-playbook run (json stdout callback): its recap and what each task did."""

    def __init__(self, proc):
        self.proc = proc
        self.output = proc.stdout + proc.stderr
        assert proc.returncode == 0, self.output[-4000:]
        data = json.loads(proc.stdout)
        self.stats = data["stats"]["minipc"]
        # (task name, action, result) for every task minipc ran (skipped ones included).
        self.tasks = [(task["task"]["name"], result.get("action"), result)
                      for play in data["plays"] for task in play["tasks"]
                      for host, result in task["hosts"].items() if host == "minipc"]

    @property
    def executed(self):
        """The actions of the tasks that ran (not skipped), in order."""
        return [action for _name, action, result in self.tasks if not result.get("skipped")]

    def issued_for(self):
        """The hosts whose certificate went through issue.yml (its tasks are named '... of <host>')."""
        return {name.rsplit(" of ", 1)[1] for name, action, result in self.tasks
                if action == "community.crypto.x509_certificate" and " of " in name}

    def ca_ran(self):
        ca_key_task = "CA key (0600; it never leaves the controller)"
        return any(action == "community.crypto.openssl_privatekey" and name.endswith(ca_key_task)
                   for name, action, _result in self.tasks)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Inventory, playbook and a runner; `run(pki_dir, **extra_vars)` checks no key text leaked."""
    base = tmp_path_factory.mktemp("tunnel-pki")
    (base / "inventory.yml").write_text(yaml.safe_dump(_inventory(sys.executable)))
    (base / "playbook.yml").write_text(PLAYBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="true",
               ANSIBLE_LOCAL_TEMP=str(base / "ansible-tmp"))

    def run(pki, **extra):
        keys_before = _key_bodies(pki)
        variables = dict(extra, tunnel_pki_dir=str(pki))
        proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(base / "inventory.yml"), str(base / "playbook.yml"),
                               "-e", json.dumps(variables)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        result = Run(proc)
        # No private key, old or new, may appear in anything ansible printed.
        for body in keys_before | _key_bodies(pki):
            assert body not in result.output, "a private key's text is in the ansible output"
        return result

    return run


@pytest.fixture(scope="module")
def first(lab, tmp_path_factory):
    """The first run, into an empty folder: (its Run, the folder)."""
    pki = tmp_path_factory.mktemp("pki-first") / "pki"
    return lab(pki), pki


@pytest.fixture
def pki(first, tmp_path):
    """A private copy of the first run's PKI, modes kept."""
    copy = tmp_path / "pki"
    shutil.copytree(first[1], copy)
    return copy


def _key_bodies(pki):
    """Text that betrays a private key of the folder: each key's first base64 line (it holds the private value;
    the last line of an EC key holds its public point, which certificates show too), and its whole body."""
    bodies = set()
    for key in Path(pki).glob("**/*.key") if Path(pki).exists() else []:
        lines = [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
        if lines:
            bodies.update((lines[0], "".join(lines), "\\n".join(lines)))
    return bodies


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def _cert(path):
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _snapshot(pki):
    return {str(p.relative_to(pki)): p.read_bytes() for p in pki.glob("**/*") if p.is_file()}


def _changed_files(before, pki):
    after = _snapshot(pki)
    return {name for name in set(before) | set(after) if before.get(name) != after.get(name)}


def _sans(cert):
    return [("DNS:%s" if isinstance(v, x509.DNSName) else "IP:%s") % v.value
            for v in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]


def _days_left(cert):
    end = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return (end - datetime.datetime.now(datetime.timezone.utc)).days


def _assert_issued_by(cert, ca):
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    assert cert.issuer == ca.subject


def _assert_complete(pki):
    """Everything the role makes, with its modes, and every certificate from the folder's CA."""
    assert {_mode(p) for p in (pki, pki / "issued", pki / "export")} == {0o700}
    assert _mode(pki / "ca.key") == 0o600 and _mode(pki / "ca.crt") == 0o644
    ca = _cert(pki / "ca.crt")
    for host in LEAVES:
        assert _mode(pki / "issued" / f"{host}.key") == 0o600
        assert _mode(pki / "issued" / f"{host}.crt") == 0o644
        _assert_issued_by(_cert(pki / "issued" / f"{host}.crt"), ca)
    for host in CLIENTS:
        bundle_path = pki / "export" / f"{host}.yml"
        assert _mode(bundle_path) == 0o600
        bundle = yaml.safe_load(bundle_path.read_text())
        assert bundle == {
            "frpc_client_tls_cert": (pki / "issued" / f"{host}.crt").read_text().rstrip("\n"),
            "frpc_client_tls_key": (pki / "issued" / f"{host}.key").read_text().rstrip("\n"),
            "frpc_client_tls_ca_cert": (pki / "ca.crt").read_text().rstrip("\n"),
        }


def _assert_nothing_ran(run):
    """changed=0 and not one module of ca.yml, issue.yml or the folders' task: the fast path's point."""
    assert run.stats["changed"] == 0, run.stats
    executed = run.executed
    assert executed.count("ansible.builtin.find") == 1, executed
    assert set(executed) - {"ansible.builtin.find"} <= NO_MODULE_ACTIONS, executed


def _other_ca_leaf(pki, host):
    """A certificate for host with its own key, names and usages, and even a CA of the same name: but another CA."""
    other_key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lisyoen.frp tunnel CA")])
    leaf_key = serialization.load_pem_private_key((pki / "issued" / f"{host}.key").read_bytes(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=800))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(other_key.public_key()), critical=False)
            .sign(other_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _short_ca_cert(pki, days):
    """The folder's CA certificate again (same key, subject and extensions), but ending in `days`."""
    ca = _cert(pki / "ca.crt")
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(ca.subject).issuer_name(ca.subject)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days)))
    for ext in ca.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_first_run_creates_the_ca_three_certificates_and_two_bundles(first):
    run, pki = first
    assert run.stats["changed"] > 0 and run.stats["failures"] == 0
    _assert_complete(pki)
    ca = _cert(pki / "ca.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject.rfc4514_string() == "CN=lisyoen.frp tunnel CA"
    assert _sans(_cert(pki / "issued" / "minipc.crt")) == [f"DNS:{SERVER_NAME}"]
    assert _cert(pki / "issued" / "spark.crt").extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    assert run.issued_for() == set(LEAVES)


def test_a_second_run_changes_nothing_and_runs_no_module_but_one_find(lab, pki):
    before = _snapshot(pki)
    run = lab(pki)
    _assert_nothing_ran(run)
    assert _changed_files(before, pki) == set()
    # The hosts are still told their certificate is checked.
    assert any(name.endswith("Tell each host that its certificate is checked") and not result.get("skipped")
               for name, _action, result in run.tasks)


def test_key_modes_are_put_back_without_reissuing(lab, pki):
    (pki / "ca.key").chmod(0o644)
    (pki / "issued" / "spark.key").chmod(0o644)
    (pki / "export").chmod(0o755)
    before = _snapshot(pki)
    run = lab(pki)
    assert run.stats["changed"] > 0
    _assert_complete(pki)
    assert _changed_files(before, pki) == set(), "a mode fix rewrote a file"
    assert run.ca_ran() and run.issued_for() == {"spark"}
    _assert_nothing_ran(lab(pki))


def test_a_deleted_certificate_is_reissued_and_only_it(lab, pki):
    (pki / "issued" / "spark2.crt").unlink()
    before = _snapshot(pki)
    run = lab(pki)
    _assert_complete(pki)
    assert run.issued_for() == {"spark2"} and not run.ca_ran()
    assert _changed_files(before, pki) == {"issued/spark2.crt", "export/spark2.yml"}
    _assert_nothing_ran(lab(pki))


def test_new_server_sans_reissue_the_server_certificate(lab, pki):
    before = _snapshot(pki)
    sans = ["tunnel.example.org", "203.0.113.7"]
    run = lab(pki, tunnel_pki_server_sans=sans)
    _assert_complete(pki)
    assert run.issued_for() == {"minipc"}
    assert _changed_files(before, pki) == {"issued/minipc.crt"}
    assert _sans(_cert(pki / "issued" / "minipc.crt")) == [
        f"DNS:{SERVER_NAME}", "IP:203.0.113.7", "DNS:tunnel.example.org"]
    _assert_nothing_ran(lab(pki, tunnel_pki_server_sans=sans))


def test_certificates_in_the_renew_window_are_reissued(lab, pki):
    before = _snapshot(pki)
    lifetimes = {"tunnel_pki_renew_days": 900, "tunnel_pki_valid_days": 1000, "tunnel_pki_ca_valid_days": 3650}
    run = lab(pki, **lifetimes)
    _assert_complete(pki)
    # The CA (3650 days) is not in a 900-day window; the 825-day certificates are.
    assert run.issued_for() == set(LEAVES) and not run.ca_ran()
    assert _changed_files(before, pki) == {f"issued/{h}.crt" for h in LEAVES} | {f"export/{h}.yml" for h in CLIENTS}
    assert _days_left(_cert(pki / "issued" / "spark.crt")) >= 999
    _assert_nothing_ran(lab(pki, **lifetimes))


def test_a_certificate_from_another_ca_is_reissued(lab, pki):
    (pki / "issued" / "spark.crt").write_bytes(_other_ca_leaf(pki, "spark"))
    # Its bundle says the same, so only the certificate itself gives it away.
    (pki / "export" / "spark.yml").write_text(yaml.safe_dump({
        "frpc_client_tls_cert": (pki / "issued" / "spark.crt").read_text().rstrip("\n"),
        "frpc_client_tls_key": (pki / "issued" / "spark.key").read_text().rstrip("\n"),
        "frpc_client_tls_ca_cert": (pki / "ca.crt").read_text().rstrip("\n")}))
    before = _snapshot(pki)
    run = lab(pki)
    _assert_complete(pki)
    assert run.issued_for() == {"spark"}
    assert _changed_files(before, pki) == {"issued/spark.crt", "export/spark.yml"}


def test_an_edited_bundle_is_rewritten(lab, pki):
    bundle = pki / "export" / "spark2.yml"
    bundle.write_text(bundle.read_text() + "# edited by hand\n")
    before = _snapshot(pki)
    run = lab(pki)
    _assert_complete(pki)
    assert run.issued_for() == {"spark2"}
    assert _changed_files(before, pki) == {"export/spark2.yml"}


def test_a_lost_ca_key_makes_a_new_ca_and_reissues_every_certificate(lab, pki):
    # The certificates still match the old CA certificate: only "the CA was just re-created" reissues them.
    (pki / "ca.key").unlink()
    old_ca = _cert(pki / "ca.crt")
    run = lab(pki)
    _assert_complete(pki)
    assert run.ca_ran() and run.issued_for() == set(LEAVES)
    assert _cert(pki / "ca.crt").public_key() != old_ca.public_key()
    _assert_nothing_ran(lab(pki))


def test_a_renewed_ca_keeps_the_certificates_and_updates_the_bundles(lab, pki):
    (pki / "ca.crt").write_bytes(_short_ca_cert(pki, days=10))
    before = _snapshot(pki)
    run = lab(pki)
    _assert_complete(pki)
    assert run.ca_ran() and run.issued_for() == set(LEAVES)
    # Same key and subject: the certificates it signed stay valid and are kept; the bundles carry the new CA.
    assert _changed_files(before, pki) == {"ca.crt"} | {f"export/{h}.yml" for h in CLIENTS}
    assert _days_left(_cert(pki / "ca.crt")) >= 3649
    _assert_nothing_ran(lab(pki))
