"""Fixtures for the copy and re-encryption tests: a second bucket, keyrings, raw access."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from securestore import Connection, SecureStore, create_bucket
from tests.clientside.conftest import (  # noqa: F401 - fixtures shared with the client-side tests
    aes_keyring,
    raw,
    rsa_private_key,
    rsa_private_keyring,
    rsa_public_keyring,
)
from tests.conftest import SMALL_TRANSFER, unique_bucket_name
from tests.store.conftest import (  # noqa: F401 - fixtures shared with the store tests
    _empty_bucket_afterwards,
    new_connection,
    other_kms_key,
    shared_session,
    versioned_bucket,
)


@pytest.fixture
def other_bucket(connection: Connection) -> Iterator[str]:
    """A second new bucket (for cross-bucket copies), emptied afterwards."""
    name = unique_bucket_name("other")
    create_bucket(connection, name)
    yield name
    s3 = connection.client("s3")
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=name, Delete={"Objects": keys})


@pytest.fixture
def own_connection(new_connection: Callable[..., Connection]) -> Connection:  # noqa: F811
    """A connection of the test's own, so event hooks registered on it stay in the test."""
    return new_connection(max_attempts=1)


@pytest.fixture
def store_at(own_connection: Connection) -> Callable[..., SecureStore]:
    """``store_at(bucket, **options)``: a store on ``own_connection`` with small parts."""

    def make(bucket: str, **options: Any) -> SecureStore:
        options.setdefault("transfer", SMALL_TRANSFER)
        return SecureStore(bucket, connection=own_connection, **options)

    return make


def open_uploads(connection: Connection, bucket: str) -> list[dict[str, Any]]:
    """The bucket's open multipart uploads."""
    uploads: list[dict[str, Any]] = (
        connection.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    )
    return uploads
