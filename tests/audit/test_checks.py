"""Every built-in check on snapshot fixtures: passing, failing, edge cases, ERROR."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from securestore.audit import (
    AuditOptions,
    BucketSnapshot,
    Collected,
    EncryptionRequirement,
    EncryptionRule,
    Grant,
    ObjectLockConfig,
    ObjectSample,
    PublicAccessBlock,
    Registry,
    Result,
    Status,
    Versioning,
)

from .builders import (
    ARN,
    KEY_ARN,
    KEY_ID,
    TLS_STATEMENT,
    compliant,
    customer_key,
    denied,
    policy,
)

Run = Callable[..., Result]


def test_compliant_fixture_passes_every_check(registry: Registry) -> None:
    opts = AuditOptions(
        require=EncryptionRequirement.KMS,
        allowed_kms_keys=frozenset({KEY_ID}),
        require_vpc_endpoint=True,
        sample_objects=1,
    )
    snap = replace(compliant(), objects=Collected.ok((ObjectSample("k", sse="aws:kms"),)))
    statuses = {c.id: c.run(snap, opts).status for c in registry}
    assert statuses == dict.fromkeys(registry.ids, Status.PASS)


def test_every_check_reports_error_when_its_input_failed(registry: Registry) -> None:
    """A failed API call is never a silent pass: each check that needs it says ERROR."""
    failed = denied()
    snap = BucketSnapshot(
        name="b",
        encryption=failed,
        policy=failed,
        public_access_block=failed,
        account_public_access_block=failed,
        acl=failed,
        ownership=failed,
        versioning=failed,
        logging=failed,
        object_lock=failed,
        replication=failed,
        lifecycle=failed,
        objects=failed,
    )
    opts = AuditOptions(allowed_kms_keys=frozenset({"k"}))
    results = {c.id: c.run(snap, opts) for c in registry}
    assert {i: r.status for i, r in results.items()} == dict.fromkeys(registry.ids, Status.ERROR)
    assert "GetBucketPolicy failed with AccessDenied" in results["S3.TLS.1"].message
    assert results["S3.TLS.1"].details["error_code"] == "AccessDenied"


# --- encryption ------------------------------------------------------------------------------


def test_enc1_no_default_encryption_fails(run: Run) -> None:
    assert run("S3.ENC.1", compliant(encryption=Collected.ok(()))).status is Status.FAIL


@pytest.mark.parametrize(
    ("algorithm", "require", "status"),
    [
        ("AES256", "sse-s3", Status.PASS),
        ("AES256", "kms", Status.FAIL),
        ("aws:kms", "kms", Status.PASS),
        ("aws:kms", "dsse-kms", Status.FAIL),
        ("aws:kms:dsse", "dsse-kms", Status.PASS),
        ("aws:kms:dsse", "sse-s3", Status.PASS),
        ("SOMETHING", "sse-s3", Status.FAIL),
    ],
)
def test_enc2_required_algorithm(run: Run, algorithm: str, require: str, status: Status) -> None:
    snap = compliant(encryption=Collected.ok((EncryptionRule(algorithm, KEY_ARN, True),)))
    result = run("S3.ENC.2", snap, require=EncryptionRequirement.parse(require))
    assert result.status is status
    assert result.details["required"] == EncryptionRequirement.parse(require).value


def test_enc3_aws_managed_key_fails_and_sse_s3_skips(run: Run) -> None:
    aws_key = customer_key(manager="AWS", key_id="aws-id", arn="arn:aws:kms:eu-west-1:1:key/aws")
    snap = compliant(
        encryption=Collected.ok((EncryptionRule("aws:kms", None, True),)),
        keys={"alias/aws/s3": Collected.ok(aws_key)},
    )
    result = run("S3.ENC.3", snap)
    assert result.status is Status.FAIL and "alias/aws/s3" in result.message
    sse_s3 = compliant(encryption=Collected.ok((EncryptionRule("AES256"),)))
    assert run("S3.ENC.3", sse_s3).status is Status.SKIP


def test_enc3_key_metadata_denied_is_error_not_pass(run: Run) -> None:
    snap = compliant(keys={KEY_ARN: denied("AccessDeniedException", "DescribeKey")})
    result = run("S3.ENC.3", snap)
    assert result.status is Status.ERROR and "DescribeKey" in result.message
    assert run("S3.ENC.3", compliant(keys={})).status is Status.ERROR


def test_enc4_bucket_key(run: Run) -> None:
    off = compliant(encryption=Collected.ok((EncryptionRule("aws:kms", KEY_ARN, False),)))
    assert run("S3.ENC.4", off).status is Status.FAIL
    dsse = compliant(encryption=Collected.ok((EncryptionRule("aws:kms:dsse", KEY_ARN),)))
    assert run("S3.ENC.4", dsse).status is Status.SKIP


@pytest.mark.parametrize(
    ("allowed", "status"),
    [
        (set(), Status.SKIP),
        ({KEY_ARN}, Status.PASS),
        ({KEY_ID}, Status.PASS),
        ({"alias/data"}, Status.PASS),
        ({"arn:aws:kms:eu-west-1:111122223333:alias/data"}, Status.PASS),
        ({"alias/other", "other-id"}, Status.FAIL),
    ],
)
def test_enc5_allowed_keys(run: Run, allowed: set[str], status: Status) -> None:
    assert run("S3.ENC.5", compliant(), allowed_kms_keys=frozenset(allowed)).status is status


# --- transport ---------------------------------------------------------------------------------


def tls_result(run: Run, *statements: dict[str, Any]) -> Result:
    return run("S3.TLS.1", compliant(policy=Collected.ok(policy(*statements))))


def test_tls1_canonical_string_condition_passes(run: Run) -> None:
    result = tls_result(run, TLS_STATEMENT)
    assert result.status is Status.PASS
    assert result.details["statements"] == ["DenyInsecureTransport"]


def test_tls1_json_boolean_false_passes(run: Run) -> None:
    st = {**TLS_STATEMENT, "Condition": {"Bool": {"aws:SecureTransport": False}}}
    assert tls_result(run, st).status is Status.PASS


def test_tls1_case_insensitive_key_and_value(run: Run) -> None:
    st = {**TLS_STATEMENT, "Condition": {"Bool": {"AWS:securetransport": "False"}}}
    assert tls_result(run, st).status is Status.PASS


def test_tls1_tls_version_form_alone_does_not_deny_plain_http(run: Run) -> None:
    """Plain HTTP carries no s3:TlsVersion: NumericLessThan on an absent key is false."""
    st = {**TLS_STATEMENT, "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}}}
    result = tls_result(run, st)
    assert result.status is Status.FAIL
    assert "CIS 4.0.1" in result.details["note"] and "not S3.TLS.1" in result.message
    snap = compliant(policy=Collected.ok(policy(st)))
    assert run("S3.TLS.2", snap).status is Status.PASS


def test_tls1_tls_version_if_exists_form_denies_plain_http(run: Run) -> None:
    st = {**TLS_STATEMENT, "Condition": {"NumericLessThanIfExists": {"s3:TlsVersion": 1.2}}}
    assert tls_result(run, st).status is Status.PASS


def test_tls1_both_forms_in_separate_statements_report_both(run: Run) -> None:
    version = {
        **TLS_STATEMENT,
        "Sid": "V",
        "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
    }
    result = tls_result(run, TLS_STATEMENT, version)
    assert result.status is Status.PASS
    assert result.details["statements"] == ["DenyInsecureTransport"]


def test_tls1_tls_version_below_12_threshold_fails(run: Run) -> None:
    st = {**TLS_STATEMENT, "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.1"}}}
    result = tls_result(run, st)
    assert result.status is Status.FAIL
    assert 'NumericLessThan s3:tlsversion ["1.1"] does not hold' in result.message


def test_tls1_secure_transport_true_is_wrong_way_round(run: Run) -> None:
    st = {**TLS_STATEMENT, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    result = tls_result(run, st)
    assert result.status is Status.FAIL
    assert 'Bool aws:securetransport ["true"] does not hold' in result.message


def test_tls1_objects_only_resource_fails_with_reason(run: Run) -> None:
    result = tls_result(run, {**TLS_STATEMENT, "Resource": f"{ARN}/*"})
    assert result.status is Status.FAIL
    assert "does not cover the bucket itself" in result.message
    assert any("s3:ListBucket" in g and "on the bucket" in g for g in result.details["open"])


def test_tls1_uploads_only_action_fails_with_reason(run: Run) -> None:
    result = tls_result(run, {**TLS_STATEMENT, "Action": "s3:PutObject"})
    assert result.status is Status.FAIL
    assert "does not cover every S3 action (s3:*)" in result.message
    assert any("s3:GetObject," in g and "on objects" in g for g in result.details["open"])


def test_tls1_narrower_principal_fails(run: Run) -> None:
    st = {**TLS_STATEMENT, "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}
    result = tls_result(run, st)
    assert result.status is Status.FAIL
    assert "applies only to AWS:arn:aws:iam::111122223333:root" in result.message
    assert "for anonymous callers" in result.message


def test_tls1_not_principal_trap_fails(run: Run) -> None:
    st = {k: v for k, v in TLS_STATEMENT.items() if k != "Principal"}
    st["NotPrincipal"] = {"AWS": "arn:aws:iam::111122223333:role/admin"}
    result = tls_result(run, st)
    assert result.status is Status.FAIL and "NotPrincipal exempts" in result.message


@pytest.mark.parametrize(
    "principal",
    [{"Service": "*"}, {"Federated": "*"}, {"CanonicalUser": "*"}, {"AWS": "arn:aws:iam::*:root"}],
)
def test_tls1_deny_naming_only_some_principals_is_not_enforcement(
    run: Run, principal: dict[str, str]
) -> None:
    """Only "*" and {"AWS": "*"} name every principal: a Deny whose wildcard names only
    services (or a partial ARN, which AWS takes literally) leaves plain HTTP open."""
    result = tls_result(run, {**TLS_STATEMENT, "Principal": principal})
    assert result.status is Status.FAIL


def test_tls1_deny_for_aws_star_is_enforcement(run: Run) -> None:
    assert tls_result(run, {**TLS_STATEMENT, "Principal": {"AWS": "*"}}).status is Status.PASS


def test_public_allow_with_a_service_wildcard_still_counts_as_public(run: Run) -> None:
    """An Allow keeps the widest reading of a doubtful principal."""
    allow = {
        "Effect": "Allow",
        "Principal": {"Service": "*"},
        "Action": "s3:GetObject",
        "Resource": f"{ARN}/*",
    }
    result = run("S3.PUBLIC.5", compliant(policy=Collected.ok(policy(TLS_STATEMENT, allow))))
    assert result.status is Status.FAIL


def test_tls1_not_principal_with_a_partial_wildcard_exempts_what_it_could_match(run: Run) -> None:
    """A Deny's NotPrincipal is read as exempting as many principals as it could."""
    st = {k: v for k, v in TLS_STATEMENT.items() if k != "Principal"}
    st["NotPrincipal"] = {"AWS": "arn:aws:iam::*:root"}
    assert tls_result(run, st).status is Status.FAIL


def test_tls1_not_action_trap_fails(run: Run) -> None:
    st = {k: v for k, v in TLS_STATEMENT.items() if k != "Action"}
    st["NotAction"] = ["s3:GetObject", "s3:ListBucket"]
    result = tls_result(run, st)
    assert result.status is Status.FAIL and "NotAction exempts" in result.message


def test_tls1_extra_condition_narrows_the_deny(run: Run) -> None:
    st = {
        **TLS_STATEMENT,
        "Condition": {
            "Bool": {"aws:SecureTransport": "false"},
            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        },
    }
    result = tls_result(run, st)
    assert result.status is Status.FAIL
    assert 'IpAddress aws:sourceip ["10.0.0.0/8"] does not hold for all' in result.message


def test_tls1_allow_with_secure_transport_true_is_not_enforcement(run: Run) -> None:
    allow = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "s3:*",
        "Resource": [ARN, f"{ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }
    assert tls_result(run, allow).status is Status.FAIL


def test_tls1_allow_statements_beside_the_deny_do_not_matter(run: Run) -> None:
    allow = {
        "Sid": "Readers",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/reader"},
        "Action": "s3:GetObject",
        "Resource": f"{ARN}/*",
    }
    assert tls_result(run, allow, TLS_STATEMENT).status is Status.PASS


def test_tls1_listed_actions_leave_other_s3_actions_open(run: Run) -> None:
    from securestore.audit.policy import BUCKET_ACTIONS, OBJECT_ACTIONS

    st = {**TLS_STATEMENT, "Action": [*OBJECT_ACTIONS, *BUCKET_ACTIONS]}
    result = tls_result(run, st)
    assert result.status is Status.FAIL
    assert "does not cover every S3 action (s3:*)" in result.message


def test_tls1_other_bucket_resource_fails(run: Run) -> None:
    st = {**TLS_STATEMENT, "Resource": ["arn:aws:s3:::other", "arn:aws:s3:::other/*"]}
    result = tls_result(run, st)
    assert result.status is Status.FAIL
    assert "does not cover the bucket itself" in result.message
    assert "does not cover every object" in result.message


def test_tls1_wildcard_resource_covers_the_bucket(run: Run) -> None:
    assert tls_result(run, {**TLS_STATEMENT, "Resource": "*"}).status is Status.PASS
    assert tls_result(run, {**TLS_STATEMENT, "Resource": f"{ARN}*"}).status is Status.PASS


def test_tls1_no_policy_and_malformed_policy(run: Run) -> None:
    assert run("S3.TLS.1", compliant(policy=Collected.ok(None))).status is Status.FAIL
    broken = run("S3.TLS.1", compliant(policy=Collected.ok("{not json")))
    assert broken.status is Status.ERROR and "malformed policy" in broken.message


@pytest.mark.parametrize(
    ("condition", "status"),
    [
        ({"NumericLessThan": {"s3:TlsVersion": "1.2"}}, Status.PASS),
        ({"NumericLessThan": {"s3:TlsVersion": 1.3}}, Status.PASS),
        ({"NumericLessThanEquals": {"s3:TlsVersion": "1.1"}}, Status.PASS),
        ({"NumericLessThanIfExists": {"s3:TlsVersion": "1.2"}}, Status.PASS),
        ({"NumericLessThan": {"s3:TlsVersion": "1.1"}}, Status.FAIL),
        ({"NumericGreaterThan": {"s3:TlsVersion": "1.2"}}, Status.FAIL),
        ({"Bool": {"aws:SecureTransport": "false"}}, Status.FAIL),
    ],
)
def test_tls2_minimum_version(run: Run, condition: dict[str, Any], status: Status) -> None:
    snap = compliant(policy=Collected.ok(policy({**TLS_STATEMENT, "Condition": condition})))
    assert run("S3.TLS.2", snap).status is status


# --- public access -----------------------------------------------------------------------------


def test_public1_and_2_list_missing_flags(run: Run) -> None:
    partial = PublicAccessBlock(True, True, False, False)
    result = run("S3.PUBLIC.1", compliant(public_access_block=Collected.ok(partial)))
    assert result.status is Status.FAIL
    assert result.details["missing"] == ["BlockPublicPolicy", "RestrictPublicBuckets"]
    none = run("S3.PUBLIC.2", compliant(account_public_access_block=Collected.ok(None)))
    assert none.status is Status.FAIL and len(none.details["missing"]) == 4


def test_public3_acl_grants(run: Run) -> None:
    owner = Grant("CanonicalUser", "abc", "FULL_CONTROL")
    everyone = Grant("Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ")
    authed = Grant("Group", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "WRITE")
    assert run("S3.PUBLIC.3", compliant(acl=Collected.ok((owner,)))).status is Status.PASS
    result = run("S3.PUBLIC.3", compliant(acl=Collected.ok((owner, everyone, authed))))
    assert result.status is Status.FAIL
    assert result.details["grants"] == ["AllUsers:READ", "AuthenticatedUsers:WRITE"]
    assert "ignored: IgnorePublicAcls" in result.message


@pytest.mark.parametrize(
    ("ownership", "status"),
    [
        ("BucketOwnerEnforced", Status.PASS),
        ("BucketOwnerPreferred", Status.FAIL),
        ("ObjectWriter", Status.FAIL),
        (None, Status.FAIL),
    ],
)
def test_public4_ownership(run: Run, ownership: str | None, status: Status) -> None:
    assert run("S3.PUBLIC.4", compliant(ownership=Collected.ok(ownership))).status is status


def test_public5_public_policy(run: Run) -> None:
    public = {
        "Sid": "Open",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{ARN}/*",
    }
    snap = compliant(
        policy=Collected.ok(policy(TLS_STATEMENT, public)),
        public_access_block=Collected.ok(PublicAccessBlock()),
        account_public_access_block=Collected.ok(None),
    )
    result = run("S3.PUBLIC.5", snap)
    assert result.status is Status.FAIL
    assert result.details["statements"] == ["Open"]
    assert "RestrictPublicBuckets" not in result.message


# --- data protection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("versioning", "v_status", "mfa_status"),
    [
        (Versioning("Enabled", "Enabled"), Status.PASS, Status.PASS),
        (Versioning("Enabled", "Disabled"), Status.PASS, Status.FAIL),
        (Versioning("Enabled", None), Status.PASS, Status.FAIL),
        (Versioning("Suspended", None), Status.FAIL, Status.FAIL),
        (Versioning(None, None), Status.FAIL, Status.FAIL),
    ],
)
def test_data1_and_2_versioning_and_mfa_delete(
    run: Run, versioning: Versioning, v_status: Status, mfa_status: Status
) -> None:
    snap = compliant(versioning=Collected.ok(versioning))
    assert run("S3.DATA.1", snap).status is v_status
    assert run("S3.DATA.2", snap).status is mfa_status


def test_data3_object_lock_is_informational(run: Run) -> None:
    assert run("S3.DATA.3", compliant(object_lock=Collected.ok(None))).status is Status.INFO
    no_default = compliant(object_lock=Collected.ok(ObjectLockConfig(True)))
    assert run("S3.DATA.3", no_default).message == "Object Lock enabled, no default retention"


def test_data4_logging(run: Run) -> None:
    from securestore.audit import LoggingConfig

    assert run("S3.DATA.4", compliant(logging=Collected.ok(None))).status is Status.FAIL
    itself = run("S3.DATA.4", compliant(logging=Collected.ok(LoggingConfig("example-bucket"))))
    assert itself.status is Status.PASS and "logs of logs" in itself.message


def test_data5_replication_is_informational(run: Run) -> None:
    assert run("S3.DATA.5", compliant(replication=Collected.ok(None))).status is Status.INFO


# --- network -----------------------------------------------------------------------------------


def test_net1_informational_unless_required(run: Run) -> None:
    snap = compliant(policy=Collected.ok(policy(TLS_STATEMENT)))
    assert run("S3.NET.1", snap).status is Status.INFO
    assert run("S3.NET.1", snap, require_vpc_endpoint=True).status is Status.FAIL
    assert run("S3.NET.1", compliant()).details["statements"] == ["OnlyFromVpce"]


# --- sampled objects ---------------------------------------------------------------------------


def test_obj1_skipped_unless_sampling(run: Run) -> None:
    assert run("S3.OBJ.1", compliant(objects=None)).status is Status.SKIP


def test_obj1_recognises_client_side_objects(run: Run) -> None:
    samples = (
        ObjectSample("kms", sse="aws:kms"),
        ObjectSample("s3ec", sse="AES256", metadata_keys=frozenset({"x-amz-key-v2"})),
        ObjectSample("esdk", sse="AES256", head=bytes([0x02, 0x04, 0x78, 0x00])),
        ObjectSample("plain", sse="AES256", head=b"hello"),
        ObjectSample("none", sse=None),
    )
    result = run(
        "S3.OBJ.1", compliant(objects=Collected.ok(samples)), require=EncryptionRequirement.KMS
    )
    assert result.status is Status.FAIL
    assert result.details["not_encrypted_as_required"] == ["plain", "none"]
    assert result.details["client_side"] == 2


def test_obj1_object_errors_are_reported(run: Run) -> None:
    from securestore.audit import CollectionError

    bad = ObjectSample("x", error=CollectionError("HeadObject", "AccessDenied"))
    only_bad = run("S3.OBJ.1", compliant(objects=Collected.ok((bad,))))
    assert only_bad.status is Status.ERROR
    mixed = run("S3.OBJ.1", compliant(objects=Collected.ok((bad, ObjectSample("y", "AES256")))))
    assert mixed.status is Status.ERROR and "1 of 2" in mixed.message


# --- KMS ---------------------------------------------------------------------------------------


def test_kms1_rotation(run: Run) -> None:
    no_rotation = customer_key(rotation_enabled=Collected.ok(False))
    off = compliant(keys={KEY_ARN: Collected.ok(no_rotation)})
    assert run("KMS.1", off).status is Status.FAIL
    err = compliant(keys={KEY_ARN: Collected.ok(customer_key(rotation_enabled=denied()))})
    assert run("KMS.1", err).status is Status.ERROR
    aws = compliant(keys={KEY_ARN: Collected.ok(customer_key(manager="AWS"))})
    assert run("KMS.1", aws).status is Status.PASS


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, Status.PASS),
        ({"state": "Disabled"}, Status.FAIL),
        (
            {"state": "PendingDeletion", "deletion_date": datetime(2027, 1, 2, tzinfo=UTC)},
            Status.FAIL,
        ),
    ],
)
def test_kms2_state(run: Run, changes: dict[str, Any], status: Status) -> None:
    snap = compliant(keys={KEY_ARN: Collected.ok(customer_key(**changes))})
    assert run("KMS.2", snap).status is status


def test_kms3_public_key_policy(run: Run) -> None:
    public = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
    )
    snap = compliant(keys={KEY_ARN: Collected.ok(customer_key(policy=Collected.ok(public)))})
    assert run("KMS.3", snap).status is Status.FAIL
    restricted = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": "111122223333",
                            "kms:ViaService": "s3.eu-west-1.amazonaws.com",
                        }
                    },
                }
            ]
        }
    )
    snap = compliant(keys={KEY_ARN: Collected.ok(customer_key(policy=Collected.ok(restricted)))})
    assert run("KMS.3", snap).status is Status.PASS


def test_kms_failure_on_one_key_wins_over_error_on_another(run: Run) -> None:
    rules = (EncryptionRule("aws:kms", KEY_ARN, True), EncryptionRule("aws:kms", "other", True))
    snap = compliant(
        encryption=Collected.ok(rules),
        keys={KEY_ARN: Collected.ok(customer_key(state="Disabled")), "other": denied()},
    )
    result = run("KMS.2", snap)
    assert result.status is Status.FAIL
    assert result.details["keys"]["other"]["status"] == "ERROR"


def test_kms_checks_skip_without_kms(run: Run) -> None:
    snap = compliant(encryption=Collected.ok((EncryptionRule("AES256"),)))
    assert {run(i, snap).status for i in ("KMS.1", "KMS.2", "KMS.3")} == {Status.SKIP}
