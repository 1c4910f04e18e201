"""Holding a paginated S3 listing to the API's contract before anything acts on it.

Tree jobs merge-join a listing with the other side (``sync --delete`` deletes
what one side lacks) and ``rm --recursive`` deletes what it is listed, so a
listing is trusted for what it cannot prove. S3 promises, and every
S3-compatible server we know keeps (MinIO, Ceph, rclone): every key starts with
the requested prefix, keys come in UTF-8 binary order, strictly increasing
across pages (the versions of one key, or its uploads, share it), a truncated
page carries the token of the next one, and a token is never handed out twice.
A server that breaks any of these (a broken or malicious endpoint, a proxy
rewriting answers) makes the listing raise :class:`~securestore.errors.StorageError`
naming the bucket, the prefix and the offending key, before the key is yielded.
A repeated or fresh token replaying the same keys (a listing that never ends)
breaks the order, so it ends too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from securestore.errors import StorageError

__all__ = ["ListingCheck", "order_key"]

_HINT = (
    "the endpoint broke the S3 API's listing contract (a broken or malicious server, "
    "or a proxy rewriting answers); nothing was acted on past that point"
)


def order_key(key: str) -> bytes:
    """S3's listing order: the key's UTF-8 bytes (``tree.listing.sort_key``'s too)."""
    return key.encode("utf-8", "surrogateescape")


class ListingCheck:
    """Checks one listing's pages and keys as they arrive (one instance per listing).

    ``tokens`` names the page fields that together are the next page's token
    (``NextContinuationToken``; ``NextKeyMarker`` and ``NextVersionIdMarker``, ...).
    ``repeats`` allows one key several times in a row (versions, uploads), each
    with its own ``detail`` (version id, upload id), which may not repeat.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        tokens: tuple[str, ...] = ("NextContinuationToken",),
        repeats: bool = False,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._tokens = tokens
        self._repeats = repeats
        self._seen_tokens: set[tuple[str, ...]] = set()
        self._last: bytes | None = None
        self._last_key = ""
        self._details: set[str] = set()

    def page(self, page: Mapping[str, Any]) -> None:
        """Check a page's continuation: truncated with a token never seen before."""
        if not page.get("IsTruncated"):
            return
        token = tuple(str(page.get(name) or "") for name in self._tokens)
        if not any(token):
            self._fail("a page is marked truncated but gives no token for the next one")
        if token in self._seen_tokens:
            self._fail(f"the continuation token {token[0][:80]!r} was handed out twice")
        self._seen_tokens.add(token)

    def key(self, key: str, detail: str = "") -> None:
        """Check the next listed key (``detail``: its version or upload id, if any)."""
        if not key.startswith(self.prefix):
            self._fail("a key outside the prefix was listed", key)
        order = order_key(key)
        if self._last is not None:
            same = order == self._last
            if same and self._repeats:
                if detail in self._details:
                    self._fail(f"{detail!r} of this key was listed twice", key)
            elif order <= self._last:
                self._fail(
                    f"the keys are not in S3's order (UTF-8 bytes): {key!r} came after "
                    f"{self._last_key!r}"
                )
        if order != self._last:
            self._details.clear()
        self._details.add(detail)
        self._last, self._last_key = order, key

    def _fail(self, what: str, key: str | None = None) -> None:
        named = f": {key!r}" if key is not None else ""
        where = f"prefix {self.prefix!r}" if self.prefix else "the whole bucket"
        raise StorageError(
            f"the server's listing of {where} is not what S3 sends: {what}{named}",
            bucket=self.bucket,
            hint=_HINT,
            code="InvalidListing",
        )
