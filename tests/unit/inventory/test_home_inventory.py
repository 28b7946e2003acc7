"""The user's inventory, checked offline only: nothing here connects to its hosts."""

import json
import os
import pathlib
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
GROUP_VARS = ROOT / "inventory" / "group_vars" / "all"


def _ansible_env():
    env = dict(os.environ)
    env.pop("ANSIBLE_INVENTORY", None)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    return env


def test_inventory_lists_the_two_hosts_in_their_groups():
    out = subprocess.run(
        ["ansible-inventory", "-i", str(ROOT / "inventory" / "home.yml"), "--list"],
        cwd=ROOT, env=_ansible_env(), capture_output=True, text=True, check=True,
    ).stdout
    inv = json.loads(out)
    assert inv["frp_servers"]["hosts"] == ["minipc"]
    assert inv["frp_clients"]["hosts"] == ["spark"]
    hostvars = inv["_meta"]["hostvars"]
    assert hostvars["minipc"]["ansible_host"] == "192.168.50.196"
    assert hostvars["spark"]["ansible_host"] == "172.21.113.31"
    assert hostvars["minipc"]["frp_public_addr"] == "110.13.119.7"
    assert hostvars["spark"]["frpc_client_auth_token"] == "{{ vault_frp_auth_token }}"


def test_playbooks_pass_syntax_check_against_the_home_inventory():
    for playbook in ("site.yml", "verify.yml"):
        res = subprocess.run(
            ["ansible-playbook", "--syntax-check", "-i", "inventory/home.yml", f"playbooks/{playbook}"],
            cwd=ROOT, env=_ansible_env(), capture_output=True, text=True, check=False,
        )
        assert res.returncode == 0, res.stdout + res.stderr


def _required_role_args(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    return {name for name, spec in options.items() if spec.get("required")}


def test_mapping_sets_every_required_role_variable():
    mapping = yaml.safe_load((GROUP_VARS / "mapping.yml").read_text())
    for role in ("frps_server", "frpc_client"):
        missing = _required_role_args(role) - set(mapping)
        assert not missing, f"mapping.yml leaves {role}'s required {sorted(missing)} unset"


def test_secrets_come_from_the_vault_and_the_example_holds_only_placeholders():
    mapping = yaml.safe_load((GROUP_VARS / "mapping.yml").read_text())
    assert mapping["frps_server_auth_token"] == "{{ vault_frp_auth_token }}"
    assert mapping["llm_api_key"] == "{{ vault_llm_api_key }}"
    example = yaml.safe_load((GROUP_VARS / "vault.yml.example").read_text())
    assert example == {"vault_frp_auth_token": "CHANGE_ME", "vault_llm_api_key": "CHANGE_ME",
                       "vault_frp_dashboard_password": "CHANGE_ME"}
    assert mapping["tunnel_health_api_key"] == "{{ vault_llm_api_key }}"
    tracked = subprocess.run(
        ["git", "ls-files", "inventory"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert not any(line.endswith("/vault.yml") for line in tracked.splitlines()), tracked


def test_lab_links_the_very_same_mapping():
    lab = ROOT / "molecule" / "e2e" / "inventory" / "group_vars" / "all" / "mapping.yml"
    assert lab.is_symlink()
    assert lab.resolve() == (GROUP_VARS / "mapping.yml").resolve()
    lab_site = yaml.safe_load((lab.parent / "site.yml").read_text())
    assert lab_site["frp_public_addr"].startswith("10.213."), "the lab must never use a real address"
    assert lab_site["frp_probe_url"].startswith("http://127.0.0.1:")
