"""Hypothesis strategies shared by the fuzz tests: mutated messages and hostile policies."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from securestore.audit.policy import BUCKET_ACTIONS, OBJECT_ACTIONS

__all__ = ["json_values", "mutated", "policy_documents", "statements"]


@st.composite
def mutated(draw: st.DrawFn, base: bytes, *, max_edits: int = 4) -> bytes:
    """``base`` after a few edits: bit flips, boundary bytes, cuts, insertions,
    appended garbage and duplicated runs (zero edits returns ``base`` itself)."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, max_edits))):
        edit = draw(st.sampled_from(["flip", "set", "cut", "delete", "insert", "append", "dup"]))
        size = len(data)
        if edit in ("flip", "set") and size:
            at = draw(st.integers(0, size - 1))
            if edit == "flip":
                data[at] ^= draw(st.integers(1, 255))
            else:
                data[at] = draw(st.sampled_from([0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF]))
        elif edit == "cut":
            data = data[: draw(st.integers(0, size))]
        elif edit == "delete" and size:
            at = draw(st.integers(0, size - 1))
            del data[at : at + draw(st.integers(1, 32))]
        elif edit == "insert":
            at = draw(st.integers(0, size))
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "append":
            data += draw(st.binary(min_size=1, max_size=64))
        elif edit == "dup" and size:
            start = draw(st.integers(0, size - 1))
            run = bytes(data[start : start + draw(st.integers(1, 128))])
            data[draw(st.integers(0, size)) : 0] = run
    return bytes(data)


# --- policies -------------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)

#: Any JSON-ish value (what a hostile or broken document may hold anywhere).
json_values = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)

# Wildcard-heavy patterns on purpose: a backtracking matcher takes exponential time on
# them (tests/fuzz/test_policies.py keeps a crafted one as a regression test).
_PATTERN_CHARS = st.sampled_from(list("s3:**??GetObjectPutListBucket-_./ab"))

_ACTIONS = st.sampled_from(
    [
        *OBJECT_ACTIONS,
        *BUCKET_ACTIONS,
        "s3:*",
        "*",
        "s3:Get*",
        "s3:Put*",
        "S3:GETOBJECT",
        "s3:?etObject",
        "kms:*",
        "s3:List*",
        "s3:",
    ]
) | st.text(_PATTERN_CHARS, max_size=16)
_BUCKET = "example-bucket"
_RESOURCES = st.sampled_from(
    [
        f"arn:aws:s3:::{_BUCKET}",
        f"arn:aws:s3:::{_BUCKET}/*",
        "*",
        "arn:aws:s3:::example-*",
        f"arn:aws:s3:::{_BUCKET}/private/*",
        "arn:aws:s3:::other-bucket/*",
        f"arn:aws:s3:::{_BUCKET}*",
        f"arn:aws:s3:::{_BUCKET}/?",
        "",
    ]
) | st.text(_PATTERN_CHARS, max_size=24)
_OPERATORS = st.sampled_from(
    [
        "Bool",
        "BoolIfExists",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "StringEquals",
        "StringNotEquals",
        "StringNotEqualsIfExists",
        "StringLike",
        "StringNotLike",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringNotEquals",
        "Null",
        "IpAddress",
        "ArnLike",
        "Weird:Bool",
        "",
        "IfExists",
        "ForAnyValue:",
    ]
) | st.text(max_size=10)
_CONDITION_KEYS = st.sampled_from(
    [
        "aws:SecureTransport",
        "aws:securetransport",
        "s3:TlsVersion",
        "aws:SourceVpce",
        "aws:SourceVpc",
        "aws:PrincipalOrgID",
        "aws:SourceIp",
        "kms:CallerAccount",
        "aws:UserAgent",
    ]
) | st.text(max_size=10)
_CONDITION_VALUES = (
    st.sampled_from(
        [
            "false",
            "true",
            "False",
            "1.2",
            "1.3",
            "1.0",
            "1.1",
            "vpce-1a2b",
            "*",
            "",
            "0.0.0.0/0",
            "o-abc",
            "111122223333",
            "NaN",
            "inf",
            "-1",
        ]
    )
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=True)
    | json_values
)


def _one_or_many(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values | st.lists(values, min_size=1, max_size=3)


def _mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` about nine times out of ten, anything JSON-ish otherwise."""
    return st.integers(0, 9).flatmap(lambda n: good if n else json_values)


_PRINCIPALS = _mostly(
    st.just("*")
    | st.fixed_dictionaries(
        {
            "AWS": _one_or_many(
                st.sampled_from(["*", "arn:aws:iam::111122223333:root", "111122223333"])
            )
        }
    )
    | st.dictionaries(
        st.sampled_from(["AWS", "Service", "Federated", "CanonicalUser"]),
        _one_or_many(st.text(max_size=8)),
        min_size=1,
        max_size=2,
    )
)
_CONDITIONS = _mostly(
    st.dictionaries(
        _OPERATORS,
        _mostly(
            st.dictionaries(
                _CONDITION_KEYS, _mostly(_one_or_many(_CONDITION_VALUES)), min_size=1, max_size=2
            )
        ),
        min_size=1,
        max_size=3,
    )
)
_GOOD_STATEMENTS = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny"])},
    optional={
        "Sid": st.text(max_size=8),
        "Principal": _PRINCIPALS,
        "NotPrincipal": _PRINCIPALS,
        "Action": _mostly(_one_or_many(_ACTIONS)),
        "NotAction": _mostly(_one_or_many(_ACTIONS)),
        "Resource": _mostly(_one_or_many(_RESOURCES)),
        "NotResource": _mostly(_one_or_many(_RESOURCES)),
        "Condition": _CONDITIONS,
    },
)
_BAD_STATEMENTS = (
    st.fixed_dictionaries(
        {},
        optional={
            name: json_values
            for name in (
                "Sid",
                "Effect",
                "Principal",
                "NotPrincipal",
                "Action",
                "NotAction",
                "Resource",
                "NotResource",
                "Condition",
            )
        },
    )
    | json_values
)

#: One statement: usually well-formed with odd values, sometimes wrong types anywhere.
# Shaped like the TLS-only, VPC-only and public statements the checks look for.
_TARGETED_STATEMENTS = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Deny", "Deny", "Allow"]),
        "Principal": st.sampled_from(["*", {"AWS": "*"}, {"AWS": ["*", "111122223333"]}]),
        "Action": _one_or_many(_ACTIONS),
        "Resource": _one_or_many(_RESOURCES),
        "Condition": st.dictionaries(
            _OPERATORS,
            st.dictionaries(
                _CONDITION_KEYS, _one_or_many(_CONDITION_VALUES), min_size=1, max_size=2
            ),
            min_size=1,
            max_size=2,
        ),
    },
    optional={
        "NotPrincipal": _PRINCIPALS,
        "NotAction": _one_or_many(_ACTIONS),
        "NotResource": _one_or_many(_RESOURCES),
    },
)

#: One statement: well-formed with odd values, shaped like what the checks look for,
#: or (one time in ten) with wrong types anywhere.
statements = st.integers(0, 9).flatmap(
    lambda n: _BAD_STATEMENTS if n == 0 else _GOOD_STATEMENTS if n < 5 else _TARGETED_STATEMENTS
)

#: A whole document: mostly policy-shaped, sometimes anything at all.
policy_documents = _mostly(
    st.fixed_dictionaries(
        {"Statement": st.lists(statements, min_size=1, max_size=4) | statements},
        optional={
            "Version": st.sampled_from(["2012-10-17", "2008-10-17"]) | json_values,
            "Id": json_values,
        },
    )
)
