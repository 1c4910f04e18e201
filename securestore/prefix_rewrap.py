"""Re-wrap every client-side object under a prefix, on the tree transfer pool.

Each object is one :meth:`SecureStore.rewrap` (a HEAD, a ranged GET, a PUT or a
multipart copy), so a prefix of many small objects is bound by round trips, not
bandwidth: the :class:`~securestore.tree.manager.TransferManager` runs them
``concurrency`` at a time from a streamed listing (bounded memory, Ctrl-C aborts
in-flight multipart copies). A failure does not stop the others. Objects that are
not messages at all (:class:`~securestore.errors.NotAMessageError`) are skipped
and listed; a damaged message is a failure.

A prefix may hold millions of objects: each outcome goes to the caller's
callbacks as it happens, and :class:`PrefixRewrap` counts them all but keeps
only the first :data:`KEPT` of each kind (the failures: plus the first of each
error type, so the most serious one is always kept), without tracebacks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from securestore.errors import NotAMessageError, SecureStoreError
from securestore.kept import KEPT, keep, keep_failure
from securestore.rewrap import RewrapResult
from securestore.store import SecureStore
from securestore.tree.manager import run_per_object

__all__ = ["KEPT", "PrefixRewrap", "SkippedObject", "rewrap_prefix"]


@dataclass(frozen=True)
class SkippedObject:
    """An object under the prefix that is not a client-side message, and why."""

    key: str
    reason: str
    hint: str | None = None


@dataclass
class PrefixRewrap:
    """What :func:`rewrap_prefix` did.

    Attributes:
        results: the first :data:`KEPT` objects re-wrapped, sorted by key.
        skipped: the first :data:`KEPT` objects skipped, sorted by key.
        failed: ``(key, error)`` of the first :data:`KEPT` failures and of the first
            failure of each error type after them, sorted by key; the errors hold no
            traceback.
        rewrapped, skip_count, failure_count: how many of each, kept or not.
    """

    results: list[RewrapResult] = field(default_factory=list)
    skipped: list[SkippedObject] = field(default_factory=list)
    failed: list[tuple[str, SecureStoreError]] = field(default_factory=list)
    rewrapped: int = 0
    skip_count: int = 0
    failure_count: int = 0
    _kinds: set[type[BaseException]] = field(
        default_factory=set, init=False, repr=False, compare=False
    )

    @property
    def ok(self) -> bool:
        """True when no object failed (skips are not failures)."""
        return not self.failure_count and not self.failed

    def add_result(self, result: RewrapResult) -> None:
        """Count ``result``; keep it while fewer than :data:`KEPT` are kept."""
        self.rewrapped += 1
        keep(self.results, result, KEPT)

    def add_skip(self, skip: SkippedObject) -> None:
        """Count ``skip``; keep it while fewer than :data:`KEPT` are kept."""
        self.skip_count += 1
        keep(self.skipped, skip, KEPT)

    def add_failure(self, key: str, error: SecureStoreError) -> None:
        """Count the failure; keep it (without traceback) as the class says."""
        self.failure_count += 1
        keep_failure(self.failed, (key, error), error, self._kinds, KEPT)


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

    The callbacks run on worker threads as each object finishes, for every object
    (the CLI prints its lines from them); the returned :class:`PrefixRewrap`
    counts every object but keeps only the first of each kind. Raises what the
    listing raises, and ``KeyboardInterrupt`` after the pool has cleaned up.
    """
    outcome = PrefixRewrap()
    lock = threading.Lock()

    def work(key: str, size: int) -> int | None:
        try:
            result = store.rewrap(key, **changes)
        except NotAMessageError as exc:
            skip = SkippedObject(key, exc.message, exc.hint)
            with lock:
                outcome.add_skip(skip)
            if on_skip is not None:
                on_skip(skip)
            return None
        except SecureStoreError as exc:
            if on_failure is not None:
                on_failure(key, exc)
            with lock:
                outcome.add_failure(key, exc)
            raise  # the pool counts it (and stops nothing else)
        with lock:
            outcome.add_result(result)
        if on_result is not None:
            on_result(result)
        return size

    listing = ((entry.key, entry.size) for entry in store.list(prefix=prefix))
    run_per_object(store, listing, work, concurrency=concurrency)
    # Sorted for a stable report: at most KEPT of each (plus one failure per type).
    outcome.results.sort(key=lambda r: r.key)
    outcome.skipped.sort(key=lambda s: s.key)
    outcome.failed.sort(key=lambda f: f[0])
    return outcome
