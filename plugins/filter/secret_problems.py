# Copyright: lisyoen
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secret checks both roles run before they change anything, written once."""

from __future__ import annotations

DOCUMENTATION = r"""
name: secret_problems
short_description: List what makes a secret unusable, without ever showing it
version_added: 1.1.0
author: lisyoen
description:
  - Returns a list of messages, empty when the secret is usable. Each message names the variable and
    says how to fix it; none contains the value.
  - Refused are empty values, placeholders (C(CHANGE_ME), C(<...>), C(${VAR}), an unrendered C(vault_*)
    name and the like), a double opening brace (frp renders its config files as Go templates), surrounding
    whitespace (frp strips it from token files), and, when O(min_length) is set, values shorter than that
    or so repetitive that they are clearly not random (fewer than 10 distinct characters).
options:
  _input:
    description: The secret.
    type: raw
    required: true
  name:
    description: The variable's name, used in the messages.
    type: str
    required: true
  min_length:
    description: Minimum length in characters; 0 skips the strength checks.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Refuse a weak frp token
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join(' ') }}"
  vars:
    __problems: "{{ frps_server_auth_token | lisyoen.frp.secret_problems('frps_server_auth_token', min_length=32) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: One message per problem; empty when the secret is usable.
  type: list
  elements: str
"""

import re

from ansible.errors import AnsibleFilterError

GENERATE = "openssl rand -base64 48 | tr -d '/+=\\n' | cut -c1-48"

# Each is matched in full against the stripped, lower-cased value.
PLACEHOLDER = re.compile(
    r"^(<.*>|\$\{.*\}|\$[a-z_]+|[.*x-]+|(your|my|the)[ _.-].*|.*change[ _.-]?me.*|.*replace[ _.-]?me.*"
    r"|.*placeholder.*|example.*|changeit|secret|password|passwd|token|sample|dummy|todo|fixme|tbd|none|null"
    r"|vault_[a-z0-9_]+)$"
)
MIN_DISTINCT = 10


def secret_problems(value, name, min_length=0):
    if not isinstance(name, str) or not name:
        raise AnsibleFilterError("secret_problems needs the variable's name")
    text = "" if value is None else str(value)
    core = text.strip()
    if not core:
        return [f"{name} is empty: set it, kept in ansible-vault, to a long random secret, e.g. `{GENERATE}`."]
    problems = []
    if PLACEHOLDER.match(core.lower()):
        problems.append(
            f"{name} still holds a placeholder (CHANGE_ME, <...>, an unrendered vault_* name or the like): set the"
            f" real secret, e.g. in inventory/group_vars/all/vault.yml (ansible-vault), generated with `{GENERATE}`."
        )
    if "{{" in text:
        problems.append(
            f"{name} contains a double opening brace, which frp cannot take: it renders its config as a Go template"
            ' ("template: frp:4: bad character"). Generate a secret without braces.'
        )
    if text != core:
        problems.append(
            f"{name} starts or ends with whitespace or a newline, which frp strips when it reads the token file:"
            " remove it so that both ends use the same secret."
        )
    if min_length and not problems:
        if len(core) < min_length:
            problems.append(
                f"{name} is {len(core)} characters long: use at least {min_length} random characters (frp's login"
                f" proof can be guessed offline for a short token), e.g. `{GENERATE}`."
            )
        elif len(set(core)) < MIN_DISTINCT:
            problems.append(
                f"{name} uses only {len(set(core))} distinct characters, so it is not random: generate one with"
                f" `{GENERATE}`."
            )
    return problems


class FilterModule:
    def filters(self):
        return {"secret_problems": secret_problems}
