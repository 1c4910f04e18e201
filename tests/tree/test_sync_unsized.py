"""A sync with a key option compares client-side objects that stored no plaintext length.

``put -`` streams a message of unknown length, so the object holds no
``securestore-plaintext-length`` (and some servers keep no user metadata at
all). The plaintext size still follows from the message's header and frame
layout: such an object, once synced, is not transferred again by every run.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import Run
from tests.tree.conftest import lines, read_tree


def test_a_streamed_object_is_not_downloaded_again(
    run: Run, bucket: str, tmp_path: Path, key_file: Path
) -> None:
    url = f"s3://{bucket}/s/"
    put = run("put", "-", f"{url}stream.txt", "--key-file", str(key_file), input=b"streamed")
    assert put.exit_code == 0, put.stderr
    restore = tmp_path / "restore"
    first = run("sync", url, str(restore), "--key-file", str(key_file))
    assert first.exit_code == 0, first.stderr
    assert read_tree(restore) == {"stream.txt": b"streamed"}
    again = run("sync", url, str(restore), "--key-file", str(key_file))
    assert again.exit_code == 0, again.stderr
    assert lines(again) == []
    up = run("sync", str(restore), url, "--key-file", str(key_file))
    assert up.exit_code == 0, up.stderr
    assert lines(up) == []
