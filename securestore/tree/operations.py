"""Tree transfers as library calls: :func:`copy_tree`, :func:`sync`, :func:`move_tree`,
and :func:`copy_file` for one object (deletions: :mod:`securestore.tree.removal`).

A side is a local path or a ``(SecureStore, prefix)`` pair (or
:class:`~securestore.tree.paths.Local` / :class:`~securestore.tree.paths.Remote`).
Uploads are encrypted with ``TreeOptions.encryption`` (default: the destination
store's mode); downloads and copies demand ``TreeOptions.require`` and read
exactly as :meth:`SecureStore.download_file` does, failing closed for every
object of the tree.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securestore.attributes import ObjectAttributes
from securestore.bucket import ObjectInfo
from securestore.clientside import ClientSide
from securestore.errors import ConfigurationError, IntegrityError, LocalFileError
from securestore.modes import EncryptionMode

from .filters import Filters
from .listing import Entry, Problem, list_prefix, walk_local
from .manager import Failure, Skip, Task, TransferManager, TreeProgress, TreeResult, VanishedError
from .paths import Local, Remote, Side, as_side, tree_root, unsafe_relative
from .sync import MTIME_METADATA, ListedSizes, Rules, facts, merge

__all__ = [
    "TreeOptions",
    "copy_file",
    "copy_tree",
    "move_tree",
    "sync",
]

SideLike = Side | str | os.PathLike[str] | tuple[Any, str]


@dataclass(frozen=True)
class TreeOptions:
    """How each object of a tree is written and read.

    Args:
        encryption: uploads and copies: the mode (default: the destination store's).
        metadata: user metadata for uploads and copies.
        content_type: Content-Type for uploads; ``None`` guesses it from the file
            name (:mod:`mimetypes`).
        attributes: storage class and content headers of uploads and copies (a
            copy keeps the source's where these leave a field unset).
        require: downloads and copies: the mode every object must be stored with
            (a :class:`ClientSide` mode brings the keyring that decrypts).
        context, relocated, allow_plaintext: as for :meth:`SecureStore.open`.
        overwrite_readonly: downloads may replace read-only files.
    """

    encryption: EncryptionMode | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    attributes: ObjectAttributes | None = None
    require: EncryptionMode | None = None
    context: Mapping[str, str] | None = None
    relocated: bool = False
    allow_plaintext: bool = False
    overwrite_readonly: bool = False


class _Planner:
    """Turns pairs of entries into :class:`Task` s for one job."""

    def __init__(self, source: Side, destination: Side, options: TreeOptions, move: bool) -> None:
        self.source = source
        self.destination = destination
        self.options = options
        self.move = move
        self._created: set[Path] = set()  # local folders this job made, for cleanup
        self._created_lock = threading.Lock()
        #: A sync's listing-only upload decisions, learning from its HEADs (see _plan_sync).
        self.sizes: ListedSizes | None = None
        if isinstance(source, Local) and isinstance(destination, Local):
            raise ConfigurationError(
                "both sides are local", hint="one side must be s3://BUCKET[/PREFIX]"
            )

    def _at(self, side: Side, relative: str) -> Local | Remote:
        if isinstance(side, Local):
            return Local(side.path / relative) if relative else side
        return Remote(side.store, side.key(relative))

    def transfer(
        self, entry: Entry, compare: Entry | None = None, rules: Rules | None = None
    ) -> Task | Failure:
        """The task that moves ``entry`` (after a HEAD comparison when ``compare`` is given)."""
        src = self._at(self.source, entry.relative)
        dst = self._at(self.destination, entry.relative)
        if isinstance(dst, Local):
            why = unsafe_relative(entry.relative) if entry.relative else None
            if why:
                return Failure(
                    src.describe(),
                    dst.describe(),
                    IntegrityError(f"refusing to download {src.describe()}: {why}"),
                )
        large = isinstance(src, Remote | Local) and entry.size > _part_size(
            self.source, self.destination
        )
        if isinstance(src, Local) and isinstance(dst, Remote):
            kind = "upload"
        elif isinstance(src, Remote) and isinstance(dst, Local):
            kind = "download"
        else:
            kind = "copy"

        needed: Callable[[], bool] | None = None
        if compare is not None and rules is not None:
            other = compare
            needed = lambda: self._differs(src, entry, dst, other, rules)  # noqa: E731

        def run(advance: Callable[[int], None]) -> int | None:
            if needed is not None and not needed():
                return None
            if isinstance(src, Local) and isinstance(dst, Remote):
                return self._upload(src, dst, advance)
            if isinstance(src, Remote) and isinstance(dst, Local):
                return self._download(src, dst, advance)
            assert isinstance(src, Remote) and isinstance(dst, Remote)
            return self._copy(src, dst, advance)

        return Task(kind, src, dst, entry.size, run, large=large, needed=needed)

    def delete(self, entry: Entry) -> Task:
        """The task that deletes ``entry`` from the destination (``sync --delete``)."""
        dst = self._at(self.destination, entry.relative)

        def run(_: Callable[[int], None]) -> int:
            _delete(dst)
            return 0

        return Task("delete", dst, dst, 0, run)

    # -- comparisons ---------------------------------------------------------------

    def _facts(self, side: Local | Remote, entry: Entry) -> tuple[int | None, float]:
        if isinstance(side, Remote):
            info = side.store.head(side.prefix)
            if self.sizes is not None:
                self.sizes.learn(side.prefix, info)
            return facts(info, entry)
        return entry.size, entry.mtime

    def _differs(
        self, src: Local | Remote, entry: Entry, dst: Local | Remote, other: Entry, rules: Rules
    ) -> bool:
        src_size, src_time = self._facts(src, entry)
        dst_size, dst_time = self._facts(dst, other)
        return rules.differs(src_size, src_time, dst_size, dst_time)

    # -- the three transfers -----------------------------------------------------------

    def _upload(self, src: Local, dst: Remote, advance: Callable[[int], None]) -> int:
        try:
            before = os.stat(src.path)
        except FileNotFoundError as exc:
            # Deleted since the walk saw it (a rotated log): nothing to back up, as aws-cli.
            raise VanishedError("vanished before it was uploaded") from exc
        metadata = {**self.options.metadata, MTIME_METADATA: f"{before.st_mtime:.6f}"}
        content_type = self.options.content_type or mimetypes.guess_type(src.path.name)[0]
        try:
            info = dst.store.upload_file(
                src.path,
                dst.prefix,
                encryption=self.options.encryption,
                metadata=metadata,
                content_type=content_type,
                progress=advance,
                attributes=self.options.attributes,
            )
        except LocalFileError as exc:
            if isinstance(exc.__cause__, FileNotFoundError):
                raise VanishedError("vanished before it was uploaded") from exc
            raise
        if self.move:
            after = os.stat(src.path)
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise LocalFileError(
                    f"{src.path} changed while it was uploaded: not deleted",
                    hint="run the move again",
                )
            _verify(dst.store.head(dst.prefix), before.st_size, dst.describe())
            os.unlink(src.path)
        del info
        return before.st_size

    def _make_parents(self, path: Path) -> None:
        """Create ``path``'s missing folders, remembering them for :meth:`remove_empty_folders`."""
        missing = []
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalFileError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
        with self._created_lock:
            self._created.update(missing)

    def remove_empty_folders(self) -> None:
        """Remove the folders this job created that stayed empty (their downloads failed).

        Run once the job is over, never while other downloads may still fill a folder.
        """
        with self._created_lock:
            created = sorted(self._created, key=lambda p: len(p.parts), reverse=True)
            self._created.clear()
        for folder in created:
            with contextlib.suppress(OSError):  # not empty, or gone: either way, keep going
                folder.rmdir()

    def _download(self, src: Remote, dst: Local, advance: Callable[[int], None]) -> int:
        self._make_parents(dst.path)
        info = src.store.download_file(
            src.prefix,
            dst.path,
            require=self.options.require,
            context=self.options.context,
            relocated=self.options.relocated,
            allow_plaintext=self.options.allow_plaintext,
            progress=advance,
            overwrite_readonly=self.options.overwrite_readonly,
        )
        size, when = facts(info)
        written = os.stat(dst.path).st_size
        # As aws-cli does: the file gets the object's time, so the next sync sees it as
        # up to date (a client-side object: the source file's stored mtime). A device or
        # another owner's file may refuse: the data is what matters.
        with contextlib.suppress(OSError):
            os.utime(dst.path, (when, when))
        if self.move:
            _verify_local(written, size, info, dst.describe())
            src.store.delete(src.prefix)
        return written

    def _copy(self, src: Remote, dst: Remote, advance: Callable[[int], None]) -> int:
        info = src.store.copy(
            src.prefix,
            dst.store,
            dst.prefix,
            encryption=self.options.encryption,
            metadata=dict(self.options.metadata) or None,
            content_type=self.options.content_type,
            attributes=self.options.attributes,
            require=self.options.require,
            progress=advance,
        )
        size, _ = facts(info)
        if self.move:
            source_size, _ = facts(src.store.head(src.prefix))
            if source_size is not None:
                _verify(dst.store.head(dst.prefix), source_size, dst.describe())
            src.store.delete(src.prefix)
        return size or 0


def _part_size(*sides: Side) -> int:
    for side in sides:
        if isinstance(side, Remote):
            return side.store.transfer.part_size
    return 8 * 1024 * 1024


def _verify(info: ObjectInfo, expected: int, where: str) -> None:
    size, _ = facts(info)
    if size is not None and size != expected:
        raise IntegrityError(
            f"{where} holds {size} bytes after the transfer, expected {expected}: "
            "the source was not deleted"
        )


def _verify_local(written: int, expected: int | None, info: ObjectInfo, where: str) -> None:
    if expected is not None and written != expected:
        raise IntegrityError(
            f"{where} holds {written} bytes, expected {expected}: s3://{info.bucket}/{info.key} "
            "was not deleted"
        )


def _delete(side: Local | Remote) -> None:
    if isinstance(side, Remote):
        side.store.delete(side.prefix)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(side.path)


# -- listings ------------------------------------------------------------------------------


def _entries(side: Side, filters: Filters, problems: list[Problem]) -> Iterator[Entry]:
    listing = (
        walk_local(side.path, problems.append)
        if isinstance(side, Local)
        else list_prefix(side.store, side.prefix)
    )
    for entry in listing:
        if filters.selects(entry.relative):
            yield entry


def _drain(problems: list[Problem], source: Side) -> Iterator[Skip | Failure]:
    while problems:
        problem = problems.pop(0)
        where = source.describe(problem.relative) if problem.relative != "." else source.describe()
        if problem.fatal:
            yield Failure(where, "", LocalFileError(f"{where}: {problem.reason}"))
        else:
            yield Skip(where, problem.reason)


def _plan_copy(planner: _Planner, filters: Filters) -> Iterator[Task | Skip | Failure | None]:
    problems: list[Problem] = []
    for entry in _entries(planner.source, filters, problems):
        yield from _drain(problems, planner.source)
        yield planner.transfer(entry)
    yield from _drain(problems, planner.source)


def _needs_head(planner: _Planner) -> bool:
    """Whether a keyring is in play on either side, so listed sizes are not plaintext sizes."""
    options = planner.options
    writes = isinstance(planner.destination, Remote) and isinstance(
        options.encryption or planner.destination.store.encryption, ClientSide
    )
    reads = isinstance(planner.source, Remote) and (
        isinstance(options.require, ClientSide) or planner.source.store.keyring is not None
    )
    return writes or reads


def _listed_sizes(planner: _Planner, rules: Rules) -> ListedSizes | None:
    """For a client-side upload sync: decisions from the listing (see :class:`ListedSizes`)."""
    destination = planner.destination
    if not (isinstance(planner.source, Local) and isinstance(destination, Remote)):
        return None
    mode = planner.options.encryption or destination.store.encryption
    if not isinstance(mode, ClientSide):
        return None
    return ListedSizes(mode.frame_length, rules)


def _plan_sync(
    planner: _Planner, filters: Filters, rules: Rules, delete: bool
) -> Iterator[Task | Skip | Failure | None]:
    problems: list[Problem] = []
    head = _needs_head(planner)
    planner.sizes = _listed_sizes(planner, rules) if head else None
    pairs = merge(
        _entries(planner.source, filters, problems),
        _entries(planner.destination, filters, []),
    )
    for src, dst in pairs:
        yield from _drain(problems, planner.source)
        if src is None:
            assert dst is not None
            if delete:
                yield planner.delete(dst)
            continue
        if dst is None:
            yield planner.transfer(src)
        elif head:
            known = _decide(planner, src, dst)
            if known is None:
                yield planner.transfer(src, dst, rules)  # a HEAD decides
            else:
                yield planner.transfer(src) if known else None
        elif rules.differs(src.size, src.mtime, dst.size, dst.mtime):
            yield planner.transfer(src)
        else:
            yield None
    yield from _drain(problems, planner.source)


def _decide(planner: _Planner, src: Entry, dst: Entry) -> bool | None:
    if planner.sizes is None:
        return None
    assert isinstance(planner.destination, Remote)
    return planner.sizes.decide(planner.destination.key(dst.relative), src, dst)


# -- the API ---------------------------------------------------------------------------------


def _manager(
    concurrency: int,
    progress: Callable[[TreeProgress], None] | None,
    on_event: Callable[[Task, str], None] | None,
) -> TransferManager:
    return TransferManager(concurrency=concurrency, progress=progress, on_event=on_event)


def copy_tree(
    source: SideLike,
    destination: SideLike,
    *,
    filters: Filters | None = None,
    options: TreeOptions | None = None,
    dryrun: bool = False,
    concurrency: int = 8,
    progress: Callable[[TreeProgress], None] | None = None,
    on_event: Callable[[Task, str], None] | None = None,
    _move: bool = False,
) -> TreeResult:
    """Copy every file or object below ``source`` to the same relative path below ``destination``.

    Local → S3, S3 → local and S3 → S3. A failed object does not stop the
    others; see :class:`TreeResult`. With ``dryrun`` nothing is read or written
    (beyond the listings).

    Raises:
        ConfigurationError: both sides are local.
        StorageError: a listing failed (a missing bucket, say).
    """
    planner = _Planner(
        tree_root(as_side(source)), tree_root(as_side(destination)), options or TreeOptions(), _move
    )
    manager = _manager(concurrency, progress, on_event)
    try:
        return manager.run(_plan_copy(planner, filters or Filters()), dryrun=dryrun)
    finally:
        planner.remove_empty_folders()


def move_tree(source: SideLike, destination: SideLike, **kwargs: Any) -> TreeResult:
    """:func:`copy_tree`, deleting each source only after its copy was verified.

    Verified means: the transfer completed (a download authenticated every
    frame), the destination's size (plaintext size for client-side objects)
    equals the source's, and a local source did not change during the upload.
    """
    return copy_tree(source, destination, _move=True, **kwargs)


def sync(
    source: SideLike,
    destination: SideLike,
    *,
    delete: bool = False,
    size_only: bool = False,
    exact_timestamps: bool = False,
    filters: Filters | None = None,
    options: TreeOptions | None = None,
    dryrun: bool = False,
    concurrency: int = 8,
    progress: Callable[[TreeProgress], None] | None = None,
    on_event: Callable[[Task, str], None] | None = None,
) -> TreeResult:
    """Make ``destination`` hold what ``source`` holds (aws-cli's ``sync`` rules).

    Transfers files missing at the destination, of another size, or newer at
    the source (see :mod:`securestore.tree.sync`); with ``delete``, deletes
    destination files that the source lacks (filters apply to both sides: an
    excluded file is never deleted). Both listings stream and are merge-joined.
    """
    planner = _Planner(
        tree_root(as_side(source)), tree_root(as_side(destination)), options or TreeOptions(), False
    )
    rules = Rules(size_only=size_only, exact_timestamps=exact_timestamps)
    manager = _manager(concurrency, progress, on_event)
    try:
        return manager.run(_plan_sync(planner, filters or Filters(), rules, delete), dryrun=dryrun)
    finally:
        planner.remove_empty_folders()


def copy_file(
    source: SideLike,
    destination: SideLike,
    *,
    options: TreeOptions | None = None,
    move: bool = False,
    dryrun: bool = False,
    progress: Callable[[TreeProgress], None] | None = None,
    on_event: Callable[[Task, str], None] | None = None,
) -> TreeResult:
    """Transfer one file or object (sides are the file and the key themselves)."""
    src, dst = as_side(source), as_side(destination)
    planner = _Planner(src, dst, options or TreeOptions(), move)
    if isinstance(src, Local):
        try:
            info = os.stat(src.path)
        except OSError as exc:
            raise LocalFileError(f"cannot read {src.path}: {exc.strerror or exc}") from exc
        entry = Entry("", info.st_size, info.st_mtime)
    else:
        head = src.store.head(src.prefix)
        entry = Entry("", head.size, facts(head)[1])
    # The manager's budget counts requests: one object's parts get its store's concurrency.
    budget = [side.store.transfer.concurrency for side in (src, dst) if isinstance(side, Remote)]
    manager = _manager(max(budget, default=1), progress, on_event)
    try:
        return manager.run([planner.transfer(entry)], dryrun=dryrun)
    finally:
        planner.remove_empty_folders()
