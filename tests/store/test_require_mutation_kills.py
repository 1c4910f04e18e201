"""What a demanded mode refuses, rule by rule, as plain data (no server needed).

tests/store/test_require.py shows each refusal end to end against moto; mutation
testing (docs/mutation.md) showed which rules of ``EncryptionMode.check`` and
``kms_key_matches`` no test pinned. A demand that cannot be confirmed is a refusal.
"""

from __future__ import annotations

import pytest

from securestore import ClientSide, RawAesKeyring
from securestore.modes import (
    UNREPORTED_KEY,
    DsseKms,
    SseKms,
    SseS3,
    StoredEncryption,
    kms_key_matches,
)

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:eu-west-1:111122223333:key/{KEY_ID}"
OTHER_ARN = "arn:aws:kms:eu-west-1:111122223333:key/0000aaaa-0000-0000-0000-000000000000"
ALIAS = "alias/backups"
ALIAS_ARN = "arn:aws:kms:eu-west-1:111122223333:alias/backups"

S3 = StoredEncryption("AES256")
KMS = StoredEncryption("aws:kms", KEY_ARN, bucket_key_enabled=True)
KMS_NO_KEY = StoredEncryption("aws:kms")
DSSE = StoredEncryption("aws:kms:dsse", KEY_ARN)
PLAIN = StoredEncryption(None)


@pytest.mark.parametrize(
    ("asked", "reported", "resolved", "matches"),
    [
        (KEY_ARN, KEY_ARN, None, True),
        (KEY_ID, KEY_ARN, None, True),  # a bare id matches the ARN ending in it
        (KEY_ID, OTHER_ARN, None, False),
        (KEY_ID[1:], KEY_ARN, None, False),  # a suffix of the id is not the id
        (KEY_ID, KEY_ID, None, True),
        (KEY_ID, KEY_ID[:-1], None, False),
        (ALIAS, KEY_ARN, None, False),  # an alias cannot be confirmed without resolving it
        (ALIAS, KEY_ARN, KEY_ARN, True),
        (ALIAS, OTHER_ARN, KEY_ARN, False),
        (ALIAS_ARN, KEY_ARN, None, False),
        (ALIAS_ARN, KEY_ARN, KEY_ARN, True),
        (ALIAS_ARN, KEY_ID, KEY_ARN, True),  # a server that reports the bare id
        (ALIAS_ARN, "0000aaaa", KEY_ARN, False),
        (KEY_ARN, OTHER_ARN, None, False),
        (KEY_ARN, KEY_ID, None, False),  # an ARN asked, a bare id reported, not resolved
        ("abcd", "abcd-other", None, False),
        ("abcd", "zz", "arn:aws:kms:r:1:key/zz", True),  # resolved ARN names the reported id
    ],
)
def test_kms_key_matches(asked: str, reported: str, resolved: str | None, matches: bool) -> None:
    assert kms_key_matches(asked, reported, resolved) is matches


def test_sse_s3_accepts_only_aes256() -> None:
    assert SseS3().check(S3) is None
    assert SseS3().check(KMS) == "stored as sse-kms, not sse-s3"
    assert SseS3().check(PLAIN) == "stored as none, not sse-s3"


def test_a_kms_mode_refuses_another_algorithm() -> None:
    assert SseKms().check(S3) == "stored as sse-s3, not sse-kms"
    assert SseKms().check(DSSE) == "stored as dsse-kms, not sse-kms"
    assert DsseKms().check(KMS) == "stored as sse-kms, not dsse-kms"
    assert SseKms().check(PLAIN) is not None


def test_a_kms_mode_without_a_key_accepts_any_key_even_an_unreported_one() -> None:
    assert SseKms().check(KMS) is None
    assert SseKms().check(KMS_NO_KEY) is None
    assert DsseKms().check(DSSE) is None


def test_a_demanded_key_that_the_server_does_not_report_is_refused() -> None:
    reason = SseKms(KEY_ID).check(KMS_NO_KEY)
    assert reason is not None
    assert reason.startswith(UNREPORTED_KEY)
    assert DsseKms(KEY_ARN).check(StoredEncryption("aws:kms:dsse")) is not None


def test_a_demanded_key_must_be_the_stored_one() -> None:
    assert SseKms(KEY_ID).check(KMS) is None
    assert SseKms(KEY_ARN).check(KMS) is None
    assert SseKms(OTHER_ARN).check(KMS) == f"stored with KMS key {KEY_ARN}, not {OTHER_ARN}"
    assert SseKms(ALIAS).check(KMS) is not None
    assert SseKms(ALIAS).check(KMS, resolved_key_arn=KEY_ARN) is None
    assert DsseKms(OTHER_ARN).check(DSSE) is not None


def test_a_write_that_asked_for_a_bucket_key_refuses_one_reported_disabled() -> None:
    disabled = StoredEncryption("aws:kms", KEY_ARN, bucket_key_enabled=False)
    unreported = StoredEncryption("aws:kms", KEY_ARN, bucket_key_enabled=None)
    reason = SseKms(KEY_ID, bucket_key=True).check_write(disabled)
    assert reason == "S3 reports the bucket key disabled although it was requested"
    assert SseKms(KEY_ID, bucket_key=True).check_write(unreported) is None
    assert SseKms(KEY_ID, bucket_key=False).check_write(disabled) is None
    assert SseKms(KEY_ID, bucket_key=True).check_write(KMS) is None
    # The key check comes first and is kept.
    assert SseKms(OTHER_ARN, bucket_key=True).check_write(disabled) is not None
    assert SseS3().check_write(KMS) is not None


def test_a_client_side_mode_checks_only_its_server_side_layer() -> None:
    keyring = RawAesKeyring("n", "k", bytes(32))
    assert ClientSide(keyring).check(PLAIN) is None  # proven by decrypting, not metadata
    assert ClientSide(keyring).check_write(PLAIN) is None
    layered = ClientSide(keyring, sse=SseKms(OTHER_ARN))
    assert layered.check(KMS) == f"stored with KMS key {KEY_ARN}, not {OTHER_ARN}"
    assert ClientSide(keyring, sse=SseKms(ALIAS)).check(KMS, resolved_key_arn=KEY_ARN) is None
    disabled = StoredEncryption("aws:kms", KEY_ARN, bucket_key_enabled=False)
    assert ClientSide(keyring, sse=SseKms(KEY_ID)).check_write(disabled) is not None
