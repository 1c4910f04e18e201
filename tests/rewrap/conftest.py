"""Fixtures for the re-wrap tests: the client-side keyrings and raw access, the store fixtures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from securestore import Connection, SecureStore
from securestore.clientside import ClientSide
from securestore.message.materials import Keyring
from tests.clientside.conftest import (  # noqa: F401 - fixtures shared with the client-side tests
    aes_keyring,
    kms_keyring,
    raw,
    rsa_private_key,
    rsa_private_keyring,
    rsa_public_keyring,
    second_kms_key,
    second_kms_keyring,
)
from tests.conftest import SMALL_TRANSFER
from tests.store.conftest import (  # noqa: F401 - fixtures shared with the store tests
    _empty_bucket_afterwards,
    new_connection,
    shared_session,
    versioned_bucket,
)


class ByteCounter:
    """Counts object bytes S3 sent to one client (GetObject Content-Length), by event hook."""

    def __init__(self, connection: Connection) -> None:
        self.fetched = 0
        self.gets = 0
        connection.client("s3").meta.events.register("after-call.s3.GetObject", self._count)

    def _count(self, parsed: dict[str, Any], **_: Any) -> None:
        self.gets += 1
        self.fetched += int(parsed.get("ContentLength", 0))


@pytest.fixture
def own_connection(new_connection: Callable[..., Connection]) -> Connection:  # noqa: F811
    """A connection of the test's own, so event hooks registered on it stay in the test."""
    return new_connection(max_attempts=2)


@pytest.fixture
def store_on(
    own_connection: Connection,
) -> Callable[..., SecureStore]:
    """``store_on(bucket, keyring, **mode_options)``: a client-side store on ``own_connection``."""

    def make(bucket: str, keyring: Keyring, **options: Any) -> SecureStore:
        return SecureStore(
            bucket,
            encryption=ClientSide(keyring, **options),
            connection=own_connection,
            transfer=SMALL_TRANSFER,
        )

    return make
