"""A JSON array written element by element, for listings and per-object reports of any size."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

import click

__all__ = ["ArrayWriter", "DocumentWriter", "echo_array"]


class ArrayWriter:
    """One JSON array on stdout (``json.dumps(..., indent=2)``'s layout), an item at a time.

    Thread-safe: per-object jobs add items from their worker threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self, item: Any) -> None:
        """Write ``item`` (JSON-ready)."""
        text = "\n".join("  " + line for line in json.dumps(item, indent=2).splitlines())
        with self._lock:
            click.echo(("[\n" if not self._count else ",\n") + text, nl=False)
            self._count += 1

    def close(self) -> None:
        """End the array (``[]`` when nothing was added)."""
        with self._lock:
            click.echo("\n]" if self._count else "[]")


def echo_array(items: Iterable[Any]) -> None:
    """Print ``items`` as one JSON array, holding one at a time.

    A failure while producing them leaves the array unclosed, which no JSON parser
    mistakes for a complete answer (the error goes to stderr).
    """
    writer = ArrayWriter()
    for item in items:
        writer.add(item)
    writer.close()


class DocumentWriter:
    """One JSON object on stdout whose list ``name`` is written an item at a time.

    ``head``'s fields come first, then the list, then (at :meth:`close`) the fields
    known only at the end (a summary). Thread-safe, as :class:`ArrayWriter`.
    """

    def __init__(self, head: dict[str, Any], name: str) -> None:
        opening = json.dumps(head, indent=2)[:-1].rstrip()  # without its closing brace
        separator = "," if head else ""
        click.echo(f"{opening}{separator}\n  {json.dumps(name)}: [", nl=False)
        self._lock = threading.Lock()
        self._count = 0

    def add(self, item: Any) -> None:
        """Write one item of the list (JSON-ready)."""
        text = json.dumps(item, indent=2).replace("\n", "\n    ")
        with self._lock:
            click.echo(("\n    " if not self._count else ",\n    ") + text, nl=False)
            self._count += 1

    def close(self, tail: dict[str, Any]) -> None:
        """End the list, then the document with ``tail``'s fields."""
        fields = "".join(
            f",\n  {json.dumps(k)}: " + json.dumps(v, indent=2).replace("\n", "\n  ")
            for k, v in tail.items()
        )
        with self._lock:
            click.echo(("]" if not self._count else "\n  ]") + fields + "\n}")
