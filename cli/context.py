"""What every command shares: the global options and the :class:`CliContext` they build.

This module imports nothing from the command modules (they import it), and
nothing heavy: the connection, and with it boto3, is created on first use.

The global options (``--endpoint-url``, ``--ca-bundle``, ``--profile``,
``--region``, ``-q/--quiet``) are accepted before the command, as the group's
options, and after it, as aws-cli users type them
(``securestore put f s3://b/k --quiet --region eu-west-1``): the group adds a
copy of each to every command (:func:`add_global_options`). A value given after
the command wins over one given before it, and both over the environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from securestore.transport import Connection

__all__ = [
    "GLOBAL_OPTIONS",
    "CliContext",
    "add_global_options",
    "global_group_options",
    "silence_stdout",
]

F = TypeVar("F", bound=Callable[..., Any])


class CliContext:
    """Options shared by every command; the connection is created on first use."""

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        ca_bundle: str | None,
        profile: str | None,
        region: str | None,
        quiet: bool,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.ca_bundle = ca_bundle
        self.profile = profile
        self.region = region
        self.quiet = quiet
        #: Connections kept per client; a tree command raises it to its concurrency
        #: before the connection is made, so no request waits for, or discards, one.
        self.pool_size = 32
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        """The TLS-only connection built from the global options and environment."""
        if self._connection is None:
            from securestore.transport import Connection  # boto3: only when a command needs it

            self._connection = Connection(
                profile=self.profile,
                region=self.region,
                endpoint_url=self.endpoint_url,
                ca_bundle=self.ca_bundle,
                max_pool_connections=self.pool_size,
            )
        return self._connection

    def progress_enabled(self) -> bool:
        """Progress bars only on a terminal, and never with ``--quiet``."""
        return not self.quiet and sys.stderr.isatty()


@dataclass(frozen=True)
class GlobalOption:
    """One global option: its flags, the :class:`CliContext` attribute it sets, its help."""

    flags: tuple[str, ...]
    attribute: str
    help: str
    envvar: tuple[str, ...] = ()
    metavar: str | None = None
    is_flag: bool = False


GLOBAL_OPTIONS = (
    GlobalOption(
        ("--endpoint-url",),
        "endpoint_url",
        "An https:// S3 (and KMS) endpoint.",
        envvar=("AWS_ENDPOINT_URL",),
        metavar="URL",
    ),
    GlobalOption(
        ("--ca-bundle",),
        "ca_bundle",
        "CA certificates to trust for the endpoint.",
        envvar=("AWS_CA_BUNDLE",),
        metavar="PEM",
    ),
    GlobalOption(("--profile",), "profile", "AWS profile.", envvar=("AWS_PROFILE",)),
    GlobalOption(
        ("--region",), "region", "AWS region.", envvar=("AWS_REGION", "AWS_DEFAULT_REGION")
    ),
    GlobalOption(
        ("-q", "--quiet"), "quiet", "Print nothing but errors and requested data.", is_flag=True
    ),
)


def global_group_options(func: F) -> F:
    """Decorate the group's callback with the global options (with their variables)."""
    for spec in reversed(GLOBAL_OPTIONS):
        env = f" [env: {', '.join(spec.envvar)}]" if spec.envvar else ""
        func = click.option(
            *spec.flags,
            spec.attribute,
            envvar=list(spec.envvar) or None,
            metavar=spec.metavar,
            is_flag=spec.is_flag,
            help=spec.help + env,
        )(func)
    return func


def _set_on_context(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None or value is False:  # not given after the command: keep the group's
            return
        shared = ctx.find_object(CliContext)
        if shared is not None:
            setattr(shared, attribute, value if value is True else (value or None))

    return store


def add_global_options(command: click.Command) -> click.Command:
    """Let ``command`` (and every command under it) take the global options after its name.

    The copies read no environment variable and have no default, so that they
    change nothing unless given; the value is stored on the :class:`CliContext`
    (not passed to the callback). An option the command defines itself (``audit
    --region``) is left to it.
    """
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_global_options(sub)
        return command
    taken = {flag for param in command.params for flag in getattr(param, "opts", ())}
    for spec in GLOBAL_OPTIONS:
        if taken & set(spec.flags) or any(
            param.name == f"_global_{spec.attribute}" for param in command.params
        ):
            continue
        command.params.append(
            click.Option(
                [*spec.flags, f"_global_{spec.attribute}"],
                metavar=spec.metavar,
                is_flag=spec.is_flag,
                default=None if not spec.is_flag else False,
                expose_value=False,
                callback=_set_on_context(spec.attribute),
                help=f"{spec.help} (global option: also accepted before the command)",
            )
        )
    return command


def silence_stdout() -> None:
    """Point standard output at /dev/null: its reader went away, or it cannot be written.

    So that the interpreter's final flush cannot fail again at exit.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
