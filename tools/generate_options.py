#!/usr/bin/env python3
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Write the copies of the Triton option table (plugins/module_utils/_options.py) that Ansible needs as files.

`make generate` runs it. Each copy is a block between two marker lines, inside a file that is otherwise written by
hand (the prose around a block is kept):

- the Triton options of the module's DOCUMENTATION (plugins/modules/triton_server.py);
- the Triton option variables of the role (roles/triton_server/defaults/main.yml, all null: the module's default),
  and their names in its vars/main.yml, from which the role builds the module's options;
- their entries in the role's meta/argument_specs.yml (the module's descriptions, with the role's variable names);
- the table of chart keys and options in docs/values.md;
- the role README's variable table, from meta/argument_specs.yml (every variable, the release ones too).

The release and connection options (name, namespace, wait, ..., api_key) are written by hand in each file.
`--check` writes nothing and exits 1 when a copy is stale. tests/unit/plugins/module_utils/
test_options_generated.py does the same in `make unit`, naming each entry that is missing or differs.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.inference.triton.plugins.module_utils._options import OPTIONS, Option  # noqa: E402
from ansible_collections.inference.triton.plugins.module_utils._spec import RELEASE_OPTIONS  # noqa: E402

SOURCE = "plugins/module_utils/_options.py"
ROLE_PREFIX = "triton_server_"
WIDTH = 120
# O(option) and O(option=value) in module documentation; in the role, O(triton_server_option...).
_OPTION_REF = re.compile(r"O\(([a-z_]+)((?:=[^)]*)?)\)")
_MARKUP = re.compile(r"\b[OCVEM]\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
MODULE_OPTIONS = {option.name for option in OPTIONS} | set(RELEASE_OPTIONS)


@dataclass(frozen=True)
class Block:
    """A generated block of one file: its entries (name -> text) between a BEGIN and an END marker line."""

    path: str
    begin: str
    end: str
    entry: re.Pattern[str]  # matches the first line of an entry; group 1 is the entry's name
    render: Callable[[], dict[str, str]]

    def text(self) -> str:
        return "".join(self.render().values())


def _paragraphs(paragraphs: tuple[str, ...] | list[str], indent: int) -> str:
    """A YAML list of folded paragraphs, each wrapped to WIDTH."""
    lines = []
    for paragraph in paragraphs:
        lines.append(" " * indent + "- >-")
        lines += textwrap.wrap(
            paragraph,
            WIDTH,
            initial_indent=" " * (indent + 2),
            subsequent_indent=" " * (indent + 2),
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(lines) + "\n"


def role_text(text: str) -> str:
    """Module documentation as the role's: O(option) names the role variable of that option."""

    def rename(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in MODULE_OPTIONS:
            return match.group(0)
        return f"O({ROLE_PREFIX}{name}{match.group(2)})"

    return _OPTION_REF.sub(rename, text)


def module_entries() -> dict[str, str]:
    entries = {}
    for option in OPTIONS:
        text = f"  {option.name}:\n    description:\n" + _paragraphs(option.doc, 6) + f"    type: {option.type}\n"
        if option.elements:
            text += f"    elements: {option.elements}\n"
        if option.choices:
            text += f"    choices: [{', '.join(option.choices)}]\n"
        entries[option.name] = text
    return entries


def defaults_entries() -> dict[str, str]:
    return {ROLE_PREFIX + option.name: f"{ROLE_PREFIX}{option.name}: null\n" for option in OPTIONS}


def role_names_entries() -> dict[str, str]:
    entries = {"": "__triton_server_option_names:\n"}
    entries.update({option.name: f"  - {option.name}\n" for option in OPTIONS})
    return entries


def argument_spec_entry(option: Option) -> str:
    text = f"      {ROLE_PREFIX}{option.name}:\n        description:\n"
    text += _paragraphs([role_text(paragraph) for paragraph in option.doc], 10)
    text += f"        type: {option.type}\n"
    if option.elements:
        text += f"        elements: {option.elements}\n"
    if option.choices:
        # null is a choice: the variable's default, which leaves the option to the module (or a values file).
        text += "        choices:\n" + "".join(f"          - {choice}\n" for choice in ("null", *option.choices))
    return text + "        default: null\n"


def argument_spec_entries() -> dict[str, str]:
    return {ROLE_PREFIX + option.name: argument_spec_entry(option) for option in OPTIONS}


def _collection_default(option: Option) -> str:
    if option.computed and option.default is None:
        return option.computed
    value = option.default
    return f"`{value}`" if isinstance(value, str) else f"`{value!r}`"


def values_table_entries() -> dict[str, str]:
    entries = {"": "| chart key | option | chart default | collection default | note |\n|---|---|---|---|---|\n"}
    for option in OPTIONS:
        if option.chart:
            chart = option.chart
            row = [f"`{chart.key}`", f"`{option.name}`", chart.default, _collection_default(option), chart.note]
            entries[chart.key] = "| " + " | ".join(row) + " |\n"
    return entries


def _markdown(text: str) -> str:
    """Ansible documentation markup as Markdown: O(x), C(x), V(x), E(x) and M(x) become `x`."""
    return _MARKUP.sub(lambda match: f"`{match.group(1)}`", text)


def _readme_type(spec: dict[str, Any]) -> str:
    kind = spec["type"]
    if spec.get("elements"):
        kind += f" of {spec['elements']}"
    if spec.get("choices"):
        kind = kind + "; one of " + ", ".join("null" if c is None else f"`{c}`" for c in spec["choices"])
    return kind


def _readme_default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "":
        return "`''`"
    return f"`{value}`"


def readme_entries() -> dict[str, str]:
    """The role README's variable table, from meta/argument_specs.yml as it will be once generated."""
    path = REPO / ARGUMENT_SPECS.path
    specs = yaml.safe_load(replace_block(path.read_text(), ARGUMENT_SPECS))
    options = specs["argument_specs"]["main"]["options"]
    entries = {"": "| Variable | Type | Default | Description |\n|---|---|---|---|\n"}
    for name, spec in options.items():
        description = spec["description"]
        text = " ".join(description if isinstance(description, list) else [description])
        row = [f"`{name}`", _readme_type(spec), _readme_default(spec.get("default")), _markdown(text)]
        entries[name] = "| " + " | ".join(row) + " |\n"
    return entries


_GENERATED = f"generated from {SOURCE} by make generate, do not edit"
MODULE_DOC = Block(
    "plugins/modules/triton_server.py",
    f"  # BEGIN Triton options: {_GENERATED}\n",
    "  # END Triton options\n",
    re.compile(r"^  ([a-z_]+):$"),
    module_entries,
)
DEFAULTS = Block(
    "roles/triton_server/defaults/main.yml",
    f"# BEGIN Triton options: {_GENERATED}\n",
    "# END Triton options\n",
    re.compile(rf"^({ROLE_PREFIX}[a-z_]+): "),
    defaults_entries,
)
ROLE_NAMES = Block(
    "roles/triton_server/vars/main.yml",
    f"# BEGIN Triton options: {_GENERATED}\n",
    "# END Triton options\n",
    re.compile(r"^  - ([a-z_]+)$"),
    role_names_entries,
)
ARGUMENT_SPECS = Block(
    "roles/triton_server/meta/argument_specs.yml",
    f"      # BEGIN Triton options: {_GENERATED}\n",
    "      # END Triton options\n",
    re.compile(rf"^      ({ROLE_PREFIX}[a-z_]+):$"),
    argument_spec_entries,
)
VALUES_TABLE = Block(
    "docs/values.md",
    f"<!-- BEGIN chart keys: {_GENERATED} -->\n",
    "<!-- END chart keys -->\n",
    re.compile(r"^\| `([^`]+)` \|"),
    values_table_entries,
)
README_TABLE = Block(
    "roles/triton_server/README.md",
    "<!-- BEGIN variables: generated from meta/argument_specs.yml by make generate, do not edit -->\n",
    "<!-- END variables -->\n",
    re.compile(r"^\| `([^`]+)` \|"),
    readme_entries,
)
BLOCKS = (MODULE_DOC, DEFAULTS, ROLE_NAMES, ARGUMENT_SPECS, VALUES_TABLE, README_TABLE)


class MarkerError(ValueError):
    """A file without its generated block's markers."""


def current_block(content: str, block: Block) -> str:
    """The text between the block's markers in ``content``."""
    start, end = content.find(block.begin), content.find(block.end)
    if start < 0 or end < start:
        raise MarkerError(f"{block.path}: the markers {block.begin.strip()!r} ... {block.end.strip()!r} are missing")
    return content[start + len(block.begin) : end]


def replace_block(content: str, block: Block) -> str:
    old = current_block(content, block)
    start = content.find(block.begin) + len(block.begin)
    return content[:start] + block.text() + content[start + len(old) :]


def split_entries(text: str, block: Block) -> dict[str, str]:
    """A block's text as its entries, split where ``block.entry`` matches; text before the first entry is ''."""
    entries: dict[str, str] = {}
    name = ""
    for line in text.splitlines(keepends=True):
        match = block.entry.match(line)
        if match:
            name = match.group(1)
        entries[name] = entries.get(name, "") + line
    return entries


def stale_entries(block: Block, content: str) -> list[str]:
    """What differs between a file's block and the table: one line per entry, naming it."""
    have = split_entries(current_block(content, block), block)
    want = block.render()
    problems = [f"{name or '(header)'}: missing" for name in want if name not in have]
    problems += [f"{name or '(header)'}: not in the table" for name in have if name not in want]
    for name in want:
        if name in have and have[name] != want[name]:
            diff = [f"-{line}" for line in have[name].splitlines() if line not in want[name].splitlines()]
            diff += [f"+{line}" for line in want[name].splitlines() if line not in have[name].splitlines()]
            problems.append(f"{name or '(header)'}: differs\n    " + "\n    ".join(diff or ["(order or spacing)"]))
    if not problems and "".join(have.values()) != block.text():
        problems.append("entries in another order than the table's")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a copy is stale")
    args = parser.parse_args(argv)
    stale = 0
    for block in BLOCKS:
        path = REPO / block.path
        content = path.read_text()
        problems = stale_entries(block, content)
        if not problems:
            continue
        stale += 1
        if args.check:
            print(f"{block.path}: stale, run make generate\n  " + "\n  ".join(problems))
        else:
            path.write_text(replace_block(content, block))
            print(f"{block.path}: written ({len(problems)} entries changed)")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
