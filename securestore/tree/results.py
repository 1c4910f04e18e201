"""What a tree job reports: its :class:`TreeResult`, :class:`Failure` and :class:`Skip`
records, and :class:`TreeProgress` snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field

from securestore.errors import SecureStoreError
from securestore.kept import KEPT, drop_tracebacks, keep, keep_failure

__all__ = [
    "KEPT_FAILURES",
    "KEPT_SKIPS",
    "Failure",
    "Skip",
    "TreeProgress",
    "TreeResult",
    "drop_tracebacks",
]

#: Failures a :class:`TreeResult` keeps in full before it keeps only one of each type.
KEPT_FAILURES = KEPT

#: Skips a :class:`TreeResult` keeps before it only counts them.
KEPT_SKIPS = KEPT


@dataclass(frozen=True)
class Failure:
    """An object or file that could not be transferred, and the error.

    The error (and every error chained to it) is kept without its traceback: each
    traceback keeps the frames of the failed call alive, with their locals, and a
    job may record a failure for each of millions of objects (7.3 KiB each with
    them, 2.0 KiB without, for a refused download: docs/benchmark-log.md, "stop 23, lead").
    """

    source: str
    destination: str
    error: SecureStoreError
    #: The job's ``on_event`` heard of it (the CLI printed its ``failed:`` line then).
    reported: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        drop_tracebacks(self.error)


@dataclass(frozen=True)
class Skip:
    """A path left out on purpose (a vanished file, a FIFO, a broken link).

    ``refused``: a file that should have been transferred and cannot be (a name
    that is not valid UTF-8): the CLI ends such a job with exit 2, as aws-cli does.
    """

    path: str
    reason: str
    refused: bool = False


@dataclass(frozen=True)
class TreeProgress:
    """One snapshot of a whole job's progress.

    ``files_total`` and ``bytes_total`` grow while the listings stream in;
    ``listed`` says when they are final.
    """

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    listed: bool


@dataclass
class TreeResult:
    """What a tree transfer did.

    Attributes:
        done: objects or files transferred (or, with ``dryrun``, that would be).
        deleted: objects or files deleted (``sync --delete``, ``mv``, ``rm``).
        unchanged: files a sync found up to date.
        bytes: plaintext bytes transferred.
        failed: the failures, in completion order: every one up to
            :data:`KEPT_FAILURES`, and past that those ``on_event`` was not told
            of and the first of each error type (a job failing for each of
            millions of objects would hold them all).
        failures_dropped: the failures past :data:`KEPT_FAILURES` not kept in
            ``failed`` (each was reported to ``on_event``).
        skipped: paths left out, with the reason: the first :data:`KEPT_SKIPS`
            (a tree of millions of FIFOs or vanished files would hold them all).
        skips_dropped: the skips past :data:`KEPT_SKIPS` not kept in ``skipped``.
        dryrun: nothing was changed.
    """

    done: int = 0
    deleted: int = 0
    unchanged: int = 0
    bytes: int = 0
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    dryrun: bool = False
    failures_dropped: int = 0
    skips_dropped: int = 0
    # Of skips_dropped, those refused (they decide the CLI's exit 2).
    _refused_dropped: int = field(default=0, init=False, repr=False, compare=False)
    _kinds: set[type[BaseException]] = field(
        default_factory=set, init=False, repr=False, compare=False
    )

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    @property
    def failure_count(self) -> int:
        """How many objects or files failed, kept in ``failed`` or not."""
        return len(self.failed) + self.failures_dropped

    def add_failure(self, failure: Failure) -> None:
        """Record ``failure`` (kept in ``failed`` or counted, see the class)."""
        # One on_event was not told of is always kept: nobody else heard of it.
        if not keep_failure(
            self.failed,
            failure,
            failure.error,
            self._kinds,
            KEPT_FAILURES,
            always=not failure.reported,
        ):
            self.failures_dropped += 1

    @property
    def skip_count(self) -> int:
        """How many paths were skipped, kept in ``skipped`` or not."""
        return len(self.skipped) + self.skips_dropped

    @property
    def refused_count(self) -> int:
        """How many skipped paths were refused (:attr:`Skip.refused`), kept or not."""
        return sum(1 for skip in self.skipped if skip.refused) + self._refused_dropped

    def add_skip(self, skip: Skip) -> None:
        """Record ``skip`` (kept in ``skipped`` up to :data:`KEPT_SKIPS`, then counted)."""
        if not keep(self.skipped, skip, KEPT_SKIPS):
            self.skips_dropped += 1
            self._refused_dropped += skip.refused

    def merge(self, more: TreeResult) -> None:
        """Add ``more``'s deletions, failures and skips to this result."""
        self.deleted += more.deleted
        for failure in more.failed:
            self.add_failure(failure)
        self.failures_dropped += more.failures_dropped
        for skip in more.skipped:
            self.add_skip(skip)
        self.skips_dropped += more.skips_dropped
        self._refused_dropped += more._refused_dropped
