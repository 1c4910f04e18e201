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

from securestore.errors import ConfigurationError

__all__ = ["Filters"]


@dataclass(frozen=True)
class Filters:
    """An ordered list of ``("include"|"exclude", pattern)`` rules."""

    rules: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, rules: Iterable[tuple[str, str]]) -> Filters:
        """Build from ``(kind, pattern)`` pairs in the order the user gave them.

        Raises:
            ConfigurationError: a rule that is not an ``("include"|"exclude", str)`` pair.
        """
        checked = []
        for rule in rules:
            if not isinstance(rule, tuple) or len(rule) != 2:
                raise ConfigurationError(f"a filter is a (kind, pattern) pair, not {rule!r}")
            kind, pattern = rule
            if kind not in ("include", "exclude"):
                raise ConfigurationError(
                    f"unknown filter kind {kind!r}", hint="use 'include' or 'exclude'"
                )
            if not isinstance(pattern, str):
                raise ConfigurationError(f"a filter pattern must be a string, not {pattern!r}")
            checked.append((kind, pattern))
        return cls(tuple(checked))

    def selects(self, relative: str) -> bool:
        """Whether ``relative`` (a path below the source root) is transferred."""
        selected = True
        for kind, pattern in self.rules:
            if fnmatch.fnmatchcase(relative, pattern):
                selected = kind == "include"
        return selected
