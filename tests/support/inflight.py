"""Counting concurrent S3 calls of a real client, by botocore event hooks."""

from __future__ import annotations

import threading
from typing import Any


class InFlight:
    """The most calls of one S3 operation a client had open at once (default HeadObject)."""

    def __init__(self, client: Any, operation: str = "HeadObject") -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()
        client.meta.events.register(f"before-call.s3.{operation}", self._start)
        client.meta.events.register(f"after-call.s3.{operation}", self._end)

    def _start(self, **_: Any) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def _end(self, **_: Any) -> None:
        with self._lock:
            self.now -= 1
