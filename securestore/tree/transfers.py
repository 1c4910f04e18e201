"""The three transfers of a tree job's tasks: upload, download and copy.

Each also does a move's part (verify the copy, then delete the source) and a
download's local placement: the folders it creates (removed again if they stay
empty) and, in a tree, the confinement below the destination root
(:mod:`securestore.confine`). :class:`~securestore.tree.planner.Planner` decides
which entry needs which; this module moves the bytes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from securestore.attributes import guess_content_type
from securestore.clientside import FORMAT_METADATA, ClientSide
from securestore.confine import Destination, Placed
from securestore.errors import FileChangedError, LocalFileError

from .deletes import delete_local, delete_moved, verify_local, verify_size
from .manager import VanishedError
from .options import TreeOptions
from .paths import Local, Remote, Side
from .probes import stored_plaintext
from .sync import MTIME_METADATA, facts

__all__ = ["Transfers"]


class Transfers:
    """Upload, download and copy one entry each, for one job from ``source`` to ``destination``."""

    def __init__(self, source: Side, destination: Side, options: TreeOptions, move: bool) -> None:
        self.source = source
        self.destination = destination
        self.options = options
        self.move = move
        self._created: set[Path] = set()  # local folders this job made, for cleanup
        self._created_lock = threading.Lock()
        self._destination: Destination | None = None  # a local destination root, opened once

    def upload(
        self,
        src: Local,
        dst: Remote,
        advance: Callable[[int], None],
        *,
        keep: bool = False,
        relative: str = "",
    ) -> int:
        """Upload the file ``src`` to ``dst``: its size. A move then verifies the object's
        plaintext size and deletes the file (``relative`` to the source root), unless
        ``keep`` (a file reached through a folder link)."""
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
            size = stored_plaintext(dst, stored, message=self.writes_messages(dst))
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

    def download(
        self,
        src: Remote,
        dst: Local,
        advance: Callable[[int], None],
        relative: str = "",
        *,
        listed: float = 0.0,
    ) -> int:
        """Download ``src`` to ``dst`` (``relative`` to a tree's root, confined below it):
        the bytes written. The file gets the object's time (``listed``: the listing's,
        when later); a move verifies the file's size, then deletes the object."""
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
            expected = stored_plaintext(src, info, message=self.reads_messages(src))
            verify_local(written, expected, info, dst.describe())
            delete_moved(src, info)
        return written

    def copy(self, src: Remote, dst: Remote, advance: Callable[[int], None]) -> int:
        """Copy ``src`` to ``dst`` (S3 to S3): the plaintext size. A move verifies the
        copy's plaintext size against the source's, then deletes the source."""
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
            source_size = stored_plaintext(src, before, message=self.reads_messages(src))
            if source_size is None:
                # A signed message with no length metadata: the copy read it whole, its
                # signature verified, so the length it counted is the source's.
                source_size = size
            if source_size is not None:
                after = dst.store.head(dst.prefix)
                copied = stored_plaintext(dst, after, message=self.writes_messages(dst))
                verify_size(copied, source_size, dst.describe())
            delete_moved(src, before)
        return size or 0

    def reads_messages(self, src: Remote) -> bool:
        """Whether this job reads ``src`` as client-side messages (a keyring is in play)."""
        return isinstance(self.options.require, ClientSide) or src.store.keyring is not None

    def writes_messages(self, dst: Remote) -> bool:
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
