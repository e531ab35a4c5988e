"""Docs that cannot drift (as sqlite-utils checks its own): every CLI command and option, and every registered
route and its query parameters, appear in the README where a reader looks for them."""

from __future__ import annotations

import re

import click
import pytest

from functions.openapi import operations
from shared.cli import main
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def cli_entries() -> dict[str, str]:
    """The CLI reference block: each entry (a line two spaces in, with the lines indented under it) by its text."""
    block = section("CLI").split("```\n", 2)[1]
    entries: list[str] = []
    for line in block.splitlines()[1:]:
        if re.match(r"  \S", line):
            entries.append(line.strip())
        elif entries:
            entries[-1] += " " + line.strip()
    return {entry: entry for entry in entries}


def commands(group: click.Group = main, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def option_names(command: click.Command) -> list[str]:
    return [name for p in command.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts if name.startswith("--")]


COMMANDS = list(commands())


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_and_its_options_are_in_the_readmes_cli_reference(path, command):
    documented = " ".join(entry for entry in cli_entries() if entry == path or entry.startswith(f"{path} "))
    assert documented, f"`rowgate {path}` is not in the README's CLI block"
    missing = [name for name in option_names(command) if not re.search(rf"{re.escape(name)}(?![\w-])", documented)]
    assert not missing, f"rowgate {path}: {missing} are not in its README entry: {documented}"


def test_the_global_options_head_the_cli_reference():
    head = section("CLI").split("```\n", 2)[1].splitlines()[0]
    assert head.startswith("rowgate ") and all(name in head for name in option_names(main))


def test_the_reference_lists_no_command_that_does_not_exist():
    known = {path for path, _ in COMMANDS}
    for entry in cli_entries():
        words = entry.split()
        assert words[0] in known or " ".join(words[:2]) in known, f"README documents a command that does not exist: {entry}"


OPERATIONS = [
    (op.method.upper(), op.path.removeprefix("/api/"), [p["name"] for p in op.parameters if p["in"] == "query"]) for op in operations()
]


@pytest.mark.parametrize(("method", "route", "parameters"), OPERATIONS, ids=[f"{m} {r}" for m, r, _ in OPERATIONS])
def test_every_route_and_its_query_parameters_are_in_the_readmes_route_table(method, route, parameters):
    rows = [line for line in section("HTTP API").splitlines() if line.startswith("|")]
    mine = [row for row in rows if re.search(rf"`{method} {re.escape(route)}[`?\[]", row)]
    assert mine, f"{method} {route} is not in the README's table of routes"
    missing = [name for name in parameters if not re.search(rf"[?&\[]{re.escape(name)}=", mine[0])]
    assert not missing, f"{method} {route}: the parameters {missing} are not in its README row"
