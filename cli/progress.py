"""Progress bars for transfers (rich), shown only on terminals."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


@contextlib.contextmanager
def transfer_progress(
    enabled: bool, description: str, total: int | None
) -> Iterator[Callable[[int], None] | None]:
    """Yield a byte-count callback that drives a progress bar, or ``None`` when disabled."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    lock = threading.Lock()
    with progress:
        task = progress.add_task(description, total=total)

        def advance(count: int) -> None:
            # Called from transfer worker threads.
            with lock:
                progress.advance(task, count)

        yield advance
