"""KMS keyring behaviour that moto cannot show, tested against small stub clients.

- Grant tokens: moto ignores them, so a recording wrapper around a moto client
  checks that every GenerateDataKey, Encrypt and Decrypt carries them.
- The KeyId check on Decrypt responses: a lying wrapper around moto answers with
  another key's ARN (and the genuine data key); the keyrings must refuse it.
- Multi-Region keys: moto 5.2.5 cannot decrypt anything wrapped under a
  multi-Region key (its ciphertext format keeps 36 characters of the key id and
  ``mrk-`` ids are 40), so :class:`FakeKms` stands in for KMS there: per-region
  clients over one key store, where a multi-Region key's replicas share material.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from securestore.errors import KeyUnavailableError, NoMatchingKeyError
from securestore.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    DiscoveryFilter,
    MultiKeyring,
    RawAesKeyring,
)
from securestore.keyrings.aws_kms import mrk_match, parse_key_arn
from securestore.message import decrypt, encrypt, parse

ACCOUNT = "111122223333"
TOKENS = ["grant-token-1", "grant-token-2"]


class Recording:
    """Forwards to a real (moto) client and records each call's arguments."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def generate_data_key(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("GenerateDataKey", kwargs))
        return dict(self.client.generate_data_key(**kwargs))

    def encrypt(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("Encrypt", kwargs))
        return dict(self.client.encrypt(**kwargs))

    def decrypt(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("Decrypt", kwargs))
        return dict(self.client.decrypt(**kwargs))


def test_grant_tokens_reach_every_kms_call(kms: Any) -> None:
    arn = str(kms.create_key()["KeyMetadata"]["Arn"])
    client = Recording(kms)
    keyring = AwsKmsKeyring(arn, client=client, grant_tokens=TOKENS)
    generated = encrypt(b"one", keyring, frame_length=64)
    aes = RawAesKeyring("ns", "k", bytes(32))
    wrapped = encrypt(b"two", MultiKeyring(aes, [keyring]), frame_length=64)
    assert decrypt(generated, keyring) == b"one"
    discovery = AwsKmsDiscoveryKeyring(client_factory=lambda r: client, grant_tokens=TOKENS)
    assert decrypt(wrapped, discovery) == b"two"
    assert [name for name, _ in client.calls] == [
        "GenerateDataKey",
        "Encrypt",
        "Decrypt",
        "Decrypt",
    ]
    for name, kwargs in client.calls:
        assert kwargs["GrantTokens"] == TOKENS, name


class Lying(Recording):
    """Decrypts for real, then names another key in the response (as a hostile endpoint may)."""

    def __init__(self, client: Any, answer: str | None) -> None:
        super().__init__(client)
        self.answer = answer

    def decrypt(self, **kwargs: Any) -> dict[str, Any]:
        response = super().decrypt(**kwargs)
        if self.answer is None:
            del response["KeyId"]
        else:
            response["KeyId"] = self.answer
        return response


@pytest.mark.parametrize("answer", ["other key", "no key"])
def test_a_decrypt_response_naming_another_key_is_refused(kms: Any, answer: str) -> None:
    arn = str(kms.create_key()["KeyMetadata"]["Arn"])
    other = str(kms.create_key()["KeyMetadata"]["Arn"])
    message = encrypt(b"secret", AwsKmsKeyring(arn, client=kms), frame_length=64)
    liar = Lying(kms, other if answer == "other key" else None)
    with pytest.raises(KeyUnavailableError, match="answered for") as info:
        decrypt(message, AwsKmsKeyring(arn, client=liar))
    assert info.value.hint is not None
    with pytest.raises(KeyUnavailableError, match="answered for"):
        decrypt(message, AwsKmsDiscoveryKeyring(client_factory=lambda r: liar))
    assert [name for name, _ in liar.calls] == ["Decrypt", "Decrypt"]  # the data key was real


@dataclass
class KeyStore:
    """Key material by (partition, account, key id), and the regions each key exists in."""

    material: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    regions: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)

    def create(self, region: str, *, multi_region: bool) -> str:
        key_id = ("mrk-" + os.urandom(16).hex()) if multi_region else _uuid()
        self.material[("aws", ACCOUNT, key_id)] = AESGCM.generate_key(bit_length=256)
        self.regions[("aws", ACCOUNT, key_id)] = {region}
        return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"

    def replicate(self, arn: str, region: str) -> str:
        parsed = parse_key_arn(arn)
        assert parsed is not None and parsed.multi_region
        self.regions[(parsed.partition, parsed.account, parsed.resource_id)].add(region)
        return str(parsed.in_region(region))


def _uuid() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": ""}}, operation)  # type: ignore[arg-type]


class FakeKms:
    """One region's KMS over a :class:`KeyStore`: what the keyrings need, as AWS documents it.

    A key is usable in a region only where it (or a replica) exists; a ciphertext
    names its key id, so any replica of a multi-Region key decrypts it; responses
    name the key ARN in this client's region.
    """

    def __init__(self, store: KeyStore, region: str) -> None:
        self.store = store
        self.region = region
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _key(self, key_id: str, operation: str) -> tuple[tuple[str, str, str], str]:
        arn = parse_key_arn(key_id)
        if arn is None or arn.region != self.region:
            raise _error("NotFoundException", operation)
        ident = (arn.partition, arn.account, arn.resource_id)
        if self.region not in self.store.regions.get(ident, set()):
            raise _error("NotFoundException", operation)
        return ident, str(arn)

    def _wrap(self, ident: tuple[str, str, str], plaintext: bytes, context: Any) -> bytes:
        nonce = os.urandom(12)
        aad = json.dumps(context, sort_keys=True).encode()
        sealed = AESGCM(self.store.material[ident]).encrypt(nonce, plaintext, aad)
        return json.dumps(list(ident)).encode() + b"\n" + nonce + sealed

    def generate_data_key(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("GenerateDataKey", kwargs))
        ident, arn = self._key(kwargs["KeyId"], "GenerateDataKey")
        plaintext = os.urandom(kwargs["NumberOfBytes"])
        blob = self._wrap(ident, plaintext, kwargs["EncryptionContext"])
        return {"KeyId": arn, "Plaintext": plaintext, "CiphertextBlob": blob}

    def encrypt(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("Encrypt", kwargs))
        ident, arn = self._key(kwargs["KeyId"], "Encrypt")
        blob = self._wrap(ident, kwargs["Plaintext"], kwargs["EncryptionContext"])
        return {"KeyId": arn, "CiphertextBlob": blob}

    def decrypt(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("Decrypt", kwargs))
        ident, arn = self._key(kwargs["KeyId"], "Decrypt")
        names, _, rest = kwargs["CiphertextBlob"].partition(b"\n")
        if tuple(json.loads(names)) != ident:
            raise _error("IncorrectKeyException", "Decrypt")
        aad = json.dumps(kwargs["EncryptionContext"], sort_keys=True).encode()
        try:
            plaintext = AESGCM(self.store.material[ident]).decrypt(rest[:12], rest[12:], aad)
        except Exception:
            raise _error("InvalidCiphertextException", "Decrypt") from None
        return {"KeyId": arn, "Plaintext": plaintext}


@pytest.fixture
def store() -> KeyStore:
    return KeyStore()


class Clients:
    """A client factory over one key store, keeping each region's client."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.by_region: dict[str, FakeKms] = {}

    def __call__(self, region: str) -> FakeKms:
        return self.by_region.setdefault(region, FakeKms(self.store, region))

    def decrypt_calls(self) -> list[tuple[str, str]]:
        return [
            (region, kwargs["KeyId"])
            for region, client in self.by_region.items()
            for name, kwargs in client.calls
            if name == "Decrypt"
        ]


def test_the_fake_kms_refuses_a_replica_that_does_not_exist(store: KeyStore) -> None:
    primary = store.create("us-east-1", multi_region=True)
    message = encrypt(b"x", AwsKmsKeyring(primary, client=FakeKms(store, "us-east-1")))
    not_replicated = primary.replace("us-east-1", "eu-west-1")
    with pytest.raises(KeyUnavailableError, match="NotFoundException"):
        decrypt(message, AwsKmsKeyring(not_replicated, client=FakeKms(store, "eu-west-1")))


def test_a_replica_keyring_decrypts_what_its_primary_wrapped(store: KeyStore) -> None:
    primary = store.create("us-east-1", multi_region=True)
    replica = store.replicate(primary, "eu-west-1")
    message = encrypt(b"mrk", AwsKmsKeyring(primary, client=FakeKms(store, "us-east-1")))
    assert parse(message).encrypted_data_keys[0].provider_info == primary.encode()
    clients = Clients(store)
    keyring = AwsKmsKeyring(replica, client_factory=clients)
    assert decrypt(message, keyring) == b"mrk"
    # KMS was asked in the replica's region, with the configured (replica) ARN.
    assert clients.decrypt_calls() == [("eu-west-1", replica)]
    # And back: the primary reads what the replica wrapped.
    back = encrypt(b"back", keyring)
    primary_keyring = AwsKmsKeyring(primary, client=FakeKms(store, "us-east-1"))
    assert decrypt(back, primary_keyring) == b"back"


def test_single_region_and_other_keys_do_not_match_across_regions(store: KeyStore) -> None:
    single = store.create("us-east-1", multi_region=False)
    message = encrypt(b"x", AwsKmsKeyring(single, client=FakeKms(store, "us-east-1")))
    elsewhere = single.replace("us-east-1", "eu-west-1")
    clients = Clients(store)
    with pytest.raises(NoMatchingKeyError):
        decrypt(message, AwsKmsKeyring(elsewhere, client_factory=clients))
    other_mrk = store.replicate(store.create("us-east-1", multi_region=True), "eu-west-1")
    primary = store.create("us-east-1", multi_region=True)
    message = encrypt(b"x", AwsKmsKeyring(primary, client=FakeKms(store, "us-east-1")))
    with pytest.raises(NoMatchingKeyError):
        decrypt(message, AwsKmsKeyring(other_mrk, client_factory=clients))
    assert clients.decrypt_calls() == []


MRK = "mrk-1234abcd12ab34cd56ef1234567890ab"


@pytest.mark.parametrize(
    ("configured", "stored", "expected"),
    [
        (
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{MRK}",
            f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{MRK}",
            True,
        ),
        (
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{MRK}",
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{MRK}",
            True,
        ),
        (
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{MRK}",
            f"arn:aws:kms:eu-west-1:999999999999:key/{MRK}",
            False,
        ),
        (
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{MRK}",
            f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{MRK}",
            False,
        ),
        (
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{MRK}",
            f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{MRK}0",
            False,
        ),
        (
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234",
            f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234",
            False,
        ),
        (
            f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/{MRK}",
            f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/{MRK}",
            False,
        ),
        (MRK, f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{MRK}", False),
        (
            f"arn:aws:kms:us-east-1.x:{ACCOUNT}:key/{MRK}",
            f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{MRK}",
            False,
        ),
    ],
)
def test_mrk_match(configured: str, stored: str, expected: bool) -> None:
    assert mrk_match(configured, stored) is expected


def test_regional_discovery_uses_the_local_replica(store: KeyStore) -> None:
    primary = store.create("us-east-1", multi_region=True)
    replica = store.replicate(primary, "eu-west-1")
    single = store.create("us-east-1", multi_region=False)
    east = FakeKms(store, "us-east-1")
    both = MultiKeyring(AwsKmsKeyring(single, client=east), [AwsKmsKeyring(primary, client=east)])
    message = encrypt(b"regional", both)
    clients = Clients(store)
    discovery = AwsKmsDiscoveryKeyring(
        client_factory=clients,
        region="eu-west-1",
        discovery_filter=DiscoveryFilter("aws", [ACCOUNT]),
    )
    assert decrypt(message, discovery) == b"regional"
    # The single-region key of us-east-1 was skipped; the MRK was used through its replica.
    assert clients.decrypt_calls() == [("eu-west-1", replica)]
    # Without a region, discovery calls each key's own region with the ARN as stored.
    clients = Clients(store)
    assert decrypt(message, AwsKmsDiscoveryKeyring(client_factory=clients)) == b"regional"
    assert clients.decrypt_calls() == [("us-east-1", single)]


def test_regional_discovery_reports_keys_of_other_regions(store: KeyStore) -> None:
    single = store.create("us-east-1", multi_region=False)
    message = encrypt(b"x", AwsKmsKeyring(single, client=FakeKms(store, "us-east-1")))
    clients = Clients(store)
    with pytest.raises(NoMatchingKeyError) as info:
        decrypt(message, AwsKmsDiscoveryKeyring(client_factory=clients, region="eu-west-1"))
    assert info.value.tried == (f"aws-kms {single} (a single-region key outside eu-west-1)",)
    assert clients.by_region == {}
