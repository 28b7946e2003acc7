# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis codes are listed in three places; DIAGNOSES in module_utils is the one source.

The module's RETURN documentation (diagnosis.choices, and every V(code) in its description) and the
diagnosis table under "## Troubleshooting" in README.md must list exactly the codes of DIAGNOSES.
"""

import re
from pathlib import Path

import yaml

from ansible_collections.lisyoen.frp.plugins.module_utils.llm_probe_diagnoses import DIAGNOSES
from ansible_collections.lisyoen.frp.plugins.modules import llm_api_probe
from readme_helpers import read, section, table_codes

ROOT = Path(__file__).resolve().parents[2]
CODES = set(DIAGNOSES)


def readme_table_codes():
    """Every `code` in the first column of the table in README.md's Troubleshooting section."""
    return table_codes(section(read("README.md"), "Troubleshooting"), "diagnosis")


def test_return_doc_choices_are_the_diagnoses():
    diagnosis = yaml.safe_load(llm_api_probe.RETURN)["diagnosis"]
    assert sorted(diagnosis["choices"]) == sorted(CODES)
    assert len(diagnosis["choices"]) == len(set(diagnosis["choices"]))


def test_return_doc_description_names_only_diagnoses():
    description = " ".join(yaml.safe_load(llm_api_probe.RETURN)["diagnosis"]["description"])
    assert set(re.findall(r"V\(([a-z_]+)\)", description)) == CODES


def test_readme_troubleshooting_table_lists_the_diagnoses():
    codes = readme_table_codes()
    assert sorted(codes) == sorted(CODES)
    assert len(codes) == len(set(codes)), "a code is in two rows"


def test_wait_timeout_doc_names_the_transient_diagnoses():
    options = yaml.safe_load(llm_api_probe.DOCUMENTATION)["options"]
    text = " ".join(options["wait_timeout"]["description"])
    transient = set(code for code, entry in DIAGNOSES.items() if entry.transient)
    assert set(re.findall(r"V\(([a-z_]+)\)", text)) == transient | {"upstream_error"}


def test_every_diagnosis_has_a_meaning_and_a_message():
    for code, entry in DIAGNOSES.items():
        assert entry.meaning and entry.message, code
