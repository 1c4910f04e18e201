"""The generated IAM documents: exact action sets, judged by the auditor's IAM
evaluator and linted by parliament (an evaluator that is not ours)."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pytest
from click.testing import CliRunner

from cli.main import main_group
from securestore.audit.iam import parse_policy
from securestore.audit.policy import account_wide_key_use, tls_only, upload_encryption
from securestore.errors import ConfigurationError
from securestore.iam_policy import Access, Mode, PolicyRequest, generate, kms_actions, s3_actions
from securestore.iam_render import render

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
REGION = "eu-west-1"


def _request(mode: Mode, access: Access = Access.READ_WRITE, **kwargs: Any) -> PolicyRequest:
    key = None if mode is Mode.SSE_S3 else KEY
    kwargs.setdefault("kms_key_arn", key)
    return PolicyRequest("data-bucket", mode, region=REGION, access=access, **kwargs)


def _statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    found = [st for st in document["Statement"] if st["Sid"] == sid]
    assert len(found) == 1, sid
    return found[0]


@pytest.mark.parametrize(
    ("access", "bucket", "objects"),
    [
        (
            Access.READ_WRITE,
            ["s3:ListBucket"],
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        ),
        (Access.READ_ONLY, ["s3:ListBucket"], ["s3:GetObject"]),
        (Access.WRITE_ONLY, [], ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"]),
        (
            Access.REWRAP,
            ["s3:ListBucket"],
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
        ),
    ],
)
def test_s3_actions_per_access(access: Access, bucket: list[str], objects: list[str]) -> None:
    assert s3_actions(_request(Mode.SSE_S3, access)) == (bucket, objects)


def test_write_without_delete_leaves_delete_out_and_says_what_that_costs() -> None:
    request = _request(Mode.SSE_S3, Access.WRITE_ONLY, delete=False)
    assert "s3:DeleteObject" not in s3_actions(request)[1]
    assert any("cannot be undone" in note for note in generate(request).notes)


@pytest.mark.parametrize(
    ("mode", "access", "expected"),
    [
        # Multipart SSE-KMS uploads need kms:Decrypt as well (S3 decrypts the data key per part).
        (
            Mode.SSE_KMS,
            Access.WRITE_ONLY,
            ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
        ),
        (Mode.SSE_KMS, Access.READ_ONLY, ["kms:Decrypt", "kms:DescribeKey"]),
        (
            Mode.DSSE_KMS,
            Access.WRITE_ONLY,
            ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
        ),
        # Client-side KMS: writes only generate, reads only decrypt.
        (Mode.CLIENT_SIDE, Access.WRITE_ONLY, ["kms:DescribeKey", "kms:GenerateDataKey"]),
        (Mode.CLIENT_SIDE, Access.READ_ONLY, ["kms:Decrypt", "kms:DescribeKey"]),
        (Mode.CLIENT_SIDE, Access.REWRAP, ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]),
    ],
)
def test_kms_actions(mode: Mode, access: Access, expected: list[str]) -> None:
    assert kms_actions(_request(mode, access)) == expected


def test_raw_key_client_side_needs_no_kms_at_all() -> None:
    docs = generate(_request(Mode.CLIENT_SIDE, kms_key_arn=None))
    actions = [a for st in docs.identity_policy["Statement"] for a in _actions(st)]
    assert not [a for a in actions if a.startswith("kms:")]
    assert docs.key_policy_statements == []


def _actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else list(value)


def test_sse_kms_key_use_is_pinned_to_s3_and_the_objects() -> None:
    use = _statement(
        generate(_request(Mode.SSE_KMS, prefix="reports/")).identity_policy, "UseKmsKey"
    )
    assert use["Resource"] == KEY
    assert use["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert use["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::data-bucket/reports/*"
    }


def test_bucket_keys_change_the_context_to_the_bucket_arn() -> None:
    use = _statement(generate(_request(Mode.SSE_KMS, bucket_key=True)).identity_policy, "UseKmsKey")
    assert use["Condition"] == {
        "StringEquals": {
            "kms:ViaService": "s3.eu-west-1.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::data-bucket",
        }
    }


def test_client_side_key_use_is_pinned_by_the_message_context_not_via_service() -> None:
    use = _statement(generate(_request(Mode.CLIENT_SIDE, prefix="p/")).identity_policy, "UseKmsKey")
    assert "kms:ViaService" not in json.dumps(use)
    assert use["Condition"] == {
        "StringEquals": {"kms:EncryptionContext:securestore:bucket": "data-bucket"},
        "StringLike": {"kms:EncryptionContext:securestore:key": "p/*"},
    }


def test_prefix_limits_listing_and_objects() -> None:
    doc = generate(_request(Mode.SSE_S3, prefix="team/a/")).identity_policy
    assert _statement(doc, "ListObjects")["Condition"] == {
        "StringLike": {"s3:prefix": ["team/a/*"]}
    }
    assert _statement(doc, "UseObjects")["Resource"] == "arn:aws:s3:::data-bucket/team/a/*"


@pytest.mark.parametrize(
    ("region", "partition", "service"),
    [
        ("cn-north-1", "aws-cn", "s3.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "s3.us-gov-west-1.amazonaws.com"),
    ],
)
def test_other_partitions(region: str, partition: str, service: str) -> None:
    key = f"arn:{partition}:kms:{region}:111122223333:key/abcd"
    request = PolicyRequest("data-bucket", Mode.SSE_KMS, region=region, kms_key_arn=key)
    docs = generate(request)
    text = json.dumps(docs.as_dict())
    assert "arn:aws:s3" not in text
    assert _statement(docs.identity_policy, "UseObjects")["Resource"].startswith(
        f"arn:{partition}:s3:::"
    )
    assert service in text
    assert docs.key_policy_statements[0]["Principal"] == {
        "AWS": f"arn:{partition}:iam::111122223333:root"
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": Mode.SSE_KMS, "kms_key_arn": None}, "needs the KMS key"),
        ({"mode": Mode.SSE_KMS, "kms_key_arn": "alias/data"}, "not a KMS key ARN"),
        (
            {"mode": Mode.SSE_KMS, "kms_key_arn": KEY.replace("eu-west-1", "us-east-1")},
            "the KMS key is in us-east-1",
        ),
        ({"mode": Mode.SSE_S3, "bucket_key": True}, "Bucket Keys"),
        ({"mode": Mode.SSE_S3, "prefix": "logs/*"}, "wildcard"),
        ({"mode": Mode.SSE_S3, "prefix": "${aws:username}/"}, "wildcard or policy variable"),
    ],
)
def test_bad_requests_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PolicyRequest("data-bucket", region=REGION, **kwargs)


# --- the bucket policy, as the auditor judges it -------------------------------------------


@pytest.mark.parametrize("mode", list(Mode))
def test_bucket_policy_is_tls_only_by_the_auditors_evaluator(mode: Mode) -> None:
    request = _request(mode)
    policy = parse_policy(generate(request).bucket_policy)
    assert tls_only(policy, request.bucket_arn).denied


@pytest.mark.parametrize(
    ("mode", "algorithm", "weaker"),
    [(Mode.SSE_KMS, "aws:kms", ["AES256"]), (Mode.DSSE_KMS, "aws:kms:dsse", ["AES256", "aws:kms"])],
)
def test_bucket_policy_denies_uploads_under_another_encryption_or_key(
    mode: Mode, algorithm: str, weaker: list[str]
) -> None:
    request = _request(mode)
    policy = parse_policy(generate(request).bucket_policy)
    coverage = upload_encryption(policy, request.bucket_arn, weaker=weaker, pinned=[algorithm])
    assert coverage.denied, coverage.gaps


def test_bucket_policy_leaves_multipart_parts_alone() -> None:
    """UploadPart is authorised as s3:PutObject and never carries SSE headers: no
    Deny may match a PutObject without them (it would break every large upload)."""
    from securestore.audit.iam import statement_conditions_hold

    request = _request(Mode.SSE_KMS)
    policy = parse_policy(generate(request).bucket_policy)
    part = {"aws:SecureTransport": ("true",), "s3:TlsVersion": ("1.3",)}
    denying = [
        st.label
        for st in policy.statements
        if st.is_deny and st.matches_action("s3:PutObject") and statement_conditions_hold(st, part)
    ]
    assert denying == []


def test_key_policy_statement_is_not_account_wide_key_use() -> None:
    for mode in (Mode.SSE_KMS, Mode.CLIENT_SIDE):
        docs = generate(_request(mode))
        key_policy = parse_policy(
            {"Version": "2012-10-17", "Statement": docs.key_policy_statements}
        )
        assert account_wide_key_use(key_policy, KEY, "111122223333") == ()


# --- parliament ---------------------------------------------------------------------------

#: parliament findings that are known false alarms, each with the reason.
_PARLIAMENT_KNOWN = {
    # parliament's Numeric type accepts integers only; IAM accepts "1.2" (AWS's own example).
    ("MISMATCHED_TYPE", "s3:TlsVersion"),
    # "s3:*" expands to actions that do not carry the condition key: intended.
    ("UNKNOWN_CONDITION_FOR_ACTION", ""),
    # AWS documents StringNotEquals for the key-id header (parliament prefers Arn*).
    ("MISMATCHED_TYPE_BUT_USABLE", ""),
}


def _parliament(document: dict[str, Any], *, key_policy: bool = False) -> list[tuple[str, str]]:
    findings = parliament.analyze_policy_string(json.dumps(document)).findings
    left = []
    for finding in findings:
        detail = str(finding.detail)
        if any(issue == finding.issue and part in detail for issue, part in _PARLIAMENT_KNOWN):
            continue
        if key_policy and finding.issue == "RESOURCE_STAR":
            continue  # in a key policy "*" is the key itself
        left.append((finding.issue, detail))
    return left


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("access", list(Access))
def test_parliament_finds_nothing(mode: Mode, access: Access) -> None:
    docs = generate(_request(mode, access, prefix="p/"))
    assert _parliament(docs.identity_policy) == []
    assert _parliament(docs.bucket_policy) == []
    if docs.key_policy_statements:
        doc = {"Version": "2012-10-17", "Statement": docs.key_policy_statements}
        assert _parliament(doc, key_policy=True) == []


def test_parliament_would_catch_a_broken_document() -> None:
    """The lint is live: a misspelt action is reported."""
    docs = generate(_request(Mode.SSE_S3))
    broken = json.loads(json.dumps(docs.identity_policy))
    broken["Statement"][1]["Action"] = ["s3:GetObjekt"]
    assert _parliament(broken)


# --- rendering and the CLI ------------------------------------------------------------------


def test_cloudformation_template_carries_the_same_documents() -> None:
    request = _request(Mode.SSE_KMS)
    docs = generate(request)
    template = json.loads(render(request, docs, "cloudformation"))
    resources = template["Resources"]
    assert resources["SecurestoreIdentityPolicy"]["Properties"]["PolicyDocument"] == (
        docs.identity_policy
    )
    assert resources["SecurestoreBucketPolicy"]["Properties"]["PolicyDocument"] == (
        docs.bucket_policy
    )
    assert json.loads(template["Outputs"]["KeyPolicyStatements"]["Value"]) == (
        docs.key_policy_statements
    )


def test_terraform_embeds_the_json_documents() -> None:
    request = _request(Mode.CLIENT_SIDE)
    docs = generate(request)
    text = render(request, docs, "terraform")
    assert 'resource "aws_iam_policy" "securestore_data_bucket"' in text
    assert 'resource "aws_s3_bucket_policy" "securestore_data_bucket"' in text
    body = text.split("policy = jsonencode(", 1)[1].split("\n  )\n", 1)[0]
    assert json.loads(body.split(")\n}", 1)[0]) == docs.identity_policy


def test_cli_prints_json_documents() -> None:
    result = CliRunner().invoke(
        main_group,
        [
            "--region",
            REGION,
            "iam-policy",
            "--bucket",
            "data-bucket",
            "--mode",
            "sse-kms",
            "--kms-key-id",
            KEY,
            "--read-only",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out == generate(_request(Mode.SSE_KMS, Access.READ_ONLY)).as_dict()


def test_cli_needs_the_region() -> None:
    result = CliRunner().invoke(
        main_group,
        ["iam-policy", "--bucket", "data-bucket", "--mode", "sse-s3"],
        env={"AWS_REGION": "", "AWS_DEFAULT_REGION": ""},
    )
    assert result.exit_code == 2
    assert "--region" in result.output
