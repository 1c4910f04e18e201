"""mv of a local file deletes it only if it did not change after it was read.

Between the upload and the unlink the move HEADs the copy and reads its header
(network round trips): a write to the file in that time is not in the object,
and must not be lost with the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import securestore.tree.transfers as transfers
from securestore import Connection
from tests.support.cli import Run
from tests.tree.conftest import make_tree, object_keys


@pytest.mark.parametrize("tree", [False, True])
def test_mv_keeps_a_file_written_while_its_copy_was_checked(
    run: Run,
    bucket: str,
    tmp_path: Path,
    connection: Connection,
    monkeypatch: pytest.MonkeyPatch,
    tree: bool,
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"log.txt": b"first line\n"})
    checked = transfers.stored_plaintext

    def append_then_check(*args: Any, **kwargs: Any) -> int | None:
        with (src / "log.txt").open("ab") as log:
            log.write(b"second line\n")
        return checked(*args, **kwargs)

    monkeypatch.setattr(transfers, "stored_plaintext", append_then_check)
    if tree:
        result = run("mv", str(src), f"s3://{bucket}/m/", "--recursive")
    else:
        result = run("mv", str(src / "log.txt"), f"s3://{bucket}/m/log.txt")
    assert result.exit_code == 2, result.stderr
    assert "changed after it was uploaded" in result.stderr
    assert (src / "log.txt").read_bytes() == b"first line\nsecond line\n"
    assert object_keys(connection, bucket) == ["m/log.txt"]
