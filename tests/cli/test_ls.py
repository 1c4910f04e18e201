"""``securestore ls`` as ``aws s3 ls``: PRE lines, --recursive, --human-readable, --summarize."""

from __future__ import annotations

import json

import pytest
from click.testing import Result
from securestore_cli.listing import human_size

from securestore import Connection, SecureStore
from tests.support.cli import Run


@pytest.fixture
def tree(connection: Connection, bucket: str) -> str:
    """A bucket holding a small tree, with a near-miss name beside ``tree/``."""
    store = SecureStore(bucket, connection=connection)
    for key, size in (
        ("top.txt", 1),
        ("tre.txt", 10),
        ("tree/a.txt", 2048),
        ("tree/sub/b.bin", 5),
        ("tree/sub/c.bin", 7),
        ("treehouse/d.txt", 3),
    ):
        store.put(key, b"x" * size)
    return bucket


def names(result: Result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    return [line.split()[-1] for line in result.stdout.splitlines() if line.strip()]


def test_root_lists_one_level_with_pre_lines(run: Run, tree: str) -> None:
    result = run("ls", f"s3://{tree}")
    # As aws s3 ls: a page's PRE lines first, then its objects.
    assert names(result) == ["tree/", "treehouse/", "top.txt", "tre.txt"]
    pre = [line for line in result.stdout.splitlines() if "PRE" in line]
    # aws s3 ls's layout: PRE right-aligned in 30 columns, then the directory.
    assert pre == [f"{'PRE':>30} tree/", f"{'PRE':>30} treehouse/"]
    top = next(line for line in result.stdout.splitlines() if line.endswith("top.txt"))
    assert top[19:] == f" {1:>10} top.txt"


def test_directory_lists_its_entries_by_their_names_within_it(run: Run, tree: str) -> None:
    assert names(run("ls", f"s3://{tree}/tree/")) == ["sub/", "a.txt"]
    assert names(run("ls", f"s3://{tree}/tree/sub/")) == ["b.bin", "c.bin"]


def test_prefix_without_slash_is_literal_and_does_not_descend(run: Run, tree: str) -> None:
    """Before, s3://b/tre listed every key under tree/ and treehouse/ too."""
    assert names(run("ls", f"s3://{tree}/tre")) == ["tree/", "treehouse/", "tre.txt"]
    assert names(run("ls", f"s3://{tree}/tree")) == ["tree/", "treehouse/"]


def test_recursive_lists_full_keys_and_keeps_prefix_matching(run: Run, tree: str) -> None:
    assert names(run("ls", f"s3://{tree}/tre", "--recursive")) == [
        "tre.txt",
        "tree/a.txt",
        "tree/sub/b.bin",
        "tree/sub/c.bin",
        "treehouse/d.txt",
    ]


def test_summarize_and_human_readable(run: Run, tree: str) -> None:
    plain = run("ls", f"s3://{tree}/tree/", "--recursive", "--summarize")
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout.endswith("\nTotal Objects: 3\n   Total Size: 2060\n")
    human = run("ls", f"s3://{tree}/tree/", "--recursive", "--summarize", "--human-readable")
    assert "   2.0 KiB tree/a.txt" in human.stdout
    assert human.stdout.endswith("\nTotal Objects: 3\n   Total Size: 2.0 KiB\n")
    # One level: directories are not counted, as in aws s3 ls.
    level = run("ls", f"s3://{tree}", "--summarize")
    assert level.stdout.endswith("\nTotal Objects: 2\n   Total Size: 11\n")


def test_json_follows_the_same_levels(run: Run, tree: str) -> None:
    level = json.loads(run("ls", f"s3://{tree}/tree/", "--json").stdout)
    assert level[0]["key"] == "tree/a.txt" and level[0]["size"] == 2048
    assert level[1] == {"prefix": "tree/sub/"}
    deep = json.loads(run("ls", f"s3://{tree}/tree/", "--json", "--recursive").stdout)
    assert [item["key"] for item in deep] == ["tree/a.txt", "tree/sub/b.bin", "tree/sub/c.bin"]


def test_json_refuses_text_options(run: Run, tree: str) -> None:
    result = run("ls", f"s3://{tree}", "--json", "--summarize")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --human-readable and --summarize")


def test_missing_bucket_is_exit_four_with_nothing_on_stdout(run: Run) -> None:
    result = run("ls", "s3://no-such-bucket-cliux-0001/", "--summarize")
    assert result.exit_code == 4
    assert result.stdout == ""


def test_names_from_the_bucket_are_escaped(run: Run, connection: Connection, bucket: str) -> None:
    s3 = connection.client("s3")
    for key in ("d\x1b]0;pwned\x07/x", "e\u202etxt.exe"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1", ServerSideEncryption="AES256")
    out = run("ls", f"s3://{bucket}").stdout
    assert "\x1b" not in out and "\u202e" not in out
    assert "PRE d\\x1b]0;pwned\\x07/" in out
    assert "e\\u202etxt.exe" in out


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 Bytes"),
        (1, "1 Byte"),
        (1023, "1023 Bytes"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),
        (5 * 1024**3, "5.0 GiB"),
    ],
)
def test_human_sizes_are_those_of_aws_cli(size: int, text: str) -> None:
    assert human_size(size) == text
