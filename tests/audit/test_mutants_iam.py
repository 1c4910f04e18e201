"""The IAM evaluator's parts, each against IAM's documented rules: tests written for
the mutants that survived ``tests/audit/test_iam.py`` (mutmut on securestore/audit/iam/).

Every expectation is IAM's (IAM User Guide: "IAM JSON policy elements", "Condition
operators", "Policy evaluation logic"), or the evaluator's documented choice where IAM
has no answer to give it (policy variables, which it does not resolve).
"""

from __future__ import annotations

from typing import Any

import pytest

from securestore.audit.iam import (
    Condition,
    Coverage,
    Principal,
    RequestClass,
    Statement,
    arn_partition,
    condition_holds,
    deny_coverage,
    parse_policy,
    wildcard_match,
)
from securestore.audit.iam import coverage as coverage_module
from securestore.errors import ConfigurationError

ACCOUNT = "111122223333"
OTHER = "444455556666"
ALICE = ("AWS", f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT)
BOB = ("AWS", f"arn:aws:iam::{ACCOUNT}:user/bob", ACCOUNT)
STRANGER = ("AWS", f"arn:aws:iam::{OTHER}:user/mallory", OTHER)


def statement(**elements: Any) -> Statement:
    """One parsed Deny statement with ``elements`` (Action ``s3:*`` unless given)."""
    raw: dict[str, Any] = {"Effect": "Deny", **elements}
    if "NotAction" not in raw:
        raw.setdefault("Action", "s3:*")
    return parse_policy({"Statement": [raw]}).statements[0]


def condition(operator: str, key: str, values: Any) -> Condition:
    """The one parsed condition ``{operator: {key: values}}``."""
    (cond,) = statement(Condition={operator: {key: values}}).conditions
    return cond


def principal(value: Any) -> Principal:
    """A parsed ``Principal`` element."""
    parsed = statement(Principal=value).principal
    assert parsed is not None
    return parsed


# --- wildcard_match: ``*`` any run, ``?`` exactly one character ------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("ab", "ax", False),
        ("abc", "ab", False),
        ("ab", "abc", False),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("a?c", "abbc", False),
        ("a*", "a*x", True),  # a star in the value is an ordinary character
        ("a*c", "abbbc", True),
        ("a*c", "abbbd", False),
        ("*b*b", "abxbab", True),  # needs backtracking to the last star
        ("*", "", True),
        ("a*", "a", True),
        ("a***", "a", True),
        ("**", "x", True),
        ("s3:*", "S3:GetObject", False),  # case-sensitive unless asked
        ("", "", True),
        ("", "x", False),
    ],
)
def test_wildcard_match(pattern: str, value: str, matches: bool) -> None:
    assert wildcard_match(pattern, value) is matches


@pytest.mark.parametrize(
    ("pattern", "value"),
    [("S3:GET*", "s3:getobject"), ("s3:get*", "S3:GETOBJECT"), ("S3:GetObject", "s3:GETOBJECT")],
)
def test_wildcard_match_ignoring_case_folds_both_sides(pattern: str, value: str) -> None:
    assert wildcard_match(pattern, value, ignore_case=True)
    assert not wildcard_match(pattern, value)


# --- actions (case-insensitive) and resources (case-sensitive) --------------------------------


def test_actions_match_case_insensitively() -> None:
    assert statement(Action="S3:Get*").matches_action("s3:GetObject")
    assert statement(Action="s3:getobject").matches_action("S3:GETOBJECT")
    assert not statement(Action="s3:Get*").matches_action("s3:PutObject")


def test_not_action_covers_every_action_it_does_not_name_in_any_case() -> None:
    st = statement(NotAction="S3:GetObject")
    assert not st.matches_action("s3:getobject")
    assert not st.matches_action("s3:GetObject")
    assert st.matches_action("s3:PutObject")
    assert statement(NotAction="s3:get*").matches_action("iam:GetUser")
    assert not statement(NotAction="s3:get*").matches_action("S3:GETOBJECT")


def test_resources_match_case_sensitively() -> None:
    st = statement(Resource="arn:aws:s3:::bucket/*")
    assert st.matches_resource("arn:aws:s3:::bucket/key")
    assert not st.matches_resource("arn:aws:s3:::BUCKET/key")


def test_a_resource_with_a_policy_variable_is_never_assumed_to_match() -> None:
    # Even the literal text of the variable does not match: the evaluator resolves none.
    pattern = "arn:aws:s3:::bucket/${aws:username}"
    assert not statement(Resource=pattern).matches_resource(pattern)
    assert statement(Resource=[pattern, "arn:aws:s3:::bucket"]).matches_resource(
        "arn:aws:s3:::bucket"
    )


def test_not_resource_with_a_policy_variable_never_counts_as_applying() -> None:
    # The variable could name any resource, so no resource is known to lie outside it.
    st = statement(NotResource="arn:aws:s3:::bucket/${aws:username}")
    assert not st.matches_resource("arn:aws:s3:::other")
    plain = statement(NotResource="arn:aws:s3:::bucket/*")
    assert plain.matches_resource("arn:aws:s3:::other/key")
    assert not plain.matches_resource("arn:aws:s3:::bucket/key")


def test_a_statement_without_resource_matches_no_resource() -> None:
    assert not statement().matches_resource("arn:aws:s3:::bucket")


# --- principals -------------------------------------------------------------------------------


def test_not_principal_applies_to_everyone_else() -> None:
    st = statement(NotPrincipal={"AWS": ALICE[1]})
    assert not st.matches_principal(ALICE)
    assert st.matches_principal(BOB)
    assert st.matches_principal(STRANGER)


def test_a_named_principal_matches_only_itself() -> None:
    alice = principal({"AWS": ALICE[1]})
    assert alice.matches(ALICE)
    assert not alice.matches(BOB)
    assert statement(Principal={"AWS": ALICE[1]}).matches_principal(ALICE)
    assert not statement().matches_principal(ALICE)  # no Principal element: nobody


def test_a_wildcard_principal_matches_by_pattern() -> None:
    roles = principal({"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"})
    assert roles.matches(ALICE)
    assert not roles.matches(STRANGER)
    assert principal("*").matches(STRANGER)
    assert principal({"AWS": "*"}).matches(("Service", "s3.amazonaws.com", None))


def test_an_account_principal_matches_its_identities_only() -> None:
    for value in (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"):
        account = principal({"AWS": value})
        assert account.matches(ALICE), value
        assert not account.matches(STRANGER), value
        # Without a known account the identity cannot be placed in one.
        assert not account.matches(("AWS", ALICE[1], None)), value


def test_an_account_principal_is_of_its_partition() -> None:
    china = ("AWS", f"arn:aws-cn:iam::{ACCOUNT}:user/alice", ACCOUNT)
    assert principal({"AWS": f"arn:aws-cn:iam::{ACCOUNT}:root"}).matches(china)
    assert not principal({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}).matches(china)


def test_account_ids_count_for_aws_principals_only() -> None:
    assert not principal({"Service": ACCOUNT}).matches(("Service", "x", ACCOUNT))
    assert not principal({"AWS": ACCOUNT}).matches(("Service", ACCOUNT, ACCOUNT))


def test_other_kinds_of_principal_do_not_hide_a_match() -> None:
    # Many entries of another kind, in whatever order the set holds them.
    services = [f"service{n}.amazonaws.com" for n in range(24)]
    mixed = principal({"Service": services, "AWS": ALICE[1]})
    assert mixed.matches(ALICE)
    assert mixed.matches(("Service", "service7.amazonaws.com", None))
    assert not mixed.matches(BOB)


@pytest.mark.parametrize(
    ("arn", "partition"),
    [
        ("arn:aws-cn:s3:::bucket", "aws-cn"),
        ("arn:aws-us-gov:iam::111122223333:root", "aws-us-gov"),
        ("arn:aws-us-gov", "aws-us-gov"),
        ("arn:aws:s3:::bucket", "aws"),
        ("arn", "aws"),
        ("111122223333", "aws"),
        ("x:arn:y", "aws"),
        ("ARN:aws-cn:s3:::bucket", "aws"),
        ("", "aws"),
    ],
)
def test_arn_partition(arn: str, partition: str) -> None:
    assert arn_partition(arn) == partition


# --- conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "request_value", "holds"),
    [
        ("NumericEquals", "5", True),
        ("NumericEquals", "6", False),
        ("NumericNotEquals", "5", False),
        ("NumericNotEquals", "6", True),
        ("NumericLessThan", "4", True),
        ("NumericLessThan", "5", False),
        ("NumericLessThanEquals", "5", True),
        ("NumericLessThanEquals", "6", False),
        ("NumericGreaterThan", "5", False),
        ("NumericGreaterThan", "6", True),
        ("NumericGreaterThanEquals", "5", True),
        ("NumericGreaterThanEquals", "4", False),
        ("NumericGreaterThanEquals", "6", True),
    ],
)
def test_numeric_operators(operator: str, request_value: str, holds: bool) -> None:
    assert (
        condition_holds(condition(operator, "s3:max-keys", "5"), {"s3:max-keys": (request_value,)})
        is holds
    )


@pytest.mark.parametrize(
    ("operator", "request_value", "holds"),
    [
        ("DateGreaterThan", "2026-01-01T00:00:00Z", False),
        ("DateGreaterThan", "2026-01-01T00:00:01Z", True),
        ("DateGreaterThanEquals", "2026-01-01T00:00:00Z", True),
        ("DateGreaterThanEquals", "2025-12-31T23:59:59Z", False),
        ("DateEquals", "2026-01-01T00:00:00Z", True),
        ("DateEquals", "2026-01-01T00:00:01Z", False),
    ],
)
def test_date_operators(operator: str, request_value: str, holds: bool) -> None:
    cond = condition(operator, "aws:CurrentTime", "2026-01-01T00:00:00Z")
    assert condition_holds(cond, {"aws:currenttime": (request_value,)}) is holds


@pytest.mark.parametrize("infinite", ["inf", "-inf", "Infinity", "nan"])
def test_numbers_that_are_not_finite_never_match(infinite: str) -> None:
    above = condition("NumericGreaterThan", "s3:max-keys", "1")
    assert not condition_holds(above, {"s3:max-keys": (infinite,)})
    below = condition("NumericLessThan", "s3:max-keys", infinite)
    assert not condition_holds(below, {"s3:max-keys": ("1",)})


def test_condition_describe_names_operator_key_and_values() -> None:
    cond = condition("StringEquals", "aws:SourceVpce", ["vpce-1", "vpce-2"])
    assert cond.describe() == 'StringEquals aws:sourcevpce ["vpce-1", "vpce-2"]'


def test_a_malformed_policy_says_aws_would_refuse_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_policy({"Statement": [{"Effect": "deny", "Action": "s3:*"}]})
    assert str(info.value).startswith("malformed policy: ")
    assert info.value.hint == "AWS would refuse this policy document; fix it"


#: (operator, policy values, the request's values or None when the key is absent, holds)
OPERATORS: list[tuple[str, Any, tuple[str, ...] | None, bool]] = [
    ("StringEquals", "a", ("a",), True),
    ("StringEquals", "a", ("A",), False),
    ("StringEquals", "a", None, False),
    ("StringNotEquals", "a", None, True),
    ("StringNotEquals", "a", ("a", "b"), False),
    ("StringNotEquals", "a", ("b", "c"), True),
    ("StringEqualsIgnoreCase", "Abc", ("aBC",), True),
    ("StringEqualsIgnoreCase", "Abc", ("abd",), False),
    ("StringNotEqualsIgnoreCase", "Abc", ("aBC",), False),
    ("StringLike", "a*c", ("abbc",), True),
    ("StringLike", "a*c", ("abbd",), False),
    ("BinaryEquals", "QUJD", ("QUJD",), True),
    ("BinaryEquals", "QUJD", ("QUJE",), False),
    # Policy variables are not resolved: never assumed to match, even their own text.
    ("StringEquals", "${aws:username}", ("${aws:username}",), False),
    ("StringLike", "home/${aws:username}/*", ("home/${aws:username}/x",), False),
    ("StringNotEquals", "${aws:username}", ("alice",), True),
    ("IpAddress", "10.0.0.0/8", ("10.1.2.3",), True),
    ("IpAddress", "10.0.0.0/8", ("11.0.0.1",), False),
    ("IpAddress", "10.0.0.0/8", ("::1",), False),
    ("IpAddress", "10.0.0.0/8", ("not-an-address",), False),
    ("IpAddress", "10.1.2.3/8", ("10.200.0.1",), True),  # host bits ignored, as AWS does
    ("IpAddress", "10.0.0.0/8", ("10.1.2.3/32",), True),
    ("NotIpAddress", "10.0.0.0/8", ("10.1.2.3",), False),
    ("NotIpAddress", "10.0.0.0/8", ("11.0.0.1",), True),
    ("ArnEquals", "arn:aws:iam::111122223333:role/r", ("arn:aws:iam::111122223333:role/r",), True),
    ("ArnEquals", "arn:aws:iam::111122223333:role/r", ("arn:aws:iam::111122223333:role/s",), False),
    ("ArnLike", "arn:aws:iam::*:role/*", ("arn:aws:iam::111122223333:role/r",), True),
    ("ArnLike", "arn:aws:iam::*:role/*", ("arn:aws:iam::111122223333:user/u",), False),
    ("ArnLike", "arn:aws:iam::*:role/*", ("not-an-arn",), False),
    ("ArnLike", "arn:aws:iam::*:role/*", ("arn:aws:iam::111122223333:role/a:b",), True),
    ("ArnEquals", "arn:aws:s3:::b/k:1", ("arn:aws:s3:::b/k:1",), True),
    ("ArnEquals", "arn:aws:s3:::b/k:1", ("arn:aws:s3:::b/k:2",), False),
    ("ArnNotLike", "arn:aws:iam::*:role/*", ("arn:aws:iam::111122223333:role/r",), False),
    ("ArnNotLike", "arn:aws:iam::*:role/*", ("arn:aws:iam::111122223333:user/u",), True),
    ("DateLessThan", "2026-01-01T00:00:00Z", ("2025-12-31T00:00:00Z",), True),
    ("DateLessThan", "2026-01-01T00:00:00Z", ("2026-01-02T00:00:00Z",), False),
    ("DateLessThan", "2026-01-01T00:00:00Z", ("yesterday",), False),
    ("DateLessThan", "yesterday", ("2025-12-31T00:00:00Z",), False),
    ("DateLessThan", "1700000000", ("1600000000",), True),  # epoch seconds
    ("DateLessThan", "1700000000", ("1800000000",), False),
    ("DateNotEquals", "2026-01-01T00:00:00Z", ("2026-01-01T00:00:00Z",), False),
    ("Bool", "true", ("TRUE",), True),
    ("Bool", "true", ("false",), False),
    ("Bool", "yes", ("yes",), False),
    ("Null", "true", None, True),
    ("Null", "true", ("x",), False),
    ("Null", "false", ("x",), True),
    ("Null", "false", None, False),
    ("StringEqualsIfExists", "a", None, True),
    ("StringEqualsIfExists", "a", ("b",), False),
    ("ForAllValues:StringEquals", ["a", "b"], ("a", "b"), True),
    ("ForAllValues:StringEquals", ["a", "b"], ("a", "c"), False),
    ("ForAllValues:StringEquals", ["a", "b"], None, True),
    ("forallvalues:StringEquals", ["a", "b"], ("a", "c"), False),
    ("ForAnyValue:StringEquals", "a", ("c", "a"), True),
    ("ForAnyValue:StringEquals", "a", ("c",), False),
    ("ForAnyValue:StringEquals", "a", None, False),
    ("foranyvalue:StringEquals", "a", None, False),
    ("ForAnyValue:StringNotEquals", "a", ("a", "b"), True),
    ("ForAnyValue:StringNotEquals", "a", ("a",), False),
    ("ForAnyValue:StringNotEquals", "a", None, False),
    ("ForAllValues:StringNotEquals", "a", ("b", "c"), True),
    ("ForAllValues:StringNotEquals", "a", ("a", "b"), False),
]


@pytest.mark.parametrize(
    ("operator", "values", "request_values", "holds"),
    OPERATORS,
    ids=[f"{op}-{values}-{req}" for op, values, req, _ in OPERATORS],
)
def test_condition_operators(
    operator: str, values: Any, request_values: tuple[str, ...] | None, holds: bool
) -> None:
    cond = condition(operator, "aws:Key", values)
    context = {} if request_values is None else {"aws:key": request_values}
    assert condition_holds(cond, context) is holds


# --- deny_coverage: which Denies count, and what it says when they fall short ---------------

BUCKET = "arn:aws:s3:::example-bucket"
PLAIN_HTTP = RequestClass(
    BUCKET,
    {"aws:securetransport": ("false",), "s3:tlsversion": None},
    description="plain-HTTP requests",
)
HTTP_DENY: dict[str, Any] = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [BUCKET, f"{BUCKET}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def coverage(*statements: dict[str, Any], klass: RequestClass = PLAIN_HTTP) -> Coverage:
    """``deny_coverage`` of a policy made of ``statements``."""
    return deny_coverage(parse_policy({"Statement": list(statements)}), klass)


def test_no_policy_denies_nothing() -> None:
    result = deny_coverage(None, PLAIN_HTTP)
    assert not result.denied
    assert result.gaps == ("no Deny applies to all plain-HTTP requests",)


def test_an_allow_before_the_deny_does_not_stop_the_deny_from_counting() -> None:
    allow = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": BUCKET}
    result = coverage(allow, HTTP_DENY)
    assert result.denied
    assert result.statements == ("#2",)


def test_a_policy_too_complex_to_decide_is_not_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coverage_module, "STATE_LIMIT", 1)
    puts_only = RequestClass(BUCKET, PLAIN_HTTP.fixed, actions=("s3:PutObject",))
    for klass in (PLAIN_HTTP, puts_only):
        result = coverage(HTTP_DENY, klass=klass)
        assert not result.denied
        assert result.gaps == (
            "the policy's patterns are too complex to decide; treated as not denied",
        )


def test_only_denies_on_the_class_s_keys_are_explained() -> None:
    over_tls = {**HTTP_DENY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    from_ip = {**HTTP_DENY, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    result = coverage(over_tls, from_ip)
    assert not result.denied
    assert result.reasons == (
        'statement #1: its condition Bool aws:securetransport ["true"] does not hold for all '
        "plain-HTTP requests",
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"Principal": None, "NotPrincipal": {"AWS": ALICE[1]}},
            f"statement #1 NotPrincipal exempts AWS:{ALICE[1]}",
        ),
        (
            {"Principal": {"AWS": ALICE[1]}},
            f'statement #1 applies only to AWS:{ALICE[1]}, not Principal "*"',
        ),
        ({"Resource": f"{BUCKET}/*"}, "statement #1 does not cover the bucket itself"),
        ({"Resource": BUCKET}, "statement #1 does not cover every object (bucket/*)"),
        (
            {"Action": None, "NotAction": "s3:GetObject"},
            "statement #1 NotAction exempts s3:GetObject",
        ),
        ({"Action": "s3:Get*"}, "statement #1 does not cover every S3 action (s3:*)"),
        (
            {"Resource": f"{BUCKET}/*", "Action": "s3:Get*"},
            "statement #1 does not cover the bucket itself; does not cover every S3 action (s3:*)",
        ),
    ],
)
def test_what_a_deny_leaves_out_is_said(changes: dict[str, Any], reason: str) -> None:
    st = {k: v for k, v in {**HTTP_DENY, **changes}.items() if v is not None}
    result = coverage(st)
    assert not result.denied
    assert result.reasons == (reason,)


def test_objects_only_classes_do_not_ask_for_the_bucket() -> None:
    objects = RequestClass(BUCKET, PLAIN_HTTP.fixed, objects_only=True)
    assert coverage({**HTTP_DENY, "Resource": f"{BUCKET}/*"}, klass=objects).denied
    result = coverage({**HTTP_DENY, "Resource": f"{BUCKET}/*", "Action": "s3:Get*"}, klass=objects)
    assert result.reasons == ("statement #1 does not cover every S3 action (s3:*)",)
