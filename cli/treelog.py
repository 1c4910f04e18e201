"""The log of a tree command: aws-cli's per-object lines, the failures, the summary.

Each transferred object prints one line on stdout (``upload: A to B``,
``(dryrun) delete: ...``) unless ``--quiet``; a failure prints one ``failed:``
line with its reason on stderr as it happens. The log never stops the job: a
reader that went away or a full disk silences it (see :meth:`TreeLog._echo`).
"""

from __future__ import annotations

import errno
import threading

import click

from securestore.errors import (
    AccessDeniedError,
    ArchivedObjectError,
    IntegrityError,
    KeyringError,
    LocalFileError,
    NoMatchingKeyError,
    NotFoundError,
    PolicyError,
    SecureStoreError,
    TransportSecurityError,
)
from securestore.tree import Failure, Task, TreeResult

from .context import CliContext, silence_stdout
from .errors import kind_hint, most_serious, report, stdout_error
from .text import printable

__all__ = ["TreeLog", "cause_hints", "finish_tree"]

#: What the summary calls the objects of each cause (most specific class first).
_CAUSES: tuple[tuple[type[SecureStoreError], str], ...] = (
    (ArchivedObjectError, "archived objects"),
    (PolicyError, "refused objects"),
    (AccessDeniedError, "access denied"),
    (NotFoundError, "not found"),
    (NoMatchingKeyError, "no matching key"),
    (KeyringError, "key errors"),
    (IntegrityError, "integrity"),
    (LocalFileError, "local files"),
    (TransportSecurityError, "TLS"),
)
#: Distinct causes named in the summary; more would bury the error line.
_MAX_CAUSES = 4


class TreeLog:
    """aws-cli's per-object lines (stdout) and failure lines (stderr), thread-safe."""

    def __init__(self, obj: CliContext, *, move: bool = False) -> None:
        self.obj = obj
        self.lock = threading.Lock()
        self.move = move  # aws-cli labels every transfer of mv "move:"
        #: Standard output refused a line (a full disk): the job goes on without its log,
        #: and ends with an error saying so.
        self.output_error: OSError | None = None
        self._stdout_gone = False

    def _echo(self, line: str, *, err: bool = False) -> None:
        """Print one line; a closed or failing output stops the log, never the job.

        A tree job's output is a log: a reader that went away (``| head``) or a full
        disk must not leave the tree half-transferred (aws-cli would stop mid-job).
        """
        if self._stdout_gone and not err:
            return
        try:
            click.echo(line, err=err)
        except OSError as exc:
            if err:
                return  # nowhere left to say anything
            self._stdout_gone = True
            if exc.errno != errno.EPIPE:
                self.output_error = exc
            silence_stdout()

    def __call__(self, task: Task, outcome: str, error: SecureStoreError | None = None) -> None:
        if outcome == "unchanged":
            return
        what = "move" if self.move and task.kind != "delete" else task.kind
        line = (
            f"{what}: {task.destination.describe()}"
            if what == "delete"
            else f"{what}: {task.source.describe()} to {task.destination.describe()}"
        )
        with self.lock:
            if outcome == "failed":
                self._echo(printable(f"failed: {line}: {error}"), err=True)
            elif not self.obj.quiet:
                prefix = "(dryrun) " if outcome == "dryrun" else ""
                self._echo(printable(prefix + line))


def finish_tree(ctx: click.Context, obj: CliContext, result: TreeResult, printer: TreeLog) -> None:
    """Warnings, failures no task reported, the summary line and the exit code."""
    for skip in result.skipped:
        click.echo(printable(f"warning: skipped {skip.path}: {skip.reason}"), err=True)
    if result.skips_dropped:  # the result keeps the first KEPT_SKIPS, then counts
        click.echo(
            f"warning: {result.skips_dropped} more path(s) skipped, not listed "
            f"(the first {len(result.skipped)} are above)",
            err=True,
        )
    for failure in result.failed:  # those no task reported (a folder the walk could not read)
        if not failure.reported:
            click.echo(printable(f"failed: {failure.source}: {failure.error}"), err=True)
    if result.failed:
        # result.failed keeps the first of each error type past its bound: enough for
        # the most serious exit code and the hints below.
        code = most_serious(failure.error for failure in result.failed)
        failures = result.failure_count
        total = failures + result.done + result.deleted
        others = " (the others completed)" if total > failures else ""
        hint = "; ".join(
            ["see the failed: lines; nothing was left half-written", *cause_hints(result.failed)]
        )
        report(f"{failures} of {total} transfers failed{others}", hint)
        ctx.exit(code)
    refused = result.refused_count
    if refused:  # files meant to be transferred that cannot be: exit 2, as aws-cli
        report(
            f"{refused} file(s) skipped (see the warning: lines)",
            "their names cannot be used on the other side (each warning: says why: not UTF-8, "
            "or control characters); rename them, then run the command again",
        )
        ctx.exit(2)
    if printer.output_error is not None:
        raise stdout_error(
            printer.output_error,
            after=" (the transfers completed)",
            hint="free space where standard output goes, or run with --quiet",
        )


def cause_hints(failures: list[Failure]) -> list[str]:
    """One hint per distinct cause of ``failures`` (as a single-object command gives it).

    ``failures`` keeps the first failure of each error type past its bound
    (securestore/tree/results.py), so no kind of cause is lost; the same hint for
    a thousand files is said once.
    """
    hints: dict[str, None] = {}
    for failure in failures:
        hint = kind_hint(failure.error)
        if hint:
            label = next((name for kind, name in _CAUSES if isinstance(failure.error, kind)), "")
            hints.setdefault(f"{label}: {hint}" if label else hint)
    named = list(hints)[:_MAX_CAUSES]
    if len(hints) > len(named):
        named.append(f"{len(hints) - len(named)} more cause(s): see the failed: lines")
    return named
