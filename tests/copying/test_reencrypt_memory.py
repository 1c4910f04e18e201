"""``reencrypt`` over many objects: ``on_object`` hears of every one, the report counts
them all and keeps the first failures and the first others (a stand-in ``one`` keeps
it fast; tests/copying/test_reencrypt.py runs the real thing)."""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace
from typing import Any, cast

import pytest

import securestore.reencrypt as module
from securestore import SecureStore, SseS3
from securestore.reencrypt import ObjectOutcome, Outcome, Reencryptor


class _Counting(Reencryptor):
    """Every 4th object fails, the others are re-encrypted."""

    def one(self, key: str, *, dry_run: bool = False) -> ObjectOutcome:
        failed = int(key) % 4 == 0
        outcome = Outcome.FAILED if failed else Outcome.REENCRYPTED
        return ObjectOutcome(key, outcome, "sse-s3", note="denied" if failed else None)


def _reencryptor() -> Reencryptor:
    store = SimpleNamespace(bucket="b", connection=SimpleNamespace(client=lambda _name: None))
    return _Counting(cast(SecureStore, store), SseS3(), concurrency=4)


def test_every_object_is_told_and_counted_but_few_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "KEPT", 3)
    told: list[str] = []
    report = _reencryptor().run(
        (f"{i:05d}" for i in range(40)), on_object=lambda entry: told.append(entry.key)
    )
    assert len(told) == 40
    assert report.count(Outcome.FAILED) == 10 and report.count(Outcome.REENCRYPTED) == 30
    assert report.total == 40 and not report.ok
    kept: dict[Outcome, int] = {}
    for entry in report.objects:
        kept[entry.outcome] = kept.get(entry.outcome, 0) + 1
    assert kept == {Outcome.FAILED: 3, Outcome.REENCRYPTED: 3}
    assert [e.key for e in report.objects] == sorted(e.key for e in report.objects)
    assert report.to_dict()["summary"]["failed"] == 10


def test_a_report_built_by_hand_counts_its_objects() -> None:
    entry = ObjectOutcome("k", Outcome.SKIPPED, "sse-s3")
    report = module.ReencryptReport("b", "", "sse-s3", (entry,))
    assert report.count(Outcome.SKIPPED) == 1 and report.total == 1 and report.ok


def test_memory_stays_bounded() -> None:
    tracemalloc.start()
    try:
        report: Any = _reencryptor().run(f"{i:07d}" for i in range(20_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.total == 20_000 and len(report.objects) == 2 * module.KEPT
    assert peak < 2 * 1024 * 1024, peak  # measured 0.5 MiB; every outcome kept: 4.2 MiB
