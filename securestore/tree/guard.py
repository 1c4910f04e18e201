"""The keyless sync guard: a sync upload without a key option never downgrades.

A sync that forgets its key option (a cron job, a typo) would otherwise replace
each client-side object with a copy under server-side encryption only, or add
new files in the clear next to them. :class:`KeylessGuard` looks at the
destination first and refuses with a :class:`~securestore.errors.PolicyError`.
"""

from __future__ import annotations

import threading

from securestore.clientside import FORMAT_METADATA
from securestore.errors import PolicyError

from .listing import Entry
from .paths import Remote
from .probes import first_client_side, starts_like_message_at
from .sync import Rules, facts

__all__ = ["KeylessGuard"]


class KeylessGuard:
    """One job's guard over the destination ``destination`` (thread-safe)."""

    def __init__(self, destination: Remote) -> None:
        self.destination = destination
        # An object of the destination known to be client-side (found by the HEADs
        # of :meth:`over` or by the one probe of :meth:`new`).
        self._client_side: str | None = None
        self._probed = False
        self._lock = threading.Lock()

    def over(self, dst: Remote, entry: Entry, other: Entry, rules: Rules) -> bool:
        """Whether a sync without a keyring may upload ``entry`` over ``dst``.

        The listing compared the file with the object's stored size, which for a
        client-side object is its ciphertext's: such a sync would find every file
        changed and replace each encrypted object with a server-side-only copy (a
        forgotten key option in a cron job). So the object is looked at first: a
        client-side object is compared on its stored plaintext size and mtime, and
        one that did change is refused rather than downgraded.
        """
        info = dst.store.head(dst.prefix)
        if FORMAT_METADATA not in info.metadata:
            if starts_like_message_at(dst, info):
                self._client_side = dst.describe()
                # A message without our metadata (another ESDK writer, an encrypted file
                # copied up by another tool): its plaintext size is unknown here.
                raise PolicyError(
                    f"{dst.describe()} holds an encrypted message, and this sync has no key "
                    "option: it would be replaced by a copy without client-side encryption",
                    hint="give the key option it was written with, or delete it first",
                )
            return True
        self._client_side = dst.describe()
        size, when = facts(info, other)
        if not rules.differs(entry.size, entry.mtime, size, when):
            return False
        raise PolicyError(
            f"{dst.describe()} is encrypted client-side, and this sync has no key option: "
            "it would be replaced by a copy without client-side encryption",
            hint="give the key option it was written with (--key-file, --kms-key-id, "
            "--rsa-public-key ...), or delete it first",
        )

    def new(self, dst: Remote) -> bool:
        """Whether a sync without a keyring may upload a new file to ``dst`` (or raise).

        Into a prefix that holds client-side objects such a sync would add files
        with server-side encryption only, which a later sync with the key finds
        unchanged and a restore with the key then refuses. So the destination's
        first object is looked at once per job (the HEADs of :meth:`over` count
        too), and new files are refused where client-side objects live. An
        ``--sse`` option is not an opt-in to mix the two in one prefix.
        """
        with self._lock:
            if self._client_side is None and not self._probed:
                self._probed = True
                self._client_side = first_client_side(self.destination)
        if self._client_side is None:
            return True
        raise PolicyError(
            f"{dst.describe()} was not uploaded: the destination holds client-side objects "
            f"({self._client_side}) and this sync has no key option, so the new file would "
            "be stored without client-side encryption",
            hint="give the key option the objects were written with (--key-file, "
            "--kms-key-id, --rsa-public-key ...); an --sse option does not mix encryptions "
            "in one prefix: sync into another prefix for that",
        )
