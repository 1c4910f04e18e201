"""A list of paths that moves to an unnamed temporary file once it grows long.

``sync --delete`` decides what to delete while both listings stream, but may
delete only once they have ended (see :func:`securestore.tree.plans.plan_sync`).
A destination holding a million objects its source lacks would otherwise hold a
million paths in memory; past :data:`IN_MEMORY` they go to a temporary file that
has no name (``tempfile.TemporaryFile``), so nothing is left behind however the
process ends.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO

__all__ = ["IN_MEMORY", "Spill"]

#: Paths held in memory before the rest go to the file.
IN_MEMORY = 65_536


class Spill:
    """Append paths, then iterate them once or more in the order appended; close at the end."""

    def __init__(self, in_memory: int | None = None) -> None:
        self._limit = IN_MEMORY if in_memory is None else in_memory
        self._held: list[str] = []
        self._file: IO[str] | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, path: str) -> None:
        """Add ``path`` (any str: JSON escapes newlines and lone surrogates alike)."""
        self._count += 1
        if self._file is None and len(self._held) < self._limit:
            self._held.append(path)
            return
        if self._file is None:
            # Closed by close(), which the plan and its caller call in a finally.
            self._file = tempfile.TemporaryFile("w+", encoding="ascii", newline="\n")  # noqa: SIM115
        self._file.write(json.dumps(path) + "\n")

    def __iter__(self) -> Iterator[str]:
        yield from self._held
        if self._file is not None:
            self._file.flush()
            self._file.seek(0)
            for line in self._file:
                yield json.loads(line)
            self._file.seek(0, 2)  # appends go on at the end

    def close(self) -> None:
        """Drop the paths (the file goes with its descriptor)."""
        self._held = []
        if self._file is not None:
            self._file.close()
            self._file = None
