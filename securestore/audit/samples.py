"""What object-level collection found: sampled objects and the coverage of the scan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from securestore.audit.collected import Collected, CollectionError

__all__ = ["ObjectCoverage", "ObjectSample"]


@dataclass(frozen=True)
class ObjectSample:
    """What HeadObject (and, when needed, the first bytes) told about one object.

    ``metadata_keys`` are the user-metadata names without the ``x-amz-meta-``
    prefix, lower case. ``head`` holds up to the first 8 bytes of the body when
    they were read (only for objects that are not server-side encrypted as
    required), else ``None``. ``crypto_metadata`` holds the values of the S3
    Encryption Client's mapkeys and securestore's format marker (nothing else of
    the user metadata is kept).

    Instruction files (``docs/format.md``, "S3 Encryption Client objects"):
    ``instruction`` is the body of ``KEY.instruction`` for an S3EC object whose
    data key lives there (``Collected.ok(None)``: the file does not exist;
    ``None``: not applicable); ``parent_exists`` says, for a sampled
    ``KEY.instruction`` object, whether ``KEY`` exists (``None``: not applicable).
    """

    key: str
    sse: str | None = None
    kms_key_id: str | None = None
    metadata_keys: frozenset[str] = frozenset()
    head: bytes | None = None
    error: CollectionError | None = None
    crypto_metadata: Mapping[str, str] = field(default_factory=dict)
    instruction: Collected[bytes | None] | None = None
    parent_exists: Collected[bool] | None = None


@dataclass(frozen=True)
class ObjectCoverage:
    """How much of a bucket the sampled scan saw.

    ``requested`` is ``--sample-objects N``; ``listed`` the keys the bounded
    listing saw (``listing_complete``: it reached the end of the bucket);
    ``sampled`` the objects inspected. ``stopped_by`` names what cut the scan
    short: ``object-budget`` (``--object-budget``, shared by every bucket of the
    audit), ``time-budget`` or a failed listing page; ``None`` when nothing did.
    """

    requested: int
    listed: int
    listing_complete: bool
    sampled: int
    stopped_by: str | None = None

    @property
    def partial(self) -> bool:
        """True when a budget (or a failure) ended the scan before its sample was taken."""
        return self.stopped_by is not None

    def describe(self) -> str:
        """One line for a result message: what was seen, and what cut it short."""
        scope = "the whole listing" if self.listing_complete else f"the first {self.listed} keys"
        text = f"{self.sampled} objects sampled across {scope}"
        if self.stopped_by is not None:
            text += f"; partial coverage: stopped by the {self.stopped_by}"
        return text
