"""Versioned buckets: ``ls --versions``, ``get``/``head --version-id``, every GET pinned."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from securestore import ClientSide, Connection, RawAesKeyring, SecureStore
from securestore.objects import ObjectVersion
from tests.conftest import SMALL_TRANSFER
from tests.support.cli import Run

MiB = 1024 * 1024


@pytest.fixture
def versioned(connection: Connection, bucket: str) -> str:
    connection.client("s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return bucket


def put_versions(store: SecureStore, key: str, *bodies: bytes) -> list[str]:
    ids = []
    for body in bodies:
        info = store.put(key, body)
        assert info.version_id
        ids.append(info.version_id)
    return ids


def test_ls_versions_shows_every_version_and_the_delete_marker(
    run: Run, connection: Connection, versioned: str
) -> None:
    store = SecureStore(versioned, connection=connection)
    first, second = put_versions(store, "doc.txt", b"one", b"second")
    store.delete("doc.txt")
    result = run("ls", f"s3://{versioned}", "--versions")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert "DELETED doc.txt" in lines[0] and lines[0].endswith("(latest)")
    assert lines[1].split()[2:] == ["6", "doc.txt", second]
    assert lines[2].split()[2:] == ["3", "doc.txt", first]
    items = json.loads(run("ls", f"s3://{versioned}", "--versions", "--json").stdout)
    assert [(i["version_id"], i["delete_marker"], i["is_latest"]) for i in items[1:]] == [
        (second, False, False),
        (first, False, False),
    ]
    assert items[0]["delete_marker"] and items[0]["is_latest"]
    # The current listing no longer shows the deleted key; its versions stay readable.
    assert run("ls", f"s3://{versioned}").stdout == ""
    got = run("get", f"s3://{versioned}/doc.txt", "--version-id", first)
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == b"one"


def test_ls_versions_is_one_level_unless_recursive(
    run: Run, connection: Connection, versioned: str
) -> None:
    store = SecureStore(versioned, connection=connection)
    put_versions(store, "dir/a", b"1", b"2")
    put_versions(store, "top", b"3")
    level = run("ls", f"s3://{versioned}", "--versions").stdout.splitlines()
    assert [line.split()[-1] for line in level if "PRE" in line] == ["dir/"]
    assert sum("top" in line for line in level) == 1
    deep = run("ls", f"s3://{versioned}", "--versions", "--recursive").stdout
    assert deep.count(" dir/a ") == 2


def test_get_and_head_version_id(
    run: Run, connection: Connection, versioned: str, tmp_path: Path
) -> None:
    store = SecureStore(versioned, connection=connection)
    first, second = put_versions(store, "k", b"old bytes", b"new")
    url = f"s3://{versioned}/k"
    head = json.loads(run("head", url, "--json", "--version-id", first).stdout)
    assert head["version_id"] == first and head["size"] == len(b"old bytes")
    text = run("head", url, "--version-id", second).stdout
    assert f"version:        {second}" in text
    dest = tmp_path / "out"
    assert run("get", url, str(dest), "--version-id", first).exit_code == 0
    assert dest.read_bytes() == b"old bytes"
    ranged = run("get", url, "--version-id", first, "--range", "4-")
    assert ranged.stdout_bytes == b"bytes"
    assert run("get", url).stdout_bytes == b"new"


def test_unknown_and_empty_version_ids_are_refused(run: Run, versioned: str) -> None:
    url = f"s3://{versioned}/nothing"
    empty = run("get", url, "--version-id", "")
    assert empty.exit_code == 2
    assert empty.stderr.startswith("error: an empty version id")
    missing = run("head", f"s3://{versioned}/nothing", "--version-id", "no-such-version")
    assert missing.exit_code == 4
    assert missing.stderr.startswith("error:")
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_every_ranged_get_of_a_download_is_pinned_to_the_version(
    connection: Connection, versioned: str, tmp_path: Path, client_side: bool
) -> None:
    """A multi-part download of an older version: before, the ranges read the current one.

    Each ranged GET carries the ETag of the version described first, so unpinned GETs
    of the newer version are refused (or worse, on servers that ignore If-Match,
    mixed in): the download must read the old version throughout.
    """
    mode = ClientSide(RawAesKeyring("test", "k", os.urandom(32))) if client_side else None
    store = SecureStore(versioned, connection=connection, transfer=SMALL_TRANSFER, encryption=mode)
    old, new = os.urandom(12 * MiB + 5), os.urandom(12 * MiB + 9)
    first, _ = put_versions(store, "big", old, new)
    out = tmp_path / "old"
    store.download_file("big", out, version_id=first)
    assert out.read_bytes() == old
    with store.open("big", version_id=first) as reader:
        assert reader.read_range(7 * MiB, 100) == old[7 * MiB : 7 * MiB + 100]
    assert store.get("big") == new


def test_library_lists_versions(connection: Connection, versioned: str) -> None:
    store = SecureStore(versioned, connection=connection)
    first, second = put_versions(store, "a", b"1", b"22")
    listed = list(store.list_versions(""))
    assert all(isinstance(entry, ObjectVersion) for entry in listed)
    assert [(e.key, e.version_id, e.is_latest) for e in listed] == [  # type: ignore[union-attr]
        ("a", second, True),
        ("a", first, False),
    ]


def test_unknown_version_id_says_no_such_version(
    run: Run, connection: Connection, versioned: str, tmp_path: Path
) -> None:
    store = SecureStore(versioned, connection=connection)
    put_versions(store, "doc.txt", b"one")
    url = f"s3://{versioned}/doc.txt"
    for args in (
        ("get", url, "--version-id", "bogus"),
        ("get", url, str(tmp_path / "out"), "--version-id", "bogus"),
        ("head", url, "--version-id", "bogus"),
    ):
        result = run(*args)
        assert result.exit_code == 4, result.stderr
        error, hint = result.stderr.splitlines()[-2:]
        assert "no such version 'bogus'" in error, error
        assert "--versions" in hint


def test_malformed_version_id_from_s3_names_it() -> None:
    """Real S3 answers a malformed id with 400 InvalidArgument (moto does not): say so."""
    import botocore.exceptions
    from securestore_cli.commands import version_error

    from securestore.transport_errors import translate_error

    response = {"Error": {"Code": "InvalidArgument", "Message": "Invalid version id specified"}}
    error = translate_error(
        botocore.exceptions.ClientError(response, "GetObject"),  # type: ignore[arg-type]
        bucket="b",
        key="k",
        action="read",
    )
    version_error(error, "bad id")
    assert "Invalid version id specified" in str(error) and "'bad id'" in str(error)
    assert error.hint and "--versions" in error.hint


def test_a_delete_marker_version_says_so(run: Run, connection: Connection, versioned: str) -> None:
    """S3 answers GET and HEAD of a delete marker's version id with 405 MethodNotAllowed
    (moto: HEAD only; its GET says NoSuchVersion): the error says what the version is."""
    import botocore.exceptions
    from securestore_cli.commands import version_error

    from securestore.transport_errors import translate_error

    store = SecureStore(versioned, connection=connection)
    put_versions(store, "doc.txt", b"one")
    store.delete("doc.txt")
    marker = next(v for v in store.list_versions("doc.txt") if v.delete_marker)
    result = run("head", f"s3://{versioned}/doc.txt", "--version-id", marker.version_id)
    assert result.exit_code == 4, result.stderr
    assert f"version {marker.version_id!r} is a delete marker" in result.stderr
    assert "Method Not Allowed" not in result.stderr
    response = {"Error": {"Code": "MethodNotAllowed", "Message": "not allowed"}}
    error = translate_error(
        botocore.exceptions.ClientError(response, "GetObject"),  # type: ignore[arg-type]
        bucket="b",
        key="k",
        action="read",
    )
    version_error(error, "v1")
    assert "version 'v1' is a delete marker" in str(error)
