"""Hypothesis profiles for the fuzz tests, chosen with ``HYPOTHESIS_PROFILE``.

* ``ci`` (the default): a bounded number of examples per test, so the whole
  folder stays within its CI time budget;
* ``long``: 20,000 examples per test, for a soak run::

      HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz -p no:timeout

The profiles are applied per test (``@FUZZ``), not loaded globally, so other
hypothesis tests in the suite keep their own settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["FUZZ", "PROFILE", "examples"]

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=200, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("long", max_examples=20_000, **_COMMON)  # type: ignore[arg-type]

#: The profile in use.
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "long"):
    PROFILE = "ci"

#: Decorate a ``@given`` test with this to apply the profile.
FUZZ = settings(settings.get_profile(PROFILE))


def examples(ci: int) -> settings:
    """The profile with fewer examples in CI for an expensive test (``long`` is unchanged)."""
    if PROFILE == "long":
        return FUZZ
    return settings(FUZZ, max_examples=ci)
