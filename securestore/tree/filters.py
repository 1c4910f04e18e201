"""``--include``/``--exclude`` filters with aws-cli's semantics.

Every path starts included; the filters are then applied in the order given and
the last one that matches decides. Patterns are matched against the path
relative to the source root (``/``-separated) with :func:`fnmatch.fnmatchcase`,
where ``*`` also matches ``/`` (as in aws-cli: ``--exclude '*' --include
'*.txt'`` selects every ``.txt`` file at any depth).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Filters"]


@dataclass(frozen=True)
class Filters:
    """An ordered list of ``("include"|"exclude", pattern)`` rules."""

    rules: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, rules: Iterable[tuple[str, str]]) -> Filters:
        """Build from ``(kind, pattern)`` pairs in the order the user gave them."""
        checked = []
        for kind, pattern in rules:
            if kind not in ("include", "exclude"):
                raise ValueError(f"unknown filter kind {kind!r}")
            checked.append((kind, pattern))
        return cls(tuple(checked))

    def selects(self, relative: str) -> bool:
        """Whether ``relative`` (a path below the source root) is transferred."""
        selected = True
        for kind, pattern in self.rules:
            if fnmatch.fnmatchcase(relative, pattern):
                selected = kind == "include"
        return selected
