"""Load the official ESDK decrypt vectors (``esdk-official/*.zip``) without extracting them."""

from __future__ import annotations

import base64
import json
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.keyrings import (
    Keyring,
    MultiKeyring,
    RawAesKeyring,
    RawRsaKeyring,
    load_private_key_pem,
)
from securestore.message import AlgorithmSuite, parse

FOLDER = Path(__file__).resolve().parent / "esdk-official"
VALID = ("v4-Net-4.0.1", "valid-Net-4.0.0")
INVALID = ("invalid-Net-4.0.0",)


@dataclass(frozen=True)
class Vector:
    """One manifest entry with its files read from the zip."""

    archive: str
    name: str
    ciphertext: bytes
    plaintext: bytes
    context: dict[str, str]
    master_keys: tuple[dict[str, Any], ...]
    cmm: str
    keys: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.archive}/{self.name[:48]}"

    @property
    def suite(self) -> AlgorithmSuite:
        return parse(self.ciphertext).suite

    def local_keyring(self) -> Keyring | None:
        """A keyring of the manifest's local decrypting keys, or ``None`` (KMS only)."""
        rings: list[Keyring] = []
        for spec in self.master_keys:
            key = self.keys[spec["key"]]
            if spec["type"] != "raw" or not key["decrypt"]:
                continue
            if key["algorithm"] == "aes":
                material = base64.b64decode(key["material"])
                rings.append(RawAesKeyring(spec["provider-id"], key["key-id"], material))
            elif key["algorithm"] == "rsa":
                private = _rsa_key(key["material"])
                rings.append(RawRsaKeyring(spec["provider-id"], key["key-id"], private_key=private))
        if not rings:
            return None
        return rings[0] if len(rings) == 1 else MultiKeyring(children=rings)


@cache
def _rsa_key(pem: str) -> rsa.RSAPrivateKey:
    # Loading (and checking) an RSA-4096 key is slow: once per key, not per vector.
    return load_private_key_pem(pem.encode())


def _file(archive: zipfile.ZipFile, uri: str) -> bytes:
    assert uri.startswith("file://")
    return archive.read(uri[len("file://") :])


@cache
def load(name: str) -> tuple[Vector, ...]:
    """Every vector of ``name``.zip, in manifest order."""
    with zipfile.ZipFile(FOLDER / f"{name}.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["manifest"] == {"type": "awses-decrypt", "version": 4}
        keys = json.loads(archive.read("keys.json"))["keys"]
        vectors = []
        for test_name, test in manifest["tests"].items():
            vectors.append(
                Vector(
                    archive=name,
                    name=test_name,
                    ciphertext=_file(archive, test["ciphertext"]),
                    plaintext=_file(archive, test["result"]["output"]["plaintext"]),
                    context=dict(test.get("encryption-context", {})),
                    master_keys=tuple(test["master-keys"]),
                    cmm=test.get("cmm", "Default"),
                    keys=keys,
                )
            )
    return tuple(vectors)
