"""CLI defects of review issue 10: single downloads of control-character names, what
``rm``/``cp``/``sync --recursive`` do with an object key, CLI-worded hints, ``ls --summarize``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from securestore import Connection
from tests.support.cli import Run, stderr_lines


@pytest.mark.parametrize("name", ["a\x1b[31m.txt", "b\u202etxt.exe", "c\x85d"])
@pytest.mark.parametrize("command", ["get", "cp"])
def test_a_single_download_into_a_folder_refuses_a_control_character_name(
    run: Run, connection: Connection, bucket: str, tmp_path: Path, name: str, command: str
) -> None:
    # A tree download skips such a name (exit 2); one object named into a folder is refused
    # the same way, nothing written.
    connection.client("s3").put_object(
        Bucket=bucket, Key=f"p/{name}", Body=b"x", ServerSideEncryption="AES256"
    )
    into = tmp_path / "into"
    into.mkdir()
    result = run(command, f"s3://{bucket}/p/{name}", f"{into}/")
    assert result.exit_code == 2, result.output
    (error,) = stderr_lines(result, "error:")
    assert "control characters" in error and name not in result.stderr
    assert stderr_lines(result, "hint:")
    assert list(into.iterdir()) == []
    # Named by the caller, the same object downloads.
    named = run(command, f"s3://{bucket}/p/{name}", str(into / "named.txt"))
    assert named.exit_code == 0, named.stderr
    assert (into / "named.txt").read_bytes() == b"x"


def test_put_of_a_device_hints_in_cli_words(run: Run, bucket: str) -> None:
    result = run("put", "/dev/null", f"s3://{bucket}/k")
    assert result.exit_code == 2
    assert stderr_lines(result, "error:") == ["error: not a regular file: /dev/null"]
    (hint,) = stderr_lines(result, "hint:")
    assert "securestore put - s3://BUCKET/KEY < SOURCE" in hint
    assert "put()" not in hint and "library" not in hint and "file object" not in hint


def test_the_library_hint_keeps_the_library_aside(make_store: Any, tmp_path: Path) -> None:
    from securestore import LocalFileError

    with pytest.raises(LocalFileError) as caught:
        make_store().upload_file("/dev/null", "k")
    assert caught.value.hint is not None and "(library: " in caught.value.hint


@pytest.mark.parametrize("flag", ["--summarize", "--recursive", "--versions"])
def test_ls_of_the_buckets_refuses_object_options(run: Run, bucket: str, flag: str) -> None:
    # aws s3 ls --summarize would end the bucket list with "Total Objects: 0".
    result = run("ls", flag)
    assert result.exit_code == 2
    assert result.stdout == ""
    (error,) = stderr_lines(result, "error:")
    assert flag in error and "s3://BUCKET" in error
    assert run("ls", "--human-readable").exit_code == 0  # nothing to format: harmless
    assert run("ls", f"s3://{bucket}", flag).exit_code in (0, 1)


@pytest.mark.parametrize(("key", "code"), [("t/..", 3), ("t/.", 3), ("u/", 2)])
def test_a_single_download_into_a_folder_of_an_unusable_name_says_what_to_do(
    run: Run, connection: Connection, bucket: str, tmp_path: Path, key: str, code: int
) -> None:
    # ".." would name the folder's parent: exit 3, as a tree download refuses it (it was
    # exit 2 and no hint); a key ending in / has no name at all: a usage error.
    connection.client("s3").put_object(
        Bucket=bucket, Key=key, Body=b"x", ServerSideEncryption="AES256"
    )
    into = tmp_path / "into"
    into.mkdir()
    result = run("get", f"s3://{bucket}/{key}", f"{into}/")
    assert result.exit_code == code, result.output
    assert stderr_lines(result, "hint:") == ["hint: name the destination file yourself: DIR/NAME"]
    assert list(tmp_path.iterdir()) == [into] and list(into.iterdir()) == []
