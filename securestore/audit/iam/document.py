"""Policy documents, parsed as strictly as AWS parses them.

Anything AWS would refuse to store (``"Effect": "deny"``, both ``Action`` and
``NotAction``, an unknown condition operator, ...) raises
:class:`~securestore.errors.ConfigurationError` whose message, ``malformed
policy: ...``, names the problem; the checks report it as an ``ERROR``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from securestore.audit.iam.conditions import BASE_OPERATORS, wildcard_match
from securestore.errors import ConfigurationError

__all__ = [
    "Condition",
    "Policy",
    "Principal",
    "Statement",
    "parse_policy",
    "partition_for_region",
]

_VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_PRINCIPAL_KINDS = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_EVERYONE = ("*", "*")


def partition_for_region(region: str | None) -> str:
    """The ARN partition of ``region``: ``aws-cn``, ``aws-us-gov`` or ``aws``."""
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# --- the parsed form -------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """A ``Principal``/``NotPrincipal`` element as (kind, value) pairs (``"*"``: ``("*", "*")``)."""

    entries: frozenset[tuple[str, str]]

    @property
    def everyone(self) -> bool:
        """True when an entry is or contains ``*``: every principal (AWS accepts only
        ``"*"`` and ``{"AWS": "*"}``; any other wildcard is read the widest way)."""
        return any("*" in value for _, value in self.entries)

    def describe(self) -> str:
        """A short human-readable form, sorted."""
        return ", ".join("*" if k == "*" else f"{k}:{v}" for k, v in sorted(self.entries))

    def matches(self, who: tuple[str, str, str | None], *, widest: bool = True) -> bool:
        """True if the principal ``who`` = (kind, arn-or-name, account) is named here.

        AWS reads only ``"*"`` and ``{"AWS": "*"}`` as every principal and takes no
        partial wildcard in a principal. Other wildcards are read the widest way
        (any ``*`` names everyone, a partial one matches as a pattern) when that is
        the cautious reading, as for an Allow; with ``widest=False`` (a Deny) they
        are read the narrowest way: ``{"Service": "*"}`` names only services, and a
        partial wildcard only itself.
        """
        kind, name, account = who
        for k, value in self.entries:
            if widest:
                if value == "*" or ("*" in value and wildcard_match(value, name)):
                    return True
            elif value == "*" and k in ("*", "AWS", kind):
                return True
            if k != kind:
                continue
            if value == name:
                return True
            if (
                kind == "AWS"
                and account is not None
                and value
                in (
                    account,
                    f"arn:{arn_partition(name)}:iam::{account}:root",
                )
            ):
                return True
        return False


@dataclass(frozen=True)
class Condition:
    """One (operator, key) pair of a ``Condition`` block with its values.

    ``base`` is the operator without qualifiers in lower case (``bool``,
    ``numericlessthan``); ``key`` is lower case; values are strings (JSON
    booleans become ``"true"``/``"false"``).
    """

    operator: str
    base: str
    key: str
    values: tuple[str, ...]
    if_exists: bool = False
    set_operator: str | None = None

    def describe(self) -> str:
        """``Operator key ["values"]`` (key in lower case, values as a JSON list)."""
        return f"{self.operator} {self.key} {json.dumps(list(self.values))}"


@dataclass(frozen=True)
class Statement:
    """One statement; of each pair (``principal``/``not_principal``, ...) at most one is set."""

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

    def matches_principal(self, who: tuple[str, str, str | None]) -> bool:
        """True if the statement applies to principal ``who`` (see :meth:`Principal.matches`).

        Where a principal's reading is in doubt, an Allow is read as applying to as
        many principals as it can and a Deny to as few: neither then makes a
        bucket look safer than it is.
        """
        if self.not_principal is not None:
            return not self.not_principal.matches(who, widest=self.is_deny)
        return self.principal is not None and self.principal.matches(who, widest=not self.is_deny)

    def matches_action(self, action: str) -> bool:
        """True if Action/NotAction includes ``action`` (case-insensitive)."""
        if self.actions is not None:
            return any(wildcard_match(p, action, ignore_case=True) for p in self.actions)
        assert self.not_actions is not None
        return not any(wildcard_match(p, action, ignore_case=True) for p in self.not_actions)

    def matches_resource(self, arn: str) -> bool:
        """True if Resource/NotResource includes ``arn`` (policy variables never match)."""
        if self.resources is not None:
            return any("${" not in p and wildcard_match(p, arn) for p in self.resources)
        if self.not_resources is not None:
            return not any("${" in p or wildcard_match(p, arn) for p in self.not_resources)
        return False


@dataclass(frozen=True)
class Policy:
    """A parsed policy document."""

    version: str | None
    id: str | None
    statements: tuple[Statement, ...]


def _malformed(problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"malformed policy: {problem}", hint="AWS would refuse this policy document; fix it"
    )


def parse_policy(document: str | Mapping[str, Any]) -> Policy:
    """Parse a policy from its JSON text or a decoded mapping, as strictly as AWS does.

    Raises:
        ConfigurationError: the document is not valid JSON or not a policy AWS
            would accept; the message (``malformed policy: ...``) names the problem.
    """
    if isinstance(document, str):
        try:
            data = json.loads(document)
        except json.JSONDecodeError as exc:
            raise _malformed(f"invalid JSON ({exc.msg})") from exc
    else:
        data = document
    if not isinstance(data, Mapping):
        raise _malformed("the document is not a JSON object")
    unknown = sorted(str(k) for k in data if k not in _TOP_KEYS)
    if unknown:
        raise _malformed(f"unknown top-level element {unknown[0]!r}")
    version = data.get("Version")
    if version is not None and version not in _VERSIONS:
        raise _malformed(f"Version {version!r} is not 2012-10-17 or 2008-10-17")
    if "Statement" not in data:
        raise _malformed("no Statement")
    raw_statements = data["Statement"]
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise _malformed("Statement is neither an object nor a list")
    pid = data.get("Id")
    if pid is not None and not isinstance(pid, str):
        raise _malformed("Id is not a string")
    return Policy(
        version=version,
        id=pid,
        statements=tuple(_parse_statement(i, s) for i, s in enumerate(raw_statements)),
    )


def _parse_statement(index: int, raw: Any) -> Statement:
    where = f"statement #{index + 1}"
    if not isinstance(raw, Mapping):
        raise _malformed(f"{where} is not an object")
    unknown = sorted(str(k) for k in raw if k not in _STATEMENT_KEYS)
    if unknown:
        raise _malformed(f"{where} has unknown element {unknown[0]!r}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _malformed(
            f'{where} has Effect {effect!r}: AWS accepts exactly "Allow" or "Deny" (case-sensitive)'
        )
    for a, b in (
        ("Principal", "NotPrincipal"),
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
    ):
        if a in raw and b in raw:
            raise _malformed(f"{where} has both {a} and {b}")
    if "Action" not in raw and "NotAction" not in raw:
        raise _malformed(f"{where} has neither Action nor NotAction")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise _malformed(f"Sid of {where} is not a string")
    return Statement(
        index=index,
        sid=sid or None,
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
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _malformed(f"{what} must be a string or a non-empty list of strings")


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
    if not isinstance(value, Mapping) or not value:
        raise _malformed(f'{name} in {where} must be "*" or a non-empty object')
    entries: set[tuple[str, str]] = set()
    for kind, items in value.items():
        if kind not in _PRINCIPAL_KINDS:
            raise _malformed(f"{name} in {where} has unknown principal type {kind!r}")
        entries.update((kind, item) for item in _strings(items, f"{name}.{kind} in {where}"))
    return Principal(frozenset(entries))


def _condition_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise _malformed(f"condition values in {where} must be strings, numbers or booleans")


def _conditions(raw: Any, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise _malformed(f"Condition in {where} is not an object")
    out: list[Condition] = []
    for operator, block in raw.items():
        if not isinstance(block, Mapping):
            raise _malformed(f"{operator} in {where} is not an object")
        base = str(operator)
        set_op: str | None = None
        if ":" in base:
            qualifier, base = base.split(":", 1)
            set_op = {"foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}.get(
                qualifier.lower()
            )
            if set_op is None:
                raise _malformed(f"unknown condition qualifier {qualifier!r} in {where}")
        if_exists = base.lower().endswith("ifexists") and base.lower() != "ifexists"
        if if_exists:
            base = base[: -len("IfExists")]
        if base.lower() not in BASE_OPERATORS or (if_exists and base.lower() == "null"):
            raise _malformed(f"unknown condition operator {operator!r} in {where}")
        for key, values in block.items():
            vals = values if isinstance(values, list) else [values]
            out.append(
                Condition(
                    operator=str(operator),
                    base=base.lower(),
                    key=str(key).lower(),
                    values=tuple(_condition_value(v, where) for v in vals),
                    if_exists=if_exists,
                    set_operator=set_op,
                )
            )
    return tuple(out)


def arn_partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "arn" else "aws"
