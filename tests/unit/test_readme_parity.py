# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""README.ko.md (the user's language) and README.md give the same commands, variable names and codes.

README.ko.md covers part of README.md: the two commands, the quick start with the Spark steps, the
tunnel's CA and the troubleshooting table. README.md grows sections the Korean one need not follow
(HTTPS, failover, monitoring...), so the rules below only pull README.md's REQUIRED_SECTIONS into it.

Commands
    A command is (1) each logical line of a fenced block tagged sh, bash, shell or console: backslash
    continuations joined, `# comments` outside quotes dropped, lines that are only a comment skipped,
    whitespace collapsed; or (2) an inline code span of two words or more whose first word is one of
    COMMAND_WORDS (`make demo`, `journalctl -u frpc`), whitespace collapsed.
    (a1) Every command in README.ko.md is a command of README.md, anywhere in it, block or span.
    (a2) Every command in README.md's REQUIRED_SECTIONS is a command of README.ko.md.
    Comments may be translated; the commands themselves stay byte for byte (after the collapsing).

Variable names
    A variable name is a snake_case word (lower case, at least one `_`) in a code span or a fenced
    block that is not part of a path, a file name or a dotted name (`host_vars/`, `frp_tls.yml`,
    `general_settings.master_key` are not variables), nor a diagnosis code, nor the name of one of
    the collection's modules or roles; `name_*` stands for every variable starting with `name_`.
    (b1) Every variable name in README.ko.md occurs as a word in README.md, and where DECLARED_IN
         names files for its prefix (a role's argument specs, the vault example, the site inventory,
         verify.yml), in one of them.
    (b2) Every variable name in README.md's REQUIRED_SECTIONS is one of README.ko.md's.

Diagnosis codes
    (c) The first column of the table in README.ko.md's KO_TROUBLESHOOTING section lists exactly the
        DIAGNOSES keys, each once (test_docs.py checks README.md's table the same way).

Renaming a REQUIRED_SECTIONS heading in README.md fails (a2)/(b2) by name: update the tuple.
"""

import re

from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_diagnoses import DIAGNOSES
from readme_helpers import ROOT, inline_code, read, section, split_fences, table_codes

# README.md's sections that README.ko.md must carry, by the start of their `## ` title: the two
# commands, and the quick start (its steps 3 and 4 are the Spark steps: the certificate bundle put
# into the vault, then site.yml run on Spark itself with --limit spark --connection local).
REQUIRED_SECTIONS = ("The two commands", "Quick start")
KO_TROUBLESHOOTING = ("문제 해결", "진단 코드")  # the section's title, its table's first header cell
SHELL_BLOCKS = {"sh", "bash", "shell", "console"}
COMMAND_WORDS = {
    "make", "ansible-playbook", "ansible-vault", "ansible-galaxy", "ansible-inventory", "ansible-test",
    "ansible-lint", "yamllint", "molecule", "systemctl", "journalctl", "curl", "openssl", "mkdir", "tar",
    "ss", "sudo", "git",
}
# Where a variable with this prefix must also be declared (any of the files).
DECLARED_IN = {
    "frps_server_": ["roles/frps_server/meta/argument_specs.yml"],
    "frpc_client_": ["roles/frpc_client/meta/argument_specs.yml"],
    "tunnel_pki_": ["roles/tunnel_pki/meta/argument_specs.yml"],
    "frp_common_": ["roles/frp_common/meta/argument_specs.yml"],
    "vault_": ["inventory/group_vars/all/vault.yml.example"],
    # The site's own settings, or the frp release both roles share (frp_version, frp_archive_src ...).
    "frp_": ["inventory/group_vars/all/site.yml", "inventory/group_vars/all/mapping.yml",
             "roles/frp_common/meta/argument_specs.yml"],
    "llm_": ["inventory/group_vars/all/site.yml", "inventory/group_vars/all/mapping.yml"],
    "verify_": ["playbooks/verify.yml"],
}
# Not inside a path, a file name, a dotted name or a longer word; `_*` marks a prefix.
_NAME = re.compile(r"(?<![\w.$/~-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(_\*)?(?![\w./-])")
CODES = set(DIAGNOSES)
# Snake_case names that are not variables: the collection's modules and roles.
PLUGIN_NAMES = {path.stem for path in (ROOT / "plugins" / "modules").glob("*.py")} | {
    path.name for path in (ROOT / "roles").iterdir() if path.is_dir()}


def _strip_comment(line):
    """The line without its shell comment: a `#` that starts a word outside quotes."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def block_commands(code):
    """The commands of one shell block (see the module docstring)."""
    commands, pending = [], ""
    for line in code.splitlines():
        line = pending + line
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        command = " ".join(_strip_comment(line).split())
        if command:
            commands.append(command)
    if pending.strip():
        commands.append(" ".join(_strip_comment(pending).split()))
    return commands


def commands(text):
    """Every command of a markdown text: shell block lines and command-like inline spans."""
    _prose, blocks = split_fences(text)
    found = []
    for info, code in blocks:
        if info in SHELL_BLOCKS:
            found += block_commands(code)
    for span in inline_code(text):
        words = span.split()
        if len(words) >= 2 and words[0] in COMMAND_WORDS:
            found.append(span)
    return found


def variables(text):
    """Every variable name in a markdown text's code spans and fenced blocks, `name_*` prefixes kept."""
    _prose, blocks = split_fences(text)
    code = inline_code(text) + [block for _info, block in blocks]
    names = set()
    for piece in code:
        for name, star in _NAME.findall(piece):
            if name not in CODES and name not in PLUGIN_NAMES:
                names.add(name + (star or ""))
    return names


def _occurs(name, text):
    """name (or, for `name_*`, some `name_<more>`) occurs in text as a whole word."""
    if name.endswith("_*"):
        return re.search(r"(?<![\w])" + re.escape(name[:-1]) + r"\w", text) is not None
    return re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", text) is not None


def required_part(text):
    """The REQUIRED_SECTIONS of README.md, one after the other."""
    return "\n\n".join(section(text, heading) for heading in REQUIRED_SECTIONS)


EN = read("README.md")
KO = read("README.ko.md")


def test_korean_commands_are_readme_commands():
    """(a1) A command in README.ko.md that README.md does not give is a typo or a drift."""
    english = set(commands(EN))
    missing = [command for command in commands(KO) if command not in english]
    assert not missing, "README.ko.md gives commands README.md does not:\n  " + "\n  ".join(missing)


def test_quick_start_commands_are_in_korean():
    """(a2) Every command of the two commands and the quick start (Spark steps included) is in Korean."""
    korean = set(commands(KO))
    missing = [command for command in commands(required_part(EN)) if command not in korean]
    assert not missing, "README.ko.md lacks these commands of README.md's %s:\n  %s" % (
        " / ".join(REQUIRED_SECTIONS), "\n  ".join(missing))


def test_required_sections_have_commands():
    """The rule above would pass on nothing: the two commands and the Spark play must be among them."""
    required = commands(required_part(EN))
    assert "make demo" in required and "make test" in required, required
    assert any(c.startswith("ansible-playbook playbooks/site.yml") and "--limit spark --connection local" in c
               for c in required), required
    assert any(c.startswith("ansible-vault encrypt") for c in required), required


def test_korean_variables_exist_in_readme_and_where_declared():
    """(b1) No variable name in README.ko.md that README.md (or the role, vault or inventory) lacks."""
    problems = []
    for name in sorted(variables(KO)):
        if not _occurs(name, EN):
            problems.append("%s: not in README.md" % name)
        for prefix, paths in DECLARED_IN.items():
            if name.startswith(prefix):
                if not any(_occurs(name, (ROOT / path).read_text(encoding="utf-8")) for path in paths):
                    problems.append("%s: not in %s" % (name, " or ".join(paths)))
                break
    assert not problems, "README.ko.md names variables that do not exist:\n  " + "\n  ".join(problems)


def test_quick_start_variables_are_in_korean():
    """(b2) Every variable name of README.md's two commands and quick start is in README.ko.md."""
    required = variables(required_part(EN))
    assert "vault_frp_auth_token" in required and "frp_archive_src" in required, required
    missing = sorted(required - variables(KO))
    assert not missing, "README.ko.md lacks these variables of README.md's %s: %s" % (
        " / ".join(REQUIRED_SECTIONS), ", ".join(missing))


def test_korean_troubleshooting_table_lists_the_diagnoses():
    """(c) The Korean table has a row for every diagnosis code, and no other code."""
    heading, first_header = KO_TROUBLESHOOTING
    codes = table_codes(section(KO, heading, "README.ko.md"), first_header)
    assert sorted(set(codes)) == sorted(CODES), "only in README.ko.md: %s; missing: %s" % (
        sorted(set(codes) - CODES), sorted(CODES - set(codes)))
    assert len(codes) == len(set(codes)), "a code is in two rows"


def test_the_readmes_link_each_other():
    assert "(README.ko.md)" in EN.split("\n## ", 1)[0], "README.md's top must link README.ko.md"
    assert "(README.md)" in KO.split("\n## ", 1)[0], "README.ko.md's top must link README.md"
