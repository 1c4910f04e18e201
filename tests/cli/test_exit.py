"""How the ``securestore`` process ends, once its command's outcome is decided.

Whole processes (``python -m securestore_cli``): the console script's own exit,
not click's test runner. A signal that arrives while the CLI is still being
imported ends it as it ends a command (one line, 128 + the signal), one that
arrives after the command finished (while the interpreter would shut down)
must not change its status, and a full disk under help or usage text is an
environment error, not a bug.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Plays a Ctrl-C that lands during the interpreter's shutdown, after the command ended.
LATE_SIGNAL = """
import atexit, os, signal, time
def _late():
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)
atexit.register(_late)
"""


#: Holds the CLI's first import of click until a signal ends the process, after saying so
#: in the file ``SECURESTORE_TEST_IMPORTING`` names: a signal sent then lands mid-import.
STALLED_IMPORT = """
import os, sys, time
class _Stall:
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            sys.meta_path.remove(self)
            open(os.environ["SECURESTORE_TEST_IMPORTING"], "w").close()
            time.sleep(60)
        return None
sys.meta_path.insert(0, _Stall())
"""


def _cli(
    *args: str, env: dict[str, str] | None = None, stdout: IO[bytes] | int = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "securestore_cli", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [(("--version",), 0), (("put",), 2), (("keygen", "--aes", "{tmp}/k"), 0)],
    ids=["version", "usage-error", "keygen"],
)
def test_a_signal_after_the_outcome_does_not_change_the_status(
    tmp_path: Path, args: tuple[str, ...], code: int
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(LATE_SIGNAL)
    argv = [a.format(tmp=tmp_path) for a in args]
    done = _cli(*argv, env={"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"})
    assert done.returncode == code, done.stderr
    assert b"Traceback" not in done.stderr


def _launchers() -> list[list[str]]:
    # The installed console script, as a user runs it, and ``python -m securestore_cli``.
    script = Path(sysconfig.get_path("scripts")) / "securestore"
    return [[str(script)], [sys.executable, "-m", "securestore_cli"]]


@pytest.mark.parametrize("launcher", [0, 1], ids=["console-script", "python-m"])
@pytest.mark.parametrize(
    ("number", "line"),
    [
        (signal.SIGINT, "error: interrupted"),
        (signal.SIGTERM, "error: terminated by SIGTERM"),
        (signal.SIGHUP, "error: terminated by SIGHUP"),
    ],
    ids=["sigint", "sigterm", "sighup"],
)
def test_a_signal_while_the_cli_imports_ends_it_in_one_line(
    tmp_path: Path, launcher: int, number: int, line: str
) -> None:
    """Measured before the fix: Ctrl-C printed a KeyboardInterrupt traceback (and the
    process died of SIGINT); SIGTERM and SIGHUP killed it without its exit code."""
    argv = _launchers()[launcher]
    if not Path(argv[0]).exists():
        pytest.skip("the securestore console script is not installed")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(STALLED_IMPORT)
    importing = tmp_path / "importing"
    proc = subprocess.Popen(
        [*argv, "--version"],
        env={
            **os.environ,
            "PYTHONPATH": f"{site}{os.pathsep}{ROOT}",
            "SECURESTORE_TEST_IMPORTING": str(importing),
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not importing.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the CLI never began to import click"
            time.sleep(0.01)
        proc.send_signal(number)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + number, err
    assert err.decode().splitlines() == [line]
    assert out == b""


def test_the_entry_module_imports_nothing_before_its_try() -> None:
    """A Ctrl-C is caught from the first line of entry.main(): importing the module
    itself (what the console script does first) must load nothing that was not loaded."""
    probe = (
        "import sys; before = set(sys.modules); import securestore_cli.entry; "
        "print(sorted(set(sys.modules) - before))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['securestore_cli', 'securestore_cli.entry']", done.stderr


@pytest.mark.parametrize("args", [("--help",), ("put", "--help"), ("--version",)])
def test_help_to_a_full_disk_is_an_environment_error(args: tuple[str, ...]) -> None:
    with open("/dev/full", "wb") as full:
        done = _cli(*args, stdout=full)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.decode().splitlines()
    assert lines[0] == "error: cannot write to standard output: No space left on device", lines
    assert "internal error" not in done.stderr.decode()


def test_help_to_a_closed_pipe_exits_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "securestore_cli", "--help"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first byte
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert err == b""
