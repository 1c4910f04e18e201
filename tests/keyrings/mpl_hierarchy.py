"""The MPL side of the hierarchical keyring interop check (runs in the MPL's own venv).

Not a pytest module and not importable from securestore's environment: it needs
``aws-encryption-sdk>=4`` and ``aws-cryptographic-material-providers`` (which pin
``cryptography<51``). ``test_hierarchy_mpl.py`` runs it with a JSON job on stdin:

- ``endpoint``: the test endpoint's environment (URL, CA bundle, credentials, region);
- ``table``, ``kms_key``: the key store shared with securestore;
- ``decrypt``: ``[{"branch_key_id", "message" (base64), "context"}]`` written by
  securestore: each is decrypted with the MPL's hierarchical keyring;
- ``encrypt``: ``{"context", "plaintext" (base64)}``: the MPL creates a branch key
  (``KeyStore.create_key``), encrypts with it, rotates it (``version_key``) and
  encrypts again;
- ``read_versions``: ``[[branch_key_id, version]]`` the MPL key store must read.

It prints one JSON line: the plaintexts, the MPL's ciphertexts and branch key id.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import aws_encryption_sdk
import boto3
from aws_cryptographic_material_providers.keystore import KeyStore
from aws_cryptographic_material_providers.keystore.config import KeyStoreConfig
from aws_cryptographic_material_providers.keystore.models import (
    CreateKeyInput,
    GetActiveBranchKeyInput,
    GetBranchKeyVersionInput,
    KMSConfigurationKmsKeyArn,
    VersionKeyInput,
)
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import (
    CacheTypeDefault,
    CreateAwsKmsHierarchicalKeyringInput,
    DefaultCache,
)
from aws_encryption_sdk.identifiers import AlgorithmSuite, CommitmentPolicy


def _clients(endpoint: dict[str, str]) -> tuple[Any, Any]:
    session = boto3.Session(
        aws_access_key_id=endpoint["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=endpoint["AWS_SECRET_ACCESS_KEY"],
        region_name=endpoint["AWS_REGION"],
    )
    common = {"endpoint_url": endpoint["AWS_ENDPOINT_URL"], "verify": endpoint["AWS_CA_BUNDLE"]}
    return session.client("dynamodb", **common), session.client("kms", **common)


def main() -> None:
    job = json.loads(sys.stdin.read())
    ddb, kms = _clients(job["endpoint"])
    store = KeyStore(
        config=KeyStoreConfig(
            ddb_client=ddb,
            ddb_table_name=job["table"],
            logical_key_store_name=job["table"],
            kms_client=kms,
            kms_configuration=KMSConfigurationKmsKeyArn(job["kms_key"]),
        )
    )
    providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())

    def keyring(branch_key_id: str) -> Any:
        return providers.create_aws_kms_hierarchical_keyring(
            input=CreateAwsKmsHierarchicalKeyringInput(
                key_store=store,
                branch_key_id=branch_key_id,
                ttl_seconds=600,
                cache=CacheTypeDefault(DefaultCache(entry_capacity=100)),
            )
        )

    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    result: dict[str, Any] = {"decrypted": [], "versions": []}
    for item in job.get("decrypt", []):
        plain, header = client.decrypt(
            source=base64.b64decode(item["message"]), keyring=keyring(item["branch_key_id"])
        )
        for name, value in item["context"].items():
            assert header.encryption_context[name] == value, name
        result["decrypted"].append(base64.b64encode(plain).decode())
    for branch_key_id, version in job.get("read_versions", []):
        got = store.get_branch_key_version(
            GetBranchKeyVersionInput(
                branch_key_identifier=branch_key_id, branch_key_version=version
            )
        )
        result["versions"].append(got.branch_key_materials.branch_key_version)
        active = store.get_active_branch_key(
            GetActiveBranchKeyInput(branch_key_identifier=branch_key_id)
        )
        result.setdefault("active", []).append(active.branch_key_materials.branch_key_version)
    if "encrypt" in job:
        spec = job["encrypt"]
        branch = store.create_key(
            CreateKeyInput(
                branch_key_identifier=spec["branch_key_id"],
                encryption_context={"tenant": "mpl"},
            )
        ).branch_key_identifier
        messages = []
        for _ in range(2):
            message, _header = client.encrypt(
                source=base64.b64decode(spec["plaintext"]),
                keyring=keyring(branch),
                encryption_context=spec["context"],
                algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            )
            messages.append(base64.b64encode(message).decode())
            store.version_key(VersionKeyInput(branch_key_identifier=branch))
        result["encrypted"] = {"branch_key_id": branch, "messages": messages}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
