"""``rewrap_prefix`` over a prefix of many objects: every outcome reaches the callbacks,
the returned :class:`PrefixRewrap` counts them all and keeps a bounded number,
without tracebacks, and the most serious error type is always among those kept.

A stand-in store (its ``list`` and ``rewrap`` only) keeps these fast: the transfer
pool and the bookkeeping are what is tested; tests/rewrap/test_prefix.py runs the
real thing against the endpoint.
"""

from __future__ import annotations

import importlib
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest

from securestore import SecureStore
from securestore.errors import AccessDeniedError, IntegrityError, NotAMessageError
from securestore.prefix_rewrap import rewrap_prefix
from securestore.rewrap import RewrapResult

# By sys.modules, whatever the package exports under the same name.
module = importlib.import_module("securestore.prefix_rewrap")


@dataclass
class _Entry:
    key: str
    size: int = 1


class _Store:
    """``n`` objects: every 3rd is not a message, every 3rd + 1 is denied, the rest rewrap;
    the very last one is damaged (a more serious error type, after the bound)."""

    bucket = "b"

    def __init__(self, n: int) -> None:
        self.n = n

    def list(self, prefix: str = "") -> Iterator[_Entry]:
        return (_Entry(f"{prefix}{i:07d}") for i in range(self.n))

    def rewrap(self, key: str, **_: Any) -> RewrapResult:
        index = int(key[-7:])
        if index == self.n - 1:
            raise IntegrityError(f"damaged: {key}")
        if index % 3 == 0:
            raise NotAMessageError(f"not a message: {key}")
        if index % 3 == 1:
            raise AccessDeniedError(f"denied: {key}")
        return RewrapResult("b", key, "b", key, None, False, "etag", None)


def test_every_outcome_is_told_and_counted_but_few_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "KEPT", 5)
    told = {"result": 0, "skip": 0, "failure": 0}

    def tell(kind: str) -> Any:
        return lambda *_: told.__setitem__(kind, told[kind] + 1)

    outcome = rewrap_prefix(
        cast(SecureStore, _Store(300)),
        "p/",
        on_result=tell("result"),
        on_skip=tell("skip"),
        on_failure=tell("failure"),
    )
    assert told == {"result": 99, "skip": 100, "failure": 101}
    assert (outcome.rewrapped, outcome.skip_count, outcome.failure_count) == (99, 100, 101)
    assert len(outcome.results) == 5 and len(outcome.skipped) == 5
    # Five failures, plus the first (here: only) IntegrityError, which came after the bound.
    kinds = [type(error) for _, error in outcome.failed]
    assert len(kinds) == 6 and IntegrityError in kinds, kinds
    assert not outcome.ok
    assert [key for key, _ in outcome.failed] == sorted(key for key, _ in outcome.failed)
    for _, error in outcome.failed:
        assert error.__traceback__ is None


def test_memory_stays_bounded_for_many_failures() -> None:
    """Measured: 1.4 MiB peak; every outcome kept (even without tracebacks): 11 MiB."""
    tracemalloc.start()
    try:
        outcome = rewrap_prefix(cast(SecureStore, _Store(30_000)), "p/", concurrency=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.failure_count == 10_001 and len(outcome.failed) == module.KEPT + 1
    assert outcome.skip_count == 10_000 and len(outcome.skipped) == module.KEPT
    assert peak < 4 * 1024 * 1024, peak
