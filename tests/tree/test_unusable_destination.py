"""A local destination a tree download cannot use is refused once, before any request for
an object, not once per object (41 'failed:' lines for 41 objects)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import SecureStore


@pytest.mark.parametrize("command", ["cp", "sync"])
def test_a_destination_that_is_a_file_is_one_error(
    run: Callable[..., Any],
    make_store: Callable[..., SecureStore],
    bucket: str,
    tmp_path: Path,
    command: str,
) -> None:
    store = make_store()
    for i in range(5):
        store.put(f"t/f{i}", b"x")
    target = tmp_path / "afile"
    target.write_bytes(b"keep")
    args = [command, f"s3://{bucket}/t/", str(target)] + ["--recursive"] * (command == "cp")
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "failed:" not in result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: the destination is not a directory: {target}"
    ]
    assert target.read_bytes() == b"keep"
    under = run(*[args[0], args[1], str(target / "sub"), *args[3:]])
    assert under.exit_code == 2 and "failed:" not in under.output, under.output
