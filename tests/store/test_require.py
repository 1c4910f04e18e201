"""require=: reads demand a mode, before any byte is returned or written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import (
    DsseKms,
    EncryptionMode,
    PolicyError,
    SecureStore,
    SseKms,
    SseS3,
)

READS: dict[str, Callable[[SecureStore, str, EncryptionMode | None, Path], object]] = {
    "get": lambda store, key, require, _: store.get(key, require=require),
    "open": lambda store, key, require, _: store.open(key, require=require).read(),
    "download_file": lambda store, key, require, tmp: store.download_file(
        key, tmp / "out.bin", require=require
    ),
}


def assert_refused(
    store: SecureStore, key: str, require: EncryptionMode | None, tmp_path: Path, read: str
) -> None:
    with pytest.raises(PolicyError) as info:
        READS[read](store, key, require, tmp_path)
    assert (info.value.bucket, info.value.key) == (store.bucket, key)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("read", sorted(READS))
def test_sse_s3_object_refused_when_kms_is_required(
    make_store: Callable[..., SecureStore], kms_key: str, tmp_path: Path, read: str
) -> None:
    store = make_store()
    store.put("obj", b"data")
    assert_refused(store, "obj", SseKms(kms_key), tmp_path, read)
    assert_refused(store, "obj", SseKms(), tmp_path, read)
    assert_refused(store, "obj", DsseKms(), tmp_path, read)


@pytest.mark.parametrize("read", sorted(READS))
def test_kms_object_refused_when_another_key_is_required(
    make_store: Callable[..., SecureStore],
    kms_key: str,
    other_kms_key: str,
    tmp_path: Path,
    read: str,
) -> None:
    store = make_store(encryption=SseKms(kms_key))
    store.put("obj", b"data")
    assert_refused(store, "obj", SseKms(other_kms_key), tmp_path, read)
    assert_refused(store, "obj", SseKms(other_kms_key.rsplit("/", 1)[1]), tmp_path, read)
    assert_refused(store, "obj", SseS3(), tmp_path, read)
    assert_refused(store, "obj", DsseKms(kms_key), tmp_path, read)


@pytest.mark.parametrize("read", sorted(READS))
def test_matching_requirement_is_accepted(
    make_store: Callable[..., SecureStore],
    kms_key: str,
    kms_alias: str,
    tmp_path: Path,
    read: str,
) -> None:
    store = make_store(encryption=SseKms(kms_key))
    store.put("obj", b"data")
    for require in (
        SseKms(),
        SseKms(kms_key),
        SseKms(kms_key.rsplit("/", 1)[1]),
        SseKms(kms_alias),
        SseKms(kms_key, bucket_key=False),
    ):
        READS[read](store, "obj", require, tmp_path)
    if read == "download_file":
        assert (tmp_path / "out.bin").read_bytes() == b"data"


def test_store_level_requirement_applies_to_every_read(
    make_store: Callable[..., SecureStore], kms_key: str, tmp_path: Path
) -> None:
    writer = make_store()
    writer.put("plain", b"sse-s3 object")
    writer.put("kms", b"kms object", encryption=SseKms(kms_key))
    reader = make_store(require=SseKms(kms_key))
    for read in READS:
        assert_refused(reader, "plain", None, tmp_path, read)
    assert reader.get("kms") == b"kms object"
    with reader.open("kms") as stream:
        assert stream.read() == b"kms object"


def test_per_call_requirement_overrides_the_store_level_one(
    make_store: Callable[..., SecureStore], kms_key: str
) -> None:
    writer = make_store()
    writer.put("plain", b"sse-s3 object")
    reader = make_store(require=SseKms(kms_key))
    assert reader.get("plain", require=SseS3()) == b"sse-s3 object"


def test_requirement_is_checked_before_the_body_is_fetched(
    fault_store: Callable[..., SecureStore], fault_connection: object, kms_key: str
) -> None:
    store = fault_store()
    store.put("obj", b"data")
    fetched: list[str] = []
    fault_connection.client("s3").meta.events.register(  # type: ignore[attr-defined]
        "before-send.s3.GetObject", lambda **_: fetched.append("GetObject")
    )
    with pytest.raises(PolicyError):
        store.get("obj", require=SseKms(kms_key))
    with pytest.raises(PolicyError):
        store.open("obj", require=SseKms(kms_key))
    assert fetched == []


def test_existing_destination_is_untouched_when_refused(
    make_store: Callable[..., SecureStore], kms_key: str, tmp_path: Path
) -> None:
    store = make_store()
    store.put("obj", b"data")
    target = tmp_path / "keep.bin"
    target.write_bytes(b"precious")
    with pytest.raises(PolicyError):
        store.download_file("obj", target, require=SseKms(kms_key))
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bin"]


@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize("mode_name", ["sse-kms", "dsse-kms"])
def test_demanded_key_that_the_server_does_not_report_is_refused(
    fault_store: Callable[..., SecureStore],
    fault_connection: object,
    kms_key: str,
    other_kms_key: str,
    tmp_path: Path,
    read: str,
    mode_name: str,
) -> None:
    """A server that omits the object's KMS key cannot confirm a demanded key: refuse."""
    mode = {"sse-kms": SseKms, "dsse-kms": DsseKms}[mode_name]
    store = fault_store(encryption=mode(other_kms_key))
    store.put("obj", b"data")

    def hide_key(parsed: dict[str, object], **_: object) -> None:
        parsed.pop("SSEKMSKeyId", None)

    events = fault_connection.client("s3").meta.events  # type: ignore[attr-defined]
    for operation in ("HeadObject", "GetObject"):
        events.register(f"after-call.s3.{operation}", hide_key)
    with pytest.raises(PolicyError) as info:
        READS[read](store, "obj", mode(kms_key), tmp_path)
    assert "cannot be confirmed" in info.value.message
    assert info.value.hint is not None and "without a key id" in info.value.hint
    assert list(tmp_path.iterdir()) == []
    # Demanding the mode alone still reads it.
    READS[read](store, "obj", mode(), tmp_path)


@pytest.mark.parametrize("read", sorted(READS))
def test_dsse_key_is_reported_by_the_embedded_endpoint(
    make_store: Callable[..., SecureStore],
    kms_key: str,
    other_kms_key: str,
    tmp_path: Path,
    read: str,
) -> None:
    """The embedded endpoint reports DSSE-KMS keys, so a demanded key is really checked."""
    store = make_store(encryption=DsseKms(kms_key))
    store.put("obj", b"dual layer")
    assert store.head("obj").encryption.kms_key_id == kms_key
    assert_refused(store, "obj", DsseKms(other_kms_key), tmp_path, read)
    READS[read](store, "obj", DsseKms(kms_key), tmp_path)
