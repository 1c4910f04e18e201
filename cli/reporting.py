"""Render an audit report in the chosen format and write it (stdout or a file, atomically)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from securestore.audit.reports import TableReport, renderer_for
from securestore.errors import LocalFileError
from securestore.localfile import AtomicFile

__all__ = ["write_report", "write_text"]


def write_report(report: Any, fmt: str, output: Path | None, *, show_all: bool) -> None:
    """``report`` as ``fmt`` to ``output`` (replaced only when complete) or stdout.

    Raises:
        LocalFileError: ``output`` cannot be written (the disk is full, say).
    """
    renderer: Any
    if fmt == "table":
        renderer = TableReport(
            width=120 if output else Console().width,
            color=output is None and sys.stdout.isatty(),
            show_all=show_all,
        )
    else:
        renderer = renderer_for(fmt)
    write_text(renderer.render(report), output)


def write_text(text: str, output: Path | None) -> None:
    """``text`` to ``output`` (replaced only when complete) or stdout.

    Raises:
        LocalFileError: ``output`` cannot be written.
    """
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with AtomicFile(output) as out:
            out.write_at(text.encode("utf-8"), 0)
    except LocalFileError:
        raise
    except OSError as exc:
        raise LocalFileError(f"cannot write {output}: {exc.strerror or exc}") from exc
