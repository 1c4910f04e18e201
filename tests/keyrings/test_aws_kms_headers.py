"""KMS keyrings against hostile message headers: invalid ARNs are skipped and reported.

The provider info of an ``aws-kms`` data key is unauthenticated until the data key
is unwrapped, and its region becomes a KMS host name. These tests put hostile data
keys in front of the genuine one (moto, in-process) and check that the genuine one
is still used, that nothing hostile reaches a client factory, and that a failure
lists why each data key was skipped, escaped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from securestore.errors import ConfigurationError, KeyUnavailableError, NoMatchingKeyError
from securestore.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    DecryptionMaterials,
    DiscoveryFilter,
    EncryptedDataKey,
    EncryptionMaterials,
    MultiKeyring,
)
from securestore.keyrings.aws_kms import parse_key_arn
from securestore.message import decrypt, encrypt, parse
from securestore.message.suites import AlgorithmSuite
from tests.keyrings.conftest import REGION

ACCOUNT = "123456789012"
UUID = "00000000-0000-4000-8000-000000000000"


class Hostile:
    """A generator keyring that writes the given ``aws-kms`` data keys first (an attacker's)."""

    def __init__(self, infos: Sequence[bytes]) -> None:
        self.infos = infos

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        data_key = bytearray(os.urandom(materials.suite.key_length))
        for info in self.infos:
            materials = materials.with_data_key(data_key, EncryptedDataKey("aws-kms", info, b"x"))
        return materials

    def unwrap(self, materials: DecryptionMaterials, edks: Sequence[EncryptedDataKey]) -> Any:
        raise NotImplementedError


class RecordingFactory:
    """Real boto3 clients (moto), recording the regions asked for."""

    def __init__(self) -> None:
        self.regions: list[str] = []

    def __call__(self, region: str) -> Any:
        self.regions.append(region)
        return boto3.client("kms", region_name=region)


HOSTILE = {
    "region-with-host": f"arn:aws:kms:us-east-1.attacker.example:{ACCOUNT}:key/{UUID}".encode(),
    "region-with-slash": f"arn:aws:kms:us-east-1/../x:{ACCOUNT}:key/{UUID}".encode(),
    "empty-region": f"arn:aws:kms::{ACCOUNT}:key/{UUID}".encode(),
    "alias": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/team".encode(),
    "partition": f"arn:evil:kms:{REGION}:{ACCOUNT}:key/{UUID}".encode(),
    "account": f"arn:aws:kms:{REGION}:12345:key/{UUID}".encode(),
    "escape-in-key-id": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/\x1b[2J{UUID}".encode(),
    "not-utf8": b"arn:aws:kms:\xff\xfe",
    "not-an-arn": b"\x1b]0;pwned\x07",
    "trailing-newline": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{UUID}\n".encode(),
}


#: At most nine, so that with the genuine one the header stays within the default limit of 10.
NINE = [info for name, info in HOSTILE.items() if name != "region-with-slash"]


def _message(kms: Any, infos: Sequence[bytes]) -> tuple[bytearray, str]:
    arn = str(kms.create_key()["KeyMetadata"]["Arn"])
    keyring = MultiKeyring(Hostile(infos), [AwsKmsKeyring(arn, client=kms)])
    message = encrypt(b"genuine", keyring, frame_length=64)
    assert [e.provider_info for e in parse(message).encrypted_data_keys][:-1] == list(infos)
    return message, arn


def _assert_escaped(text: str) -> None:
    assert not any(not c.isprintable() for c in text), repr(text)


NOT_ARNS = {name: info for name, info in HOSTILE.items() if name != "alias"}


@pytest.mark.parametrize("info", NOT_ARNS.values(), ids=NOT_ARNS.keys())
def test_hostile_arns_are_invalid(info: bytes) -> None:
    assert parse_key_arn(info.decode("utf-8", "replace")) is None


@pytest.mark.parametrize("info", HOSTILE.values(), ids=HOSTILE.keys())
def test_discovery_skips_a_hostile_data_key_and_uses_the_genuine_one(kms: Any, info: bytes) -> None:
    message, _ = _message(kms, [info])
    factory = RecordingFactory()
    discovery = AwsKmsDiscoveryKeyring(
        client_factory=factory, discovery_filter=DiscoveryFilter("aws", [ACCOUNT])
    )
    assert decrypt(message, discovery) == b"genuine"
    assert factory.regions == [REGION]
    assert decrypt(message, AwsKmsDiscoveryKeyring(client_factory=factory)) == b"genuine"


def test_discovery_reports_every_skipped_data_key_escaped(kms: Any) -> None:
    infos = NINE
    message, arn = _message(kms, infos)
    factory = RecordingFactory()
    discovery = AwsKmsDiscoveryKeyring(client_factory=factory)
    header = parse(message)
    suite = header.suite
    with pytest.raises(NoMatchingKeyError) as info:
        discovery.unwrap(
            DecryptionMaterials(suite, header.encryption_context),
            header.encrypted_data_keys[:-1],
        )
    error = info.value
    assert factory.regions == [] and arn not in str(error)
    skipped = [t for t in error.tried if "(skipped: " in t]
    assert len(skipped) == len(infos)
    for text in (*error.tried, str(error)):
        _assert_escaped(text)
    assert "'us-east-1.attacker.example' is not a region name" in str(error)
    assert "an alias ARN, not a key ARN" in str(error)
    assert "\\x1b" in str(error) and "provider info is not UTF-8" in str(error)


def test_strict_keyring_skips_hostile_data_keys(kms: Any) -> None:
    message, arn = _message(kms, NINE)
    assert decrypt(message, AwsKmsKeyring(arn, client=kms)) == b"genuine"
    other = str(kms.create_key()["KeyMetadata"]["Arn"])
    with pytest.raises(NoMatchingKeyError) as info:
        decrypt(message, AwsKmsKeyring(other, client=kms))
    assert info.value.tried[0] == f"aws-kms {other}"
    assert "region 'us-east-1.attacker.example' is not a region name" in str(info.value)
    for text in info.value.tried:
        _assert_escaped(text)


def test_a_failing_data_key_does_not_stop_the_next(kms: Any) -> None:
    """A well-formed ARN of a key that does not exist: KMS fails, the next one is tried."""
    missing = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{UUID}".encode()
    message, _ = _message(kms, [missing])
    factory = RecordingFactory()
    assert decrypt(message, AwsKmsDiscoveryKeyring(client_factory=factory)) == b"genuine"
    assert factory.regions == ["eu-west-1", REGION]
    # Alone, the failure is reported as the key service's (the key might have matched).
    header = parse(message)
    with pytest.raises(KeyUnavailableError, match="eu-west-1"):
        AwsKmsDiscoveryKeyring(client_factory=factory).unwrap(
            DecryptionMaterials(header.suite, header.encryption_context),
            header.encrypted_data_keys[:1],
        )


def test_a_failing_client_factory_does_not_stop_the_next(kms: Any) -> None:
    message, _ = _message(kms, [f"arn:aws:kms:eu-west-3:{ACCOUNT}:key/{UUID}".encode()])

    def factory(region: str) -> Any:
        if region != REGION:
            raise ConfigurationError(f"no endpoint configured for {region}")
        return kms

    assert decrypt(message, AwsKmsDiscoveryKeyring(client_factory=factory)) == b"genuine"


class NotOurs:
    """A KMS client that answers every Decrypt as KMS does for someone else's key."""

    def decrypt(self, **kwargs: Any) -> dict[str, Any]:
        error = {"Error": {"Code": "InvalidCiphertextException", "Message": ""}}
        raise ClientError(error, "Decrypt")  # type: ignore[arg-type]

    generate_data_key = encrypt = decrypt


def test_the_client_cache_is_bounded() -> None:
    created: list[str] = []

    def factory(region: str) -> Any:
        created.append(region)
        return NotOurs()

    keyring = AwsKmsDiscoveryKeyring(client_factory=factory, max_clients=8)
    regions = [f"ap-test-{n}" for n in range(20)]
    materials = DecryptionMaterials(AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY, {})

    def unwrap(names: Sequence[str]) -> None:
        edks = [
            EncryptedDataKey("aws-kms", f"arn:aws:kms:{r}:{ACCOUNT}:key/{UUID}".encode(), b"x")
            for r in names
        ]
        with pytest.raises(NoMatchingKeyError):
            keyring.unwrap(materials, edks)

    unwrap(regions[:10])
    unwrap(regions[10:])
    assert created == regions
    assert len(keyring._clients) == 8
    unwrap(regions[-8:])  # the eight most recent are kept
    assert created == regions
    unwrap(regions[:1])  # the oldest was dropped: a new client
    assert created == [*regions, regions[0]]


BAD_ARNS = {name: info for name, info in NOT_ARNS.items() if info.startswith(b"arn:")}


@pytest.mark.parametrize("info", BAD_ARNS.values(), ids=BAD_ARNS.keys())
def test_strict_keyring_refuses_an_invalid_configured_arn(info: bytes) -> None:
    with pytest.raises(ConfigurationError, match="invalid KMS key id"):
        AwsKmsKeyring(info.decode("utf-8", "replace"), client=NotOurs())


@pytest.mark.parametrize("key_id", ["", "alias/", "key id", "mrk-\x1b", "arn:aws:kms:x"])
def test_strict_keyring_refuses_an_invalid_key_id(key_id: str) -> None:
    with pytest.raises(ConfigurationError):
        AwsKmsKeyring(key_id, client=NotOurs())


def test_discovery_refuses_an_invalid_region() -> None:
    with pytest.raises(ConfigurationError, match="invalid region"):
        AwsKmsDiscoveryKeyring(client_factory=lambda r: NotOurs(), region="us-east-1.evil")


def test_a_multi_keyring_reports_the_skipped_data_keys(kms: Any) -> None:
    message, _ = _message(kms, [HOSTILE["region-with-host"]])
    other = str(kms.create_key()["KeyMetadata"]["Arn"])
    multi = MultiKeyring(children=[AwsKmsKeyring(other, client=kms), NotOursKeyring()])
    with pytest.raises(NoMatchingKeyError) as info:
        decrypt(message, multi)
    message_text = str(info.value)
    assert "unusable data keys: aws-kms 'arn:aws:kms:us-east-1.attacker.example:" in message_text
    assert message_text.count("attacker.example' is not a region name") == 1


class NotOursKeyring:
    """A keyring that matches nothing (a second member of the multi-keyring)."""

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise NotImplementedError

    def unwrap(self, materials: DecryptionMaterials, edks: Sequence[EncryptedDataKey]) -> Any:
        raise NoMatchingKeyError("not ours", tried=("nothing",))
