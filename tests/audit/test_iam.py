"""The IAM evaluator against a table of policies, each with its verdict under IAM's rules.

Each verdict is what AWS's policy evaluation logic decides (IAM User Guide:
"Policy evaluation logic", "Condition operators", "Multivalued context keys",
and S3's "The meaning of public"), written by hand, never derived from the code:

* ``tls``: is every plain-HTTP request (``aws:SecureTransport`` false, no
  ``s3:TlsVersion``), by every principal, to every S3 action on the bucket and
  every object, denied?
* ``old-tls``: is every request over TLS 1.0 and 1.1 denied?
* ``lock``: does a Deny's transport condition also hold over TLS 1.3?
* ``public``: is an Allow public by S3's definition?
* ``vpc``: is every request from no VPC endpoint, or from one the policy does
  not name, denied?
* ``malformed``: would AWS refuse the document?
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from securestore.audit.iam import parse_policy
from securestore.audit.policy import (
    BUCKET_ACTIONS,
    OBJECT_ACTIONS,
    minimum_tls,
    public_statements,
    tls_locks,
    tls_only,
    vpc_restriction,
)
from securestore.errors import ConfigurationError

B = "arn:aws:s3:::example-bucket"
CN = "arn:aws-cn:s3:::example-bucket"
BOTH = [B, f"{B}/*"]
HTTP = {"Bool": {"aws:SecureTransport": "false"}}
OLD_TLS = {"NumericLessThan": {"s3:TlsVersion": "1.2"}}
ROOT = "arn:aws:iam::111122223333:root"


def deny(condition: Any = HTTP, **changes: Any) -> dict[str, Any]:
    """The canonical TLS-only Deny, with ``changes`` (a ``None`` value drops the element)."""
    st: dict[str, Any] = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": BOTH,
        "Condition": condition,
    }
    st.update(changes)
    return {k: v for k, v in st.items() if v is not None}


def allow(condition: Any = None, **changes: Any) -> dict[str, Any]:
    """An Allow of s3:GetObject to everyone, with ``changes``."""
    st: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{B}/*",
        "Condition": condition,
    }
    st.update(changes)
    return {k: v for k, v in st.items() if v is not None}


def vpc(operator: str = "StringNotEquals", key: str = "aws:SourceVpce", value: Any = "vpce-1a2b"):  # type: ignore[no-untyped-def]
    return deny({operator: {key: value}})


# (id, question, statements, verdict[, bucket ARN])
CASES: list[tuple[Any, ...]] = [
    # --- tls: plain HTTP denied? -----------------------------------------------------------
    ("canonical", "tls", [deny()], True),
    ("json-boolean", "tls", [deny({"Bool": {"aws:SecureTransport": False}})], True),
    ("key-and-value-case", "tls", [deny({"bool": {"AWS:SecureTransport": "FALSE"}})], True),
    ("bool-if-exists", "tls", [deny({"BoolIfExists": {"aws:SecureTransport": "false"}})], True),
    (
        "string-equals-false",
        "tls",
        [deny({"StringEquals": {"aws:SecureTransport": "false"}})],
        True,
    ),
    ("tls-version-alone", "tls", [deny(OLD_TLS)], False),
    (
        "tls-version-if-exists",
        "tls",
        [deny({"NumericLessThanIfExists": {"s3:TlsVersion": "1.2"}})],
        True,
    ),
    ("tls-version-nan", "tls", [deny({"NumericLessThan": {"s3:TlsVersion": "NaN"}})], False),
    ("get-and-put-only", "tls", [deny(Action=["s3:Get*", "s3:Put*"])], False),
    ("known-action-list", "tls", [deny(Action=[*OBJECT_ACTIONS, *BUCKET_ACTIONS])], False),
    ("uploads-only", "tls", [deny(Action="s3:PutObject")], False),
    (
        "not-action-legal-hold",
        "tls",
        [deny(Action=None, NotAction="s3:GetObjectLegalHold")],
        False,
    ),
    ("not-action-other-service", "tls", [deny(Action=None, NotAction="iam:*")], True),
    (
        "not-action-two-services",
        "tls",
        [deny(Action=None, NotAction=["iam:*", "kms:Decrypt"])],
        True,
    ),
    ("not-action-s3-prefix", "tls", [deny(Action=None, NotAction="s3:List*")], False),
    ("action-star", "tls", [deny(Action="*")], True),
    ("action-s3-no-colon", "tls", [deny(Action="s3*")], True),
    ("action-upper-case", "tls", [deny(Action="S3:*")], True),
    ("action-star-colon-star", "tls", [deny(Action="*:*")], True),
    ("action-question-star", "tls", [deny(Action="s3:?*")], True),
    ("action-star-among-others", "tls", [deny(Action=["s3:GetObject", "s3:*"])], True),
    ("objects-question-star", "tls", [deny(Resource=[B, f"{B}/?*"])], True),
    ("objects-only", "tls", [deny(Resource=f"{B}/*")], False),
    ("bucket-only", "tls", [deny(Resource=B)], False),
    ("resource-star", "tls", [deny(Resource="*")], True),
    ("resource-bucket-prefix", "tls", [deny(Resource=f"{B}*")], True),
    ("other-bucket", "tls", [deny(Resource=["arn:aws:s3:::other", "arn:aws:s3:::other/*"])], False),
    ("some-objects-only", "tls", [deny(Resource=[B, f"{B}/public/*"])], False),
    (
        "not-resource-other-bucket",
        "tls",
        [deny(Resource=None, NotResource=["arn:aws:s3:::other", "arn:aws:s3:::other/*"])],
        True,
    ),
    ("not-resource-prefix", "tls", [deny(Resource=None, NotResource=f"{B}/private/*")], False),
    ("resource-policy-variable", "tls", [deny(Resource=[B, f"{B}/${{aws:username}}/*"])], False),
    ("split-over-two", "tls", [deny(Resource=B), deny(Resource=f"{B}/*")], True),
    (
        "actions-complement",
        "tls",
        [deny(Action="s3:Get*"), deny(Action=None, NotAction="s3:Get*")],
        True,
    ),
    (
        "extra-null-false",
        "tls",
        [deny({**HTTP, "Null": {"aws:SecureTransport": "false"}})],
        True,
    ),
    (
        "for-all-values-bool",
        "tls",
        [deny({"ForAllValues:Bool": {"aws:SecureTransport": "false"}})],
        True,
    ),
    (
        "for-any-value-bool",
        "tls",
        [deny({"ForAnyValue:Bool": {"aws:SecureTransport": "false"}})],
        True,
    ),
    ("both-values", "tls", [deny({"Bool": {"aws:SecureTransport": ["false", "true"]}})], True),
    ("inverted", "tls", [deny({"Bool": {"aws:SecureTransport": "true"}})], False),
    ("null-true-alone", "tls", [deny({"Null": {"aws:SecureTransport": "true"}})], False),
    (
        "extra-source-ip",
        "tls",
        [deny({**HTTP, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})],
        False,
    ),
    (
        "extra-vpce",
        "tls",
        [deny({**HTTP, "StringNotEquals": {"aws:SourceVpce": "vpce-1a2b"}})],
        False,
    ),
    ("principal-aws-star", "tls", [deny(Principal={"AWS": "*"})], True),
    ("principal-one-account", "tls", [deny(Principal={"AWS": ROOT})], False),
    ("not-principal", "tls", [deny(Principal=None, NotPrincipal={"AWS": ROOT})], False),
    (
        "allow-secure-only",
        "tls",
        [allow({"Bool": {"aws:SecureTransport": "true"}}, Principal={"AWS": ROOT})],
        False,
    ),
    ("unconditional-deny", "tls", [deny(None)], True),
    ("aws-cn-partition", "tls", [deny(Resource=[CN, f"{CN}/*"])], True, CN),
    ("aws-partition-on-cn-bucket", "tls", [deny()], False, CN),
    # --- old-tls: TLS 1.0 and 1.1 denied? ------------------------------------------------
    ("less-than-1.2", "old-tls", [deny(OLD_TLS)], True),
    ("less-than-1.3", "old-tls", [deny({"NumericLessThan": {"s3:TlsVersion": 1.3}})], True),
    (
        "less-equals-1.1",
        "old-tls",
        [deny({"NumericLessThanEquals": {"s3:TlsVersion": "1.1"}})],
        True,
    ),
    ("less-than-1.1", "old-tls", [deny({"NumericLessThan": {"s3:TlsVersion": "1.1"}})], False),
    ("greater-than", "old-tls", [deny({"NumericGreaterThan": {"s3:TlsVersion": "1.2"}})], False),
    ("secure-transport-only", "old-tls", [deny()], False),
    ("old-tls-reads-only", "old-tls", [deny(OLD_TLS, Action="s3:Get*")], False),
    (
        "string-equals-versions",
        "old-tls",
        [deny({"StringEquals": {"s3:TlsVersion": ["1.0", "1.1"]}})],
        True,
    ),
    # --- lock: HTTPS denied too? ---------------------------------------------------------
    (
        "lock-both-values",
        "lock",
        [deny({"Bool": {"aws:SecureTransport": ["false", "true"]}})],
        True,
    ),
    ("lock-inverted", "lock", [deny({"Bool": {"aws:SecureTransport": "true"}})], True),
    ("lock-canonical", "lock", [deny()], False),
    ("lock-less-than-1.4", "lock", [deny({"NumericLessThan": {"s3:TlsVersion": "1.4"}})], True),
    ("lock-require-1.3", "lock", [deny({"NumericLessThan": {"s3:TlsVersion": "1.3"}})], False),
    ("lock-null-false", "lock", [deny({"Null": {"aws:SecureTransport": "false"}})], True),
    (
        "lock-null-plus-bool",
        "lock",
        [deny({**HTTP, "Null": {"aws:SecureTransport": "false"}})],
        False,
    ),
    # --- public: an Allow open to anyone? ------------------------------------------------
    ("allow-star", "public", [allow()], True),
    ("allow-aws-star", "public", [allow(Principal={"AWS": "*"})], True),
    ("allow-not-principal", "public", [allow(Principal=None, NotPrincipal={"AWS": ROOT})], True),
    ("allow-one-account", "public", [allow(Principal={"AWS": ROOT})], False),
    (
        "org-id-fixed",
        "public",
        [allow({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3"}})],
        False,
    ),
    ("org-id-wildcard", "public", [allow({"StringLike": {"aws:PrincipalOrgID": "o-*"}})], True),
    ("vpc-wildcard", "public", [allow({"StringLike": {"aws:SourceVpc": "vpc-*"}})], True),
    ("vpce-star", "public", [allow({"StringLike": {"aws:SourceVpce": "*"}})], True),
    (
        "principal-arn-any-account",
        "public",
        [allow({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}})],
        True,
    ),
    (
        "policy-variable",
        "public",
        [allow({"StringEquals": {"aws:PrincipalAccount": "${aws:PrincipalAccount}"}})],
        True,
    ),
    (
        "ip-halves-v4",
        "public",
        [allow({"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}})],
        True,
    ),
    (
        "ip-halves-v6",
        "public",
        [allow({"IpAddress": {"aws:SourceIp": ["::/1", "8000::/1"]}})],
        True,
    ),
    ("ip-everything", "public", [allow({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})], True),
    ("ip-one-range", "public", [allow({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})], False),
    (
        "ip-range-and-all-v6",
        "public",
        [allow({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "::/0"]}})],
        True,
    ),
    (
        "org-id-if-exists",
        "public",
        [allow({"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a1b2c3"}})],
        True,
    ),
    (
        "org-id-negated",
        "public",
        [allow({"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3"}})],
        True,
    ),
    (
        "source-account",
        "public",
        [allow({"StringEquals": {"aws:SourceAccount": "111122223333"}})],
        False,
    ),
    (
        "for-all-values-vpce",
        "public",
        [allow({"ForAllValues:StringEquals": {"aws:SourceVpce": "vpce-1a2b"}})],
        True,
    ),
    ("unrelated-key", "public", [allow({"StringLike": {"s3:prefix": "home/"}})], True),
    (
        "one-restricting-of-two",
        "public",
        [
            allow(
                {"StringLike": {"s3:prefix": "home/"}, "StringEquals": {"aws:SourceVpce": "vpce-1"}}
            )
        ],
        False,
    ),
    ("deny-star", "public", [deny(None)], False),
    (
        "kms-caller-account",
        "public",
        [
            allow(
                {"StringEquals": {"kms:CallerAccount": "111122223333"}},
                Action="kms:Decrypt",
                Resource="*",
            )
        ],
        False,
    ),
    (
        "kms-via-service-only",
        "public",
        [
            allow(
                {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
                Action="kms:Decrypt",
                Resource="*",
            )
        ],
        True,
    ),
    # --- vpc: other networks denied? -----------------------------------------------------
    ("vpce-not-equals", "vpc", [vpc()], True),
    ("vpce-not-equals-if-exists", "vpc", [vpc("StringNotEqualsIfExists")], True),
    ("vpc-not-equals", "vpc", [vpc(key="aws:SourceVpc", value="vpc-1a2b")], True),
    ("vpce-not-like-star", "vpc", [vpc("StringNotLike", value="*")], False),
    ("vpc-not-like-prefix", "vpc", [vpc("StringNotLike", "aws:SourceVpc", "vpc-*")], False),
    ("vpce-positive", "vpc", [vpc("StringEquals")], False),
    ("vpce-reads-only", "vpc", [{**vpc(), "Action": "s3:GetObject"}], False),
    ("no-vpc-deny", "vpc", [deny()], False),
    ("unconditional-deny-is-no-vpc-rule", "vpc", [deny(None)], False),
]

MALFORMED: list[tuple[str, Any, str]] = [
    ("effect-lower-case", {"Statement": [deny(Effect="deny")]}, "Effect 'deny'"),
    (
        "action-and-not-action",
        {"Statement": [deny(NotAction="iam:*")]},
        "both Action and NotAction",
    ),
    ("no-action", {"Statement": [deny(Action=None)]}, "neither Action nor NotAction"),
    ("unknown-operator", {"Statement": [deny({"StringEqualz": {"a": "b"}})]}, "StringEqualz"),
    ("unknown-qualifier", {"Statement": [deny({"Sometimes:Bool": {"a": "b"}})]}, "qualifier"),
    ("null-if-exists", {"Statement": [deny({"NullIfExists": {"a": "true"}})]}, "NullIfExists"),
    ("bad-version", {"Version": "2020-01-01", "Statement": [deny()]}, "Version"),
    ("principal-list", {"Statement": [deny(Principal=["*"])]}, "Principal"),
    ("unknown-element", {"Statement": [deny(Actions="s3:*")]}, "unknown element 'Actions'"),
    ("no-statement", {"Version": "2012-10-17"}, "no Statement"),
    ("principal-type", {"Statement": [deny(Principal={"User": "x"})]}, "principal type"),
]


def verdict(question: str, statements: list[dict[str, Any]], arn: str = B) -> bool:
    parsed = parse_policy({"Version": "2012-10-17", "Statement": statements})
    if question == "tls":
        return tls_only(parsed, arn).denied
    if question == "old-tls":
        return minimum_tls(parsed, arn).denied
    if question == "lock":
        return bool(tls_locks(parsed))
    if question == "public":
        return bool(public_statements(parsed))
    assert question == "vpc"
    return vpc_restriction(parsed, arn).denied


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_iam_verdict(case: tuple[Any, ...]) -> None:
    name, question, statements, expected, *arn = case
    assert verdict(question, statements, *arn) is expected, name


@pytest.mark.parametrize(("name", "document", "problem"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_documents_aws_would_refuse_are_malformed(name: str, document: Any, problem: str) -> None:
    with pytest.raises(ConfigurationError, match="malformed policy") as caught:
        parse_policy(document)
    assert problem in str(caught.value)


def test_the_table_is_large_and_balanced() -> None:
    """At least 60 policies, with both verdicts for every question."""
    assert len(CASES) + len(MALFORMED) >= 60
    counts = Counter((c[1], c[3]) for c in CASES)
    for question in ("tls", "old-tls", "lock", "public", "vpc"):
        assert counts[(question, True)] and counts[(question, False)], question
    assert len({c[0] for c in CASES}) == len(CASES)
