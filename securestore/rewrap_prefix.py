"""Re-wrap every client-side object under a prefix, on the tree transfer pool.

Each object is one :meth:`SecureStore.rewrap` (a HEAD, a ranged GET, a PUT or a
multipart copy), so a prefix of many small objects is bound by round trips, not
bandwidth: the :class:`~securestore.tree.manager.TransferManager` runs them
``concurrency`` at a time from a streamed listing (bounded memory, Ctrl-C aborts
in-flight multipart copies). A failure does not stop the others. Objects that are
not messages at all (:class:`~securestore.errors.NotAMessageError`) are skipped
and listed; a damaged message is a failure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from securestore.errors import NotAMessageError, SecureStoreError
from securestore.rewrap import RewrapResult
from securestore.store import SecureStore
from securestore.tree.manager import run_per_object

__all__ = ["PrefixRewrap", "SkippedObject", "rewrap_prefix"]


@dataclass(frozen=True)
class SkippedObject:
    """An object under the prefix that is not a client-side message, and why."""

    key: str
    reason: str
    hint: str | None = None


@dataclass
class PrefixRewrap:
    """What :func:`rewrap_prefix` did: results, skips and failures, each sorted by key."""

    results: list[RewrapResult] = field(default_factory=list)
    skipped: list[SkippedObject] = field(default_factory=list)
    failed: list[tuple[str, SecureStoreError]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no object failed (skips are not failures)."""
        return not self.failed


def rewrap_prefix(
    store: SecureStore,
    prefix: str,
    *,
    concurrency: int = 8,
    on_result: Callable[[RewrapResult], None] | None = None,
    on_skip: Callable[[SkippedObject], None] | None = None,
    on_failure: Callable[[str, SecureStoreError], None] | None = None,
    **changes: Any,
) -> PrefixRewrap:
    """Re-wrap each object under ``prefix`` with ``changes`` (the keywords of
    :meth:`SecureStore.rewrap`), ``concurrency`` objects at a time.

    The callbacks run on worker threads as each object finishes (the CLI prints
    its lines from them). Raises what the listing raises, and ``KeyboardInterrupt``
    after the pool has cleaned up.
    """
    outcome = PrefixRewrap()
    lock = threading.Lock()

    def work(key: str, size: int) -> int | None:
        try:
            result = store.rewrap(key, **changes)
        except NotAMessageError as exc:
            skip = SkippedObject(key, exc.message, exc.hint)
            with lock:
                outcome.skipped.append(skip)
            if on_skip is not None:
                on_skip(skip)
            return None
        except SecureStoreError as exc:
            with lock:
                outcome.failed.append((key, exc))
            if on_failure is not None:
                on_failure(key, exc)
            raise  # the pool counts it (and stops nothing else)
        with lock:
            outcome.results.append(result)
        if on_result is not None:
            on_result(result)
        return size

    listing = ((entry.key, entry.size) for entry in store.list(prefix=prefix))
    run_per_object(store, listing, work, concurrency=concurrency)
    outcome.results.sort(key=lambda r: r.key)
    outcome.skipped.sort(key=lambda s: s.key)
    outcome.failed.sort(key=lambda f: f[0])
    return outcome
