"""The ``securestore`` command: global options, error handling, command registry."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

import click

from securestore import __version__
from securestore.errors import LocalFileError, SecureStoreError

from .context import CliContext, add_global_options, global_group_options, silence_stdout
from .errors import (
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    exit_code_for,
    hint_for,
    install_warning_lines,
    report,
    reset_streamed,
    stdout_error,
)

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


class _PipeClosedError(Exception):
    """stdout's reader went away; raised past click, which would exit 1 on EPIPE itself."""


class _InterruptedError(Exception):
    """Ctrl-C; raised past click, which would print a blank line on a non-terminal too."""


class _Group(click.Group):
    """A group that turns every failure into ``error:``/``hint:`` lines and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _PipeClosedError() from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise _PipeClosedError() from exc
            # What the library did not already turn into its own error: this layer's
            # writes (click.echo to a full disk, say). The environment, not a bug.
            silence_stdout()
            if not exc.filename:
                raise stdout_error(exc) from exc
            raise LocalFileError(
                f"{os.fsdecode(exc.filename)}: {exc.strerror or exc}",
                hint="free space where the output goes" if exc.errno == errno.ENOSPC else None,
            ) from exc
        except KeyboardInterrupt as exc:
            raise _InterruptedError() from exc

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        # Top-level --help and --version print here, where click itself would turn a
        # closed pipe into exit 1.
        try:
            return super().make_context(*args, **kwargs)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise _PipeClosedError() from exc
            raise

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        **extra: Any,
    ) -> Any:
        reset_streamed()
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
            report(str(exc), hint_for(exc))
            sys.exit(exit_code_for(exc))
        except (KeyboardInterrupt, click.Abort, _InterruptedError):
            if sys.stderr.isatty():
                click.echo(err=True)  # closes the terminal's ^C echo
            report("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except (BrokenPipeError, _PipeClosedError):
            # The reader went away (e.g. `| head`): not an error worth a message.
            silence_stdout()
            sys.exit(0)
        except OSError as exc:
            # Outside a command (click printing help or usage to a full disk): the environment.
            silence_stdout()
            if exc.errno == errno.EPIPE:
                sys.exit(0)
            error = stdout_error(exc)
            report(str(error), hint_for(error))
            sys.exit(exit_code_for(error))
        except Exception as exc:  # a bug: say so in one line, trace only on request
            if os.environ.get("SECURESTORE_DEBUG"):
                traceback.print_exc()
            report(
                f"internal error: {type(exc).__name__}",
                "this is a bug in securestore; rerun with SECURESTORE_DEBUG=1 for details",
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(result if isinstance(result, int) else 0)


#: Every command: name -> ("module:attribute" in this package, the one-line help of the
#: listing). A command module is imported only when one of its commands runs (or shows
#: its own --help), so ``securestore --help`` loads no boto3, cryptography or auditor.
#: A new command is one line here; tests/cli/test_startup.py checks that every entry
#: resolves, that its help is the command's own short help, and that no module's
#: COMMANDS tuple has a command missing from this table.
COMMANDS: dict[str, tuple[str, str]] = {
    # commands.py, reading.py: single objects
    "mb": ("commands:mb_command", "Create a bucket."),
    "put": (
        "commands:put_command",
        "Upload SRC (a file, or - for stdin) to s3://BUCKET/KEY, encrypted.",
    ),
    "get": (
        "reading:get_command",
        "Download s3://BUCKET/KEY to DEST (a file or folder; - or absent: stdout).",
    ),
    "head": (
        "reading:head_command",
        "Show an object's size, encryption mode and key, ETag and metadata.",
    ),
    # listing.py
    "ls": (
        "listing:ls_command",
        "List objects and PRE directories under a prefix (or, without a URL, the buckets).",
    ),
    # uploads.py
    "uploads": (
        "uploads:uploads_group",
        "List or abort incomplete multipart uploads (their parts are stored and billed).",
    ),
    # keycommands.py
    "keygen": (
        "keycommands:keygen_command",
        "Create new key files for client-side encryption (never overwrites a file).",
    ),
    "inspect": (
        "keycommands:inspect_command",
        "Show a client-side object's message header without decrypting it.",
    ),
    "keys": (
        "keycommands:keys_group",
        "Create, rotate and show branch keys of AWS KMS Hierarchical keyrings (DynamoDB + KMS).",
    ),
    # local.py
    "local": ("local:local_command", "Serve S3 and KMS (moto) over TLS on 127.0.0.1 until Ctrl-C."),
    "demo": (
        "local:demo_command",
        "A self-contained tour on a private embedded endpoint (exits 0 when all is well).",
    ),
    # audit.py
    "audit": (
        "audit:audit_command",
        "Audit S3 buckets' encryption, TLS, public access and data protection.",
    ),
    "harden": (
        "audit:harden_command",
        "Fix a bucket's encryption, TLS-only policy and public access block.",
    ),
    # lifecycle.py
    "rewrap": (
        "lifecycle:rewrap_command",
        "Re-wrap client-side objects server-side: the body stays, S3 copies it.",
    ),
    # tree.py
    "cp": (
        "tree:cp_command",
        "Copy a file, object or (--recursive) tree: local to S3, S3 to local, S3 to S3.",
    ),
    "mv": (
        "tree:mv_command",
        "Move: copy, verify the copy, then delete the source (file, object or tree).",
    ),
    "sync": (
        "tree:sync_command",
        "Make DST hold what SRC holds: transfer new, resized and newer files.",
    ),
    "rm": (
        "tree:rm_command",
        "Delete an object, or (--recursive) every object below a prefix.",
    ),
    "rb": (
        "tree:rb_command",
        "Delete a bucket; it must be empty unless --force.",
    ),
    # iam.py
    "iam-policy": (
        "iam:iam_policy_command",
        "Print the least-privilege identity, KMS key and bucket policies for a store.",
    ),
    # migrate.py
    "migrate": (
        "migrate:migrate_command",
        "Rewrite the S3EC objects under s3://BUCKET/PREFIX as client-side messages, in place.",
    ),
    # reencrypt.py
    "reencrypt": (
        "reencrypt:reencrypt_command",
        "Change the server-side encryption of objects in place, without downloading them.",
    ),
    # offline.py
    "encrypt": (
        "offline:encrypt_command",
        "Encrypt a local file, stdin or a directory tree (AWS Encryption SDK message format).",
    ),
    "decrypt": (
        "offline:decrypt_command",
        "Decrypt a local message file, stdin or a tree of *.encrypted files.",
    ),
}


def load_command(name: str) -> click.Command | None:
    """Import the module of command ``name`` and return the command (``None``: no such one)."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    module_name, _, attribute = entry[0].partition(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    command: click.Command = getattr(module, attribute)
    return command


class _LazyGroup(_Group):
    """A group whose commands are imported on first use, from :data:`COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None:
            command = load_command(cmd_name)
            if command is None:
                return None
            self.commands[cmd_name] = add_global_options(command)
        return command

    def _short_help(self, name: str, limit: int) -> str:
        if name in COMMANDS:
            # Shortened as click shortens a loaded command's help (its own rule, not ours).
            return click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)
        return self.commands[name].get_short_help_str(limit)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing's help comes from the table: printing it imports no command module.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(name) for name in names), default=0)
        rows = [(name, self._short_help(name, limit)) for name in names]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, "--version", prog_name="securestore")
@global_group_options
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
    install_warning_lines()
    ctx.obj = CliContext(
        endpoint_url=endpoint_url or None,
        ca_bundle=ca_bundle or None,
        profile=profile or None,
        region=region or None,
        quiet=quiet,
    )


def main() -> None:
    """Run the command and end the process (the console script enters by cli/entry.py)."""
    try:
        main_group.main(prog_name="securestore")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:  # pragma: no cover - _Group.main always exits
        code = 0
    _leave(code)


def _leave(code: int) -> NoReturn:
    """End the process with the command's status, now that it is decided.

    The interpreter's own shutdown (collecting a large heap: up to a second after a
    big transfer) runs with the default signal handlers back, so a Ctrl-C or SIGTERM
    then killed a command that had already succeeded. Signals are ignored from here,
    the standard streams flushed, and the process ends without that shutdown: the
    command's threads are daemons and its files are closed by now.
    """
    for number in (signal.SIGINT, *TERMINATING_SIGNALS):
        signal.signal(number, signal.SIG_IGN)
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as exc:
        if exc.errno != errno.EPIPE:  # a reader that went away is not an error (`| head`)
            error = stdout_error(exc)
            report(str(error), hint_for(error))
            code = code or exit_code_for(error)
    with contextlib.suppress(OSError, ValueError):
        if sys.stderr is not None:
            sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
