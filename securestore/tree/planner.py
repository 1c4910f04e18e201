"""One tree job's planner: the :class:`Task` that moves, compares or deletes each entry.

It decides (refusals, the comparisons of a sync, a move's kept sources); the tasks it
makes run :class:`~securestore.tree.transfers.Transfers`. Also :class:`TreeOptions` (how
each object is written and read) and the checks made before anything moves: a move onto
itself and a copy into its own sub-prefix are refused.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from securestore.clientside import FORMAT_METADATA
from securestore.errors import ConfigurationError, IntegrityError, LocalFileError

from .deletes import check_local_root, delete_local, delete_side
from .guard import KeylessGuard
from .listing import NOT_UTF8, Entry, valid_utf8
from .manager import Failure, Skip, Task
from .options import TreeOptions
from .overlap import check_overlap as _check_overlap
from .paths import Local, Remote, Side, control_characters, unsafe_relative
from .probes import stored_plaintext
from .sync import ListedSizes, Rules, facts
from .transfers import Transfers

__all__ = ["Planner", "TreeOptions"]


class Planner:
    """Turns pairs of entries into :class:`Task` s for one job."""

    def __init__(
        self,
        source: Side,
        destination: Side,
        options: TreeOptions,
        move: bool,
        *,
        tree: bool = True,
        delete: bool = False,
    ) -> None:
        _check_overlap(source, destination, move=move, tree=tree, delete=delete)
        self.source = source
        self.destination = destination
        self.options = options
        self.move = move
        self._real_source: str | None = None  # the local source root, resolved once
        self.transfers = Transfers(source, destination, options, move)
        #: A sync's listing-only upload decisions, learning from its HEADs (see plans.plan_sync).
        self.sizes: ListedSizes | None = None
        # A sync upload without a keyring refuses to downgrade (securestore.tree.guard).
        self._guard = KeylessGuard(destination) if isinstance(destination, Remote) else None
        if isinstance(source, Local) and isinstance(destination, Local):
            raise ConfigurationError(
                "both sides are local", hint="one side must be s3://BUCKET[/PREFIX]"
            )
        if tree and isinstance(destination, Local):
            check_local_root(destination.path)

    def _at(self, side: Side, relative: str) -> Local | Remote:
        if isinstance(side, Local):
            return Local(side.path / relative) if relative else side
        return Remote(side.store, side.key(relative))

    def transfer(
        self,
        entry: Entry,
        compare: Entry | None = None,
        rules: Rules | None = None,
        *,
        guard: bool = False,
    ) -> Task | Failure | Skip:
        """The task that moves ``entry`` (after a HEAD comparison when ``compare`` is given).

        ``guard``: a sync upload without a keyring, over the object ``compare`` which
        the listings say differs, or of a file the destination lacks when
        ``compare`` is ``None`` (see :class:`~securestore.tree.guard.KeylessGuard`).
        """
        src = self._at(self.source, entry.relative)
        dst = self._at(self.destination, entry.relative)
        if isinstance(dst, Remote) and not valid_utf8(dst.prefix):  # one file (a walk skips them)
            error = LocalFileError(f"{src.describe()}: {NOT_UTF8}")
            return Failure(src.describe(), dst.describe(), error)
        if isinstance(dst, Local):
            why = unsafe_relative(entry.relative) if entry.relative else None
            if why:
                return Failure(
                    src.describe(),
                    dst.describe(),
                    IntegrityError(f"refusing to download {src.describe()}: {why}"),
                )
            if control_characters(entry.relative):
                reason = "not downloaded: its name holds control characters (a local file name)"
                return Skip(src.describe(), reason, refused=True)
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
        keyless = self._guard
        if compare is not None and rules is not None and guard:
            assert isinstance(dst, Remote) and keyless is not None
            other, target = compare, dst
            needed = lambda: keyless.over(target, entry, other, rules)  # noqa: E731
        elif compare is None and guard:
            assert isinstance(dst, Remote) and keyless is not None
            fresh = dst
            needed = lambda: keyless.new(fresh)  # noqa: E731
        elif compare is not None and rules is not None:
            other = compare
            needed = lambda: self._differs(src, entry, dst, other, rules)  # noqa: E731

        keep = self.kept_source(entry) if isinstance(src, Local) else False
        relative = entry.relative

        def run(advance: Callable[[int], None]) -> int | None:
            if needed is not None and not needed():
                return None
            if isinstance(src, Local) and isinstance(dst, Remote):
                return self.transfers.upload(src, dst, advance, keep=keep, relative=relative)
            if isinstance(src, Remote) and isinstance(dst, Local):
                return self.transfers.download(src, dst, advance, relative, listed=entry.mtime)
            assert isinstance(src, Remote) and isinstance(dst, Remote)
            return self.transfers.copy(src, dst, advance)

        return Task(kind, src, dst, entry.size, run, large=large, needed=needed)

    def kept_source(self, entry: Entry) -> bool:
        """Whether a move keeps the local file ``entry`` after its upload.

        The source walk follows links, as aws-cli does: a file reached through a
        symbolic link to a folder is uploaded, but it is not this tree's to delete
        (it may be anywhere). It is deleted only if its folder, resolved, is the
        folder the walk names inside the resolved source root. (A link to a file is
        the tree's own entry: the move deletes the link, never its target.)
        """
        if not (self.move and isinstance(self.source, Local)) or "/" not in entry.relative:
            return False
        if self._real_source is None:
            self._real_source = os.path.realpath(self.source.path)
        parent = entry.relative.rsplit("/", 1)[0]
        walked = os.path.join(self._real_source, *parent.split("/"))
        return os.path.realpath(self.source.path / parent) != walked

    def delete(self, relative: str) -> Task:
        """The task that deletes ``relative`` from the destination (``sync --delete``)."""
        dst = self._at(self.destination, relative)
        root = self.destination

        def run(_: Callable[[int], None]) -> int:
            if isinstance(root, Local):
                delete_local(root, relative)  # never through a link (a race)
            else:
                delete_side(dst)
            return 0

        return Task("delete", dst, dst, 0, run)

    # -- comparisons ---------------------------------------------------------------

    def _facts(
        self, side: Local | Remote, entry: Entry, *, messages: bool
    ) -> tuple[int | None, float]:
        """The (plaintext size, time) a sync compares; ``messages``: a keyring reads or
        writes ``side``, so its objects are client-side messages."""
        if isinstance(side, Remote):
            info = side.store.head(side.prefix)
            if self.sizes is not None:
                self.sizes.learn(side.prefix, info)
            size, when = facts(info, entry)
            if messages and (size is None or FORMAT_METADATA not in info.metadata):
                # No stored plaintext length (a streamed put, a server that keeps no
                # metadata): the message's header and frame layout give it.
                try:
                    size = stored_plaintext(side, info, message=True)
                except IntegrityError:
                    size = None  # not a message we can size: it differs
            return size, when
        return entry.size, entry.mtime

    def _differs(
        self, src: Local | Remote, entry: Entry, dst: Local | Remote, other: Entry, rules: Rules
    ) -> bool:
        src_size, src_time = self._facts(
            src, entry, messages=isinstance(src, Remote) and self.transfers.reads_messages(src)
        )
        dst_size, dst_time = self._facts(
            dst, other, messages=isinstance(dst, Remote) and self.transfers.writes_messages(dst)
        )
        if (
            isinstance(src, Remote)
            and isinstance(dst, Local)
            and not rules.size_only
            and other.changed is not None
            and math.floor(entry.mtime) > math.floor(other.changed)
        ):
            # The object was written after the local file last changed (its ctime: our
            # download sets the file's mtime to the stored one, never its ctime): a
            # re-upload of an older version must reach the machines that sync down.
            return True
        return rules.differs(src_size, src_time, dst_size, dst_time)

    def remove_empty_folders(self) -> None:
        """Remove the folders this job created that stayed empty (see :class:`Transfers`)."""
        self.transfers.remove_empty_folders()


def _part_size(*sides: Side) -> int:
    for side in sides:
        if isinstance(side, Remote):
            return side.store.transfer.part_size
    return 8 * 1024 * 1024
