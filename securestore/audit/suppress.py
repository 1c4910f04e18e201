"""Suppressions: accepted findings, listed in every report, never silently dropped.

A suppression file is JSON or TOML. JSON: a list (or ``{"suppressions": [...]}``)
of objects; TOML: ``[[suppression]]`` tables. Each entry has ``check_id``,
``bucket`` (a glob: ``logs-*``), ``reason`` and optionally ``expires``
(``YYYY-MM-DD``, the last day it applies)::

    [[suppression]]
    check_id = "S3.DATA.4"
    bucket = "access-logs-*"
    reason = "log buckets do not log themselves"
    expires = 2027-06-30

An expired suppression no longer suppresses; it is reported as expired.
"""

from __future__ import annotations

import enum
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from securestore.audit.model import Result, Status, Suppression
from securestore.errors import ConfigurationError

__all__ = [
    "SuppressionState",
    "SuppressionStatus",
    "apply_suppressions",
    "load_suppressions",
    "parse_suppressions",
]

#: Statuses a suppression can accept.
SUPPRESSIBLE = frozenset({Status.FAIL, Status.ERROR})


class SuppressionState(enum.StrEnum):
    """Whether a suppression applied during this audit."""

    ACTIVE = "active"
    EXPIRED = "expired"
    UNUSED = "unused"


@dataclass(frozen=True)
class SuppressionStatus:
    """A suppression with its state in this audit and how many results it matched."""

    suppression: Suppression
    state: SuppressionState
    matched: int


def load_suppressions(path: str | Path) -> tuple[Suppression, ...]:
    """Read a suppression file (``.toml`` is read as TOML, anything else as JSON).

    Raises:
        ConfigurationError: the file is missing or malformed.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read suppression file {p}: {exc.strerror}") from exc
    return parse_suppressions(text, toml=p.suffix.lower() == ".toml", source=str(p))


def parse_suppressions(
    text: str, *, toml: bool = False, source: str = "suppressions"
) -> tuple[Suppression, ...]:
    """Parse suppression entries from JSON (or TOML) text.

    Raises:
        ConfigurationError: malformed text or entry (the message names the entry).
    """
    data: Any
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if toml else "JSON"
        raise ConfigurationError(f"{source}: not valid {kind}: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("suppression", data.get("suppressions", []))
    if not isinstance(data, list):
        raise ConfigurationError(f"{source}: expected a list of suppressions")
    return tuple(_entry(item, f"{source}: entry {i + 1}") for i, item in enumerate(data))


def _entry(item: Any, where: str) -> Suppression:
    if not isinstance(item, dict):
        raise ConfigurationError(f"{where} is not an object")
    unknown = set(item) - {"check_id", "bucket", "reason", "expires"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for name in ("check_id", "bucket", "reason"):
        if not isinstance(item.get(name), str) or not item[name].strip():
            raise ConfigurationError(f"{where}: {name} is required and must be a non-empty string")
    expires = item.get("expires")
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError:
            raise ConfigurationError(f"{where}: expires must be YYYY-MM-DD") from None
    if expires is not None and not isinstance(expires, date):
        raise ConfigurationError(f"{where}: expires must be YYYY-MM-DD")
    return Suppression(
        check_id=item["check_id"], bucket=item["bucket"], reason=item["reason"], expires=expires
    )


def apply_suppressions(
    results: Iterable[Result], suppressions: Sequence[Suppression], *, today: date
) -> tuple[tuple[Result, ...], tuple[SuppressionStatus, ...]]:
    """Mark FAIL/ERROR results that an unexpired suppression matches.

    Returns the results (suppressed ones carry ``suppressed_by``) and every
    suppression's state, in file order.
    """
    counts = [0] * len(suppressions)
    out: list[Result] = []
    for result in results:
        if result.status in SUPPRESSIBLE:
            for i, sup in enumerate(suppressions):
                if not sup.expired(today) and sup.matches(result.check_id, result.bucket):
                    counts[i] += 1
                    result = replace(result, suppressed_by=sup)
                    break
        out.append(result)
    states = tuple(
        SuppressionStatus(
            suppression=sup,
            state=SuppressionState.EXPIRED
            if sup.expired(today)
            else SuppressionState.ACTIVE
            if counts[i]
            else SuppressionState.UNUSED,
            matched=counts[i],
        )
        for i, sup in enumerate(suppressions)
    )
    return tuple(out), states
