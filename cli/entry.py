"""The console script's entry point: ``securestore`` from before the CLI is imported.

Importing the CLI (click, the library, a command's module) takes tens of
milliseconds, and :func:`securestore_cli.main.main` handles signals only once it
runs. A Ctrl-C in that window printed a ``KeyboardInterrupt`` traceback; a SIGTERM
or SIGHUP killed the process without its exit code. Here they end it as they end
a running command: one ``error:`` line and exit 128 + the signal's number (130,
143, 129). Nothing runs yet that would need cleaning up.

At module level this imports only what the interpreter loaded before running
the script (no ``from __future__``, no ``typing``): everything else is imported
inside :func:`main`'s ``try``, where a Ctrl-C is caught. What comes before this
module (the interpreter's start-up, ``site``, the console script's own
``import re``) is out of its reach.
"""

import os
import sys

#: Exit status of a Ctrl-C (128 + SIGINT), as ``EXIT_INTERRUPTED`` in cli/errors.py.
_INTERRUPTED = 130


def main() -> None:
    """Console-script entry point (``python -m securestore_cli`` too)."""
    try:
        import signal

        for number in (signal.SIGTERM, signal.SIGHUP):
            # Until the command sets its own handlers (it restores these afterwards).
            signal.signal(number, _terminated)
        from .main import main as run

        run()  # ends the process
    except KeyboardInterrupt:  # before the command's own handling began
        _leave("interrupted", _INTERRUPTED)


def _terminated(signum: int, _frame: object) -> None:
    import signal

    _leave(f"terminated by {signal.Signals(signum).name}", 128 + signum)


def _leave(message: str, code: int) -> None:
    """Say ``error: MESSAGE`` and end the process at once with ``code``."""
    import signal

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    try:
        if code == _INTERRUPTED and sys.stderr.isatty():
            sys.stderr.write("\n")  # closes the terminal's ^C echo
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, RuntimeError, AttributeError):
        pass  # no stderr to speak on: the exit status still says it
    os._exit(code)
