"""The ``securestore`` command: global options, error handling, command registry."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from securestore import __version__
from securestore.errors import SecureStoreError
from securestore.transport import Connection

from .errors import (
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    exit_code_for,
    report,
)


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
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        """The TLS-only connection built from the global options and environment."""
        if self._connection is None:
            self._connection = Connection(
                profile=self.profile,
                region=self.region,
                endpoint_url=self.endpoint_url,
                ca_bundle=self.ca_bundle,
            )
        return self._connection

    def progress_enabled(self) -> bool:
        """Progress bars only on a terminal, and never with ``--quiet``."""
        return not self.quiet and sys.stderr.isatty()


#: Signals that end a command like Ctrl-C does (systemd, Kubernetes, CI, ``timeout``, a
#: closed terminal): uploads are aborted, partial files removed, exit 128 + the number.
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """Raised in the main thread by a terminating signal, so that cleanup code runs.

    A ``BaseException`` (like ``KeyboardInterrupt``): library code that cleans up
    on any exception (aborting a multipart upload, removing a partial file) does
    so, and nothing that handles ordinary errors swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _terminating_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` while a command runs.

    Only the first signal raises: a second one must not interrupt the cleanup
    the first started. Handlers can only be set from the main thread (click's
    test runner may run elsewhere); the previous handlers come back afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def terminate(signum: int, _frame: FrameType | None) -> None:
        if not fired:
            fired.append(signum)
            raise Terminated(signum)

    previous = {number: signal.signal(number, terminate) for number in TERMINATING_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _Group(click.Group):
    """A group that turns every failure into ``error:``/``hint:`` lines and an exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        **extra: Any,
    ) -> Any:
        try:
            with _terminating_signals():
                result = super().main(
                    args=args, prog_name=prog_name, standalone_mode=False, **extra
                )
        except Terminated as exc:
            report(f"terminated by {signal.Signals(exc.signum).name}")
            sys.exit(128 + exc.signum)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(EXIT_USAGE)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "securestore"
            report(exc.format_message(), f"run '{command} --help'")
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            report(exc.format_message())
            sys.exit(exc.exit_code)
        except SecureStoreError as exc:
            report(str(exc), exc.hint)
            sys.exit(exit_code_for(exc))
        except (KeyboardInterrupt, click.Abort):
            report("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): not an error worth a message.
            _silence_stdout()
            sys.exit(0)
        except Exception as exc:  # a bug: say so in one line, trace only on request
            if os.environ.get("SECURESTORE_DEBUG"):
                traceback.print_exc()
            report(
                f"internal error: {type(exc).__name__}",
                "this is a bug in securestore; rerun with SECURESTORE_DEBUG=1 for details",
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(result if isinstance(result, int) else 0)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, "--version", prog_name="securestore")
@click.option(
    "--endpoint-url",
    envvar="AWS_ENDPOINT_URL",
    metavar="URL",
    help="An https:// S3 (and KMS) endpoint. [env: AWS_ENDPOINT_URL]",
)
@click.option(
    "--ca-bundle",
    envvar="AWS_CA_BUNDLE",
    metavar="PEM",
    help="CA certificates to trust for the endpoint. [env: AWS_CA_BUNDLE]",
)
@click.option("--profile", envvar="AWS_PROFILE", help="AWS profile. [env: AWS_PROFILE]")
@click.option(
    "--region",
    envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
    help="AWS region. [env: AWS_REGION, AWS_DEFAULT_REGION]",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors and requested data.")
@click.pass_context
def main_group(
    ctx: click.Context,
    endpoint_url: str | None,
    ca_bundle: str | None,
    profile: str | None,
    region: str | None,
    quiet: bool,
) -> None:
    """Encrypted object storage on S3, over TLS only, and a bucket encryption auditor."""
    ctx.obj = CliContext(
        endpoint_url=endpoint_url or None,
        ca_bundle=ca_bundle or None,
        profile=profile or None,
        region=region or None,
        quiet=quiet,
    )


def _register() -> None:
    # Imported here: the command modules import CliContext from this one.
    from . import audit, commands, iam, keys, lifecycle, local, migrate, offline, reencrypt, tree

    for module in (commands, tree, keys, local, audit, lifecycle, iam, migrate, reencrypt, offline):
        for command in module.COMMANDS:
            main_group.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    main_group.main(prog_name="securestore")


if __name__ == "__main__":
    main()
