"""The allow_s3ec gate on objects that are not S3EC objects (securestore/s3ec/read.py).

Written for the ``find_s3ec`` mutant that survived test_gate.py and test_store_reads.py
(docs/mutation.md, stop 20): with the opt-in and a keyring, an object without S3EC
metadata is looked up in ``KEY.instruction``; when there is none, the object is no S3EC
object and the ordinary rules decide (a non-message is refused with a keyring, returned
as stored with ``allow_plaintext``), instead of an S3EC metadata error. An S3EC object
read with the opt-in but no key says so (without that check the keyring look-up found
"no matching key" in nothing: refused too, but with the wrong advice).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import SecureStore
from securestore.errors import FormatError, KeyringError
from securestore.keyrings import RawAesKeyring
from securestore.transport import Connection
from tests.s3ec import encoder
from tests.s3ec.objects import aes_v3

KEYRING = RawAesKeyring("tests", "gate", b"g" * 32)
PLAIN = b"an ordinary object, no S3EC metadata and no instruction file\n"


def test_a_plain_object_read_with_the_opt_in_follows_the_ordinary_rules(
    connection: Connection,
    bucket: str,
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
) -> None:
    s3 = connection.client("s3")
    s3.put_object(Bucket=bucket, Key="plain", Body=PLAIN)
    asked: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(params["Key"])

    store = make_store(keyring=KEYRING)
    s3.meta.events.register("provide-client-params.s3.GetObject", record)
    try:
        assert store.get("plain", allow_s3ec=True, allow_plaintext=True) == PLAIN
    finally:  # the session's client is shared with later tests
        s3.meta.events.unregister("provide-client-params.s3.GetObject", record)
    assert "plain.instruction" in asked  # looked up, found missing, not an error
    store.download_file("plain", tmp_path / "out", allow_s3ec=True, allow_plaintext=True)
    assert (tmp_path / "out").read_bytes() == PLAIN
    with pytest.raises(FormatError, match="not a valid client-side message"):
        store.get("plain", allow_s3ec=True)


def test_an_s3ec_object_read_with_the_opt_in_and_no_key_says_no_keyring_was_given(
    connection: Connection, bucket: str, make_store: Callable[..., SecureStore]
) -> None:
    body, metadata = aes_v3(b"secret", key=b"k" * 32)
    encoder.put(connection.client("s3"), bucket, "s3ec", body, metadata)
    with pytest.raises(KeyringError, match="no keyring was given") as caught:
        make_store().get("s3ec", allow_s3ec=True)
    assert caught.value.hint is not None and "--kms-key-id" in caught.value.hint
