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
from tests.s3ec.objects import kms_v1_cbc


def test_v1_kms_cbc_object_needs_the_opt_in(
    connection: Connection, kms_key: str, bucket: str
) -> None:
    data = os.urandom(70_001)
    body, metadata = kms_v1_cbc(connection, kms_key, data)
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
    assert json.loads(metadata["x-amz-matdesc"]) == {"kms_cmk_id": kms_key}


def _v1_object(connection: Connection, kms_key: str, bucket: str, key: str) -> bytes:
    data = os.urandom(40_000)
    body, metadata = kms_v1_cbc(connection, kms_key, data)
    encoder.put(connection.client("s3"), bucket, key, body, metadata)
    return data


def test_store_reads_a_legacy_object_only_with_the_loudly_named_opt_in(
    connection: Connection, kms_key: str, bucket: str, tmp_path: Any
) -> None:
    from securestore import ClientSide, SecureStore

    data = _v1_object(connection, kms_key, bucket, "legacy")
    keyring = AwsKmsKeyring(kms_key, client=connection.client("kms"))
    store = SecureStore(bucket, encryption=ClientSide(keyring), connection=connection)
    with pytest.raises(PolicyError, match="unauthenticated"):
        store.get("legacy", allow_s3ec=True)
    with pytest.raises(PolicyError):
        store.download_file("legacy", tmp_path / "out", allow_s3ec=True)
    assert not (tmp_path / "out").exists()
    # The two opt-ins are independent: a legacy object needs both.
    with pytest.raises(PolicyError, match="S3 Encryption Client"):
        store.get("legacy", allow_legacy_unauthenticated=True)
    both = {"allow_legacy_unauthenticated": True, "allow_s3ec": True}
    assert store.get("legacy", **both) == data
    store.download_file("legacy", tmp_path / "out", **both)
    assert (tmp_path / "out").read_bytes() == data


def test_cli_get_of_a_legacy_object_needs_the_opt_in(
    tls_endpoint: Any, connection: Connection, kms_key: str, bucket: str, tmp_path: Any
) -> None:
    from click.testing import CliRunner
    from securestore_cli.main import main_group

    data = _v1_object(connection, kms_key, bucket, "legacy")
    env = dict(tls_endpoint.env)
    out = tmp_path / "out.bin"
    base = ["get", f"s3://{bucket}/legacy", str(out), "--kms-key-id", kms_key, "--allow-s3ec"]
    refused = CliRunner().invoke(main_group, base, env=env)
    assert refused.exit_code == 3, refused.output
    assert "--allow-legacy-unauthenticated" in refused.output and not out.exists()
    legacy_only = CliRunner().invoke(
        main_group, [*base[:-1], "--allow-legacy-unauthenticated"], env=env
    )
    assert legacy_only.exit_code == 3, legacy_only.output
    assert "--allow-s3ec" in legacy_only.output and not out.exists()
    allowed = CliRunner().invoke(main_group, [*base, "--allow-legacy-unauthenticated"], env=env)
    assert allowed.exit_code == 0, allowed.output
    assert out.read_bytes() == data
    plain = CliRunner().invoke(
        main_group, ["get", f"s3://{bucket}/legacy", "-", "--allow-legacy-unauthenticated"], env=env
    )
    assert plain.exit_code == 2  # the opt-in only weakens a client-side read
