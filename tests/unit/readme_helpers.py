# Copyright: (c) 2026, lisyoen <lisyoen@gmail.com>
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Markdown reading shared by the README tests (test_docs.py, test_readme_parity.py). Standard library only.

A README is split into its `## ` sections, its fenced code blocks and its inline code spans; headings and
backticks inside fenced blocks are left alone, so a shell comment starting with `##` in a block cannot
end a section.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
# One inline code span: a run of backticks, its text, the same run again (CommonMark). A span may
# continue on the next line of its paragraph.
_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)


def read(name):
    """The text of a file at the root of the repository."""
    return (ROOT / name).read_text(encoding="utf-8")


def split_fences(text):
    """(prose, blocks): the text with every fenced block removed, and the blocks as (info, code).

    code is the block's lines with the fence's own indentation removed (blocks inside list items are
    indented). An unclosed fence runs to the end of the text, as in CommonMark.
    """
    prose, blocks = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence = len(opening.group("indent")), opening.group("fence")
        code = []
        i += 1
        while i < len(lines) and not re.match(r"^[ \t]*" + re.escape(fence[0]) + "{%d,}[ \t]*$" % len(fence), lines[i]):
            line = lines[i]
            code.append(line[min(indent, len(line) - len(line.lstrip())):])
            i += 1
        i += 1  # past the closing fence
        blocks.append((opening.group("info").lower(), "\n".join(code)))
        prose.append("")  # a block ends the paragraph before it
    return "\n".join(prose), blocks


def sections(text):
    """{title: body} for every `## ` heading outside fenced blocks; a body runs to the next `## `."""
    found, title, body = {}, None, []
    in_fence = None
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if in_fence is None and opening:
            in_fence = opening.group("fence")
        elif in_fence is not None and re.match(r"^[ \t]*" + re.escape(in_fence[0]) + "{%d,}[ \t]*$" % len(in_fence), line):
            in_fence = None
        elif in_fence is None and line.startswith("## "):
            if title is not None:
                found[title] = "\n".join(body) + "\n"
            title, body = line[3:].strip(), []
            continue
        if title is not None:
            body.append(line)
    if title is not None:
        found[title] = "\n".join(body) + "\n"
    return found


def section(text, heading, name="README.md"):
    """The body of the `## ` section whose title starts with heading ("Quick start" finds
    "Quick start (the real machines)"), its `###` subsections included."""
    matches = [body for title, body in sections(text).items() if title.startswith(heading)]
    assert matches, "%s has no '## %s' section" % (name, heading)
    assert len(matches) == 1, "%s has %d sections starting '## %s'" % (name, len(matches), heading)
    return matches[0]


def inline_code(text):
    """Every inline code span outside fenced blocks, whitespace (and line breaks) collapsed to one space."""
    prose, _blocks = split_fences(text)
    spans = []
    for paragraph in re.split(r"\n[ \t]*\n", prose):
        spans += [" ".join(match.group(2).split()) for match in _SPAN.finditer(paragraph)]
    return spans


def table_codes(body, first_header):
    """Every `code` in the first column of the first table in a section body, in order, repeats kept.

    first_header is the text of the table's first header cell, so a different table is never read.
    """
    rows = []
    for line in body.splitlines():
        if line.lstrip().startswith("|"):
            rows.append(line)
        elif rows:
            break  # the end of the first table
    assert rows, "no table in the section"
    assert rows[0].split("|")[1].strip() == first_header, rows[0]
    codes = []
    for row in rows[2:]:  # past the header and its |---| line
        codes += re.findall(r"`([a-z_]+)`", row.split("|")[1])
    return codes
