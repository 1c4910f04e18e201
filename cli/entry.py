"""The console script's entry point: ``securestore`` from before the CLI is imported.

Importing the CLI (click, the library, a command's module) takes tens of
milliseconds, and :func:`securestore_cli.main.main` handles signals only once it
runs. A Ctrl-C in that window printed a ``KeyboardInterrupt`` traceback; a SIGTERM
or SIGHUP killed the process without its exit code. Here they end it as they end
a running command: one ``error:`` line and exit 128 + the signal's number (130,
143, 129). Nothing runs yet that would need cleaning up. This module imports only
what the command imports anyway, so ``--help`` costs no more.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

#: Signals that end a command as Ctrl-C does (as in securestore_cli.main).
_TERMINATING = (signal.SIGTERM, signal.SIGHUP)


def main() -> None:
    """Console-script entry point (``python -m securestore_cli`` too)."""
    for number in _TERMINATING:
        # Until the command sets its own handlers (it restores these afterwards).
        signal.signal(number, _terminated)
    try:
        from .main import main as run

        run()
    except KeyboardInterrupt:  # before the command's own handling began
        _leave("interrupted", 128 + signal.SIGINT)


def _terminated(signum: int, _frame: FrameType | None) -> None:
    _leave(f"terminated by {signal.Signals(signum).name}", 128 + signum)


def _leave(message: str, code: int) -> NoReturn:
    """Say ``error: MESSAGE`` and end the process at once with ``code``."""
    for number in (signal.SIGINT, *_TERMINATING):
        signal.signal(number, signal.SIG_IGN)
    with contextlib.suppress(OSError, ValueError, RuntimeError, AttributeError):
        if sys.stderr.isatty() and code == 128 + signal.SIGINT:
            sys.stderr.write("\n")  # closes the terminal's ^C echo
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
    os._exit(code)
