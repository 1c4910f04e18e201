"""IAM policy documents, parsed and normalised for analysis.

A policy's JSON text is parsed once into :class:`Policy`; every question the
checks ask (does this Deny apply to everyone, cover ``s3:GetObject`` on every
object, under which condition) is answered on the parsed form, with IAM's
wildcard and case rules, never by looking for substrings in the JSON.

Matching rules followed here (IAM policy evaluation logic):

* action names are case-insensitive, resource ARNs case-sensitive; ``*`` matches
  any run of characters and ``?`` any single character;
* condition operators and keys are case-insensitive; values of one key are
  OR-ed, separate keys and operators are AND-ed;
* a key absent from the request makes a condition false, except for
  ``...IfExists`` operators (true) and ``ForAllValues:`` (true).

Where an exact answer would need a general wildcard-language inclusion test,
the helpers answer conservatively: they may say "not covered" for an exotic
pattern that does cover, never the reverse. An auditor should err towards a
finding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from securestore.errors import ConfigurationError

__all__ = [
    "BUCKET_ACTIONS",
    "OBJECT_ACTIONS",
    "Condition",
    "DenyCoverage",
    "Policy",
    "Principal",
    "RESTRICTING_KEYS",
    "Statement",
    "analyse_deny_coverage",
    "analyse_min_tls",
    "analyse_tls",
    "analyse_vpc_restriction",
    "parse_policy",
    "pattern_covers_prefix",
    "pattern_may_match_prefix",
    "public_statements",
    "wildcard_match",
]

#: Object-level actions a TLS-only (or VPC-only) deny must cover on ``bucket/*``
#: when it does not simply cover ``s3:*``.
OBJECT_ACTIONS: tuple[str, ...] = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectTagging",
    "s3:RestoreObject",
)

#: Bucket-level actions such a deny must cover on the bucket ARN.
BUCKET_ACTIONS: tuple[str, ...] = (
    "s3:DeleteBucketPolicy",
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicy",
    "s3:GetEncryptionConfiguration",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:PutBucketAcl",
    "s3:PutBucketPolicy",
    "s3:PutEncryptionConfiguration",
)

_EVERYONE = ("*", "*")


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """True if IAM wildcard ``pattern`` (``*`` and ``?``) matches all of ``value``.

    A greedy matcher that backtracks only to the last ``*``: O(len(pattern) *
    len(value)) at worst, so a crafted policy cannot make the audit hang (a
    translated regular expression can take exponential time).
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


def pattern_covers_prefix(pattern: str, prefix: str, *, ignore_case: bool = False) -> bool:
    """True if ``pattern`` matches *every* string that starts with ``prefix``.

    Exact for patterns that end in ``*`` (the only practical kind); a pattern that
    does not end in ``*`` is reported as not covering.
    """
    if not pattern.endswith("*"):
        return False
    head = pattern.rstrip("*")
    return any(
        wildcard_match(head, prefix[:k], ignore_case=ignore_case) for k in range(len(prefix) + 1)
    )


def pattern_may_match_prefix(pattern: str, prefix: str, *, ignore_case: bool = False) -> bool:
    """True if ``pattern`` may match *some* string that starts with ``prefix``.

    Conservative: a ``*`` met before the prefix is exhausted answers True.
    """
    fold = str.lower if ignore_case else (lambda s: s)
    p, q = fold(pattern), fold(prefix)
    j = 0
    for ch in p:
        if ch == "*" or j == len(q):
            return True
        if ch != "?" and ch != q[j]:
            return False
        j += 1
    return j == len(q)


@dataclass(frozen=True)
class Principal:
    """A ``Principal`` or ``NotPrincipal`` element as a set of (kind, value) pairs.

    ``"*"`` is stored as ``("*", "*")``; ``{"AWS": ["a", "b"]}`` as
    ``{("AWS", "a"), ("AWS", "b")}``.
    """

    entries: frozenset[tuple[str, str]]

    @property
    def everyone(self) -> bool:
        """True for ``"*"`` or ``{"AWS": "*"}``: every principal, authenticated or not."""
        return _EVERYONE in self.entries or ("AWS", "*") in self.entries

    def describe(self) -> str:
        """A short human-readable form, sorted."""
        return ", ".join("*" if k == "*" else f"{k}:{v}" for k, v in sorted(self.entries))


@dataclass(frozen=True)
class Condition:
    """One (operator, key) pair of a ``Condition`` block with its values.

    ``base`` is the operator without qualifiers, lower case (``bool``,
    ``numericlessthan``); ``key`` is lower case; values are strings (JSON
    booleans become ``"true"``/``"false"``, numbers their decimal text).
    """

    operator: str
    base: str
    key: str
    values: tuple[str, ...]
    if_exists: bool = False
    set_operator: str | None = None

    def describe(self) -> str:
        """``Operator key values`` as written."""
        vals = ", ".join(self.values)
        return f"{self.operator} {self.key} [{vals}]"


@dataclass(frozen=True)
class Statement:
    """One normalised policy statement.

    Exactly one of ``principal``/``not_principal`` is set in a resource policy
    (both may be ``None`` in an identity policy); the same holds for
    ``actions``/``not_actions`` and ``resources``/``not_resources``.
    """

    index: int
    sid: str | None
    effect: str
    principal: Principal | None
    not_principal: Principal | None
    actions: frozenset[str] | None
    not_actions: frozenset[str] | None
    resources: frozenset[str] | None
    not_resources: frozenset[str] | None
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        """``Sid`` when present, else ``#n`` (1-based)."""
        return self.sid if self.sid else f"#{self.index + 1}"

    @property
    def is_deny(self) -> bool:
        """True for ``"Effect": "Deny"``."""
        return self.effect == "Deny"

    @property
    def applies_to_everyone(self) -> bool:
        """True if the statement names every principal (and exempts none)."""
        return self.not_principal is None and self.principal is not None and self.principal.everyone

    def matches_action(self, action: str) -> bool:
        """True if the statement's Action/NotAction includes ``action``."""
        if self.actions is not None:
            return any(wildcard_match(p, action, ignore_case=True) for p in self.actions)
        if self.not_actions is not None:
            return not any(wildcard_match(p, action, ignore_case=True) for p in self.not_actions)
        return False

    def covers_all_actions(self, prefix: str = "s3:") -> bool:
        """True if every action of the service ``prefix`` (``s3:``) is included."""
        if self.actions is not None:
            return any(pattern_covers_prefix(p, prefix, ignore_case=True) for p in self.actions)
        if self.not_actions is not None:
            return not any(
                pattern_may_match_prefix(p, prefix, ignore_case=True) for p in self.not_actions
            )
        return False

    def matches_resource(self, arn: str) -> bool:
        """True if the statement's Resource/NotResource includes ``arn``."""
        if self.resources is not None:
            return any(wildcard_match(p, arn) for p in self.resources)
        if self.not_resources is not None:
            return not any(wildcard_match(p, arn) for p in self.not_resources)
        return False

    def covers_all_resources(self, prefix: str) -> bool:
        """True if every ARN starting with ``prefix`` (``arn:aws:s3:::b/``) is included."""
        if self.resources is not None:
            return any(pattern_covers_prefix(p, prefix) for p in self.resources)
        if self.not_resources is not None:
            return not any(pattern_may_match_prefix(p, prefix) for p in self.not_resources)
        return False


@dataclass(frozen=True)
class Policy:
    """A parsed policy document."""

    version: str | None
    id: str | None
    statements: tuple[Statement, ...]


def parse_policy(document: str | Mapping[str, Any]) -> Policy:
    """Parse a policy from its JSON text or an already decoded mapping.

    Raises:
        ConfigurationError: the document is not valid JSON or not a policy.
    """
    if isinstance(document, str):
        try:
            data = json.loads(document)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"malformed policy: invalid JSON ({exc.msg})") from exc
    else:
        data = document
    if not isinstance(data, Mapping):
        raise ConfigurationError("malformed policy: the document is not a JSON object")
    raw_statements = data.get("Statement", [])
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise ConfigurationError("malformed policy: Statement is neither an object nor a list")
    statements = tuple(_parse_statement(i, s) for i, s in enumerate(raw_statements))
    version = data.get("Version")
    pid = data.get("Id")
    return Policy(
        version=str(version) if version is not None else None,
        id=str(pid) if pid is not None else None,
        statements=statements,
    )


def _parse_statement(index: int, raw: Any) -> Statement:
    where = f"statement #{index + 1}"
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"malformed policy: {where} is not an object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ConfigurationError(f"malformed policy: {where} has Effect {effect!r}")
    sid = raw.get("Sid")
    return Statement(
        index=index,
        sid=str(sid) if sid not in (None, "") else None,
        effect=effect,
        principal=_principal(raw, "Principal", where),
        not_principal=_principal(raw, "NotPrincipal", where),
        actions=_string_set(raw, "Action", where),
        not_actions=_string_set(raw, "NotAction", where),
        resources=_string_set(raw, "Resource", where),
        not_resources=_string_set(raw, "NotResource", where),
        conditions=_conditions(raw.get("Condition"), where),
    )


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigurationError(f"malformed policy: {what} must be a string or a list of strings")


def _string_set(raw: Mapping[str, Any], name: str, where: str) -> frozenset[str] | None:
    if name not in raw:
        return None
    return frozenset(_strings(raw[name], f"{name} in {where}"))


def _principal(raw: Mapping[str, Any], name: str, where: str) -> Principal | None:
    if name not in raw:
        return None
    value = raw[name]
    if value == "*":
        return Principal(frozenset({_EVERYONE}))
    if not isinstance(value, Mapping):
        raise ConfigurationError(f'malformed policy: {name} in {where} must be "*" or an object')
    entries = {
        (str(kind), item)
        for kind, items in value.items()
        for item in _strings(items, f"{name}.{kind} in {where}")
    }
    return Principal(frozenset(entries))


def _condition_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConfigurationError(
        "malformed policy: condition values must be strings, numbers or booleans"
    )


def _conditions(raw: Any, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"malformed policy: Condition in {where} is not an object")
    out: list[Condition] = []
    for operator, block in raw.items():
        if not isinstance(block, Mapping):
            raise ConfigurationError(f"malformed policy: {operator} in {where} is not an object")
        set_op: str | None = None
        base = str(operator)
        if ":" in base:
            qualifier, base = base.split(":", 1)
            set_op = {"foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}.get(
                qualifier.lower()
            )
            if set_op is None:
                raise ConfigurationError(
                    f"malformed policy: unknown condition qualifier {qualifier!r} in {where}"
                )
        if_exists = base.lower().endswith("ifexists")
        if if_exists:
            base = base[: -len("IfExists")]
        for key, values in block.items():
            vals = values if isinstance(values, list) else [values]
            out.append(
                Condition(
                    operator=str(operator),
                    base=base.lower(),
                    key=str(key).lower(),
                    values=tuple(_condition_value(v) for v in vals),
                    if_exists=if_exists,
                    set_operator=set_op,
                )
            )
    return tuple(out)


# --- deny coverage ---------------------------------------------------------------------------

#: A statement's condition block judged against what a check accepts: the form
#: name when accepted, else the reason why not; ``(None, None)`` means the
#: statement is unrelated to the check and is ignored silently.
ConditionVerdict = tuple[str | None, str | None]


@dataclass(frozen=True)
class DenyCoverage:
    """Whether Deny statements jointly cover every S3 action on a bucket and its objects.

    ``forms`` are the accepted condition forms of the statements that count;
    ``all_actions`` is True when each target is covered by a statement on every
    S3 action (``s3:*``), not only by the action catalogue; ``uncovered`` maps
    ``bucket``/``objects`` to the catalogue actions no counted statement denies;
    ``reasons`` explain why other relevant statements did not count.
    """

    enforced: bool
    forms: tuple[str, ...]
    statements: tuple[str, ...]
    all_actions: bool
    uncovered: Mapping[str, tuple[str, ...]]
    reasons: tuple[str, ...]


def analyse_deny_coverage(
    policy: Policy | None,
    bucket_arn: str,
    judge: Callable[[Statement], ConditionVerdict],
) -> DenyCoverage:
    """Check that Deny statements for every principal, whose conditions ``judge``
    accepts, jointly cover all S3 actions on ``bucket_arn`` and ``bucket_arn/*``."""
    reasons: list[str] = []
    counted: list[tuple[Statement, str]] = []
    for st in policy.statements if policy else ():
        if not st.is_deny:
            continue
        form, problem = judge(st)
        if form is None and problem is None:
            continue
        if problem is not None:
            reasons.append(f"statement {st.label}: {problem}")
            continue
        assert form is not None
        if st.not_principal is not None:
            reasons.append(
                f"statement {st.label}: NotPrincipal exempts {st.not_principal.describe()}, "
                "so the deny does not apply to every principal"
            )
            continue
        if not st.applies_to_everyone:
            who = st.principal.describe() if st.principal else "no principal"
            reasons.append(f'statement {st.label}: applies only to {who}, not to Principal "*"')
            continue
        partial = _partial_reason(st, bucket_arn)
        if partial:
            reasons.append(f"statement {st.label}: {partial}")
        counted.append((st, form))

    objects_prefix = bucket_arn + "/"
    uncovered = {
        "bucket": tuple(
            a
            for a in BUCKET_ACTIONS
            if not any(s.matches_resource(bucket_arn) and s.matches_action(a) for s, _ in counted)
        ),
        "objects": tuple(
            a
            for a in OBJECT_ACTIONS
            if not any(
                s.covers_all_resources(objects_prefix) and s.matches_action(a) for s, _ in counted
            )
        ),
    }
    bucket_all = any(s.matches_resource(bucket_arn) and s.covers_all_actions() for s, _ in counted)
    objects_all = any(
        s.covers_all_resources(objects_prefix) and s.covers_all_actions() for s, _ in counted
    )
    enforced = bool(counted) and not uncovered["bucket"] and not uncovered["objects"]
    useful = [
        (s, f)
        for s, f in counted
        if s.matches_resource(bucket_arn) or s.covers_all_resources(objects_prefix)
    ]
    return DenyCoverage(
        enforced=enforced,
        forms=tuple(sorted({f for _, f in useful})),
        statements=tuple(s.label for s, _ in useful),
        all_actions=bucket_all and objects_all,
        uncovered=uncovered,
        reasons=tuple(reasons),
    )


def _partial_reason(st: Statement, bucket_arn: str) -> str | None:
    """Explain what a relevant Deny leaves out, or None if it covers everything."""
    on_bucket = st.matches_resource(bucket_arn)
    on_objects = st.covers_all_resources(bucket_arn + "/")
    if not on_bucket and not on_objects:
        if st.resources is not None and any(
            pattern_may_match_prefix(p, bucket_arn + "/") for p in st.resources
        ):
            return f"covers only some objects of {bucket_arn}, not {bucket_arn}/*"
        return f"does not name {bucket_arn} or {bucket_arn}/*"
    gaps: list[str] = []
    if not on_bucket:
        gaps.append(f"covers objects only, not the bucket {bucket_arn}")
    if not on_objects:
        gaps.append(f"covers the bucket only, not {bucket_arn}/*")
    if not st.covers_all_actions():
        reads = st.matches_action("s3:GetObject")
        writes = st.matches_action("s3:PutObject")
        if st.not_actions is not None:
            exempt = ", ".join(sorted(st.not_actions))
            gaps.append(f"NotAction exempts {exempt}")
        elif writes and not reads:
            gaps.append("denies uploads only (s3:GetObject is not covered)")
        elif reads and not writes:
            gaps.append("denies reads only (s3:PutObject is not covered)")
        else:
            gaps.append("does not cover every S3 action (s3:*)")
    return "; ".join(gaps) or None


def _tls_judge(minimum: float | None) -> Callable[[Statement], ConditionVerdict]:
    """Accept ``aws:SecureTransport`` false (when ``minimum`` is None) and
    ``s3:TlsVersion`` below a threshold of at least ``minimum`` (1.2 by default)."""
    floor = 1.2

    def judge(st: Statement) -> ConditionVerdict:
        relevant = [c for c in st.conditions if c.key in ("aws:securetransport", "s3:tlsversion")]
        if not relevant:
            return None, None
        if len(st.conditions) > 1:
            others = "; ".join(c.describe() for c in st.conditions)
            return None, (
                f"its conditions are AND-ed ({others}), so it does not apply to every "
                "insecure request"
            )
        cond = relevant[0]
        if cond.set_operator is not None:
            return None, f"{cond.operator} is a multi-valued operator; use Bool or NumericLessThan"
        if cond.key == "aws:securetransport":
            if minimum is not None:
                return None, None
            if cond.base != "bool":
                return None, f"aws:SecureTransport is tested with {cond.operator}; use Bool"
            if "false" not in (v.lower() for v in cond.values):
                return None, "denies when aws:SecureTransport is true, not when it is false"
            return "aws:SecureTransport", None
        threshold = _tls_threshold(cond)
        if threshold is None:
            return None, f"s3:TlsVersion is tested with {cond.operator}; use NumericLessThan"
        need = minimum if minimum is not None else floor
        if threshold < need - 1e-9:
            return None, (
                f"s3:TlsVersion condition still allows TLS {_previous_version(threshold)}; "
                f"it must deny versions below {need:.1f}"
            )
        return "s3:TlsVersion", None

    return judge


_TLS_VERSIONS = (1.0, 1.1, 1.2, 1.3)


def _tls_threshold(cond: Condition) -> float | None:
    """The lowest TLS version a NumericLessThan[Equals] condition lets through."""
    try:
        values = [float(v) for v in cond.values]
    except (TypeError, ValueError):
        return None
    # IAM never matches NaN or infinities: such a condition denies nothing.
    if not values or not all(math.isfinite(v) for v in values):
        return None
    if cond.base == "numericlessthan":
        return max(values)
    if cond.base == "numericlessthanequals":
        top = max(values)
        higher = [v for v in _TLS_VERSIONS if v > top + 1e-9]
        return higher[0] if higher else top + 0.1
    return None


def _previous_version(threshold: float) -> str:
    lower = [v for v in _TLS_VERSIONS if v < threshold - 1e-9]
    return f"{lower[-1]:.1f}" if lower else "below 1.0"


def analyse_tls(policy: Policy | None, bucket_arn: str) -> DenyCoverage:
    """The TLS-only analysis behind ``S3.TLS.1``.

    Accepted forms: ``Bool aws:SecureTransport false`` (string or JSON boolean,
    ``IfExists`` allowed) and ``NumericLessThan s3:TlsVersion`` with a threshold
    of at least 1.2, each alone in its statement's condition block.
    """
    return analyse_deny_coverage(policy, bucket_arn, _tls_judge(None))


def analyse_min_tls(policy: Policy | None, bucket_arn: str, minimum: float = 1.2) -> DenyCoverage:
    """The minimum-TLS-version analysis behind ``S3.TLS.2`` (``s3:TlsVersion`` form only)."""
    return analyse_deny_coverage(policy, bucket_arn, _tls_judge(minimum))


_VPC_KEYS = ("aws:sourcevpce", "aws:sourcevpc")


def _vpc_judge(st: Statement) -> ConditionVerdict:
    relevant = [c for c in st.conditions if c.key in _VPC_KEYS]
    if not relevant:
        return None, None
    if len(st.conditions) > 1:
        return None, "its conditions are AND-ed, so it does not apply to every other network"
    cond = relevant[0]
    if cond.set_operator is not None or cond.base not in ("stringnotequals", "stringnotlike"):
        return None, f"{cond.operator} {cond.key} does not deny requests from other networks"
    if any(v.strip() in ("", "*") for v in cond.values):
        return None, f"{cond.key} allows any value"
    return ("aws:SourceVpce" if cond.key == "aws:sourcevpce" else "aws:SourceVpc"), None


def analyse_vpc_restriction(policy: Policy | None, bucket_arn: str) -> DenyCoverage:
    """Whether a Deny for everyone outside given VPC endpoints/VPCs covers the bucket.

    Accepted form: ``StringNotEquals[IfExists] aws:SourceVpce`` (or
    ``aws:SourceVpc``) alone in the statement's condition block.
    """
    return analyse_deny_coverage(policy, bucket_arn, _vpc_judge)


# --- public access ---------------------------------------------------------------------------

#: Condition keys that, tested positively with concrete values, limit who can
#: use an Allow: the principal's organisation or account, the network, or the
#: calling service's source.
RESTRICTING_KEYS = frozenset(
    {
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceip",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:sourceowner",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:userid",
        "kms:calleraccount",
        "s3:dataaccesspointaccount",
        "s3:dataaccesspointarn",
    }
)

_POSITIVE_OPERATORS = frozenset(
    {
        "arnequals",
        "arnlike",
        "ipaddress",
        "stringequals",
        "stringequalsignorecase",
        "stringlike",
    }
)

_ANY_IP = frozenset({"0.0.0.0/0", "::/0"})


def _restricts(cond: Condition) -> bool:
    if cond.key not in RESTRICTING_KEYS or cond.base not in _POSITIVE_OPERATORS:
        return False
    if cond.if_exists or cond.set_operator == "ForAllValues":
        return False
    return not any(v.strip() in ("", "*") or v.strip() in _ANY_IP for v in cond.values)


def public_statements(policy: Policy | None) -> tuple[tuple[Statement, str], ...]:
    """Allow statements open to every principal without a restricting condition.

    Returns each such statement with a one-line reason. ``NotPrincipal`` in an
    Allow grants every principal except those listed, so it counts as public.
    """
    found: list[tuple[Statement, str]] = []
    for st in policy.statements if policy else ():
        if st.is_deny:
            continue
        if st.not_principal is not None:
            who = f"every principal except {st.not_principal.describe()} (NotPrincipal)"
        elif st.principal is not None and st.principal.everyone:
            who = 'Principal "*"'
        else:
            continue
        if any(_restricts(c) for c in st.conditions):
            continue
        actions = _describe_set(st.actions, st.not_actions, "NotAction")
        found.append(
            (st, f"statement {st.label} allows {actions} to {who} without a restricting condition")
        )
    return tuple(found)


def _describe_set(items: Iterable[str] | None, not_items: Iterable[str] | None, neg: str) -> str:
    if items is not None:
        return ", ".join(sorted(items))
    if not_items is not None:
        return f"everything but {neg} " + ", ".join(sorted(not_items))
    return "nothing"
