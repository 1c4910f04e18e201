"""Progress bars for transfers (rich), shown only on terminals: one object, or a whole tree
job with its summary line.

Sizes are binary (KiB, MiB, as ``aws s3`` and ``ls --human-readable`` print them): the
same units in the bar, the rate and the summary line.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as BarTask
from rich.text import Text

from .listing import human_size

if TYPE_CHECKING:  # the tree package imports boto3: not needed to draw a bar
    from securestore.tree import TreeProgress


def _size(size: float) -> str:
    return "0 Bytes" if size <= 0 else human_size(int(size))


class _Bytes(ProgressColumn):
    """``12.0 MiB/1.2 GiB`` (or ``12.0 MiB`` while the total is not known)."""

    def render(self, task: BarTask) -> Text:
        done = _size(task.completed)
        return Text(done if task.total is None else f"{done}/{_size(task.total)}")


class _Rate(ProgressColumn):
    """``3.1 MiB/s``."""

    def render(self, task: BarTask) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{_size(speed)}/s")


def _bar() -> Progress:
    """The bar both displays draw on stderr: description, bar, bytes, rate, time left."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _Bytes(),
        _Rate(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@contextlib.contextmanager
def transfer_progress(
    enabled: bool, description: str, total: int | None
) -> Iterator[Callable[[int], None] | None]:
    """Yield a byte-count callback that drives a progress bar, or ``None`` when disabled."""
    if not enabled:
        yield None
        return
    progress = _bar()
    lock = threading.Lock()
    with progress:
        task = progress.add_task(description, total=total)

        def advance(count: int) -> None:
            # Called from transfer worker threads.
            with lock:
                progress.advance(task, count)

        yield advance


def summary(state: TreeProgress, seconds: float) -> str:
    """The line printed when a job ends: files, bytes, time and rate, in the bar's units."""
    rate = state.bytes_done / seconds if seconds > 0 else 0.0
    files = "file" if state.files_done == 1 else "files"
    return (
        f"completed {state.files_done} {files}, {_size(state.bytes_done)} "
        f"in {seconds:.1f} s ({_size(rate)}/s)"
    )


@contextlib.contextmanager
def tree_progress(enabled: bool) -> Iterator[Callable[[TreeProgress], None] | None]:
    """A bar for the whole job (files done/total, bytes, rate, ETA), on terminals only.

    Yields the callback a :class:`~securestore.tree.TransferManager` calls with each
    :class:`TreeProgress`, or ``None`` when disabled. When the job ends (even when it
    fails), the bar is removed and one summary line is printed on stderr.
    """
    if not enabled:
        yield None
        return
    bar = _bar()
    lock = threading.Lock()
    last: list[TreeProgress | None] = [None]
    started = time.monotonic()
    with bar:
        task = bar.add_task("files 0/0", total=None)

        def update(state: TreeProgress) -> None:
            with lock:
                last[0] = state
                more = "" if state.listed else "+"
                bar.update(
                    task,
                    description=f"files {state.files_done}/{state.files_total}{more}",
                    completed=state.bytes_done,
                    total=state.bytes_total if state.listed else None,
                )

        try:
            yield update
        finally:
            bar.stop()
            with lock:
                final = last[0]
            if final is not None and final.files_done:
                click.echo(summary(final, time.monotonic() - started), err=True)
