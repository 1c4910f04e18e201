"""A failed part of a client-side multipart upload: typed error, nothing left behind.

A botocore ``before-send`` handler on a dedicated connection (one attempt per
request, so no retry hides the failure) answers UploadPart of part 2 with a
500; the upload must be aborted and the previous object left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse

from securestore import SecureStore, StorageError
from securestore.clientside import ClientSide
from securestore.keyrings import RawAesKeyring
from tests.clientside.conftest import PART, KiB, Raw, Unseekable
from tests.conftest import SMALL_TRANSFER, Endpoint

FRAME = 64 * KiB
ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>InternalError</Code><Message>injected failure</Message>"
    b"<RequestId>test</RequestId></Error>"
)


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._data


class FailPart:
    """A before-send handler that fails UploadPart for one part number."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.seen: list[int] = []

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        query = request.url.partition("?")[2]
        params = dict(p.partition("=")[::2] for p in query.split("&"))
        number = int(params.get("partNumber", "0"))
        self.seen.append(number)
        if number != self.number:
            return None
        return AWSResponse(
            request.url, 500, {"Content-Type": "application/xml"}, _RawBody(ERROR_BODY)
        )


@pytest.fixture
def failing_store(
    tls_endpoint: Endpoint, bucket: str, aes_keyring: RawAesKeyring
) -> tuple[SecureStore, FailPart]:
    connection = tls_endpoint.connection(max_attempts=1)
    handler = FailPart(2)
    connection.client("s3").meta.events.register("before-send.s3.UploadPart", handler)
    store = SecureStore(
        bucket,
        encryption=ClientSide(aes_keyring, frame_length=FRAME),
        connection=connection,
        transfer=SMALL_TRANSFER,
    )
    return store, handler


def put_stream(store: SecureStore, key: str, data: bytes, tmp: Path) -> None:
    store.put(key, Unseekable(data))


def upload_file(store: SecureStore, key: str, data: bytes, tmp: Path) -> None:
    source = tmp / "source.bin"
    source.write_bytes(data)
    store.upload_file(source, key)


@pytest.mark.parametrize("write", [put_stream, upload_file], ids=lambda w: w.__name__)
def test_failed_part_aborts_and_keeps_the_previous_object(
    failing_store: tuple[SecureStore, FailPart],
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    raw: Raw,
    write: Callable[..., None],
    tmp_path: Path,
) -> None:
    store, handler = failing_store
    reader = cs_store(aes_keyring)
    previous = os.urandom(3 * FRAME + 5)
    reader.put("victim", previous)
    before = raw.s3.head_object(Bucket=raw.bucket, Key="victim")["ETag"]

    with pytest.raises(StorageError) as caught:
        write(store, "victim", os.urandom(2 * PART + 17), tmp_path)
    assert caught.value.code == "InternalError"
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)
    assert caught.value.key == "victim"
    assert 2 in handler.seen

    assert raw.open_uploads() == []
    assert raw.s3.head_object(Bucket=raw.bucket, Key="victim")["ETag"] == before
    assert reader.get("victim") == previous
