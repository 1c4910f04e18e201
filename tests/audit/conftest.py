"""Fixtures for the audit tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from securestore.audit import AuditOptions, BucketSnapshot, Registry, Result


@pytest.fixture
def registry() -> Registry:
    """The built-in checks."""
    return Registry.builtin()


@pytest.fixture
def run(registry: Registry) -> Callable[..., Result]:
    """``run(check_id, snapshot, **options)`` evaluates one check."""

    def _run(check_id: str, snapshot: BucketSnapshot, **options: Any) -> Result:
        return registry.get(check_id).run(snapshot, AuditOptions(**options))

    return _run
