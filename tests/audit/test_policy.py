"""Policy parsing and analysis on parsed documents (never on JSON substrings)."""

from __future__ import annotations

import json

import pytest

from securestore.audit.policy import (
    analyse_tls,
    analyse_vpc_restriction,
    parse_policy,
    pattern_covers_prefix,
    pattern_may_match_prefix,
    public_statements,
    wildcard_match,
)
from securestore.errors import ConfigurationError

from .builders import ARN, TLS_STATEMENT, policy


def test_parse_normalises_single_values_to_sets() -> None:
    doc = parse_policy(
        {
            "Statement": {
                "Effect": "Deny",
                "Principal": {"AWS": "arn:a"},
                "Action": "s3:GetObject",
                "Resource": "arn:r",
            }
        }
    )
    (st,) = doc.statements
    assert st.actions == frozenset({"s3:GetObject"})
    assert st.resources == frozenset({"arn:r"})
    assert st.principal is not None and st.principal.entries == frozenset({("AWS", "arn:a")})
    assert st.label == "#1"


def test_parse_conditions_qualifiers_and_json_booleans() -> None:
    doc = parse_policy(
        json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": "*",
                        "Condition": {
                            "BoolIfExists": {"aws:SecureTransport": False},
                            "ForAnyValue:StringLike": {"aws:TagKeys": ["a*", "b"]},
                            "NumericLessThan": {"s3:TlsVersion": 1.2},
                        },
                    }
                ]
            }
        )
    )
    conds = {c.base: c for c in doc.statements[0].conditions}
    assert conds["bool"].if_exists and conds["bool"].values == ("false",)
    assert conds["bool"].key == "aws:securetransport"
    assert conds["stringlike"].set_operator == "ForAnyValue"
    assert conds["stringlike"].values == ("a*", "b")
    assert conds["numericlessthan"].values == ("1.2",)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        json.dumps({"Statement": [{"Effect": "Maybe"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Action": 3}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": ["*"]}]}),
        json.dumps(
            {"Statement": [{"Effect": "Allow", "Condition": {"Sometimes:Bool": {"k": "v"}}}]}
        ),
    ],
)
def test_malformed_policies_raise_configuration_error(document: str) -> None:
    with pytest.raises(ConfigurationError, match="malformed policy"):
        parse_policy(document)


@pytest.mark.parametrize(
    ("pattern", "value", "ignore_case", "expected"),
    [
        ("s3:*", "s3:GetObject", True, True),
        ("S3:get*", "s3:GetObject", True, True),
        ("S3:get*", "s3:GetObject", False, False),
        ("s3:Get?bject", "s3:GetObject", True, True),
        ("s3:Put*", "s3:GetObject", True, False),
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b", False, False),
        ("arn:aws:s3:::b*", "arn:aws:s3:::b", False, True),
        ("a.c", "abc", False, False),
    ],
)
def test_wildcard_match(pattern: str, value: str, ignore_case: bool, expected: bool) -> None:
    assert wildcard_match(pattern, value, ignore_case=ignore_case) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", True),
        ("s3:*", True),
        ("s3*", True),
        ("*:*", True),
        ("S3:*", True),
        ("s3:Get*", False),
        ("s3:*Object", False),
        ("s3:GetObject", False),
        ("iam:*", False),
    ],
)
def test_pattern_covers_all_s3_actions(pattern: str, expected: bool) -> None:
    assert pattern_covers_prefix(pattern, "s3:", ignore_case=True) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("iam:*", False),
        ("s3:GetObject", True),
        ("s3:*", True),
        ("*", True),
        ("kms:Decrypt", False),
    ],
)
def test_pattern_may_match_s3(pattern: str, expected: bool) -> None:
    assert pattern_may_match_prefix(pattern, "s3:", ignore_case=True) is expected


def tls(*statements: dict[str, object]):  # type: ignore[no-untyped-def]
    return analyse_tls(parse_policy(policy(*statements)), ARN)


def test_tls_canonical_statement_is_enforced() -> None:
    cov = tls(TLS_STATEMENT)
    assert cov.enforced and cov.all_actions
    assert cov.forms == ("aws:SecureTransport",)
    assert cov.statements == ("DenyInsecureTransport",)


def test_tls_split_over_two_statements_is_enforced() -> None:
    bucket = {**TLS_STATEMENT, "Sid": "B", "Resource": ARN}
    objects = {**TLS_STATEMENT, "Sid": "O", "Resource": f"{ARN}/*"}
    cov = tls(bucket, objects)
    assert cov.enforced and cov.statements == ("B", "O")


def test_tls_not_action_excluding_other_services_still_covers_s3() -> None:
    st = {k: v for k, v in TLS_STATEMENT.items() if k != "Action"}
    cov = tls({**st, "NotAction": ["iam:*"]})
    assert cov.enforced


def test_tls_not_action_exempting_s3_reads_is_a_trap() -> None:
    st = {k: v for k, v in TLS_STATEMENT.items() if k != "Action"}
    cov = tls({**st, "NotAction": "s3:GetObject"})
    assert not cov.enforced
    assert cov.uncovered["objects"] == ("s3:GetObject",)
    assert any("NotAction exempts s3:GetObject" in r for r in cov.reasons)


def test_tls_not_resource_exempting_a_prefix_is_a_trap() -> None:
    st = {k: v for k, v in TLS_STATEMENT.items() if k != "Resource"}
    cov = tls({**st, "NotResource": f"{ARN}/public/*"})
    assert not cov.enforced


def test_tls_not_resource_naming_another_bucket_covers_this_one() -> None:
    st = {k: v for k, v in TLS_STATEMENT.items() if k != "Resource"}
    cov = tls({**st, "NotResource": "arn:aws:s3:::other-bucket/*"})
    assert cov.enforced


def test_vpc_restriction_needs_negated_operator_and_concrete_value() -> None:
    base = {**TLS_STATEMENT, "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}
    assert analyse_vpc_restriction(parse_policy(policy(base)), ARN).enforced
    wrong = {**base, "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}
    cov = analyse_vpc_restriction(parse_policy(policy(wrong)), ARN)
    assert not cov.enforced and cov.reasons
    wildcard = {**base, "Condition": {"StringNotLike": {"aws:SourceVpc": "*"}}}
    assert not analyse_vpc_restriction(parse_policy(policy(wildcard)), ARN).enforced


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}, True),
        ({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": "*"}, True),
        (
            {
                "Effect": "Allow",
                "NotPrincipal": {"AWS": "arn:aws:iam::1:root"},
                "Action": "s3:*",
                "Resource": "*",
            },
            True,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-123"}},
            },
            False,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-123"}},
            },
            True,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-123"}},
            },
            True,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
            },
            True,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            },
            False,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringLike": {"aws:SourceVpce": "*"}},
            },
            True,
        ),
        (
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::1:root"},
                "Action": "s3:*",
                "Resource": "*",
            },
            False,
        ),
        ({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}, False),
    ],
)
def test_public_statements(statement: dict[str, object], public: bool) -> None:
    found = public_statements(parse_policy(policy(statement)))
    assert bool(found) is public
