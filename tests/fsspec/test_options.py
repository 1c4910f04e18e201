"""Storage options with the CLI's names choose the same keys and modes as the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from securestore import Connection, IntegrityError
from securestore.errors import KeyringError
from securestore.fs import SecureStoreFileSystem
from securestore.keyrings import generate_rsa_key_files
from securestore.message import parse


def test_rsa_public_key_writes_and_private_key_reads(
    bucket: str, endpoint_options: dict[str, Any], tmp_path: Path
) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    generate_rsa_key_files(private, public, bits=3072)
    url = f"securestore://{bucket}/rsa.csv"
    df = pd.DataFrame({"a": [1, 2, 3]})
    df.to_csv(url, index=False, storage_options={**endpoint_options, "rsa_public_key": str(public)})
    # The public key alone can encrypt but not decrypt.
    with pytest.raises(KeyringError):
        pd.read_csv(url, storage_options={**endpoint_options, "rsa_public_key": str(public)})
    back = pd.read_csv(url, storage_options={**endpoint_options, "rsa_private_key": [str(private)]})
    pd.testing.assert_frame_equal(back, df)


def test_client_side_with_a_kms_key_and_context(
    bucket: str, endpoint_options: dict[str, Any], kms_key: str, connection: Connection
) -> None:
    options = {
        **endpoint_options,
        "kms_key_id": kms_key,
        "client_side": True,
        "context": {"team": "finance"},
    }
    fs = SecureStoreFileSystem(**options, skip_instance_cache=True)
    fs.pipe_file(f"{bucket}/kms.bin", b"wrapped by KMS")
    raw = connection.client("s3").get_object(Bucket=bucket, Key="kms.bin")["Body"].read()
    header = parse(raw)
    assert header.encryption_context["team"] == "finance"
    assert fs.cat_file(f"{bucket}/kms.bin") == b"wrapped by KMS"
    # A reader that demands another context refuses the object.
    other = SecureStoreFileSystem(
        **{**options, "context": ["team=sales"]}, skip_instance_cache=True
    )
    with pytest.raises((IntegrityError, KeyringError)):
        other.cat_file(f"{bucket}/kms.bin")
