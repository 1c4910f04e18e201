"""The built-in checks, one module per concern.

Each module exposes ``CHECKS``, a tuple of :class:`~securestore.audit.check.Check`
in id order; :mod:`securestore.audit.registry` collects them.
"""

from __future__ import annotations

from securestore.audit.check import Check
from securestore.audit.checks.access import CHECKS as _ACCESS
from securestore.audit.checks.data import CHECKS as _DATA
from securestore.audit.checks.encryption import CHECKS as _ENCRYPTION
from securestore.audit.checks.kms import CHECKS as _KMS
from securestore.audit.checks.monitoring import CHECKS as _MONITORING
from securestore.audit.checks.network import CHECKS as _NETWORK
from securestore.audit.checks.object_formats import CHECKS as _OBJECT_FORMATS
from securestore.audit.checks.objects import CHECKS as _OBJECTS
from securestore.audit.checks.public import CHECKS as _PUBLIC
from securestore.audit.checks.transport import CHECKS as _TRANSPORT

__all__ = ["BUILTIN_CHECKS"]

#: Every built-in check, grouped by concern.
BUILTIN_CHECKS: tuple[Check, ...] = (
    *_ENCRYPTION,
    *_TRANSPORT,
    *_PUBLIC,
    *_DATA,
    *_NETWORK,
    *_OBJECTS,
    *_OBJECT_FORMATS,
    *_KMS,
    *_ACCESS,
    *_MONITORING,
)
