"""Harden planning on snapshot fixtures, and apply against recording fake clients.

Planning is pure; these tests never touch AWS. ``test_harden_endpoint`` applies
plans against moto over TLS.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import botocore.exceptions
import pytest

from securestore.audit import (
    AuditOptions,
    BucketSnapshot,
    Collected,
    EncryptionRequirement,
    EncryptionRule,
    PublicAccessBlock,
    Registry,
    Status,
)
from securestore.audit.answers import encryption_rules, lifecycle_rules
from securestore.audit.harden import (
    POLICY_SIZE_LIMIT,
    TLS_SID,
    TLS_VERSION_SID,
    ApplyOutcome,
    ChangeKind,
    EncryptionChange,
    HardenPlan,
    KeyRotationChange,
    LifecycleChange,
    PolicyChange,
    PublicAccessBlockChange,
    apply,
    merge_tls_statement,
    plan,
    tls_statement,
    tls_version_statement,
)
from securestore.errors import (
    AccessDeniedError,
    ConfigurationError,
    KeyUnavailableError,
    StorageError,
)

from .builders import ARN, BUCKET, KEY_ARN, KEY_ID, TLS_STATEMENT, compliant, customer_key, denied

ALLOW_READ: dict[str, Any] = {
    "Sid": "AllowReader",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:role/reader"},
    "Action": ["s3:GetObject", "s3:ListBucket"],
    "Resource": [ARN, f"{ARN}/*"],
}
DENY_UNENCRYPTED: dict[str, Any] = {
    "Sid": "DenyUnencryptedUploads",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": f"{ARN}/*",
    "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
}


#: What harden adds to a policy without either: no plain HTTP, no TLS older than 1.2.
TLS_PAIR = [tls_statement(ARN), tls_version_statement(ARN)]


def bare(**changes: Any) -> BucketSnapshot:
    """A new bucket as moto reports it: nothing configured."""
    snap = BucketSnapshot(
        name=BUCKET,
        region=Collected.ok("eu-west-1"),
        encryption=Collected.ok(()),
        policy=Collected.ok(None),
        public_access_block=Collected.ok(None),
    )
    return replace(snap, **changes)


def with_policy(*statements: dict[str, Any], **top: Any) -> BucketSnapshot:
    document = {"Version": "2012-10-17", **top, "Statement": list(statements)}
    return bare(policy=Collected.ok(json.dumps(document)))


def kinds(p: HardenPlan) -> list[ChangeKind]:
    return [c.kind for c in p.changes]


def policy_change(p: HardenPlan) -> PolicyChange:
    (change,) = [c for c in p.changes if isinstance(c, PolicyChange)]
    return change


def plan_kms(snapshot: BucketSnapshot, **kwargs: Any) -> HardenPlan:
    kwargs.setdefault("key", customer_key(rotation_enabled=Collected.ok(False)))
    return plan(snapshot, sse="kms", kms_key_id=KEY_ARN, **kwargs)


# --- the whole plan ---------------------------------------------------------------------------


def test_bare_bucket_kms_plan_has_every_change_in_apply_order() -> None:
    p = plan_kms(bare())
    assert kinds(p) == [
        ChangeKind.ENCRYPTION,
        ChangeKind.KEY_ROTATION,
        ChangeKind.POLICY,
        ChangeKind.PUBLIC_ACCESS_BLOCK,
        ChangeKind.LIFECYCLE,
    ]
    enc, rotation, pol, block, lifecycle = p.changes
    assert isinstance(enc, EncryptionChange)
    assert enc.configuration == {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": KEY_ARN,
                },
                "BucketKeyEnabled": True,
                "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
            }
        ]
    }
    assert isinstance(rotation, KeyRotationChange)
    assert (rotation.key_id, rotation.region) == (KEY_ID, "eu-west-1")
    assert isinstance(pol, PolicyChange)
    assert pol.document == {"Version": "2012-10-17", "Statement": TLS_PAIR}
    assert isinstance(block, PublicAccessBlockChange)
    assert set(block.configuration.values()) == {True} and len(block.configuration) == 4
    assert isinstance(lifecycle, LifecycleChange) and lifecycle.days == 7
    assert (p.bucket, p.region, p.notes) == (BUCKET, "eu-west-1", ())


def test_bare_bucket_s3_plan_sets_sse_s3_without_key_rotation() -> None:
    p = plan(bare(), sse="s3")
    assert kinds(p) == [
        ChangeKind.ENCRYPTION,
        ChangeKind.POLICY,
        ChangeKind.PUBLIC_ACCESS_BLOCK,
        ChangeKind.LIFECYCLE,
    ]
    enc = p.changes[0]
    assert isinstance(enc, EncryptionChange)
    assert enc.configuration == {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BucketKeyEnabled": False,
                "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
            }
        ]
    }


def test_hardened_bucket_plans_nothing() -> None:
    assert plan_kms(compliant(), key=customer_key()).empty
    assert plan(compliant(), sse="kms", kms_key_id=KEY_ARN).empty  # key from the snapshot
    assert plan(compliant(), sse="kms", kms_key_id=KEY_ID, key=customer_key()).empty
    assert plan(compliant(), sse="kms", kms_key_id="alias/data").empty


def test_plan_then_checks_pass_on_the_result() -> None:
    """The planned configuration, put into a snapshot, passes the checks harden targets."""
    p = plan_kms(bare())
    enc, _, pol, _, lifecycle = p.changes
    assert isinstance(enc, EncryptionChange) and isinstance(pol, PolicyChange)
    assert isinstance(lifecycle, LifecycleChange)
    after = bare(
        encryption=Collected.ok(
            encryption_rules({"ServerSideEncryptionConfiguration": enc.configuration})
        ),
        lifecycle=Collected.ok(lifecycle_rules(json.loads(lifecycle.after))),
        policy=Collected.ok(json.dumps(pol.document)),
        public_access_block=Collected.ok(PublicAccessBlock.all_on()),
        keys={KEY_ARN: Collected.ok(customer_key())},
    )
    options = AuditOptions(require=EncryptionRequirement.KMS, allowed_kms_keys=frozenset({KEY_ARN}))
    registry = Registry.builtin()
    for check_id in (
        "S3.ENC.1",
        "S3.ENC.2",
        "S3.ENC.3",
        "S3.ENC.4",
        "S3.ENC.5",
        "S3.TLS.1",
        "S3.TLS.2",
        "S3.ENC.6",
        "S3.PUBLIC.1",
        "S3.DATA.6",
        "KMS.1",
    ):
        assert registry.get(check_id).run(after, options).status is Status.PASS, check_id
    assert plan(after, sse="kms", kms_key_id=KEY_ARN, key=customer_key()).empty


# --- the policy merge -------------------------------------------------------------------------


def test_merge_keeps_every_statement_and_top_level_element_verbatim() -> None:
    snap = with_policy(ALLOW_READ, DENY_UNENCRYPTED, Id="corp-policy-7")
    change = policy_change(plan(snap, sse="s3"))
    doc = change.document
    assert doc["Id"] == "corp-policy-7" and doc["Version"] == "2012-10-17"
    assert doc["Statement"][:2] == [ALLOW_READ, DENY_UNENCRYPTED]
    assert doc["Statement"][2] == tls_statement(ARN)
    assert change.previous == json.loads(snap.policy.get() or "")


def test_policy_with_only_allow_statements_gets_the_deny_appended() -> None:
    public = {
        "Sid": "Public",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{ARN}/*",
    }
    p = plan(with_policy(ALLOW_READ, public), sse="s3")
    assert policy_change(p).document["Statement"] == [ALLOW_READ, public, *TLS_PAIR]
    (note,) = p.notes
    assert "Public allows public access" in note and "S3.PUBLIC.5" in note


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"Version": "2012-10-17"},
        {"Version": "2012-10-17", "Statement": []},
    ],
)
def test_empty_policies_get_the_two_tls_statements(document: dict[str, Any]) -> None:
    merged = merge_tls_statement(document, ARN)
    assert merged is not None
    assert merged["Statement"] == TLS_PAIR
    assert merged["Version"] == "2012-10-17"


def test_single_statement_object_becomes_a_list() -> None:
    merged = merge_tls_statement({"Version": "2012-10-17", "Statement": ALLOW_READ}, ARN)
    assert merged is not None and merged["Statement"] == [ALLOW_READ, *TLS_PAIR]


@pytest.mark.parametrize(
    "statement",
    [
        TLS_STATEMENT,
        # JSON boolean instead of the string "false"
        {**TLS_STATEMENT, "Condition": {"Bool": {"aws:SecureTransport": False}}},
        # s3:* among other actions, no Sid, resources in the other order
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["s3:GetObject", "s3:*", "kms:*"],
            "Resource": [f"{ARN}/*", ARN],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        # IfExists form, wildcard resource
        {
            "Sid": "Tls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"{ARN}*",
            "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}},
        },
    ],
    ids=["string", "json-boolean", "s3-star-among-others", "if-exists-wildcard"],
)
def test_equivalent_tls_statement_is_not_duplicated(statement: dict[str, Any]) -> None:
    snap = with_policy(ALLOW_READ, statement)
    merged = merge_tls_statement(json.loads(snap.policy.get() or ""), ARN)
    # Only the minimum-version statement is added: plain HTTP is refused already.
    assert merged is not None
    assert merged["Statement"] == [ALLOW_READ, statement, tls_version_statement(ARN)]
    with_both = with_policy(ALLOW_READ, statement, tls_version_statement(ARN, "Min"))
    assert merge_tls_statement(json.loads(with_both.policy.get() or ""), ARN) is None
    assert ChangeKind.POLICY not in kinds(plan(with_both, sse="s3"))


def test_split_statements_that_jointly_cover_count_as_equivalent() -> None:
    cond = {"Bool": {"aws:SecureTransport": "false"}}
    bucket_part = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ARN,
        "Condition": cond,
    }
    objects_part = {**bucket_part, "Resource": f"{ARN}/*"}
    merged = merge_tls_statement(
        json.loads(with_policy(bucket_part, objects_part).policy.get() or ""), ARN
    )
    assert merged is not None
    assert merged["Statement"] == [bucket_part, objects_part, tls_version_statement(ARN)]


@pytest.mark.parametrize(
    "statement",
    [
        # only uploads are denied
        {**TLS_STATEMENT, "Action": "s3:PutObject"},
        # objects only
        {**TLS_STATEMENT, "Resource": f"{ARN}/*"},
        # one principal only
        {**TLS_STATEMENT, "Principal": {"AWS": "arn:aws:iam::111122223333:root"}},
        # denies the secure requests instead
        {**TLS_STATEMENT, "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        # s3:TlsVersion passes S3.TLS.1 but does not refuse plain HTTP
        {**TLS_STATEMENT, "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
        # another bucket
        {**TLS_STATEMENT, "Resource": ["arn:aws:s3:::other", "arn:aws:s3:::other/*"]},
    ],
    ids=["uploads-only", "objects-only", "one-principal", "inverted", "tls-version", "other"],
)
def test_insufficient_tls_statement_is_kept_and_ours_added(statement: dict[str, Any]) -> None:
    change = policy_change(plan(with_policy(statement), sse="s3"))
    existing, added, *rest = change.document["Statement"]
    assert existing == statement
    assert added == tls_statement(ARN, f"{TLS_SID}2")  # the existing one holds the Sid
    # An existing s3:TlsVersion deny already does the second statement's job, and so
    # does the inverted one (it denies every HTTPS request, old TLS included).
    denies_old_tls = "s3:TlsVersion" in json.dumps(statement) or "true" in json.dumps(statement)
    assert rest == ([] if denies_old_tls else [tls_version_statement(ARN)])


@pytest.mark.parametrize(
    ("sids", "expected"),
    [
        (["Other"], TLS_SID),
        ([TLS_SID], f"{TLS_SID}2"),
        (["denyinsecuretransport", f"{TLS_SID}2"], f"{TLS_SID}3"),
    ],
)
def test_sid_does_not_collide(sids: list[str], expected: str) -> None:
    statements = [{**ALLOW_READ, "Sid": sid} for sid in sids]
    change = policy_change(plan(with_policy(*statements), sse="s3"))
    assert change.statement["Sid"] == expected
    assert [s["Sid"] for s in change.document["Statement"]] == [*sids, expected, TLS_VERSION_SID]


def test_policy_diff_is_a_unified_diff_of_the_json() -> None:
    change = policy_change(plan(with_policy(ALLOW_READ), sse="s3"))
    diff = change.diff()
    lines = diff.splitlines()
    assert lines[0] == f"--- s3://{BUCKET} bucket-policy (current)"
    assert lines[1] == f"+++ s3://{BUCKET} bucket-policy (hardened)"
    assert lines[2].startswith("@@ ")
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    assert '      "Sid": "DenyInsecureTransport",' in added
    assert not [line for line in lines[2:] if line.startswith("-")]  # nothing removed


def test_malformed_policy_refuses_to_plan() -> None:
    with pytest.raises(ConfigurationError, match="malformed policy"):
        plan(bare(policy=Collected.ok("{not json")), sse="s3")
    with pytest.raises(ConfigurationError, match="malformed policy"):
        plan(bare(policy=Collected.ok('{"Statement": [{"Effect": "Perhaps"}]}')), sse="s3")


def _big_policy() -> BucketSnapshot:
    big = [
        {**ALLOW_READ, "Sid": f"S{i}", "Resource": [f"{ARN}/{'x' * 200}/{i}"]}
        for i in range(POLICY_SIZE_LIMIT // 300)
    ]
    return with_policy(*big)


def test_merged_policy_over_the_size_limit_is_refused() -> None:
    document = json.loads(_big_policy().policy.get() or "")
    with pytest.raises(ConfigurationError, match="over S3's limit"):
        merge_tls_statement(document, ARN)


def test_policy_over_the_size_limit_keeps_the_other_fixes() -> None:
    """The TLS statements do not fit: encryption and public access are still planned,
    and the policy step is reported as not possible."""
    p = plan(_big_policy(), sse="s3")
    assert kinds(p) == [ChangeKind.ENCRYPTION, ChangeKind.PUBLIC_ACCESS_BLOCK, ChangeKind.LIFECYCLE]
    assert not p.complete and not p.empty
    (reason,) = p.not_possible
    assert "over S3's limit of 20480" in reason and "S3.TLS.1" in reason


def test_kms_key_of_another_region_is_refused() -> None:
    other = KEY_ARN.replace("eu-west-1", "us-west-2")
    key = customer_key(arn=other)
    with pytest.raises(ConfigurationError, match="needs a key in the bucket's region"):
        plan(bare(), sse="kms", kms_key_id=other, key=key)


# --- encryption and keys ----------------------------------------------------------------------


def test_sse_s3_never_weakens_kms() -> None:
    p = plan(compliant(), sse="s3")
    assert p.empty
    assert p.notes == (
        "default encryption is already SSE-KMS and is kept: harden never weakens it",
    )


def test_dsse_is_kept_under_kms() -> None:
    snap = compliant(
        encryption=Collected.ok((EncryptionRule("aws:kms:dsse", KEY_ARN, False, ("SSE-C",)),))
    )
    p = plan(snap, sse="kms", kms_key_id=KEY_ARN, key=customer_key())
    assert ChangeKind.ENCRYPTION not in kinds(p)
    assert "DSSE-KMS" in p.notes[0]


@pytest.mark.parametrize(
    "rules",
    [
        (EncryptionRule("AES256"),),
        (EncryptionRule("aws:kms", KEY_ARN, bucket_key_enabled=False),),
        (EncryptionRule("aws:kms", None, True),),
        (EncryptionRule("aws:kms", "arn:aws:kms:eu-west-1:111122223333:key/other", True),),
    ],
    ids=["sse-s3", "no-bucket-key", "aws-managed", "other-key"],
)
def test_kms_plan_replaces_other_encryption(rules: tuple[EncryptionRule, ...]) -> None:
    p = plan_kms(compliant(encryption=Collected.ok(rules)), key=customer_key())
    assert kinds(p) == [ChangeKind.ENCRYPTION]


def test_rotation_planned_when_off_or_unknown() -> None:
    off = plan_kms(compliant(), key=customer_key(rotation_enabled=Collected.ok(False)))
    assert kinds(off) == [ChangeKind.KEY_ROTATION]
    assert off.changes[0].before == "KeyRotationEnabled: false\n"
    failed = customer_key(rotation_enabled=denied(operation="GetKeyRotationStatus"))
    assert kinds(plan_kms(compliant(), key=failed)) == [ChangeKind.KEY_ROTATION]
    unknown = plan(bare(), sse="kms", kms_key_id="alias/new")
    rotation = unknown.changes[1]
    assert isinstance(rotation, KeyRotationChange)
    assert (rotation.key_id, rotation.region, rotation.before) == (
        "alias/new",
        "eu-west-1",
        "KeyRotationEnabled: unknown\n",
    )


@pytest.mark.parametrize(
    ("key", "error", "match"),
    [
        (customer_key(manager="AWS"), ConfigurationError, "AWS managed"),
        (customer_key(key_spec="RSA_2048"), ConfigurationError, "symmetric"),
        (customer_key(state="Disabled"), KeyUnavailableError, "Disabled"),
        (customer_key(state="PendingDeletion"), KeyUnavailableError, "PendingDeletion"),
    ],
)
def test_unusable_keys_are_refused(key: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        plan(bare(), sse="kms", kms_key_id=KEY_ARN, key=key)


@pytest.mark.parametrize(
    ("sse", "key_id", "match"),
    [
        ("kms", None, "SSE-KMS needs a key"),
        ("s3", KEY_ARN, "KMS key was given for SSE-S3"),
        ("dsse", None, "unknown server-side encryption"),
    ],
)
def test_argument_errors(sse: Any, key_id: str | None, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        plan(bare(), sse=sse, kms_key_id=key_id)


def test_uncollected_fields_raise_library_errors() -> None:
    with pytest.raises(AccessDeniedError, match="GetBucketPolicy failed with AccessDenied"):
        plan(bare(policy=denied()), sse="s3")
    with pytest.raises(StorageError, match="Throttling"):
        plan(bare(encryption=denied("Throttling", "GetBucketEncryption")), sse="s3")


def test_partial_public_access_block_lists_missing_flags() -> None:
    snap = compliant(public_access_block=Collected.ok(PublicAccessBlock(True, True, False, False)))
    (change,) = plan(snap, sse="kms", kms_key_id=KEY_ARN).changes
    assert change.summary == (
        "turn on bucket public access block BlockPublicPolicy, RestrictPublicBuckets"
    )
    assert '-  "BlockPublicPolicy": false,' in change.diff().splitlines()


# --- apply against fake clients -------------------------------------------------------------


class FakeS3:
    """Records calls; ``policy`` is what GetBucketPolicy returns next."""

    def __init__(self, calls: list[tuple[str, dict[str, Any]]], policy: str | None) -> None:
        self.calls = calls
        self.policy = policy
        self.lifecycle: list[dict[str, Any]] | None = None
        self.fail: str | None = None

    def _record(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, kwargs))
        if name == self.fail:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, name
            )
        return {}

    def put_bucket_encryption(self, **kwargs: Any) -> dict[str, Any]:
        return self._record("put_bucket_encryption", kwargs)

    def put_public_access_block(self, **kwargs: Any) -> dict[str, Any]:
        return self._record("put_public_access_block", kwargs)

    def put_bucket_policy(self, **kwargs: Any) -> dict[str, Any]:
        self.policy = kwargs["Policy"]
        return self._record("put_bucket_policy", kwargs)

    def get_bucket_policy(self, **kwargs: Any) -> dict[str, Any]:
        self._record("get_bucket_policy", kwargs)
        if self.policy is None:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "NoSuchBucketPolicy", "Message": "none"}}, "GetBucketPolicy"
            )
        return {"Policy": self.policy}

    def enable_key_rotation(self, **kwargs: Any) -> dict[str, Any]:
        return self._record("enable_key_rotation", kwargs)

    def get_bucket_lifecycle_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self._record("get_bucket_lifecycle_configuration", kwargs)
        if self.lifecycle is None:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "NoSuchLifecycleConfiguration", "Message": "none"}},
                "GetBucketLifecycleConfiguration",
            )
        return {"Rules": self.lifecycle}

    def put_bucket_lifecycle_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self.lifecycle = kwargs["LifecycleConfiguration"]["Rules"]
        return self._record("put_bucket_lifecycle_configuration", kwargs)


class FakeClients:
    def __init__(self, policy: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.s3 = FakeS3(self.calls, policy)
        self.regions: list[tuple[str, str | None]] = []

    def client(self, service_name: str, region_name: str | None = None) -> Any:
        self.regions.append((service_name, region_name))
        return self.s3


def test_apply_calls_in_order_and_rereads_the_policy() -> None:
    p = plan_kms(bare())
    clients = FakeClients()
    seen: list[str] = []
    done = apply(p, clients, on_applied=lambda a: seen.append(a.change.kind))
    assert [name for name, _ in clients.calls] == [
        "put_bucket_encryption",
        "enable_key_rotation",
        "get_bucket_policy",
        "put_bucket_policy",
        "put_public_access_block",
        "get_bucket_lifecycle_configuration",
        "put_bucket_lifecycle_configuration",
    ]
    assert seen == [c.kind for c in p.changes]
    assert {a.outcome for a in done} == {ApplyOutcome.APPLIED}
    assert ("kms", "eu-west-1") in clients.regions and ("s3", "eu-west-1") in clients.regions
    written = json.loads(clients.calls[3][1]["Policy"])
    assert written == policy_change(p).document


def test_apply_merges_into_a_policy_changed_after_planning() -> None:
    p = plan(with_policy(ALLOW_READ), sse="s3")
    concurrent = json.dumps({"Version": "2012-10-17", "Statement": [ALLOW_READ, DENY_UNENCRYPTED]})
    clients = FakeClients(policy=concurrent)
    done = {a.change.kind: a for a in apply(p, clients)}
    assert done[ChangeKind.POLICY].outcome is ApplyOutcome.MERGED
    written = json.loads(clients.s3.policy or "")
    assert written["Statement"] == [ALLOW_READ, DENY_UNENCRYPTED, *TLS_PAIR]


def test_apply_skips_the_policy_when_a_concurrent_change_already_enforces_tls() -> None:
    p = plan(with_policy(ALLOW_READ), sse="s3")
    concurrent = json.dumps(
        {"Statement": [ALLOW_READ, TLS_STATEMENT, tls_version_statement(ARN, "Meanwhile")]}
    )
    clients = FakeClients(policy=concurrent)
    done = {a.change.kind: a for a in apply(p, clients)}
    assert done[ChangeKind.POLICY].outcome is ApplyOutcome.ALREADY_DONE
    assert "put_bucket_policy" not in [name for name, _ in clients.calls]
    assert clients.s3.policy == concurrent


def test_apply_failure_is_a_library_error_after_earlier_changes() -> None:
    p = plan(bare(), sse="s3")
    clients = FakeClients()
    clients.s3.fail = "put_public_access_block"
    seen: list[ChangeKind] = []
    with pytest.raises(AccessDeniedError, match="PutPublicAccessBlock failed") as info:
        apply(p, clients, on_applied=lambda a: seen.append(a.change.kind))
    assert info.value.bucket == BUCKET
    assert seen == [ChangeKind.ENCRYPTION, ChangeKind.POLICY]
