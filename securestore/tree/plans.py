"""What a tree job does, entry by entry, from its streaming listings.

:func:`plan_copy` transfers every selected entry; :func:`plan_sync` merge-joins
both listings and yields a task, a skip, a failure or ``None`` (unchanged) for
each path, deciding from the listings where they suffice and leaving a HEAD
comparison to the task where they do not (see :mod:`securestore.tree.sync`).
"""

from __future__ import annotations

from collections.abc import Iterator

from securestore.clientside import ClientSide
from securestore.errors import ConfigurationError, LocalFileError, PolicyError
from securestore.message import DEFAULT_FRAME_LENGTH

from .filters import Filters
from .listing import Entry, Problem, list_prefix, walk_local
from .manager import Failure, Skip, Task
from .paths import Local, Remote, Side
from .planner import Planner
from .spill import Spill
from .sync import ListedSizes, Rules, merge

__all__ = ["KEPT_THROUGH_LINK", "plan_copy", "plan_sync"]


def _entries(
    side: Side, filters: Filters, problems: list[Problem], *, destination: bool = False
) -> Iterator[Entry]:
    # A source's links are followed for reading (as aws-cli and cp -r do); a
    # destination's are single entries, so nothing is written or deleted through one.
    listing = (
        walk_local(side.path, problems.append, follow_symlinks=not destination, utf8_names=True)
        if isinstance(side, Local)
        else list_prefix(side.store, side.prefix)
    )
    for entry in listing:
        if filters.selects(entry.relative):
            yield entry


def _drain(
    problems: list[Problem], source: Side, unread: list[str] | None = None
) -> Iterator[Skip | Failure]:
    """Report the walk's problems; record their paths in ``unread`` (never deleted)."""
    while problems:
        problem = problems.pop(0)
        if unread is not None:
            unread.append("" if problem.relative == "." else problem.relative)
        where = source.describe(problem.relative) if problem.relative != "." else source.describe()
        if problem.fatal:
            yield Failure(where, "", LocalFileError(f"{where}: {problem.reason}"))
        else:
            yield Skip(where, problem.reason, refused=problem.refused)


def plan_copy(planner: Planner, filters: Filters) -> Iterator[Task | Skip | Failure | None]:
    problems: list[Problem] = []
    for entry in _entries(planner.source, filters, problems):
        yield from _drain(problems, planner.source)
        if planner.kept_source(entry):
            where = planner.source.describe(entry.relative)
            yield Skip(where, KEPT_THROUGH_LINK)
        yield planner.transfer(entry)
    yield from _drain(problems, planner.source)


def _needs_head(planner: Planner) -> bool:
    """Whether a keyring is in play on either side, so listed sizes are not plaintext sizes."""
    options = planner.options
    writes = isinstance(planner.destination, Remote) and isinstance(
        options.encryption or planner.destination.store.encryption, ClientSide
    )
    reads = isinstance(planner.source, Remote) and (
        isinstance(options.require, ClientSide) or planner.source.store.keyring is not None
    )
    return writes or reads


def _listed_sizes(planner: Planner, rules: Rules) -> ListedSizes | None:
    """For a client-side sync to or from S3: decisions from the listing (:class:`ListedSizes`)."""
    source, destination = planner.source, planner.destination
    if isinstance(source, Local) and isinstance(destination, Remote):
        mode = planner.options.encryption or destination.store.encryption
        if not isinstance(mode, ClientSide):
            return None
        return ListedSizes(mode.frame_length, rules)
    if isinstance(source, Remote) and isinstance(destination, Local):
        # The frame length the objects were most likely written with; a wrong one
        # maps listed sizes to no size or to another, and those pairs are HEADed.
        read = planner.options.require
        mode = read if isinstance(read, ClientSide) else source.store.encryption
        frame = mode.frame_length if isinstance(mode, ClientSide) else DEFAULT_FRAME_LENGTH
        return ListedSizes(frame, rules)
    return None


def plan_sync(
    planner: Planner,
    filters: Filters,
    rules: Rules,
    delete: bool,
    deferred: Spill | None = None,
    *,
    allow_empty_source: bool = False,
) -> Iterator[Task | Skip | Failure | None]:
    """Yield what syncing ``planner``'s source onto its destination takes, path by path.

    ``deferred``: the relative paths ``--delete`` removes from a remote destination
    are appended there instead of yielded as tasks, for the caller to delete in
    batches once the plan is done (after every transfer).

    Raises:
        ConfigurationError: ``delete`` with a source that listed nothing the filters
            select, over a destination it would delete from (see :func:`_empty_source`),
            unless ``allow_empty_source``; raised before anything is deleted.
    """
    problems: list[Problem] = []
    head = _needs_head(planner)
    planner.sizes = _listed_sizes(planner, rules) if head else None
    pairs = merge(
        _entries(planner.source, filters, problems),
        _entries(planner.destination, filters, [], destination=True),
    )
    # Paths the walk could not read (an unreadable folder, a file it could not stat,
    # a link it skipped): what the destination holds there is not "missing at the
    # source", so --delete keeps it, as rsync does after an I/O error. The walk
    # reports a folder before the merge passes the destination's entries below it.
    unread: list[str] = []
    # An upload without a keyring looks at each object it would replace (see KeylessGuard.over),
    # and adds no new file where client-side objects live (see KeylessGuard.new).
    guard = (
        not head and isinstance(planner.source, Local) and isinstance(planner.destination, Remote)
    )
    # Deletes wait until both listings ended: the merge calls a destination entry
    # "missing at the source" once the source has passed it, which is right only if
    # the source never lists it later. The listings raise when a key comes out of
    # order (securestore.pagination), but only when that key arrives, possibly pages
    # after the delete was decided; deferring the deletes makes such a listing delete
    # nothing. The paths wait in a Spill: in memory, and past that in a temporary file.
    doomed = Spill()
    listed = False  # the source yielded an entry the filters select
    for src, dst in pairs:
        yield from _drain(problems, planner.source, unread)
        listed = listed or src is not None
        if dst is not None and dst.link:
            if src is not None or delete:
                yield _at_link(planner, src, dst, delete)
            continue
        if src is None:
            assert dst is not None
            if delete and _covered(dst.relative, unread):
                where = planner.destination.describe(dst.relative)
                yield Skip(where, _UNREAD)
            elif delete:
                doomed.append(dst.relative)
            continue
        if dst is None:
            yield planner.transfer(src, guard=guard)
        elif head:
            known = _decide(planner, src, dst)
            if known is None:
                yield planner.transfer(src, dst, rules)  # a HEAD decides
            else:
                yield planner.transfer(src) if known else None
        elif rules.differs(src.size, src.mtime, dst.size, dst.mtime):
            yield planner.transfer(src, dst, rules, guard=True) if guard else planner.transfer(src)
        else:
            yield None
    yield from _drain(problems, planner.source, unread)
    try:
        if not listed and not allow_empty_source:
            _empty_source(planner, filters, doomed, unread)
        for relative in doomed:
            if _covered(relative, unread):
                yield Skip(planner.destination.describe(relative), _UNREAD)
            elif deferred is not None and isinstance(planner.destination, Remote):
                deferred.append(relative)
            else:
                yield planner.delete(relative)
    finally:
        doomed.close()


_UNREAD = "not deleted: its source could not be read"


def _empty_source(planner: Planner, filters: Filters, doomed: Spill, unread: list[str]) -> None:
    """Refuse a ``--delete`` that would delete from a source that listed nothing.

    A typo in the source prefix, an unmounted folder or filters that select nothing
    would otherwise empty the destination (aws-cli does just that). Failing closed:
    the caller opts in with ``allow_empty_source``.
    """
    count = sum(1 for relative in doomed if not _covered(relative, unread))
    if not count:
        return
    what = "nothing the filters select" if filters.rules else "nothing"
    raise ConfigurationError(
        f"refusing sync --delete: {planner.source.describe()} lists {what}, and "
        f"{count} object(s) or file(s) of {planner.destination.describe()} would be deleted "
        "(nothing was deleted)",
        hint="check the source (a typo, an unmounted folder, the --include/--exclude "
        "patterns); to empty the destination on purpose, add --allow-empty-source",
    )


#: Why a file a move uploaded stays (see Planner.kept_source).
KEPT_THROUGH_LINK = (
    "not deleted after its upload: it was reached through a symbolic link to a folder "
    "(the link and the files it leads to are kept)"
)


def _at_link(planner: Planner, src: Entry | None, dst: Entry, delete: bool) -> Skip | Failure:
    """A symbolic link in a local destination: never deleted, replaced or written through."""
    where = planner.destination.describe(dst.relative)
    if src is None:
        return Skip(where, "not deleted: it is a symbolic link (--delete never deletes links)")
    error = PolicyError(
        f"refusing to write through the symbolic link {where}",
        hint="a download never replaces a link or the file it points to: "
        "remove the link, or download to another folder",
    )
    return Failure(planner.source.describe(src.relative), where, error)


def _covered(relative: str, unread: list[str]) -> bool:
    """Whether ``relative`` is an unread path or lies below an unread folder."""
    for path in unread:
        folder = path if path.endswith("/") or not path else path + "/"
        if relative == path or relative.startswith(folder):
            return True
    return False


def _decide(planner: Planner, src: Entry, dst: Entry) -> bool | None:
    if planner.sizes is None:
        return None
    if isinstance(planner.destination, Remote):
        return planner.sizes.decide(planner.destination.key(dst.relative), src, dst)
    assert isinstance(planner.source, Remote)
    return planner.sizes.decide_download(planner.source.key(src.relative), src, dst)
