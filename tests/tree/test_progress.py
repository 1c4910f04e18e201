"""The tree job's progress display: binary units, and one summary line when it ends."""

from __future__ import annotations

import pytest
from securestore_cli.progress import summary, tree_progress

from securestore.tree import TreeProgress


def test_summary_uses_the_bars_binary_units() -> None:
    state = TreeProgress(300, 300, 3 * 1024 * 1024, 3 * 1024 * 1024, True)
    assert summary(state, 2.0) == "completed 300 files, 3.0 MiB in 2.0 s (1.5 MiB/s)"
    one = TreeProgress(1, 1, 1, 1, True)
    assert summary(one, 0.0) == "completed 1 file, 1 Byte in 0.0 s (0 Bytes/s)"


def test_the_job_ends_with_one_summary_line_even_when_it_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def job() -> None:
        with tree_progress(True) as update:
            assert update is not None
            update(TreeProgress(2, 5, 2048, 10_000, True))
            raise RuntimeError("the job failed half-way")

    with pytest.raises(RuntimeError):
        job()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines[-1].startswith("completed 2 files, 2.0 KiB in ")


def test_disabled_means_no_bar_and_no_line(capsys: pytest.CaptureFixture[str]) -> None:
    with tree_progress(False) as update:
        assert update is None
    assert capsys.readouterr().err == ""
