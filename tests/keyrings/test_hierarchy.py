"""The AWS KMS Hierarchical keyring and its branch key store, on DynamoDB + KMS (moto, TLS).

KMS calls are counted on the wire (botocore ``before-call`` events). Spec:
``framework/aws-kms/aws-kms-hierarchical-keyring.md`` and ``framework/branch-key-store.md``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from securestore import ClientSide, Connection, SecureStore
from securestore.errors import (
    BranchKeyNotFoundError,
    BranchKeyStoreError,
    ConfigurationError,
    KeyUnavailableError,
    NoMatchingKeyError,
)
from securestore.keyrings.branch_keys import ACTIVE_TYPE, VERSION_PREFIX, BranchKeyStore
from securestore.keyrings.hierarchy import PROVIDER_ID, AwsKmsHierarchicalKeyring
from securestore.message.materials import DecryptionMaterials, EncryptedDataKey, EncryptionMaterials
from securestore.message.suites import AlgorithmSuite

SUITE = AlgorithmSuite(0x0478)


@dataclass
class Fixture:
    store: BranchKeyStore
    kms_calls: Counter[str]
    ddb: Any
    kms: Any
    kms_key: str


@pytest.fixture
def key_store(connection: Connection, kms_key: str) -> Fixture:
    kms = connection.client("kms")
    ddb = connection.client("dynamodb")
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    kms.meta.events.register("before-call.kms.*", count)
    store = BranchKeyStore(
        f"keys-{uuid.uuid4().hex[:12]}", kms_key_arn=kms_key, dynamodb=ddb, kms=kms
    )
    store.create_table()
    return Fixture(store, calls, ddb, kms, kms_key)


def _enc(context: dict[str, str]) -> EncryptionMaterials:
    return EncryptionMaterials(SUITE, context)


def _dec(context: dict[str, str]) -> DecryptionMaterials:
    return DecryptionMaterials(SUITE, context)


def test_round_trip_through_the_store(
    key_store: Fixture, make_store: Callable[..., SecureStore]
) -> None:
    branch = key_store.store.create_branch_key()
    keyring = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    store = make_store(encryption=ClientSide(keyring))
    store.put("a", b"hello")
    assert store.get("a") == b"hello"
    # A fresh keyring (its own cache) reads it too.
    other = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    assert make_store(encryption=ClientSide(other)).get("a") == b"hello"


def test_distinct_objects_share_one_kms_call_per_ttl(
    key_store: Fixture, make_store: Callable[..., SecureStore]
) -> None:
    branch = key_store.store.create_branch_key()
    now = [0.0]
    keyring = AwsKmsHierarchicalKeyring(
        branch, key_store.store, ttl_seconds=60, clock=lambda: now[0]
    )
    store = make_store(encryption=ClientSide(keyring))
    key_store.kms_calls.clear()
    for i in range(20):
        store.put(f"obj/{i}", b"x" * 100)
    for i in range(20):
        assert store.get(f"obj/{i}") == b"x" * 100
    # One Decrypt for the ACTIVE item (encrypt), one for the version item (decrypt).
    assert key_store.kms_calls == Counter({"Decrypt": 2})
    now[0] = 61.0  # the TTL has passed: the next message asks KMS again
    store.put("later", b"y")
    assert store.get("later") == b"y"
    assert key_store.kms_calls == Counter({"Decrypt": 4})


def test_the_encrypted_data_key_has_the_specified_layout(key_store: Fixture) -> None:
    branch = key_store.store.create_branch_key()
    keyring = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    out = keyring.wrap(_enc({"a": "b"}))
    (edk,) = out.encrypted_data_keys
    assert edk.provider_id == PROVIDER_ID
    assert edk.provider_info == branch.encode()
    assert len(edk.ciphertext) == 16 + 12 + 16 + 32 + 16
    active = key_store.store.get_active_branch_key(branch)
    assert edk.ciphertext[28:44] == uuid.UUID(active.version).bytes
    assert out.data_key is not None
    assert keyring.unwrap(_dec({"a": "b"}), [edk]).data_key == out.data_key


def test_rotation_new_version_for_new_messages_old_still_decrypts(
    key_store: Fixture, make_store: Callable[..., SecureStore]
) -> None:
    branch = key_store.store.create_branch_key()
    now = [0.0]
    keyring = AwsKmsHierarchicalKeyring(
        branch, key_store.store, ttl_seconds=60, clock=lambda: now[0]
    )
    store = make_store(encryption=ClientSide(keyring))
    store.put("old", b"before rotation")
    first = key_store.store.get_active_branch_key(branch).version
    second = key_store.store.version_branch_key(branch)
    assert second != first
    assert key_store.store.get_active_branch_key(branch).version == second
    now[0] = 120.0  # the cached ACTIVE key expires: the new version is fetched
    old_edk = keyring.wrap(_enc({})).encrypted_data_keys[0]
    assert old_edk.ciphertext[28:44] == uuid.UUID(second).bytes
    store.put("new", b"after rotation")
    assert store.get("old") == b"before rotation"
    assert store.get("new") == b"after rotation"
    # Both versions stay in the table; the old one decrypts alone.
    assert key_store.store.get_branch_key_version(branch, first).version == first


def test_items_have_the_spec_attributes_and_kms_context(key_store: Fixture) -> None:
    branch = key_store.store.create_branch_key("tenant-1", encryption_context={"dept": "a"})
    ddb, table = key_store.ddb, key_store.store.table_name
    items = ddb.scan(TableName=table)["Items"]
    types = sorted(item["type"]["S"] for item in items)
    assert types[:2] == ["beacon:ACTIVE", "branch:ACTIVE"]
    assert types[2].startswith(VERSION_PREFIX)
    active = ddb.get_item(
        TableName=table, Key={"branch-key-id": {"S": branch}, "type": {"S": ACTIVE_TYPE}}
    )["Item"]
    assert set(active) == {
        "branch-key-id",
        "type",
        "version",
        "enc",
        "kms-arn",
        "create-time",
        "hierarchy-version",
        "aws-crypto-ec:dept",
    }
    assert active["hierarchy-version"] == {"N": "1"}
    assert active["kms-arn"] == {"S": key_store.kms_key}
    assert active["version"]["S"] == types[2]
    # KMS binds the item's attributes and the logical name: decrypt with exactly those.
    context = {k: v.get("S", v.get("N")) for k, v in active.items() if k != "enc"}
    context["tablename"] = table
    key_store.kms.decrypt(
        CiphertextBlob=active["enc"]["B"], EncryptionContext=context, KeyId=key_store.kms_key
    )
    assert key_store.store.get_active_branch_key(branch).encryption_context == {"dept": "a"}


def test_create_refuses_a_chosen_id_without_context_and_an_existing_id(key_store: Fixture) -> None:
    with pytest.raises(ConfigurationError):
        key_store.store.create_branch_key("mine")
    key_store.store.create_branch_key("mine", encryption_context={"k": "v"})
    with pytest.raises(BranchKeyStoreError, match="already exists"):
        key_store.store.create_branch_key("mine", encryption_context={"k": "v"})


def test_concurrent_rotation_loses_cleanly(key_store: Fixture) -> None:
    branch = key_store.store.create_branch_key()
    ddb, table = key_store.ddb, key_store.store.table_name
    original = key_store.store._get_item

    def raced(branch_key_id: str, item_type: str) -> dict[str, Any]:
        item = original(branch_key_id, item_type)
        key_store.store._get_item = original  # type: ignore[method-assign]
        key_store.store.version_branch_key(branch)  # another writer rotates in between
        return item

    key_store.store._get_item = raced  # type: ignore[method-assign]
    with pytest.raises(BranchKeyStoreError, match="changed while being rotated"):
        key_store.store.version_branch_key(branch)
    versions = [
        i["type"]["S"]
        for i in ddb.scan(TableName=table)["Items"]
        if i["type"]["S"].startswith(VERSION_PREFIX)
    ]
    assert len(versions) == 2  # the first and the winner's, not the loser's


# -- fail closed --------------------------------------------------------------------------


def _one_edk(key_store: Fixture, context: dict[str, str]) -> tuple[str, EncryptedDataKey]:
    branch = key_store.store.create_branch_key()
    keyring = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    return branch, keyring.wrap(_enc(context)).encrypted_data_keys[0]


@pytest.mark.parametrize("offset", [0, 15, 16, 27, 44, 60, 75, 76, 91])
def test_a_tampered_data_key_is_refused(key_store: Fixture, offset: int) -> None:
    branch, edk = _one_edk(key_store, {"a": "b"})
    blob = bytearray(edk.ciphertext)
    blob[offset] ^= 0x01
    tampered = EncryptedDataKey(edk.provider_id, edk.provider_info, bytes(blob))
    keyring = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    with pytest.raises(NoMatchingKeyError):
        keyring.unwrap(_dec({"a": "b"}), [tampered])


def test_a_wrong_length_data_key_is_refused(key_store: Fixture) -> None:
    branch, edk = _one_edk(key_store, {})
    keyring = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    for blob in (edk.ciphertext[:-1], edk.ciphertext + b"\x00", b""):
        with pytest.raises(NoMatchingKeyError):
            keyring.unwrap(_dec({}), [EncryptedDataKey(PROVIDER_ID, edk.provider_info, blob)])


@pytest.mark.parametrize("context", [{"a": "c"}, {"a": "b", "x": "y"}, {}, {"A": "b"}], ids=str)
def test_a_tampered_context_is_refused(key_store: Fixture, context: dict[str, str]) -> None:
    branch, edk = _one_edk(key_store, {"a": "b"})
    keyring = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    with pytest.raises(NoMatchingKeyError):
        keyring.unwrap(_dec(context), [edk])


def test_another_branch_key_or_provider_is_not_tried(key_store: Fixture) -> None:
    branch, edk = _one_edk(key_store, {})
    other = AwsKmsHierarchicalKeyring(
        key_store.store.create_branch_key(), key_store.store, ttl_seconds=600
    )
    key_store.kms_calls.clear()
    with pytest.raises(NoMatchingKeyError):
        other.unwrap(_dec({}), [edk])
    renamed = EncryptedDataKey("aws-kms", edk.provider_info, edk.ciphertext)
    with pytest.raises(NoMatchingKeyError):
        AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600).unwrap(
            _dec({}), [renamed]
        )
    assert not key_store.kms_calls  # nothing was fetched for data keys that are not ours


def test_a_version_not_in_the_store_is_no_match(key_store: Fixture) -> None:
    branch, edk = _one_edk(key_store, {})
    blob = edk.ciphertext[:28] + uuid.uuid4().bytes + edk.ciphertext[44:]
    keyring = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    with pytest.raises(NoMatchingKeyError, match="not in the key store"):
        keyring.unwrap(_dec({}), [EncryptedDataKey(PROVIDER_ID, edk.provider_info, blob)])
    with pytest.raises(BranchKeyNotFoundError):
        key_store.store.get_branch_key_version(branch, str(uuid.uuid4()))
    with pytest.raises(BranchKeyNotFoundError):
        key_store.store.get_branch_key_version(branch, "not-a-uuid")


def test_a_missing_branch_key_fails_encryption(key_store: Fixture) -> None:
    keyring = AwsKmsHierarchicalKeyring("nope", key_store.store, ttl_seconds=600)
    with pytest.raises(BranchKeyNotFoundError):
        keyring.wrap(_enc({}))


def test_a_wrong_table_is_a_key_store_error(key_store: Fixture) -> None:
    branch, edk = _one_edk(key_store, {})
    wrong = BranchKeyStore(
        "no-such-table",
        kms_key_arn=key_store.kms_key,
        dynamodb=key_store.ddb,
        kms=key_store.kms,
    )
    keyring = AwsKmsHierarchicalKeyring(branch, wrong, ttl_seconds=600)
    with pytest.raises(BranchKeyStoreError, match="ResourceNotFoundException") as caught:
        keyring.wrap(_enc({}))
    assert caught.value.hint
    with pytest.raises(BranchKeyStoreError):
        keyring.unwrap(_dec({}), [edk])


def test_a_restored_table_under_another_logical_name_does_not_authenticate(
    key_store: Fixture,
) -> None:
    branch = key_store.store.create_branch_key()
    renamed = BranchKeyStore(
        key_store.store.table_name,
        kms_key_arn=key_store.kms_key,
        dynamodb=key_store.ddb,
        kms=key_store.kms,
        logical_name="another-store",
    )
    with pytest.raises(BranchKeyStoreError, match="did not authenticate"):
        renamed.get_active_branch_key(branch)


def test_a_moved_or_edited_item_does_not_authenticate(key_store: Fixture) -> None:
    one = key_store.store.create_branch_key()
    two = key_store.store.create_branch_key()
    ddb, table = key_store.ddb, key_store.store.table_name
    key = {"branch-key-id": {"S": one}, "type": {"S": ACTIVE_TYPE}}
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    # Branch key one's ciphertext pasted into branch key two's ACTIVE item.
    stolen = dict(
        ddb.get_item(
            TableName=table, Key={"branch-key-id": {"S": two}, "type": {"S": ACTIVE_TYPE}}
        )["Item"]
    )
    stolen["enc"] = item["enc"]
    ddb.put_item(TableName=table, Item=stolen)
    with pytest.raises(BranchKeyStoreError, match="did not authenticate"):
        key_store.store.get_active_branch_key(two)
    # An edited attribute (here the creation time) changes the KMS context.
    ddb.put_item(TableName=table, Item={**item, "create-time": {"S": "2000-01-01T00:00:00Z"}})
    with pytest.raises(BranchKeyStoreError, match="did not authenticate"):
        key_store.store.get_active_branch_key(one)


@pytest.mark.parametrize(
    "change",
    [
        {"hierarchy-version": {"N": "2"}},
        {"enc": {"S": "text"}},
        {"tablename": {"S": "x"}},
        {"extra": {"N": "5"}},
        {"version": {"S": "branch:version:NOT-A-UUID"}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_malformed_item_is_refused_before_kms(key_store: Fixture, change: dict[str, Any]) -> None:
    branch = key_store.store.create_branch_key()
    ddb, table = key_store.ddb, key_store.store.table_name
    key = {"branch-key-id": {"S": branch}, "type": {"S": ACTIVE_TYPE}}
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    ddb.put_item(TableName=table, Item={**item, **change})
    key_store.kms_calls.clear()
    with pytest.raises(BranchKeyStoreError, match="malformed"):
        key_store.store.get_active_branch_key(branch)
    assert not key_store.kms_calls


def test_an_item_wrapped_by_another_kms_key_is_refused(
    key_store: Fixture, connection: Connection
) -> None:
    branch = key_store.store.create_branch_key()
    other_key = connection.client("kms").create_key()["KeyMetadata"]["Arn"]
    other = BranchKeyStore(
        key_store.store.table_name, kms_key_arn=other_key, dynamodb=key_store.ddb, kms=key_store.kms
    )
    key_store.kms_calls.clear()
    with pytest.raises(BranchKeyStoreError, match="not by this key store's KMS key"):
        other.get_active_branch_key(branch)
    with pytest.raises(BranchKeyStoreError, match="not by this key store's KMS key"):
        other.version_branch_key(branch)
    assert not key_store.kms_calls


def test_kms_denial_is_key_unavailable(key_store: Fixture) -> None:
    from botocore.exceptions import ClientError

    branch, edk = _one_edk(key_store, {})
    fresh = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)

    def deny(**_: Any) -> None:  # what KMS answers a caller without kms:Decrypt
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "Decrypt"
        )

    key_store.kms.meta.events.register_first("before-call.kms.Decrypt", deny)
    try:
        with pytest.raises(KeyUnavailableError, match="AccessDeniedException") as caught:
            fresh.wrap(_enc({}))
        assert not isinstance(caught.value, NoMatchingKeyError)
        with pytest.raises(KeyUnavailableError, match="AccessDeniedException"):
            fresh.unwrap(_dec({}), [edk])
    finally:
        key_store.kms.meta.events.unregister("before-call.kms.Decrypt", deny)
    assert fresh.unwrap(_dec({}), [edk]).data_key is not None


def test_discovery_store_reads_but_cannot_write(key_store: Fixture) -> None:
    branch, edk = _one_edk(key_store, {})
    discovery = BranchKeyStore(
        key_store.store.table_name, kms_key_arn=None, dynamodb=key_store.ddb, kms=key_store.kms
    )
    keyring = AwsKmsHierarchicalKeyring(branch, discovery, ttl_seconds=600)
    assert keyring.unwrap(_dec({}), [edk]).data_key is not None
    with pytest.raises(ConfigurationError):
        discovery.create_branch_key()
    with pytest.raises(ConfigurationError):
        discovery.version_branch_key(branch)


def test_an_existing_table_with_another_schema_is_refused(key_store: Fixture) -> None:
    name = f"other-{uuid.uuid4().hex[:8]}"
    key_store.ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = BranchKeyStore(
        name, kms_key_arn=key_store.kms_key, dynamodb=key_store.ddb, kms=key_store.kms
    )
    with pytest.raises(BranchKeyStoreError, match="key schema"):
        store.create_table()
    assert key_store.store.create_table()  # the right table is accepted again


@pytest.mark.parametrize("arn", ["alias/x", "arn:aws:kms:us-east-1:111122223333:alias/x", ""])
def test_the_key_store_needs_a_key_arn(key_store: Fixture, arn: str) -> None:
    with pytest.raises(ConfigurationError):
        BranchKeyStore("t", kms_key_arn=arn, dynamodb=key_store.ddb, kms=key_store.kms)


@pytest.mark.parametrize("ttl", [0, -1])
def test_the_ttl_must_be_positive(key_store: Fixture, ttl: float) -> None:
    with pytest.raises(ConfigurationError):
        AwsKmsHierarchicalKeyring("b", key_store.store, ttl_seconds=ttl)


# -- cache --------------------------------------------------------------------------------


def test_evicted_branch_keys_are_zeroed_and_copies_in_use_are_not(key_store: Fixture) -> None:
    branch = key_store.store.create_branch_key()
    keyring = AwsKmsHierarchicalKeyring(
        branch, key_store.store, ttl_seconds=600, max_cache_entries=1
    )
    wrapped = keyring.wrap(_enc({"a": "b"}))
    (cached,) = keyring._entries.values()
    held = cached.materials.key
    assert any(held)
    # The decrypt entry (another cache id) pushes the encrypt entry out: it is zeroed.
    plain = keyring.unwrap(_dec({"a": "b"}), wrapped.encrypted_data_keys)
    assert plain.data_key == wrapped.data_key
    assert held == bytearray(32)
    assert keyring.stats.evicted == 1 and len(keyring) == 1
    keyring.clear()
    assert len(keyring) == 0
    # Clearing zeroes the cache's buffers only: the next message fetches again and works.
    again = keyring.wrap(_enc({}))
    assert keyring.unwrap(_dec({}), again.encrypted_data_keys).data_key == again.data_key


def test_concurrent_messages_with_constant_expiry_all_round_trip(key_store: Fixture) -> None:
    from concurrent.futures import ThreadPoolExecutor

    branch = key_store.store.create_branch_key()
    ticks = iter(range(10**9))
    # Every clock read is a second later and the TTL is 2 s: entries expire and are
    # zeroed constantly while other threads use what they took from the cache.
    keyring = AwsKmsHierarchicalKeyring(
        branch, key_store.store, ttl_seconds=2, max_cache_entries=1, clock=lambda: next(ticks)
    )

    def one(i: int) -> bool:
        context = {"n": str(i)}
        wrapped = keyring.wrap(_enc(context))
        return keyring.unwrap(_dec(context), wrapped.encrypted_data_keys).data_key == (
            wrapped.data_key
        )

    with ThreadPoolExecutor(6) as pool:
        assert all(pool.map(one, range(60)))
    assert keyring.stats.evicted > 0


def test_the_cache_hands_out_copies_that_eviction_cannot_zero(key_store: Fixture) -> None:
    # A message between taking a branch key and deriving from it must never see it
    # zeroed by another thread's eviction (it would wrap under a key of zeros).
    branch = key_store.store.create_branch_key()
    keyring = AwsKmsHierarchicalKeyring(branch, key_store.store, ttl_seconds=600)
    fetched, hit = keyring._active(), keyring._active()
    (entry,) = keyring._entries.values()
    assert fetched.key is not entry.materials.key and hit.key is not entry.materials.key
    keyring.clear()
    assert any(fetched.key) and fetched.key == hit.key


def test_expired_entries_are_zeroed_when_the_next_key_is_fetched(key_store: Fixture) -> None:
    branch = key_store.store.create_branch_key()
    now = [0.0]
    keyring = AwsKmsHierarchicalKeyring(
        branch, key_store.store, ttl_seconds=10, clock=lambda: now[0]
    )
    wrapped = keyring.wrap(_enc({}))
    (entry,) = keyring._entries.values()
    now[0] = 11.0  # the encrypt entry expired; fetching the decrypt entry removes it
    assert keyring.unwrap(_dec({}), wrapped.encrypted_data_keys).data_key == wrapped.data_key
    assert entry.materials.key == bytearray(32)
    assert len(keyring) == 1


def test_rotation_refuses_an_edited_active_item(key_store: Fixture) -> None:
    branch = key_store.store.create_branch_key()
    ddb, table = key_store.ddb, key_store.store.table_name
    key = {"branch-key-id": {"S": branch}, "type": {"S": ACTIVE_TYPE}}
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    ddb.put_item(TableName=table, Item={**item, "create-time": {"S": "2000-01-01T00:00:00Z"}})
    with pytest.raises(BranchKeyStoreError, match="did not authenticate"):
        key_store.store.version_branch_key(branch)
    assert ddb.get_item(TableName=table, Key=key)["Item"]["enc"] == item["enc"]
