"""IAM condition operators, evaluated on a request context.

A context maps condition keys (lower case) to the request's values; a key that
is not in the mapping is absent from the request. The rules (IAM User Guide,
"IAM JSON policy elements: Condition operators" and "Multivalued context keys"):

* the policy values of one key are OR-ed;
* a key absent from the request makes a condition false, except ``...IfExists``
  (true), ``Null`` (which tests exactly that), the negated operators
  (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``, ...: true, the absent
  key "does not match") and ``ForAllValues:`` (true: no value fails);
* ``ForAnyValue:`` holds if one request value matches, ``ForAllValues:`` if all do;
* values that cannot be read as the operator's type (a number, a date, an IP
  range, an ARN) never match.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from securestore.audit.iam.document import Condition

__all__ = [
    "BASE_OPERATORS",
    "NEGATED",
    "Context",
    "condition_holds",
    "probe_values",
    "wildcard_match",
]

#: A request's condition keys (lower case) and their values.
Context = Mapping[str, tuple[str, ...]]

#: Each negated operator and its positive form.
NEGATED = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "numericnotequals": "numericequals",
    "datenotequals": "dateequals",
    "notipaddress": "ipaddress",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
}

_POSITIVE = frozenset(
    {
        "stringequals",
        "stringequalsignorecase",
        "stringlike",
        "numericequals",
        "numericlessthan",
        "numericlessthanequals",
        "numericgreaterthan",
        "numericgreaterthanequals",
        "dateequals",
        "datelessthan",
        "datelessthanequals",
        "dategreaterthan",
        "dategreaterthanequals",
        "bool",
        "binaryequals",
        "ipaddress",
        "arnequals",
        "arnlike",
    }
)

#: Every operator name IAM knows, without ``IfExists`` or a set qualifier, lower case.
BASE_OPERATORS = frozenset(_POSITIVE | set(NEGATED) | {"null"})


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """True if IAM wildcard ``pattern`` (``*`` and ``?``) matches all of ``value``.

    Greedy, backtracking only to the last ``*``: O(len(pattern) * len(value)) at
    worst, so a crafted policy cannot make the audit hang.
    """
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    p = v = 0
    star, mark = -1, 0
    while v < len(value):
        if p < len(pattern) and pattern[p] in ("?", value[v]) and pattern[p] != "*":
            p += 1
            v += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, v
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            v = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _date(text: str) -> float | None:
    number = _number(text)
    if number is not None:
        return number
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _compare(op: str, left: float, right: float) -> bool:
    if op.endswith("lessthanequals"):
        return left <= right
    if op.endswith("lessthan"):
        return left < right
    if op.endswith("greaterthanequals"):
        return left >= right
    if op.endswith("greaterthan"):
        return left > right
    return left == right


def _arn_match(pattern: str, value: str) -> bool:
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != 6 or len(v) != 6:
        return False
    return all(wildcard_match(a, b) for a, b in zip(p, v, strict=True))


def _ip_match(network: str, address: str) -> bool:
    try:
        net = ipaddress.ip_network(network, strict=False)
        addr = ipaddress.ip_address(address.split("/")[0])
    except ValueError:
        return False
    return addr.version == net.version and addr in net


def _match(op: str, policy_value: str, value: str) -> bool:
    """One policy value against one request value under the positive operator ``op``."""
    if "${" in policy_value:
        # A policy variable is resolved from the request; the evaluator does not
        # resolve them, so such a value is never assumed to match.
        return False
    if op == "stringequals" or op == "binaryequals":
        return policy_value == value
    if op == "stringequalsignorecase":
        return policy_value.casefold() == value.casefold()
    if op == "stringlike":
        return wildcard_match(policy_value, value)
    if op.startswith("numeric"):
        left, right = _number(value), _number(policy_value)
        return left is not None and right is not None and _compare(op, left, right)
    if op.startswith("date"):
        left, right = _date(value), _date(policy_value)
        return left is not None and right is not None and _compare(op, left, right)
    if op == "bool":
        return policy_value.lower() in ("true", "false") and policy_value.lower() == value.lower()
    if op == "ipaddress":
        return _ip_match(policy_value, value)
    if op in ("arnequals", "arnlike"):
        return _arn_match(policy_value, value)
    return False


def condition_holds(cond: Condition, context: Context) -> bool:
    """True if ``cond`` holds for the request whose keys are ``context``."""
    values = context.get(cond.key)
    present = bool(values)
    if cond.base == "null":
        wants = {v.lower() for v in cond.values}
        return ("true" in wants and not present) or ("false" in wants and present)
    negated = cond.base in NEGATED
    op = NEGATED.get(cond.base, cond.base)
    if not present:
        if cond.if_exists or cond.set_operator == "ForAllValues":
            return True
        if cond.set_operator == "ForAnyValue":
            return False
        return negated
    assert values is not None

    def satisfied(value: str) -> bool:
        hit = any(_match(op, pv, value) for pv in cond.values)
        return not hit if negated else hit

    if cond.set_operator == "ForAllValues":
        return all(satisfied(v) for v in values)
    if cond.set_operator == "ForAnyValue":
        return any(satisfied(v) for v in values)
    if negated:
        return not any(any(_match(op, pv, v) for pv in cond.values) for v in values)
    return any(satisfied(v) for v in values)


def probe_values(cond: Condition) -> list[tuple[str, ...] | None]:
    """Request values of ``cond.key`` that a universally true condition must accept:
    absent, the policy's own values (wildcards filled in), their neighbours, and
    values unrelated to them. Used to find a request a condition does not hold for."""
    singles: list[str] = ["securestore-probe", "", "true", "false", "0", "-1e12", "1e12"]
    singles += ["0.0.0.0", "255.255.255.255", "::", "ffff::1"]  # noqa: S104 - request values
    singles += ["arn:aws:iam::000000000000:role/securestore-probe"]
    singles += ["1970-01-01T00:00:00Z", "2999-12-31T23:59:59Z"]
    for pv in cond.values:
        singles += [pv, pv.replace("*", "").replace("?", "x"), pv.replace("*", "securestore")]
        number = _date(pv) if cond.base.startswith("date") else _number(pv)
        if number is not None:
            singles += [repr(number - 0.1), repr(number + 0.1), repr(number)]
        try:
            net = ipaddress.ip_network(pv, strict=False)
        except ValueError:
            continue
        singles += [str(net.network_address), str(net.broadcast_address)]
        if int(net.network_address) > 0:
            singles.append(str(net.network_address - 1))
        if int(net.broadcast_address) < (2**net.max_prefixlen) - 1:
            singles.append(str(net.broadcast_address + 1))
    out: list[tuple[str, ...] | None] = [None]
    out += [(s,) for s in dict.fromkeys(singles)]
    out += [(s, "securestore-probe") for s in dict.fromkeys(cond.values)]
    return out
