"""One tree job's planner: the :class:`Task` that moves, compares or deletes each entry.

Also :class:`TreeOptions` (how each object is written and read) and the checks
made before anything moves: a move onto itself and a copy into its own
sub-prefix are refused.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from securestore.attributes import guess_content_type
from securestore.clientside import FORMAT_METADATA, ClientSide
from securestore.confine import Destination, Placed
from securestore.errors import (
    ConfigurationError,
    FileChangedError,
    IntegrityError,
    LocalFileError,
)

from .deletes import (
    check_local_root,
    delete_local,
    delete_moved,
    delete_side,
    verify_local,
    verify_size,
)
from .guard import KeylessGuard
from .listing import NOT_UTF8, Entry, valid_utf8
from .manager import Failure, Skip, Task, VanishedError
from .options import TreeOptions
from .overlap import check_overlap as _check_overlap
from .paths import Local, Remote, Side, control_characters, unsafe_relative
from .probes import stored_plaintext
from .sync import MTIME_METADATA, ListedSizes, Rules, facts

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
        self._created: set[Path] = set()  # local folders this job made, for cleanup
        self._created_lock = threading.Lock()
        self._real_source: str | None = None  # the local source root, resolved once
        self._destination: Destination | None = None  # a local destination root, opened once
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
                return self._upload(src, dst, advance, keep=keep, relative=relative)
            if isinstance(src, Remote) and isinstance(dst, Local):
                return self._download(src, dst, advance, relative, listed=entry.mtime)
            assert isinstance(src, Remote) and isinstance(dst, Remote)
            return self._copy(src, dst, advance)

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
            src, entry, messages=isinstance(src, Remote) and self._reads_messages(src)
        )
        dst_size, dst_time = self._facts(
            dst, other, messages=isinstance(dst, Remote) and self._writes_messages(dst)
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

    # -- the three transfers -----------------------------------------------------------

    def _upload(
        self,
        src: Local,
        dst: Remote,
        advance: Callable[[int], None],
        *,
        keep: bool = False,
        relative: str = "",
    ) -> int:
        # A file that changes while it is read would be stored torn under the mtime
        # it had before (a later sync, deciding from the listing, would keep it): it is
        # uploaded again, and fails if it changes again. A move never deletes it.
        for attempt in (1, 2):
            try:
                before, after = self._upload_once(src, dst, advance)
            except FileChangedError:  # seen before the object was committed: nothing stored
                if self.move or attempt == 2:
                    raise
                continue
            if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):
                break
            if self.move or attempt == 2:
                raise LocalFileError(
                    f"{src.path} changed while it was uploaded"
                    + (": not deleted" if self.move else ", twice"),
                    hint="run the command again once the file is no longer being written",
                )
        if self.move and not keep:
            stored = dst.store.head(dst.prefix)
            size = stored_plaintext(dst, stored, message=self._writes_messages(dst))
            verify_size(size, before.st_size, dst.describe())
            # That check took round trips: a write to the file meanwhile is not in the
            # object, and must not go with the file.
            if _changed(src.path, before):
                raise LocalFileError(
                    f"{src.path} changed after it was uploaded: not deleted",
                    hint="the object holds the file as it was; move it again once it is "
                    "no longer being written",
                )
            if relative and isinstance(self.source, Local):
                delete_local(self.source, relative, link=True)  # never through a folder link
            else:
                os.unlink(src.path)  # the file named: links on its path are the caller's
        return before.st_size

    def _upload_once(
        self, src: Local, dst: Remote, advance: Callable[[int], None]
    ) -> tuple[os.stat_result, os.stat_result]:
        """Upload ``src`` once: its stat before and after."""
        try:
            before = os.stat(src.path)
        except FileNotFoundError as exc:
            # Deleted since the walk saw it (a rotated log): nothing to back up, as aws-cli.
            raise VanishedError("vanished before it was uploaded") from exc
        metadata = {**self.options.metadata, MTIME_METADATA: f"{before.st_mtime:.6f}"}
        content_type = self.options.content_type or guess_content_type(src.path.name)
        try:
            dst.store.upload_file(
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
        try:
            after = os.stat(src.path)
        except FileNotFoundError:
            after = before  # gone after it was read whole: what was stored is what was read
        return before, after

    def _make_parents(self, path: Path) -> None:
        """Create ``path``'s missing folders, remembering them for :meth:`remove_empty_folders`."""
        folder = path.parent
        if os.path.isdir(folder):
            return  # the usual case in a tree download: one stat, no mkdir that fails
        missing = []
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
            destination, self._destination = self._destination, None
            if destination is not None:
                self._created.update(destination.made)
            created = sorted(self._created, key=lambda p: len(p.parts), reverse=True)
            self._created.clear()
        if destination is not None:
            # Below the root by descriptor: a folder swapped for a link since is not followed.
            created = destination.remove_empty(created)
            destination.close()
        for folder in created:
            with contextlib.suppress(OSError):  # not empty, or gone: either way, keep going
                folder.rmdir()

    @contextlib.contextmanager
    def _placed(self, dst: Local, relative: str) -> Iterator[Placed]:
        """Where a download writes: in a tree, never through a link (securestore.confine)."""
        if not (relative and isinstance(self.destination, Local)):
            self._make_parents(dst.path)
            yield Placed(dst.path, [])
            return
        # A tree download: the key chose the path below the root, and must not lead out
        # of it through a link, nor be led out by a link swapped in meanwhile.
        with self._created_lock:
            if self._destination is None:
                self._destination = Destination(self.destination.path)  # once per job
            destination = self._destination
        with destination.place(relative) as placed:
            with self._created_lock:
                self._created.update(placed.created)
            yield placed

    def _download(
        self,
        src: Remote,
        dst: Local,
        advance: Callable[[int], None],
        relative: str = "",
        *,
        listed: float = 0.0,
    ) -> int:
        with self._placed(dst, relative) as placed:
            info = src.store.download_file(
                src.prefix,
                dst.path,
                require=self.options.require,
                context=self.options.context,
                relocated=self.options.relocated,
                allow_plaintext=self.options.allow_plaintext,
                progress=advance,
                overwrite_readonly=self.options.overwrite_readonly,
                allow_s3ec=self.options.allow_s3ec,
            )
            _, when = facts(info)
            if FORMAT_METADATA not in info.metadata:
                # The listing's time when later: the next sync compares the file with
                # the listing, and servers may put another second in GET's Last-Modified
                # (rclone: a second earlier for 1 in 30 objects, each then downloaded
                # again). A later GET time is a version written since: it stays.
                when = max(when, listed)
            written = placed.size()
            # As aws-cli does: the file gets the object's time, so the next sync sees it as
            # up to date (a client-side object: the source file's stored mtime). A device or
            # another owner's file may refuse, a 32-bit time_t cannot hold every time:
            # the data is what matters.
            with contextlib.suppress(OSError, OverflowError):
                placed.set_times(when)
        if self.move:
            expected = stored_plaintext(src, info, message=self._reads_messages(src))
            verify_local(written, expected, info, dst.describe())
            delete_moved(src, info)
        return written

    def _copy(self, src: Remote, dst: Remote, advance: Callable[[int], None]) -> int:
        # What a move may delete afterwards: the source as it was before the copy.
        before = src.store.head(src.prefix) if self.move else None
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
            allow_s3ec=self.options.allow_s3ec,
        )
        size, _ = facts(info)
        if before is not None:
            # Plaintext lengths from each message's header and layout: a re-bind changes
            # the header's length, and a server may keep none of our metadata.
            source_size = stored_plaintext(src, before, message=self._reads_messages(src))
            if source_size is None:
                # A signed message with no length metadata: the copy read it whole, its
                # signature verified, so the length it counted is the source's.
                source_size = size
            if source_size is not None:
                after = dst.store.head(dst.prefix)
                copied = stored_plaintext(dst, after, message=self._writes_messages(dst))
                verify_size(copied, source_size, dst.describe())
            delete_moved(src, before)
        return size or 0

    def _reads_messages(self, src: Remote) -> bool:
        """Whether this job reads ``src`` as client-side messages (a keyring is in play)."""
        return isinstance(self.options.require, ClientSide) or src.store.keyring is not None

    def _writes_messages(self, dst: Remote) -> bool:
        """Whether this job writes client-side messages to ``dst``."""
        return isinstance(self.options.encryption or dst.store.encryption, ClientSide)


def _changed(path: Path, before: os.stat_result) -> bool:
    """Whether the file at ``path`` is no longer the one ``before`` describes (or is gone)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False  # nothing left to lose; the unlink reports it
    return (now.st_ino, now.st_size, now.st_mtime_ns) != (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def _part_size(*sides: Side) -> int:
    for side in sides:
        if isinstance(side, Remote):
            return side.store.transfer.part_size
    return 8 * 1024 * 1024
