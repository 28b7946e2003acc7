"""lisyoen.frp.drifted: a file is written again exactly when find saw it missing or different."""

import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lisyoen.frp.plugins.filter.drifted import drifted

CONTENT = b"serverAddr = \"10.0.0.1\"\n"
SHA1 = hashlib.sha1(CONTENT).hexdigest()
WANT_FILE = {"path": "/etc/frp/frpc.toml", "owner": "root", "group": "frpc", "mode": "0640", "sha1": SHA1,
             "content": CONTENT.decode()}
WANT_DIR = {"path": "/var/log/frp", "state": "directory", "owner": "frpc", "group": "frpc", "mode": "0750"}


def seen_file(**over):
    # The keys ansible.builtin.find returns for a regular file, as the lab's hosts show them.
    base = {"path": "/etc/frp/frpc.toml", "isreg": True, "isdir": False, "pw_name": "root", "uid": 0,
            "gr_name": "frpc", "gid": 995, "mode": "0640", "checksum": SHA1}
    return dict(base, **over)


def seen_dir(**over):
    base = {"path": "/var/log/frp", "isreg": False, "isdir": True, "pw_name": "frpc", "uid": 995,
            "gr_name": "frpc", "gid": 995, "mode": "0750"}
    return dict(base, **over)


def test_nothing_is_written_when_everything_matches():
    assert drifted([WANT_FILE, WANT_DIR], {"files": [seen_file(), seen_dir()]}) == []


def test_the_registered_result_or_its_files_list_both_work():
    assert drifted([WANT_FILE], [seen_file()]) == []


def test_everything_is_written_on_a_fresh_host():
    assert drifted([WANT_FILE, WANT_DIR], {"files": [], "skipped_paths": {"/etc/frp": "not a directory"}}) \
        == [WANT_FILE, WANT_DIR]


@pytest.mark.parametrize("change", [
    {"checksum": "0" * 40},          # edited by hand
    {"mode": "0644"},                # world-readable
    {"pw_name": "frpc", "uid": 995},  # owned by the service
    {"gr_name": "root", "gid": 0},   # the service can no longer read it
    {"isreg": False, "isdir": True},  # a folder in its place
])
def test_a_drifted_file_is_written_again(change):
    assert drifted([WANT_FILE, WANT_DIR], [seen_file(**change), seen_dir()]) == [WANT_FILE]


@pytest.mark.parametrize("change", [{"mode": "0755"}, {"pw_name": "root", "uid": 0}, {"isdir": False, "isreg": True}])
def test_a_drifted_folder_is_made_again(change):
    assert drifted([WANT_FILE, WANT_DIR], [seen_file(), seen_dir(**change)]) == [WANT_DIR]


def test_numeric_owner_and_octal_mode_forms_compare_by_value():
    want = dict(WANT_FILE, owner="0", group="995", mode="640")
    assert drifted([want], [seen_file()]) == []
    assert drifted([dict(want, group="996")], [seen_file()]) == [dict(want, group="996")]


def test_without_a_checksum_only_kind_and_attributes_count():
    want = {k: v for k, v in WANT_FILE.items() if k != "sha1"}
    assert drifted([want], [seen_file(checksum="0" * 40)]) == []


def test_order_is_kept_and_other_keys_pass_through():
    a = dict(WANT_FILE, path="/a", validate="frpc verify -c %s")
    b = dict(WANT_FILE, path="/b")
    assert drifted([b, a], []) == [b, a]
    assert drifted([b, a], [])[1]["validate"] == "frpc verify -c %s"


@pytest.mark.parametrize("wanted", ["/etc/frp", [{"owner": "root"}], [{"path": "/x", "state": "link"}]])
def test_bad_input_is_refused_with_a_message(wanted):
    with pytest.raises(AnsibleFilterError, match="drifted"):
        drifted(wanted, [seen_file(path="/x")])
