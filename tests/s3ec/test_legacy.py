"""Legacy S3EC objects (V1 AES-CBC, a ``kms`` data key) through ``open_s3ec`` on the endpoint."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from securestore.bucket import BucketAccess
from securestore.errors import PolicyError
from securestore.keyrings import AwsKmsKeyring
from securestore.s3ec.read import open_s3ec
from securestore.transfer import TransferConfig
from securestore.transport import Connection
from tests.s3ec import encoder


def test_v1_kms_cbc_object_needs_the_opt_in(
    connection: Connection, kms_key: str, bucket: str
) -> None:
    context = {"kms_cmk_id": kms_key}
    answer = connection.client("kms").generate_data_key(
        KeyId=kms_key, KeySpec="AES_256", EncryptionContext=context
    )
    data = os.urandom(70_001)
    body, metadata = encoder.encrypt_cbc(
        data,
        answer["Plaintext"],
        answer["CiphertextBlob"],
        iv=os.urandom(16),
        version=1,
        matdesc=context,
    )
    s3: Any = connection.client("s3")
    encoder.put(s3, bucket, "v1", body, metadata)
    access = BucketAccess(bucket, connection, TransferConfig())
    keyring = AwsKmsKeyring(kms_key, client=connection.client("kms"))
    with pytest.raises(PolicyError, match="unauthenticated") as caught:
        open_s3ec(access, "v1", keyring)
    assert caught.value.hint and "--allow-legacy-unauthenticated" in caught.value.hint
    with open_s3ec(access, "v1", keyring, allow_legacy_unauthenticated=True) as reader:
        assert reader.size == len(data)
        assert reader.read_range(0, reader.size) == data
        assert reader.read_range(70_000, 5) == data[70_000:]
        assert reader.read_range(33, 100) == data[33:133]
    assert json.loads(metadata["x-amz-matdesc"]) == context
