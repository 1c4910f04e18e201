"""The S3 Encryption Client side of the S3EC interop check (run by tests/s3ec/interop.py).

Runs in the venv of ``amazon-s3-encryption-client-python`` (it pins
``cryptography<49``), so it imports neither securestore nor the test suite. It
reads one JSON job on stdin, writes and reads objects with the real client
against the endpoint named by the environment (``AWS_ENDPOINT_URL``,
``AWS_CA_BUNDLE``, ``AWS_DEFAULT_REGION``), and prints one JSON answer.

Job: ``{"bucket", "key_arn", "writes": [{"key", "version", "size", "context"}],
"reads": [{"key", "context"}]}``. Answer: ``{"written": {key: sha256},
"read": {key: sha256 or "error: ..."}}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

import boto3
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy


def _client(key_arn: str, *, version: int) -> Any:
    # Each S3EC gets its own boto3 clients: it installs event handlers on the client it wraps.
    keyring = KmsKeyring(kms_client=boto3.client("kms"), kms_key_id=key_arn)
    if version == 2:
        config = S3EncryptionClientConfig(
            keyring=keyring,
            encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
            commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
        )
    elif version == 3:
        config = S3EncryptionClientConfig(keyring=keyring)
    else:  # a reader of both
        config = S3EncryptionClientConfig(
            keyring=keyring, commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
        )
    return S3EncryptionClient(wrapped_s3_client=boto3.client("s3"), config=config)


def main() -> int:
    """Run the job on stdin."""
    job = json.load(sys.stdin)
    written: dict[str, str] = {}
    for write in job["writes"]:
        data = os.urandom(write["size"])
        client = _client(job["key_arn"], version=write["version"])
        extra = {"EncryptionContext": write["context"]} if write["context"] else {}
        client.put_object(Bucket=job["bucket"], Key=write["key"], Body=data, **extra)
        written[write["key"]] = hashlib.sha256(data).hexdigest()
    read: dict[str, str] = {}
    reader = _client(job["key_arn"], version=0)
    for item in job["reads"]:
        extra = {"EncryptionContext": item["context"]} if item["context"] else {}
        try:
            response = reader.get_object(Bucket=job["bucket"], Key=item["key"], **extra)
            read[item["key"]] = hashlib.sha256(response["Body"].read()).hexdigest()
        except Exception as exc:  # reported to the parent, which decides
            read[item["key"]] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
    json.dump({"written": written, "read": read}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
