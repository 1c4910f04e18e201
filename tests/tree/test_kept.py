"""The bounded records every job report keeps (securestore.kept)."""

from __future__ import annotations

from securestore.errors import NotFoundError, PolicyError, SecureStoreError
from securestore.kept import drop_tracebacks, keep, keep_failure


def _raised(error: SecureStoreError) -> SecureStoreError:
    try:
        try:
            raise ValueError("inner")
        except ValueError as inner:
            raise error from inner
    except SecureStoreError as caught:
        return caught


def test_keep_stops_at_the_limit_and_says_so() -> None:
    kept: list[int] = []
    said = [keep(kept, n, 3) for n in range(5)]
    assert kept == [0, 1, 2]
    assert said == [True, True, True, False, False]


def test_keep_failure_keeps_the_first_of_each_type_past_the_limit() -> None:
    kept: list[str] = []
    kinds: set[type[BaseException]] = set()
    assert keep_failure(kept, "a", PolicyError("x"), kinds, 1)
    assert not keep_failure(kept, "b", PolicyError("x"), kinds, 1)
    assert keep_failure(kept, "c", NotFoundError("y"), kinds, 1)
    assert not keep_failure(kept, "d", NotFoundError("y"), kinds, 1)
    assert keep_failure(kept, "e", PolicyError("x"), kinds, 1, always=True)
    assert kept == ["a", "c", "e"]


def test_a_kept_failure_loses_every_traceback_in_its_chain() -> None:
    error = _raised(PolicyError("denied"))
    assert error.__traceback__ is not None and error.__cause__ is not None
    assert error.__cause__.__traceback__ is not None
    keep_failure([], "k", error, set())
    assert error.__traceback__ is None
    assert error.__cause__.__traceback__ is None


def test_a_refused_failure_keeps_its_traceback() -> None:
    kinds: set[type[BaseException]] = {PolicyError}
    error = _raised(PolicyError("denied"))
    assert not keep_failure(["full"], "k", error, kinds, 1)
    assert error.__traceback__ is not None


def test_drop_tracebacks_ends_on_a_chain_that_loops() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    drop_tracebacks(first)  # returns: the loop is seen
