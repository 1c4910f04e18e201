"""``-r`` is ``--recursive`` wherever ``--recursive`` exists (aws-cli has only the long form)."""

from __future__ import annotations

import click
import pytest
from securestore_cli.main import COMMANDS, load_command


def _commands() -> list[tuple[str, click.Command]]:
    found = []
    for name in COMMANDS:
        command = load_command(name)
        assert command is not None
        subcommands = command.commands.values() if isinstance(command, click.Group) else []
        found += [(name, command), *((f"{name} {c.name}", c) for c in subcommands)]
    return found


@pytest.mark.parametrize(("name", "command"), _commands(), ids=lambda item: str(item))
def test_minus_r_is_recursive_wherever_recursive_is(name: str, command: click.Command) -> None:
    options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
    owners = [p.name for p in command.params if "-r" in getattr(p, "opts", ())]
    if "--recursive" in options:
        assert owners == ["recursive"], name
    else:
        assert owners == [], name  # no other option took -r
