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

import os
from collections.abc import Callable, Iterable
from typing import Any

from securestore.errors import ConfigurationError, InvalidLocationError, LocalFileError
from securestore.location import refuse_folder_key

from .arguments import checked
from .filters import Filters
from .listing import Entry
from .manager import DEFAULT_CONCURRENCY, Event, TransferManager, TreeProgress, TreeResult
from .paths import Local, Remote, Side, as_side, local_target, source_root, tree_root
from .planner import Planner, TreeOptions
from .plans import plan_copy, plan_sync
from .removal import delete_in_batches, delete_task
from .spill import Spill
from .sync import Rules, facts

__all__ = [
    "TreeOptions",
    "copy_file",
    "copy_tree",
    "move_tree",
    "sync",
]

SideLike = Side | str | os.PathLike[str] | tuple[Any, str]


def _manager(
    concurrency: int,
    progress: Callable[[TreeProgress], None] | None,
    on_event: Event | None,
) -> TransferManager:
    return TransferManager(concurrency=concurrency, progress=progress, on_event=on_event)


@checked
def copy_tree(
    source: SideLike,
    destination: SideLike,
    *,
    filters: Filters | None = None,
    options: TreeOptions | None = None,
    dryrun: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[TreeProgress], None] | None = None,
    on_event: Event | None = None,
    _move: bool = False,
) -> TreeResult:
    """Copy every file or object below ``source`` to the same relative path below ``destination``.

    Local → S3, S3 → local and S3 → S3. A failed object does not stop the
    others; see :class:`TreeResult`. With ``dryrun`` nothing is read or written
    (beyond the listings).

    Raises:
        ConfigurationError: both sides are local, or the source names an object whose
            folder (``key/``, what the tree reads) is empty: see :func:`source_root`.
        StorageError: a listing failed (a missing bucket, say).
    """
    planner = Planner(
        source_root(as_side(source)),
        tree_root(as_side(destination)),
        options or TreeOptions(),
        _move,
    )
    manager = _manager(concurrency, progress, on_event)
    try:
        return manager.run(plan_copy(planner, filters or Filters()), dryrun=dryrun)
    finally:
        planner.remove_empty_folders()


@checked
def move_tree(
    source: SideLike,
    destination: SideLike,
    *,
    filters: Filters | None = None,
    options: TreeOptions | None = None,
    dryrun: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[TreeProgress], None] | None = None,
    on_event: Event | None = None,
) -> TreeResult:
    """:func:`copy_tree`, deleting each source only after its copy was verified.

    Verified means: the transfer completed (a download authenticated every
    frame), the destination's size (plaintext size for client-side objects)
    equals the source's, and a local source did not change during the upload.
    The options are :func:`copy_tree`'s.
    """
    return copy_tree(
        source,
        destination,
        filters=filters,
        options=options,
        dryrun=dryrun,
        concurrency=concurrency,
        progress=progress,
        on_event=on_event,
        _move=True,
    )


@checked
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
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[TreeProgress], None] | None = None,
    on_event: Event | None = None,
    allow_empty_source: bool = False,
) -> TreeResult:
    """Make ``destination`` hold what ``source`` holds (aws-cli's ``sync`` rules).

    Transfers files missing at the destination, of another size, or newer at
    the source (see :mod:`securestore.tree.sync`); with ``delete``, deletes
    destination files that the source lacks (filters apply to both sides: an
    excluded file is never deleted; nor is anything where the local source could
    not be read). ``exact_timestamps`` applies to syncs from S3 only, as in
    aws-cli. Both listings stream and are merge-joined.

    A ``delete`` from a source that lists nothing the filters select (a typo'd
    prefix, an empty or unmounted folder) would empty the destination, as aws-cli
    does: it is refused unless ``allow_empty_source``.

    Raises:
        ConfigurationError: that refusal, once both listings ended and before
            anything is deleted (nothing is transferred either: the source is empty);
            ``allow_empty_source`` without ``delete`` (it would mean nothing), at once.
    """
    if allow_empty_source and not delete:
        raise ConfigurationError(
            "allow_empty_source applies to a sync with delete only",
            hint="drop allow_empty_source, or pass delete=True to empty the destination",
        )
    planner = Planner(
        source_root(as_side(source)),
        tree_root(as_side(destination)),
        options or TreeOptions(),
        False,
        delete=delete,
    )
    # As aws-cli: --exact-timestamps is for syncs from S3 (an upload's LastModified
    # never equals the file's mtime, so it would upload every file every time).
    exact = exact_timestamps and not isinstance(planner.source, Local)
    rules = Rules(size_only=size_only, exact_timestamps=exact)
    manager = _manager(concurrency, progress, on_event)
    # Objects to delete go 1,000 to a request once every transfer is done (one
    # request where aws-cli sends a thousand); a dry run lists them one by one.
    root = planner.destination
    doomed = Spill() if delete and not dryrun and isinstance(root, Remote) else None
    try:
        plan = plan_sync(
            planner,
            filters or Filters(),
            rules,
            delete,
            doomed,
            allow_empty_source=allow_empty_source,
        )
        result = manager.run(plan, dryrun=dryrun)
        if doomed and isinstance(root, Remote):

            def one_by_one(where: Iterable[Remote]) -> TreeResult:
                tasks = (delete_task(w) for w in where)
                return _manager(concurrency, None, on_event).run(tasks)

            where = (Remote(root.store, root.key(relative)) for relative in doomed)
            result.merge(delete_in_batches(where, one_by_one, on_event))
        return result
    finally:
        if doomed is not None:
            doomed.close()
        planner.remove_empty_folders()


@checked
def copy_file(
    source: SideLike,
    destination: SideLike,
    *,
    options: TreeOptions | None = None,
    move: bool = False,
    dryrun: bool = False,
    progress: Callable[[TreeProgress], None] | None = None,
    on_event: Event | None = None,
) -> TreeResult:
    """Transfer one file or object (sides are the file and the key themselves).

    A remote destination is the object's whole key: one ending in ``/`` is refused
    (:class:`~securestore.errors.InvalidLocationError`, before anything is read or
    sent), as :meth:`SecureStore.upload_file` refuses it. The CLI's ``cp a.txt
    s3://b/dir/`` names the object ``dir/a.txt`` first (:func:`remote_key`).
    A local destination given as a path (``str`` or ``os.PathLike``) follows aws-cli:
    one ending in ``/`` (created if missing) or an existing directory gets the key's
    base name (:func:`local_target`); a :class:`Local` is the file itself.
    """
    src, dst = as_side(source), as_side(destination)
    if (
        isinstance(src, Remote)
        and isinstance(dst, Local)
        and isinstance(destination, str | os.PathLike)
    ):
        # Path("out/") drops the slash: it is read from the text as given.
        slash = os.fspath(destination).endswith(("/", os.sep))
        dst = Local(local_target(dst.path, src.prefix, trailing_slash=slash))
    if isinstance(dst, Remote):
        # The key's shape only: one S3 cannot store (not UTF-8) is refused by the
        # transfer, with the name of the file it came from.
        refuse_folder_key(dst.prefix)
        if not dst.prefix:
            raise InvalidLocationError(
                "copy_file writes one object: its destination needs a key, not the bucket's root",
                hint="name the object: (store, 'dir/name')",
            )
    planner = Planner(src, dst, options or TreeOptions(), move, tree=False)
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
