"""migrate streams its listing (instruction files paired on the fly) and keeps a bounded
report, telling ``on_entry`` of every object."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import securestore.migrate as module
from securestore.migrate import MigrationEntry, MigrationReport, _paired


def test_instruction_files_are_paired_in_s3_order() -> None:
    # S3's order: "a!x" and "a-b" sort between "a" and "a.instruction"; "a.instruction" is
    # itself a key whose instruction file is listed; "é" sorts after every ASCII key.
    keys = sorted(
        [
            "a",
            "a!x",
            "a-b",
            "a.instruction",
            "a.instruction.instruction",
            "b.instruction",  # its base "b" is not listed: an object like any other
            "c",
            "\u00e9",
            "\u00e9.instruction",
        ],
        key=lambda k: k.encode(),
    )
    got = {key: (has, inst) for key, _, has, inst in _paired((k, 1) for k in keys)}
    assert sorted(got) == sorted(keys)
    assert got["a"] == (True, False)
    assert got["a.instruction"] == (True, True)
    assert got["a.instruction.instruction"] == (False, True)
    assert got["a!x"] == got["a-b"] == got["c"] == got["b.instruction"] == (False, False)
    assert got["\u00e9"] == (True, False) and got["\u00e9.instruction"] == (False, True)


def test_keys_wait_only_until_the_listing_passes_their_instruction_file() -> None:
    produced: list[str] = []

    def listing() -> Iterator[tuple[str, int]]:
        for i in range(10_000):
            produced.append(f"k{i:06d}")
            yield produced[-1], 1

    stream = _paired(listing())
    first = next(stream)
    assert first[0] == "k000000" and len(produced) == 2  # decided one key later


def test_the_report_counts_all_and_keeps_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "KEPT", 2)
    report = MigrationReport("b", "p/", False)
    for i in range(10):
        report.add(MigrationEntry(f"k{i}", "failed" if i % 2 else "skipped"))
    assert report.counts() == {"failed": 5, "skipped": 5} and report.total == 10
    assert [e.key for e in report.entries] == ["k0", "k1", "k2", "k3"]
    assert [e.key for e in report.failed] == ["k1", "k3"]
    assert report.to_dict()["counts"] == {"failed": 5, "skipped": 5}
    by_hand = MigrationReport("b", "", True, [MigrationEntry("x", "would migrate")])
    assert by_hand.counts() == {"would migrate": 1} and by_hand.total == 1
