"""Shared helpers for the end-to-end tests: lab hosts, the tunnel URL, the lab's secrets."""

import os
import pathlib
import subprocess

import pytest
import testinfra

ROOT = pathlib.Path(__file__).resolve().parents[3]
TUNNEL = "http://127.0.0.1:18081"


def lab_host(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="session")
def minipc():
    return lab_host("minipc")


@pytest.fixture(scope="session")
def spark():
    return lab_host("spark")


@pytest.fixture(scope="session")
def api_key():
    return os.environ["LAB_LLM_API_KEY"]


@pytest.fixture(scope="session")
def frp_token():
    return os.environ["LAB_FRP_TOKEN"]


def lab_inventory():
    """The inventory molecule wrote for this scenario, with the linked group_vars."""
    inv = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    assert (inv / "group_vars" / "all" / "mapping.yml").exists(), f"lab inventory incomplete: {inv}"
    return inv


def run_playbook(playbook, *args, timeout=600):
    """Run one of the collection's playbooks against the lab, as a user would from the repo root."""
    inv = lab_inventory()
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)  # use the repo's ansible.cfg, exactly as the user does
    env["ANSIBLE_INVENTORY"] = str(inv)  # belt and braces: never the user's home.yml
    env["ANSIBLE_FORCE_COLOR"] = "false"
    cmd = ["ansible-playbook", "-i", str(inv), str(ROOT / "playbooks" / playbook), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
