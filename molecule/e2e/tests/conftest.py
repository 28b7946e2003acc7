"""Shared helpers for the end-to-end tests: lab hosts, the tunnel URL, the lab's secrets, and the
faults (a host cut off silently, a power cut) that test_faults.py and test_failover.py both cause."""

import contextlib
import hashlib
import os
import pathlib
import subprocess
import time

import pytest
import requests
import testinfra

ROOT = pathlib.Path(__file__).resolve().parents[3]
TUNNEL = "http://127.0.0.1:18081"
# The office servers' addresses on the office network, behind officegw.
OFFICE_HOSTS = {"spark": "10.213.20.10", "spark2": "10.213.20.11"}


def lab_host(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="session")
def minipc():
    return lab_host("minipc")


@pytest.fixture(scope="session")
def spark():
    return lab_host("spark")


@pytest.fixture(scope="session")
def spark2():
    return lab_host("spark2")


@pytest.fixture(scope="session")
def api_key():
    return os.environ["LAB_LLM_API_KEY"]


@pytest.fixture(scope="session")
def frp_token():
    return os.environ["LAB_FRP_TOKEN"]


@pytest.fixture(scope="session")
def lb_group_key(frp_token):
    """The office servers' load-balancing group key, derived as the lab's group_vars derive it."""
    return hashlib.sha256(f"{frp_token} load-balancing group".encode()).hexdigest()


def lab_inventory():
    """The inventory molecule wrote for this scenario, with the linked group_vars."""
    inv = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    assert (inv / "group_vars" / "all" / "mapping.yml").exists(), f"lab inventory incomplete: {inv}"
    return inv


def single_server_inventory():
    """The lab as the user's inventory is today: spark alone in frp_clients (spark2 set aside)."""
    import yaml  # pylint: disable=import-outside-toplevel

    lab = lab_inventory()
    inv = lab.parent / "inventory-single-server"
    inv.mkdir(exist_ok=True)
    for link in ("group_vars", "host_vars"):
        if not (inv / link).exists():
            (inv / link).symlink_to((lab / link).resolve())
    data = yaml.safe_load((lab / "ansible_inventory.yml").read_text())
    spare = data["frp_clients"]["hosts"].pop("spark2")
    data["lab_spare_clients"] = {"hosts": {"spark2": spare}}
    (inv / "ansible_inventory.yml").write_text(yaml.safe_dump(data))
    return inv


@contextlib.contextmanager
def single_server_mode(runs=1):
    """The user's setup of today inside the two-server lab: spark2 leaves frp_clients (its frpc stops) and
    site.yml (`runs` times) puts spark back on the plain proxy `llm-api`, without a group or health check.
    Afterwards spark's two-server config comes back as converged (no site.yml run needed) and spark2 rejoins."""
    spark, spark2 = lab_host("spark"), lab_host("spark2")
    inv = single_server_inventory()
    assert spark.run("cp -p /etc/frp/frpc.toml /etc/frp/.frpc.toml.two-servers").rc == 0
    assert spark2.run("systemctl stop frpc").rc == 0
    try:
        results = [run_playbook("site.yml", "--limit", "spark", inventory=inv) for _ in range(runs)]
        for res in results:
            assert res.returncode == 0, res.stdout[-3000:]
        yield inv, results
    finally:
        assert spark.run("mv -f /etc/frp/.frpc.toml.two-servers /etc/frp/frpc.toml && systemctl restart frpc").rc == 0
        assert spark2.run("systemctl start frpc").rc == 0


@pytest.fixture(scope="module")
def spark_alone():
    """A module that talks to spark's own API through the tunnel gets the single-server setup."""
    with single_server_mode() as (inv, _):
        yield inv


@pytest.fixture(autouse=True)
def _litellm_tests_reach_spark_alone(request):
    # test_litellm.py checks spark's real LiteLLM through the tunnel, error by error, as one server: with
    # spark2 in the group, every other connection would reach spark2's stand-in instead.
    if request.module.__name__ == "test_litellm":
        request.getfixturevalue("spark_alone")


def run_playbook(playbook, *args, timeout=600, inventory=None):
    """Run one of the collection's playbooks against the lab, as a user would from the repo root."""
    inv = inventory or lab_inventory()
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)  # use the repo's ansible.cfg, exactly as the user does
    env["ANSIBLE_INVENTORY"] = str(inv)  # belt and braces: never the user's home.yml
    env["ANSIBLE_FORCE_COLOR"] = "false"
    cmd = ["ansible-playbook", "-i", str(inv), str(ROOT / "playbooks" / playbook), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def serving(api_key, timeout=1.0):
    """True when /v1/models answers 200 through the tunnel (on a new connection)."""
    try:
        r = requests.get(
            f"{TUNNEL}/v1/models",
            headers={"Host": "llm.local", "Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )
    except requests.RequestException:
        return False
    return r.status_code == 200


def wait_serving(api_key, limit):
    """Seconds until the tunnel serves again, polling every 50 ms; fails after `limit` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if serving(api_key):
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"the tunnel did not serve again within {limit} s")


@contextlib.contextmanager
def cut_off(name):
    """The office router silently drops everything to and from one office server (no reset, no ICMP)."""
    ip = OFFICE_HOSTS[name]
    rules = [f"FORWARD -s {ip} -j DROP", f"FORWARD -d {ip} -j DROP"]
    gw = lab_host("officegw")
    for rule in rules:
        assert gw.run(f"iptables -I {rule}").rc == 0
    try:
        yield
    finally:
        for rule in rules:
            gw.run(f"iptables -D {rule}")


def api_unit(host):
    """The unit that serves the API port frpc carries: the real LiteLLM where prepare_litellm.yml put one in
    front of the stand-in (spark), else the stand-in itself (llm-api)."""
    return "litellm" if host.run("systemctl cat litellm.service").rc == 0 else "llm-api"


def power_off(name):
    """Pull the plug: SIGKILL to the container's init, nothing shuts down cleanly, nothing says goodbye."""
    subprocess.run(["docker", "kill", name], check=True, capture_output=True)


def power_on(name):
    subprocess.run(["docker", "start", name], check=True, capture_output=True)
