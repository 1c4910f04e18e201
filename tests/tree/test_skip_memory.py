"""A tree job's skips take bounded memory: the first ``KEPT_SKIPS`` kept, the rest counted,
and the CLI's warnings and exit code still account for every one."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from securestore.tree import Skip, TreeResult, results
from tests.support.cli import Run, stderr_lines


def test_past_the_bound_skips_are_counted_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "KEPT_SKIPS", 3)
    result = TreeResult()
    for i in range(10):
        result.add_skip(Skip(f"p{i}", "a FIFO", refused=i % 2 == 0))
    assert [s.path for s in result.skipped] == ["p0", "p1", "p2"]
    assert result.skips_dropped == 7 and result.skip_count == 10
    assert result.refused_count == 5  # p0, p2 kept; p4, p6, p8 counted
    total = TreeResult()
    total.add_skip(Skip("q", "vanished"))
    total.merge(result)
    assert len(total.skipped) == 3 and total.skip_count == 11
    assert total.refused_count == 5


def test_many_skips_hold_bounded_memory() -> None:
    result = TreeResult()
    tracemalloc.start()
    try:
        for i in range(100_000):
            result.add_skip(Skip(f"some/long/path/number/{i:08}", "vanished"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.skipped) == results.KEPT_SKIPS and result.skip_count == 100_000
    assert peak < 2 * 1024 * 1024  # every Skip kept: about 20 MiB


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_the_cli_warns_of_the_kept_skips_and_counts_the_rest(
    run: Run, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "KEPT_SKIPS", 2)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    for i in range(5):
        os.mkfifo(src / f"fifo{i}")
    result = run("cp", str(src), f"s3://{bucket}/d/", "--recursive")
    assert result.exit_code == 0, result.stderr
    warnings = stderr_lines(result, "warning:")
    assert len([w for w in warnings if w.startswith("warning: skipped ")]) == 2
    assert "warning: 3 more path(s) skipped, not listed (the first 2 are above)" in warnings


@pytest.mark.skipif(os.name != "posix", reason="bytes file names are POSIX")
def test_refused_skips_past_the_bound_still_exit_2(
    run: Run, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "KEPT_SKIPS", 1)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    for i in range(3):  # names that are not UTF-8: refused, as aws-cli does (exit 2)
        with open(os.path.join(os.fsencode(src), b"bad\xff" + str(i).encode()), "wb") as f:
            f.write(b"x")
    result = run("cp", str(src), f"s3://{bucket}/d/", "--recursive")
    assert result.exit_code == 2, result.stderr
    errors = stderr_lines(result, "error:")
    assert errors == ["error: 3 file(s) skipped (see the warning: lines)"], result.stderr
    assert "warning: 2 more path(s) skipped, not listed (the first 1 are above)" in result.stderr
