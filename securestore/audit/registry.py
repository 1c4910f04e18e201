"""The registry of checks: the built-in ones plus plug-ins.

Third parties add checks through the entry point group
``securestore.audit_checks``; an entry point may load a
:class:`~securestore.audit.check.Check`, an iterable of them, or a callable
returning either::

    [project.entry-points."securestore.audit_checks"]
    acme = "acme_audit.checks:CHECKS"
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import metadata
from typing import Any

from securestore.audit.check import Check
from securestore.audit.checks import BUILTIN_CHECKS
from securestore.errors import ConfigurationError

__all__ = ["ENTRY_POINT_GROUP", "Registry"]

#: The entry point group plug-in checks register under.
ENTRY_POINT_GROUP = "securestore.audit_checks"


class Registry:
    """An ordered, id-unique collection of checks.

    Raises:
        ConfigurationError: two checks share an id.
    """

    def __init__(self, checks: Iterable[Check] = ()) -> None:
        self._checks: dict[str, Check] = {}
        for item in checks:
            self.add(item)

    @classmethod
    def builtin(cls) -> Registry:
        """The built-in checks only."""
        return cls(BUILTIN_CHECKS)

    @classmethod
    def default(cls) -> Registry:
        """The built-in checks plus every installed plug-in."""
        registry = cls.builtin()
        for item in load_plugins():
            registry.add(item)
        return registry

    def add(self, item: Check) -> None:
        """Add one check.

        Raises:
            ConfigurationError: not a Check, or its id is already taken.
        """
        if not isinstance(item, Check):
            raise ConfigurationError(f"not an audit check: {item!r}")
        if item.id in self._checks:
            raise ConfigurationError(f"duplicate check id {item.id}")
        self._checks[item.id] = item

    def get(self, check_id: str) -> Check:
        """The check with ``check_id``.

        Raises:
            ConfigurationError: no such check.
        """
        try:
            return self._checks[check_id]
        except KeyError:
            raise ConfigurationError(f"unknown check id {check_id!r}") from None

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def __iter__(self) -> Iterator[Check]:
        return iter(self._checks.values())

    def __len__(self) -> int:
        return len(self._checks)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every check id, in registration order."""
        return tuple(self._checks)


def load_plugins(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> list[Check]:
    """Load the checks published under :data:`ENTRY_POINT_GROUP`.

    Raises:
        ConfigurationError: an entry point fails to load or yields something that
            is not a check (the error names the entry point).
    """
    eps = (
        entry_points if entry_points is not None else metadata.entry_points(group=ENTRY_POINT_GROUP)
    )
    found: list[Check] = []
    for ep in eps:
        try:
            loaded: Any = ep.load()
        except Exception as exc:
            raise ConfigurationError(
                f"audit check plug-in {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        if callable(loaded) and not isinstance(loaded, Check):
            loaded = loaded()
        items = [loaded] if isinstance(loaded, Check) else list(_iterate(loaded, ep.name))
        for item in items:
            if not isinstance(item, Check):
                raise ConfigurationError(
                    f"audit check plug-in {ep.name!r} provided {type(item).__name__}, not a Check"
                )
            found.append(item)
    return found


def _iterate(value: Any, name: str) -> Iterable[Any]:
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return value
    raise ConfigurationError(f"audit check plug-in {name!r} provided {type(value).__name__}")
