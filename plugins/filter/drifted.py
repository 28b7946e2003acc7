# Copyright: lisyoen
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of the files a role manages differ from what is on the host: one read for all of them."""

from __future__ import annotations

DOCUMENTATION = r"""
name: drifted
short_description: The wanted files and folders that are missing or differ from what ansible.builtin.find saw
version_added: 1.2.0
author: lisyoen
description:
  - A role describes every file and folder it manages (path, owner, group, mode and, for a file, the sha1 of
    its content), reads them all on the host with one M(ansible.builtin.find) call (C(file_type=any),
    C(get_checksum=true)), and writes only what this filter returns. A no-change run then costs one module
    call instead of two per file (a stat, then a file call, for every unchanged M(ansible.builtin.copy)).
  - An entry is returned when its path was not found, is not of the wanted kind (a folder, or a regular file),
    or its owner, group, mode or content differs. A hand-edited or re-permissioned file is therefore still put
    back on the next run.
  - An entry without C(sha1) is compared by kind, owner, group and mode only.
options:
  _input:
    description:
      - The wanted entries. Each is a dict with C(path), and optionally C(state) (C(file), the default, or
        C(directory)), C(owner), C(group) (names, or numeric ids), C(mode) (an octal string such as C('0640'))
        and C(sha1). Other keys are kept, for the task that writes the entry.
    type: list
    elements: dict
    required: true
  found:
    description: What M(ansible.builtin.find) returned (the registered result, or its C(files) list).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Read the service's files, one call for all
  ansible.builtin.find:
    paths: [/etc/frp, /usr/local/bin]
    patterns: [frps.toml, frps]
    file_type: any
    get_checksum: true
  register: __found

- name: Write only the files that differ
  ansible.builtin.copy:
    content: "{{ item.content }}"
    dest: "{{ item.path }}"
    owner: "{{ item.owner }}"
    group: "{{ item.group }}"
    mode: "{{ item.mode }}"
  loop: "{{ __wanted | lisyoen.frp.drifted(__found) }}"
  vars:
    __wanted:
      - {path: /etc/frp/frps.toml, content: "{{ __config }}", sha1: "{{ __config | hash('sha1') }}",
         owner: root, group: frps, mode: "0640"}
"""

RETURN = r"""
_value:
  description: The wanted entries to (re)write, in the order given, each unchanged.
  type: list
  elements: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _same_account(wanted, name, number):
    """Owner or group: a name compares with the name find saw, digits with the id."""
    if wanted is None:
        return True
    wanted = str(wanted)
    return wanted == str(number) if wanted.isdigit() else wanted == name


def _differs(want, seen):
    state = want.get("state", "file")
    if state not in ("file", "directory"):
        raise AnsibleFilterError(f"drifted: {want['path']} has state '{state}'; use 'file' or 'directory'")
    if not seen.get("isdir" if state == "directory" else "isreg", False):
        return True
    if not _same_account(want.get("owner"), seen.get("pw_name"), seen.get("uid")):
        return True
    if not _same_account(want.get("group"), seen.get("gr_name"), seen.get("gid")):
        return True
    if want.get("mode") is not None and int(str(want["mode"]), 8) != int(str(seen.get("mode", "-1")), 8):
        return True
    return state == "file" and want.get("sha1") is not None and want["sha1"] != seen.get("checksum")


def drifted(wanted, found):
    if isinstance(found, Mapping):
        found = found.get("files", [])
    if not isinstance(wanted, list) or not all(isinstance(w, Mapping) and w.get("path") for w in wanted):
        raise AnsibleFilterError("drifted: the input must be a list of dicts, each with a path")
    seen = {f["path"]: f for f in found or []}
    return [w for w in wanted if w["path"] not in seen or _differs(w, seen[w["path"]])]


class FilterModule:
    def filters(self):
        return {"drifted": drifted}
