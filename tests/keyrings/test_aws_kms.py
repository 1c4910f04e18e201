"""KMS keyrings against moto (in-process)."""

from __future__ import annotations

from typing import Any

import pytest

from securestore.errors import ConfigurationError, KeyUnavailableError, NoMatchingKeyError
from securestore.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    DiscoveryFilter,
    MultiKeyring,
    RawAesKeyring,
)
from securestore.message import decrypt, encrypt, parse
from tests.keyrings.conftest import REGION

CONTEXT = {"securestore:bucket": "b", "securestore:key": "k"}


def _key(kms: Any) -> str:
    return str(kms.create_key()["KeyMetadata"]["Arn"])


def test_round_trip_binds_context(kms: Any) -> None:
    arn = _key(kms)
    keyring = AwsKmsKeyring(arn, client=kms)
    message = encrypt(b"payload", keyring, encryption_context=CONTEXT, frame_length=64)
    (edk,) = parse(message).encrypted_data_keys
    assert edk.provider_id == "aws-kms" and edk.provider_info == arn.encode()
    assert decrypt(message, keyring, expected_context=CONTEXT) == b"payload"
    # KMS checks the context too: a forged header context fails at KMS (and the tag).
    header = parse(message)
    forged = message.replace(b"securestore:bucket\x00\x01b", b"securestore:bucket\x00\x01c", 1)
    assert forged != message and parse(forged).encrypted_data_keys == header.encrypted_data_keys
    with pytest.raises(NoMatchingKeyError):
        decrypt(forged, keyring)


def test_strict_keyring_only_uses_its_key(kms: Any) -> None:
    one, two = _key(kms), _key(kms)
    message = encrypt(b"x", AwsKmsKeyring(one, client=kms), frame_length=64)
    with pytest.raises(NoMatchingKeyError) as info:
        decrypt(message, AwsKmsKeyring(two, client=kms))
    assert info.value.tried == (f"aws-kms {two}",)
    assert one in str(info.value)


def test_multi_with_kms_generator_and_aes_child(kms: Any) -> None:
    arn = _key(kms)
    aes = RawAesKeyring("ns", "k", bytes(32))
    message = encrypt(b"x", MultiKeyring(AwsKmsKeyring(arn, client=kms), [aes]), frame_length=64)
    assert [e.provider_id for e in parse(message).encrypted_data_keys] == ["aws-kms", "ns"]
    assert decrypt(message, aes) == b"x"
    assert decrypt(message, AwsKmsKeyring(arn, client=kms)) == b"x"
    # AES generator, KMS child: KMS Encrypt wraps the existing key.
    message = encrypt(b"y", MultiKeyring(aes, [AwsKmsKeyring(arn, client=kms)]), frame_length=64)
    assert decrypt(message, AwsKmsKeyring(arn, client=kms)) == b"y"


def test_discovery_keyring_and_filter(kms: Any) -> None:
    arn = _key(kms)
    message = encrypt(b"x", AwsKmsKeyring(arn, client=kms), frame_length=64)
    account = arn.split(":")[4]
    regions: list[str] = []

    def factory(region: str) -> Any:
        regions.append(region)
        return kms

    discovery = AwsKmsDiscoveryKeyring(
        client_factory=factory, discovery_filter=DiscoveryFilter("aws", [account])
    )
    assert decrypt(message, discovery) == b"x"
    assert regions == [REGION]
    blocked = AwsKmsDiscoveryKeyring(
        client_factory=factory, discovery_filter=DiscoveryFilter("aws", ["999999999999"])
    )
    with pytest.raises(NoMatchingKeyError, match="encrypted for") as info:
        decrypt(message, blocked)
    assert "excluded" in info.value.tried[0]
    with pytest.raises(ConfigurationError):
        encrypt(b"x", discovery)


def test_disabled_or_unknown_key_is_unavailable(kms: Any) -> None:
    missing = f"arn:aws:kms:{REGION}:123456789012:key/00000000-0000-0000-0000-000000000000"
    with pytest.raises(KeyUnavailableError, match=missing) as info:
        encrypt(b"x", AwsKmsKeyring(missing, client=kms))
    assert info.value.__cause__ is not None


def test_client_factory_needs_an_arn(kms: Any) -> None:
    with pytest.raises(ConfigurationError):
        AwsKmsKeyring("alias/foo", client_factory=lambda region: kms)
    arn = _key(kms)
    keyring = AwsKmsKeyring(arn, client_factory=lambda region: kms, grant_tokens=["t"])
    assert decrypt(encrypt(b"z", keyring, frame_length=64), keyring) == b"z"
    assert repr(keyring) == f"AwsKmsKeyring(key_id={arn!r})"
