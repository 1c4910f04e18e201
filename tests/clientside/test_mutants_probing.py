"""What a read decides after a HEAD (a server-side demand): securestore/probing.py ``prepare``.

Written for the mutants of ``Prober.prepare`` and ``Prober.keyring_mode`` that survived
the read-integrity and require tests (docs/mutation.md, stop 20). A read that demands a
server-side mode describes the object with HEAD, so it has no first bytes: whether the
object is a client-side message must then be learnt from a ranged GET before anything is
delivered, or a demand of ``SseS3`` would hand out ciphertext (no keyring) or raw bytes
(a keyring in play).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import FormatError, KeyringError, SecureStore, SseS3
from securestore.clientside import ClientSide
from securestore.keyrings import RawAesKeyring
from tests.clientside.conftest import Raw

KEYRING = RawAesKeyring("tests", "probing", b"p" * 32)
KEY = "doc.bin"
PLAIN = b"plain bytes of an ordinary object\n"


def put_sse_s3(raw: Raw, data: bytes, *, marker: bool) -> None:
    """Store ``data`` as is at KEY under SSE-S3 (what the demand accepts)."""
    metadata = {"securestore-format": "aws-esdk-v2"} if marker else {}
    raw.s3.put_object(
        Bucket=raw.bucket, Key=KEY, Body=data, Metadata=metadata, ServerSideEncryption="AES256"
    )


@pytest.fixture
def message(make_store: Callable[..., SecureStore]) -> bytes:
    """A client-side message at KEY (stored under SSE-S3); returns its plaintext."""
    plaintext = os.urandom(3000)
    make_store(encryption=ClientSide(KEYRING, frame_length=1024, sse=SseS3())).put(KEY, plaintext)
    return plaintext


@pytest.mark.parametrize("marker", [True, False], ids=["marked", "stripped"])
def test_a_server_side_demand_without_a_keyring_never_returns_a_message(
    make_store: Callable[..., SecureStore], message: bytes, raw: Raw, tmp_path: Path, marker: bool
) -> None:
    put_sse_s3(raw, raw.get(KEY), marker=marker)
    store = make_store()
    with pytest.raises(KeyringError, match="client-side encrypted"):
        store.get(KEY, require=SseS3())
    with pytest.raises(KeyringError):
        store.open(KEY, require=SseS3())
    with pytest.raises(KeyringError):
        store.download_file(KEY, tmp_path / "out", require=SseS3())
    assert list(tmp_path.iterdir()) == []
    # The store-level demand is the same read.
    with pytest.raises(KeyringError):
        make_store(require=SseS3()).get(KEY)


def test_a_server_side_demand_without_a_keyring_returns_plain_objects(
    make_store: Callable[..., SecureStore], raw: Raw
) -> None:
    store = make_store()
    put_sse_s3(raw, PLAIN, marker=True)  # our marker on plain bytes decides nothing
    assert store.get(KEY, require=SseS3()) == PLAIN
    put_sse_s3(raw, b"", marker=False)
    assert store.get(KEY, require=SseS3()) == b""


def test_a_server_side_demand_with_a_keyring_decrypts(
    make_store: Callable[..., SecureStore], message: bytes, raw: Raw, tmp_path: Path
) -> None:
    put_sse_s3(raw, raw.get(KEY), marker=False)
    store = make_store(keyring=KEYRING)
    assert store.get(KEY, require=SseS3()) == message
    assert store.get(KEY, require=SseS3(), allow_plaintext=True) == message
    store.download_file(KEY, tmp_path / "out", require=SseS3(), allow_plaintext=True)
    assert (tmp_path / "out").read_bytes() == message


def test_allow_plaintext_under_a_server_side_demand_returns_a_non_message_as_stored(
    make_store: Callable[..., SecureStore], raw: Raw, tmp_path: Path
) -> None:
    store = make_store(keyring=KEYRING)
    put_sse_s3(raw, PLAIN, marker=False)
    assert store.get(KEY, require=SseS3(), allow_plaintext=True) == PLAIN
    store.download_file(KEY, tmp_path / "out", require=SseS3(), allow_plaintext=True)
    assert (tmp_path / "out").read_bytes() == PLAIN


def test_a_server_side_demand_with_a_keyring_refuses_a_non_message(
    make_store: Callable[..., SecureStore], raw: Raw, tmp_path: Path
) -> None:
    """Plain bytes swapped in for a client-side object are no message, demand or not."""
    store = make_store(keyring=KEYRING)
    put_sse_s3(raw, PLAIN, marker=True)
    with pytest.raises(FormatError, match="not a valid client-side message"):
        store.get(KEY, require=SseS3())
    with pytest.raises(FormatError):
        store.download_file(KEY, tmp_path / "out", require=SseS3())
    assert list(tmp_path.iterdir()) == []
