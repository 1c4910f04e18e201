"""The securestore CLI driven in-process through click's ``CliRunner``, pointed at an endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from click.testing import CliRunner, Result
from securestore_cli.main import main_group

if TYPE_CHECKING:
    from tests.conftest import Endpoint

__all__ = ["Run", "aes_key_file", "cli_runner", "stderr_lines"]


class Run(Protocol):
    """``run("put", src, url, input=b"...", AWS_REGION="x")``: one CLI call, its ``Result``.

    Keyword arguments other than ``input`` are environment variables added for that call.
    """

    def __call__(self, *args: str, input: str | bytes | None = None, **env: str) -> Result: ...


def cli_runner(endpoint: Endpoint, **extra_env: str) -> Run:
    """A ``Run`` with ``endpoint``'s environment plus ``extra_env``.

    Each call gets a fresh ``CliRunner`` (stdout and stderr kept apart, exceptions caught
    into ``Result.exception``), as each call of the command line would be a new process.
    """
    base = {**endpoint.env, **extra_env}

    def invoke(*args: str, input: str | bytes | None = None, **env: str) -> Result:
        return CliRunner().invoke(main_group, list(args), env={**base, **env}, input=input)

    return invoke


def stderr_lines(result: Result, *prefixes: str) -> list[str]:
    """The lines of ``result``'s stderr that start with one of ``prefixes`` (``"error:"``)."""
    return [line for line in result.stderr.splitlines() if line.startswith(prefixes)]


def aes_key_file(run: Run, folder: Path) -> Path:
    """``keygen --aes`` to ``folder/keys/team.key``, in a new folder of mode 0700."""
    path = folder / "keys" / "team.key"
    path.parent.mkdir(mode=0o700)
    assert run("keygen", "--aes", str(path)).exit_code == 0
    return path
