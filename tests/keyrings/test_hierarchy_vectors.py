"""A message the ESDK + MPL hierarchical keyring wrote, decrypted offline (vectors/).

The vector gives the branch key in plaintext, so it checks securestore's KDF, AAD and
EDK layout against the MPL without the MPL, DynamoDB or KMS (the live check both ways
is test_hierarchy_mpl.py). The key store here is an in-memory stand-in: the one thing a
vector cannot carry is a KMS-wrapped item that a fresh moto could decrypt.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast

import pytest

from securestore.errors import BranchKeyNotFoundError, NoMatchingKeyError
from securestore.keyrings.branch_keys import BranchKeyMaterials, BranchKeyStore
from securestore.keyrings.hierarchy import AwsKmsHierarchicalKeyring
from securestore.message import decrypt

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).with_name("vectors") / "hierarchy_mpl.json").read_text()
)


class _Versions:
    """Serves one branch key version, as a key store would after KMS decrypted it."""

    table_name = "vector-keys"
    logical_name = "vector-keys"

    def __init__(self, key: bytes) -> None:
        self.key = key

    def get_branch_key_version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        if (branch_key_id, version) != (VECTOR["branch_key_id"], VECTOR["branch_key_version"]):
            raise BranchKeyNotFoundError("no such version")
        return BranchKeyMaterials(branch_key_id, version, bytearray(self.key))


def _keyring(key: bytes) -> AwsKmsHierarchicalKeyring:
    store = cast(BranchKeyStore, _Versions(key))
    return AwsKmsHierarchicalKeyring(VECTOR["branch_key_id"], store, ttl_seconds=60)


MESSAGE = base64.b64decode(VECTOR["message_base64"])
KEY = bytes.fromhex(VECTOR["branch_key_hex"])


def test_the_mpl_message_decrypts() -> None:
    assert VECTOR["expected"] == "success"
    plain = decrypt(MESSAGE, _keyring(KEY), expected_context=VECTOR["encryption_context"])
    assert plain == VECTOR["plaintext"].encode()


def test_another_branch_key_does_not_unwrap_it() -> None:
    wrong = bytes([KEY[0] ^ 1]) + KEY[1:]
    with pytest.raises(NoMatchingKeyError, match="did not authenticate"):
        decrypt(MESSAGE, _keyring(wrong))


@pytest.mark.parametrize("where", ["salt", "iv", "version", "wrapped key", "tag"])
def test_a_tampered_edk_in_the_mpl_message_is_refused(where: str) -> None:
    offsets = {"salt": 3, "iv": 20, "version": 30, "wrapped key": 50, "tag": 90}
    blob = bytearray(MESSAGE)
    start = blob.find(VECTOR["branch_key_id"].encode()) + len(VECTOR["branch_key_id"])
    blob[start + 2 + offsets[where]] ^= 0x01  # past the EDK's 2-byte ciphertext length
    with pytest.raises(NoMatchingKeyError):
        decrypt(bytes(blob), _keyring(KEY))
