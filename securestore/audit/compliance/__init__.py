"""Compliance frameworks: data files mapping each requirement to check ids.

One JSON file per framework lives beside this module (package data)::

    {"id": "aws-fsbp", "name": "...", "version": "...", "url": "...",
     "requirements": [{"id": "S3.5", "title": "...", "checks": ["S3.TLS.1"]}]}

Requirement titles are short paraphrases; the ids are as the framework
publishes them. A requirement lists every check that provides evidence for it.

A requirement is judged by its own definition, not by the audit's options:
``"options": {"require": "kms"}`` runs its checks with that encryption floor
whatever ``--require`` says (FSBP S3.17 asks for KMS keys), and
``"applies_to": "cloudtrail-buckets"`` limits it to the buckets CloudTrail
delivers logs to (CIS 3.4); on other buckets its checks are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from securestore.audit.model import Result, Status
from securestore.errors import ConfigurationError

__all__ = [
    "APPLIES_TO",
    "Framework",
    "Requirement",
    "RequirementSummary",
    "available_frameworks",
    "load_all_frameworks",
    "load_framework",
    "summarise",
]


#: The values ``applies_to`` may take: the buckets a requirement is about.
APPLIES_TO = frozenset({"cloudtrail-buckets"})

#: The audit options a requirement may fix (see the module docstring).
_OPTIONS = frozenset({"require"})


@dataclass(frozen=True)
class Requirement:
    """One requirement (control) of a framework and the checks that evidence it.

    ``options`` are audit options the requirement's definition fixes
    (``{"require": "kms"}``); ``applies_to`` limits it to some buckets
    (``"cloudtrail-buckets"``), ``None`` for every bucket.
    """

    id: str
    title: str
    checks: tuple[str, ...]
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    applies_to: str | None = None


@dataclass(frozen=True)
class Framework:
    """A compliance framework as shipped in a data file."""

    id: str
    name: str
    version: str
    url: str
    requirements: tuple[Requirement, ...]

    @property
    def check_ids(self) -> frozenset[str]:
        """Every check id any requirement references."""
        return frozenset(c for r in self.requirements for c in r.checks)

    def requirements_for(self, check_id: str) -> tuple[Requirement, ...]:
        """The requirements that reference ``check_id``."""
        return tuple(r for r in self.requirements if check_id in r.checks)

    def options_for(self, check_id: str) -> dict[str, str]:
        """The audit options the requirements mapping ``check_id`` fix (merged)."""
        merged: dict[str, str] = {}
        for requirement in self.requirements_for(check_id):
            merged.update(requirement.options)
        return merged

    def scopes_for(self, check_id: str) -> frozenset[str | None]:
        """The ``applies_to`` of every requirement mapping ``check_id``."""
        return frozenset(r.applies_to for r in self.requirements_for(check_id))


def available_frameworks() -> tuple[str, ...]:
    """The ids of the shipped frameworks, sorted."""
    root = resources.files(__package__)
    return tuple(
        sorted(
            entry.name[: -len(".json")] for entry in root.iterdir() if entry.name.endswith(".json")
        )
    )


def load_framework(name: str) -> Framework:
    """Load the shipped framework ``name`` (see :func:`available_frameworks`).

    Raises:
        ConfigurationError: no such framework, or its data file is malformed.
    """
    if name not in available_frameworks():
        raise ConfigurationError(
            f"unknown compliance framework {name!r}",
            hint="choose one of: " + ", ".join(available_frameworks()),
        )
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return _parse(json.loads(text), name)


def load_all_frameworks() -> tuple[Framework, ...]:
    """Every shipped framework, sorted by id."""
    return tuple(load_framework(name) for name in available_frameworks())


def _parse(data: Any, name: str) -> Framework:
    try:
        framework = Framework(
            id=str(data["id"]),
            name=str(data["name"]),
            version=str(data["version"]),
            url=str(data.get("url", "")),
            requirements=tuple(
                Requirement(
                    id=str(r["id"]),
                    title=str(r["title"]),
                    checks=tuple(str(c) for c in r["checks"]),
                    options={str(k): str(v) for k, v in r.get("options", {}).items()},
                    applies_to=str(r["applies_to"]) if r.get("applies_to") else None,
                )
                for r in data["requirements"]
            ),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"malformed framework file {name}.json: {exc}") from exc
    for requirement in framework.requirements:
        unknown = set(requirement.options) - _OPTIONS
        if unknown or (requirement.applies_to not in (None, *APPLIES_TO)):
            raise ConfigurationError(
                f"malformed framework file {name}.json: requirement {requirement.id} has "
                f"unknown options {sorted(unknown)} or applies_to {requirement.applies_to!r}"
            )
    if framework.id != name:
        raise ConfigurationError(f"framework file {name}.json declares id {framework.id!r}")
    return framework


@dataclass(frozen=True)
class RequirementSummary:
    """How the audited buckets fare on one requirement.

    ``status`` is FAIL if any mapped result failed (unsuppressed), else ERROR if any
    could not be evaluated, else PASS if any passed, else SKIP.
    """

    requirement: Requirement
    status: Status
    passed: int
    failed: int
    errors: int
    suppressed: int
    results: tuple[Result, ...]


def summarise(framework: Framework, results: Sequence[Result]) -> tuple[RequirementSummary, ...]:
    """Group ``results`` by the framework's requirements, in the framework's order."""
    out = []
    for req in framework.requirements:
        mapped = tuple(r for r in results if r.check_id in req.checks)
        failed = sum(1 for r in mapped if r.status is Status.FAIL and not r.suppressed)
        errors = sum(1 for r in mapped if r.status is Status.ERROR and not r.suppressed)
        passed = sum(1 for r in mapped if r.status is Status.PASS)
        suppressed = sum(1 for r in mapped if r.suppressed)
        if failed:
            status = Status.FAIL
        elif errors:
            status = Status.ERROR
        elif passed:
            status = Status.PASS
        else:
            status = Status.SKIP
        out.append(RequirementSummary(req, status, passed, failed, errors, suppressed, mapped))
    return tuple(out)
