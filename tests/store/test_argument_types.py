"""Wrong argument types and values: a ConfigurationError naming the argument, nothing sent.

Before these checks, ``put(3, b"x")`` was an AttributeError, ``put("k", None)`` a
TypeError, ``encryption="kms"`` an AttributeError, ``expected_size=-1`` was accepted,
and ``read_raw_range`` with a negative range sent a GET and then failed as a
StorageError; ``delete_many("abc")`` deleted the keys ``a``, ``b`` and ``c``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import (
    ConfigurationError,
    Connection,
    InvalidLocationError,
    NotFoundError,
    SecureStore,
    SseS3,
)


@pytest.fixture
def sent(fault_connection: Connection) -> list[str]:
    """Every request the fault connection sends (S3 and KMS)."""
    requests: list[str] = []
    for service in ("s3", "kms"):
        fault_connection.client(service).meta.events.register(
            "before-send", lambda request, **_: requests.append(request.method)
        )
    return requests


Call = Callable[[SecureStore, Path], Any]

# (call, the argument its error must name)
BAD_CALLS: dict[str, tuple[Call, str]] = {
    "put-expected-size-negative": (
        lambda s, _: s.put("k", b"x", expected_size=-1),
        "expected_size",
    ),
    "put-expected-size-str": (lambda s, _: s.put("k", b"x", expected_size="3"), "expected_size"),
    "put-stream-expected-size-str": (
        lambda s, _: s.put("k", iter([b"x"]), expected_size="3"),
        "expected_size",
    ),
    "put-expected-size-bool": (lambda s, _: s.put("k", b"x", expected_size=True), "expected_size"),
    "raw-range-negative-first": (lambda s, _: s.read_raw_range("k", -1, 5), "first"),
    "raw-range-negative-last": (lambda s, _: s.read_raw_range("k", 0, -1), "last"),
    "raw-range-reversed": (lambda s, _: s.read_raw_range("k", 5, 2), "last"),
    "raw-range-str": (lambda s, _: s.read_raw_range("k", "0", 2), "first"),
    "put-key-int": (lambda s, _: s.put(3, b"x"), "key"),
    "put-body-none": (lambda s, _: s.put("k", None), "body"),
    "put-encryption-str": (lambda s, _: s.put("k", b"x", encryption="kms"), "encryption"),
    "put-attributes-str": (lambda s, _: s.put("k", b"x", attributes="STANDARD"), "attributes"),
    "put-content-type-int": (lambda s, _: s.put("k", b"x", content_type=3), "content_type"),
    "put-progress-int": (lambda s, _: s.put("k", b"x", progress=3), "progress"),
    "put-metadata-str": (lambda s, _: s.put("k", b"x", metadata="a=b"), "metadata"),
    "upload-path-none": (lambda s, _: s.upload_file(None, "k"), "path"),
    "upload-key-int": (lambda s, p: s.upload_file(p / "f", 3), "key"),
    "upload-encryption-str": (
        lambda s, p: s.upload_file(p / "f", "k", encryption="kms"),
        "encryption",
    ),
    "download-path-none": (lambda s, _: s.download_file("k", None), "path"),
    "download-require-str": (lambda s, p: s.download_file("k", p / "o", require="kms"), "require"),
    "download-mode-str": (lambda s, p: s.download_file("k", p / "o", mode="0600"), "mode"),
    "get-key-int": (lambda s, _: s.get(3), "key"),
    "get-require-str": (lambda s, _: s.get("k", require="sse-kms"), "require"),
    "get-context-str": (lambda s, _: s.get("k", context="team=a"), "context"),
    "open-version-int": (lambda s, _: s.open("k", version_id=3), "version_id"),
    "head-key-none": (lambda s, _: s.head(None), "key"),
    "head-version-int": (lambda s, _: s.head("k", version_id=3), "version_id"),
    "inspect-key-int": (lambda s, _: s.inspect(3), "key"),
    "inspect-limits-int": (lambda s, _: s.inspect("k", limits=3), "limits"),
    "list-prefix-int": (lambda s, _: next(s.list(3)), "prefix"),
    "list-directory-prefix-int": (lambda s, _: next(s.list_directory(3)), "prefix"),
    "list-versions-prefix-int": (lambda s, _: next(s.list_versions(3)), "prefix"),
    "delete-key-int": (lambda s, _: s.delete(3), "key"),
    "delete-many-str": (lambda s, _: s.delete_many("abc"), "keys"),
    "delete-many-int": (lambda s, _: s.delete_many(3), "keys"),
    "delete-many-int-key": (lambda s, _: s.delete_many(["a", 3]), "keys"),
    "copy-destination-str": (lambda s, _: s.copy("k", "bucket", "k2"), "destination"),
    "copy-dest-key-int": (lambda s, _: s.copy("k", s, 3), "dest_key"),
    "copy-encryption-str": (lambda s, _: s.copy("k", s, "k2", encryption="kms"), "encryption"),
    "rewrap-add-str": (lambda s, _: s.rewrap("k", add="team.key"), "add"),
    "rewrap-remove-kms-keys-str": (
        lambda s, _: s.rewrap("k", remove_kms_keys="arn"),
        "remove_kms_keys",
    ),
    "rewrap-keyring-bytes": (lambda s, _: s.rewrap("k", keyring=bytes(32)), "keyring"),
    "rewrap-destination-str": (lambda s, _: s.rewrap("k", destination="b/k"), "destination"),
    "kms-key-arn-str": (lambda s, _: s.kms_key_arn("kms"), "mode"),
    # A truthy str where a flag is wanted would have weakened the read.
    "get-allow-plaintext-str": (lambda s, _: s.get("k", allow_plaintext="no"), "allow_plaintext"),
    "open-relocated-int": (lambda s, _: s.open("k", relocated=1), "relocated"),
    "download-allow-s3ec-str": (
        lambda s, p: s.download_file("k", p / "o", allow_s3ec="false"),
        "allow_s3ec",
    ),
    "copy-allow-s3ec-str": (lambda s, _: s.copy("k", s, "k2", allow_s3ec="no"), "allow_s3ec"),
    "rewrap-dry-run-str": (lambda s, _: s.rewrap("k", dry_run="yes"), "dry_run"),
    "list-versions-recursive-none": (
        lambda s, _: next(s.list_versions("", recursive=None)),
        "recursive",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_a_bad_argument_is_refused_before_anything_is_sent(
    fault_store: Callable[..., SecureStore], sent: list[str], tmp_path: Path, case: str
) -> None:
    call, argument = BAD_CALLS[case]
    store = fault_store()
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ConfigurationError) as info:
        call(store, tmp_path)
    assert argument in str(info.value)
    assert sent == []
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_mode_given_by_name_says_how_to_build_one(
    fault_store: Callable[..., SecureStore],
) -> None:
    with pytest.raises(ConfigurationError) as info:
        fault_store().put("k", b"x", encryption="kms")
    assert "SseKms(" in str(info.value)
    assert info.value.hint is not None and "parse_mode" in info.value.hint


def test_a_key_of_the_wrong_type_is_an_invalid_location(
    fault_store: Callable[..., SecureStore],
) -> None:
    with pytest.raises(InvalidLocationError, match="key must be an object key"):
        fault_store().put(3, b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"encryption": "kms"}, "encryption"),
        ({"require": SseS3}, "require"),
        ({"keyring": "team.key"}, "keyring"),
        ({"connection": "https://s3.example"}, "connection"),
        ({"transfer": {"part_size": 1}}, "transfer"),
    ],
)
def test_the_store_refuses_bad_options_where_it_is_built(
    fault_connection: Connection, bucket: str, options: dict[str, Any], argument: str
) -> None:
    options.setdefault("connection", fault_connection)
    with pytest.raises(ConfigurationError, match=argument):
        SecureStore(bucket, **options)


def test_a_bucket_name_that_is_not_a_str(fault_connection: Connection) -> None:
    with pytest.raises(ConfigurationError, match="bucket must be a str"):
        SecureStore(3, connection=fault_connection)  # type: ignore[arg-type]


def test_good_arguments_still_work(fault_store: Callable[..., SecureStore]) -> None:
    store = fault_store()
    store.put("k", b"abcdef", expected_size=6, encryption=SseS3(), progress=lambda _: None)
    assert store.read_raw_range("k", 1, 3) == b"bcd"
    assert store.read_raw_range("k", 2, 2) == b"c"
    assert store.delete_many(("k",)) == {"k": None}
    with pytest.raises(NotFoundError):
        store.head("k")
