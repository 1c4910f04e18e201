"""Bounded records of a job's outcomes: keep the first ones, count the rest.

A job over a prefix or a tree may see millions of objects; its report keeps the
first :data:`KEPT` of each kind of outcome (plus, for failures, the first of each
error type, so that no kind of failure goes unseen) and only counts the others,
which its callback was told of as they happened.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["KEPT", "drop_tracebacks", "keep", "keep_failure"]

#: Outcomes of one kind a report keeps before it only counts them.
KEPT = 1_000

T = TypeVar("T")


def keep(kept: list[T], item: T, limit: int = KEPT) -> bool:
    """Append ``item`` to ``kept`` while it holds fewer than ``limit``; say whether it did."""
    if len(kept) < limit:
        kept.append(item)
        return True
    return False


def keep_failure(
    kept: list[T],
    item: T,
    error: BaseException,
    kinds: set[type[BaseException]],
    limit: int = KEPT,
    *,
    always: bool = False,
) -> bool:
    """Append the failure ``item`` to ``kept`` while it holds fewer than ``limit``, or
    when ``error``'s type is not in ``kinds`` yet, or ``always``; say whether it did.

    A kept failure's error loses its tracebacks (:func:`drop_tracebacks`), and
    its type joins ``kinds``.
    """
    kind = type(error)
    if not (always or len(kept) < limit or kind not in kinds):
        return False
    drop_tracebacks(error)
    kept.append(item)
    kinds.add(kind)
    return True


def drop_tracebacks(error: BaseException) -> None:
    """Clear the traceback of ``error`` and of every error chained to it.

    For errors kept past their call, per object of a job: each traceback keeps
    the frames of the failed call alive, with their locals (7.3 KiB per refused
    download with them, 2.0 KiB without: docs/benchmark-log.md, "stop 23, lead").
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
