"""How the CLI reports failures: one ``error:`` line, an optional ``hint:`` line, an exit code.

Exit codes (also in ``securestore --help`` and the README):

== ==========================================================================
0  success
1  the audit found failing checks at or above ``--fail-on``
2  usage error: bad arguments, malformed ``s3://`` URL, unusable local file
3  integrity or policy error: tampering, wrong key material, wrong encryption mode
4  storage, keyring or transport error: S3/KMS refused or failed, missing
   bucket or object, plain-HTTP or untrusted endpoint, the audit could not run
5  internal error (a bug: please report it)
130 interrupted (Ctrl-C)
143 terminated by SIGTERM (129: SIGHUP), cleaned up as after Ctrl-C
== ==========================================================================
"""

from __future__ import annotations

import errno
import logging
import re
import sys
from collections.abc import Iterable

import click

from securestore.errors import (
    AuthenticationError,
    ConfigurationError,
    FormatError,
    IntegrityError,
    LocalFileError,
    NoMatchingKeyError,
    NotFoundError,
    PolicyError,
    SecureStoreError,
)

from .text import printable

EXIT_OK = 0
EXIT_FINDINGS = 1
#: ``ls`` of a prefix that matched nothing (as aws-cli): no output, exit 1.
EXIT_NO_MATCH = 1
EXIT_USAGE = 2
EXIT_INTEGRITY = 3
EXIT_FAILURE = 4
EXIT_INTERNAL = 5
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 audit findings at or above --fail-on, or ls of a prefix "
    "that matched nothing (text output); 2 usage error; "
    "3 integrity or policy error (tampering, wrong key, wrong encryption mode); "
    "4 storage, keyring or transport error (including a missing object and a refused "
    "http:// endpoint); 5 internal error; 130 interrupted; 143/129 SIGTERM/SIGHUP."
)


def exit_code_for(error: SecureStoreError) -> int:
    """The documented exit code for a library error."""
    if isinstance(error, ConfigurationError):
        return EXIT_USAGE
    if isinstance(error, IntegrityError | PolicyError):
        return EXIT_INTEGRITY
    return EXIT_FAILURE


def most_serious(errors: Iterable[SecureStoreError]) -> int:
    """The exit code of a run with several failures: the most serious one decides.

    Tampering or a wrong mode (3) over storage and key errors (4) over usage errors (2),
    so a CI gate sees an integrity failure even when an S3 error came first.
    """
    codes = {exit_code_for(error) for error in errors}
    for code in (EXIT_INTEGRITY, EXIT_FAILURE, EXIT_USAGE):
        if code in codes:
            return code
    return EXIT_OK


def report(message: str, hint: str | None = None) -> None:
    """Print the ``error:`` line (and ``hint:`` line) on stderr."""
    # One line each, whatever the message contains: bucket and key names, header
    # fields and servers' texts in it are escaped (see cli/text.py), line breaks included.
    click.echo(f"error: {printable(message.strip())}", err=True)
    if hint:
        click.echo(f"hint: {printable(hint.strip())}", err=True)


# The two ways a library hint names both interfaces (securestore/errors.py):
# ``relocated=True (CLI: --relocated)`` and ``add --force (library: overwrite_readonly=True)``.
_PARAMETER_THEN_CLI = re.compile(r"\b\w+=\w* \(CLI: ([^()]*)\)")
_ASIDE_THEN_CLI = re.compile(r"\((?:[^();]*;\s*)?CLI: ([^()]*)\)")
_LIBRARY_ASIDE = re.compile(r"\s*\(library: [^()]*\)")


def cli_wording(hint: str) -> str:
    """``hint`` with only its command-line wording: a CLI user has no library parameters."""
    hint = _PARAMETER_THEN_CLI.sub(r"\1", hint)
    hint = _ASIDE_THEN_CLI.sub(r"(\1)", hint)
    return _LIBRARY_ASIDE.sub("", hint)


#: Bytes this process has written to standard output (see :func:`note_streamed`).
_streamed = 0


def reset_streamed() -> None:
    """Start counting anew (each command run: tests run many in one process)."""
    global _streamed
    _streamed = 0


def note_streamed(count: int) -> None:
    """Count ``count`` more bytes written to standard output, for the hint of a later failure."""
    global _streamed
    _streamed += count


def hint_for(error: SecureStoreError) -> str | None:
    """The error's hint (its own, else a general one for its kind), saying what already
    went to standard output: a stream cannot be taken back, a file can."""
    hint = kind_hint(error)
    if not _streamed:
        return hint
    note = (
        f"{_streamed} byte(s) had already gone to standard output: they are not the whole "
        "object and must be discarded"
    )
    return note if hint is None else f"{hint.removesuffix('; nothing was written')}; {note}"


def kind_hint(error: SecureStoreError) -> str | None:
    """The error's own hint, else a general one for its kind: every error line has a hint."""
    if error.hint:
        return cli_wording(error.hint)
    if isinstance(error, AuthenticationError | FormatError):
        return (
            "the stored bytes were changed or damaged after they were written, or are not "
            "the object the keys were given for; nothing was written"
        )
    if isinstance(error, NoMatchingKeyError):
        return "none of the given keys wraps its data key: `securestore inspect` lists the keys"
    if isinstance(error, NotFoundError):
        return "check the bucket, key and region (`securestore ls s3://BUCKET/PREFIX`)"
    if isinstance(error, LocalFileError):
        return "check the path, its permissions and the free space"
    return None


def fail(error: SecureStoreError) -> None:
    """Report a library error and exit with its code."""
    report(str(error), hint_for(error))
    sys.exit(exit_code_for(error))


def stdout_error(exc: OSError, *, after: str = "", hint: str | None = None) -> LocalFileError:
    """The error for standard output refusing a write (a full disk, a closed descriptor).

    ``after`` follows the reason; ``hint`` replaces the free-space hint of a full disk.
    """
    if hint is None and exc.errno == errno.ENOSPC:
        hint = "free space on the file system standard output goes to"
    elif hint is None and exc.errno == errno.EFBIG:
        hint = "the output is larger than your file size limit (`ulimit -f`): raise it"
    return LocalFileError(
        f"cannot write to standard output: {exc.strerror or exc}{after}", hint=hint
    )


def require_stdout() -> None:
    """Refuse to run a command whose output would vanish: stdout was closed (``>&-``).

    Python then has no ``sys.stdout`` and click would drop every line silently.
    """
    if sys.stdout is None:
        raise LocalFileError(
            "standard output is closed", hint="redirect it, or give a destination file"
        )


class _WarningLines(logging.Handler):
    """The library's log records as ``warning:`` lines on stderr, escaped for a terminal.

    Library warnings carry object keys and bucket names (a multipart upload that
    could not be aborted): text from the network, escaped as every other line is.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            label = "warning" if record.levelno < logging.ERROR else "error"
            click.echo(printable(f"{label}: {record.getMessage()}"), err=True)
        except Exception:
            self.handleError(record)


def install_warning_lines() -> None:
    """Print the ``securestore`` logger's warnings as ``warning:`` lines (once per process)."""
    logger = logging.getLogger("securestore")
    if not any(isinstance(handler, _WarningLines) for handler in logger.handlers):
        # Python's last-resort handler (the raw message, unescaped) is then not used.
        logger.addHandler(_WarningLines(logging.WARNING))
