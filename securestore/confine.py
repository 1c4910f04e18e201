"""Where a tree job may write below a local destination root: never through a link out of it.

Split from :mod:`securestore.localfile`, which writes each file once its path is settled.

On POSIX systems whose ``os`` functions take ``dir_fd`` (:data:`DESCRIPTORS`), a
tree download goes through a :class:`Destination`: the root is opened once
(``O_DIRECTORY``), each key's folders are opened from it one by one with
``O_NOFOLLOW`` (created with ``mkdir(dir_fd=...)`` when missing), and the file's
partial copy is created, renamed and cleaned up relative to its folder's
descriptor (:mod:`securestore.placement`). Each folder's descriptor is kept
open for the next files of that folder (:mod:`securestore.openfolders`), and
checked from the root before each use. A local user who swaps a folder
for a link once it was checked therefore changes nothing: the download goes to
the folder that was checked, and just before the rename that folder must still
be where the key's path leads (else the download is refused, see
:meth:`Destination.place`). Elsewhere :func:`confined_target` checks by path, with
the window it describes.

What is left, by design: the root is opened by its path, once per job (links in
the path the caller named are theirs); a swap in the instant between the last
check and the rename moves nothing out through a link either: the file lands in
the folder that was checked, wherever that folder was moved (on the same file
system, by someone who may write there). ``decrypt -r`` (:mod:`securestore.offline`)
still writes by path after :func:`confined_target`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from securestore.confine_paths import confined_target, control_characters, inside
from securestore.errors import LocalFileError, PolicyError
from securestore.localfile import current_umask, make_folders
from securestore.openfolders import OpenFolder, OpenFolders
from securestore.placement import Placement, link_refused, placed

__all__ = [
    "DESCRIPTORS",
    "Destination",
    "Placed",
    "confined_target",
    "control_characters",
    "open_folder",
]

#: Whether folders are walked by descriptor here (Linux, the BSDs, macOS; not Windows).
DESCRIPTORS = (
    os.name == "posix"
    and hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
    and {os.open, os.mkdir, os.stat, os.unlink, os.rename, os.rmdir, os.access, os.utime}
    <= os.supports_dir_fd
    and os.scandir in os.supports_fd
)

_FOLDER = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
#: How many links a walk may follow (each one inside the destination) before refusing.
_LINKS = 40


class LinkFoundError(Exception):
    """:func:`open_folder` met a symbolic link (never followed)."""


def open_folder(parent: int, name: str, *, mode: int | None = None) -> tuple[int, bool]:
    """Open the folder ``name`` in the open folder ``parent`` without following a link.

    ``mode``: create it (permission bits, umask applied) when missing; ``None``
    leaves a missing folder an error. Returns the descriptor and whether it was
    created here (a folder made meanwhile by someone else is not).

    Raises:
        LinkFoundError: ``name`` is a symbolic link.
        FileNotFoundError: it is missing (and ``mode`` is ``None``).
        NotADirectoryError: something other than a folder has that name.
        OSError: it cannot be opened or created.
    """
    if name in ("", ".", "..") or "/" in name:  # never: paths.unsafe_relative refused them
        raise ValueError(f"not a folder name: {name!r}")
    try:
        return _open_nofollow(parent, name), False
    except FileNotFoundError:
        if mode is None:
            raise
    created = False
    with contextlib.suppress(FileExistsError):  # made meanwhile (a parallel download)
        os.mkdir(name, mode, dir_fd=parent)  # never follows a link at the name
        created = True
    return _open_nofollow(parent, name), created


def _open_nofollow(parent: int, name: str) -> int:
    try:
        return os.open(name, _FOLDER, dir_fd=parent)
    except OSError as exc:
        # Linux says ELOOP for a link under O_NOFOLLOW, FreeBSD EMLINK; a file: ENOTDIR.
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            raise LinkFoundError(name) from None
        raise


def _outside(link: Path) -> PolicyError:
    return PolicyError(
        f"refusing to write through the symbolic link {link}: it leads outside the destination",
        hint="a download writes only below its destination: remove the link, "
        "or download to another folder",
    )


def _replaced(folder: Path) -> PolicyError:
    return PolicyError(
        f"refusing to write below {folder}: it was replaced while the file was written "
        "(a symbolic link put in its place?)",
        hint="a download writes only below its destination: check who else writes "
        "there, then run the command again",
    )


class Placed:
    """A download's file, placed by :meth:`Destination.place` (or by path, elsewhere).

    Attributes:
        target: the file's path.
        created: the folders created for it (outermost first).
    """

    def __init__(
        self, target: Path, created: list[Path], dir_fd: int | None = None, name: str = ""
    ) -> None:
        self.target = target
        self.created = created
        self._dir_fd = dir_fd
        self._name = name

    def size(self) -> int:
        """The size of the file written (in its folder, without following a link)."""
        if self._dir_fd is None:
            return os.stat(self.target).st_size
        return os.stat(self._name, dir_fd=self._dir_fd, follow_symlinks=False).st_size

    def set_times(self, when: float) -> None:
        """Set the file's access and modification times (never through a link)."""
        if self._dir_fd is None:
            os.utime(self.target, (when, when))
        else:
            os.utime(self._name, (when, when), dir_fd=self._dir_fd, follow_symlinks=False)


class Destination:
    """A tree job's local destination root, opened once; see the module docstring.

    ``root`` is the folder the caller named: links in its own path are theirs
    (it is created, with its parents, when missing). Thread-safe: a tree job
    places its downloads in parallel. :meth:`close` once the job is over.
    """

    def __init__(self, root: Path, *, mode: int = 0o777) -> None:
        self.root = root
        self._mode = mode
        self._fd = -1
        self._real = ""
        self._umask: int | None = None
        self._lock = threading.Lock()
        #: place() blocks using the root's descriptor; close() leaves it to the last.
        self._users = 0
        self._closing = False
        self._folders = OpenFolders()
        #: The folders made to create the root itself (outermost first), for cleanup.
        self.made: list[Path] = []

    def close(self) -> None:
        """Close the root's descriptor and the folders kept open (a later :meth:`place`
        opens them again).

        A download still placing (a worker an interrupt left running) keeps the root
        open until it ends: its number, closed and reused by another open, would lead
        that download's ``dir_fd`` calls into another folder.
        """
        self._folders.close()
        with self._lock:
            if self._users:
                self._closing = True
                return
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _release(self) -> None:
        """One :meth:`place` is done with the root's descriptor."""
        with self._lock:
            self._users -= 1
            if self._users or not self._closing:
                return
            self._closing = False
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _root(self) -> tuple[int, str]:
        with self._lock:
            if self._fd < 0:
                if not os.path.isdir(self.root):
                    self.made.extend(make_folders(self.root, self._mode))
                try:
                    self._fd = os.open(self.root, _FOLDER & ~getattr(os, "O_NOFOLLOW", 0))
                except OSError as exc:
                    raise LocalFileError(
                        f"cannot use {self.root}: {exc.strerror or exc}",
                        hint="choose a destination in a writable folder",
                    ) from exc
                self._real = os.path.realpath(self.root)
                self._umask = current_umask()  # once per job: new files get it
            self._users += 1
            return self._fd, self._real

    @contextlib.contextmanager
    def place(self, relative: str) -> Iterator[Placed]:
        """Make ``root``/``relative`` ready for a download in the block; yield it.

        ``relative`` comes from the other side of the job (an S3 key): its folders
        are created when missing; a link among them is followed only to a folder
        inside the root (found with ``realpath``, then walked from the root without
        following any link); the file must not be a link. Inside the block an
        :class:`~securestore.localfile.AtomicFile` of the yielded target writes,
        and renames, in the folder so reached, which must still be where
        ``relative`` leads just before the rename.

        Where :data:`DESCRIPTORS` is false: :func:`confined_target` (by path).

        Raises:
            PolicyError: a folder leads outside the root (``refusing to write through
                the symbolic link ...: it leads outside the destination``), the file is
                a link, or (from the rename) a folder was replaced meanwhile
                (``refusing to write below ...: it was replaced ...``).
            LocalFileError: a folder cannot be created, or a file is where one should be.
        """
        if not DESCRIPTORS:
            with self._lock:
                real = os.path.realpath(self.root) if os.path.isdir(self.root) else None
            target, created = confined_target(self.root, relative, mode=self._mode, real_root=real)
            yield Placed(target, created)
            return
        root_fd, real = self._root()
        try:
            with self._placed(root_fd, real, relative) as done:
                yield done
        finally:
            self._release()

    @contextlib.contextmanager
    def _placed(self, root_fd: int, real: str, relative: str) -> Iterator[Placed]:
        parts = relative.split("/")
        target = self.root.joinpath(*parts)
        key = tuple(parts[:-1])
        folder, created = self._folder(root_fd, real, key)
        name = parts[-1]
        try:
            try:
                self._check_file(folder.fd, name, target)
            except BaseException:
                if created:
                    self._folders.drop(key, folder)  # removed below if still empty
                    self._remove(root_fd, created)
                raise

            def recheck() -> None:
                try:
                    self._recheck(root_fd, real, folder)
                except BaseException:
                    self._folders.drop(key, folder)  # walked again by the next download
                    raise

            # A failed download's folders are the caller's to remove once the job is over
            # (a parallel download may be about to fill them).
            with placed(Placement(os.fspath(target), folder.fd, name, recheck, self._umask)):
                yield Placed(target, created, folder.fd, name)
        finally:
            self._folders.give_back(folder)

    def _folder(
        self, root_fd: int, real: str, key: tuple[str, ...]
    ) -> tuple[OpenFolder, list[Path]]:
        """The open folder ``key`` names below the root (kept, or walked now), in use.

        A kept folder is used only if its route still leads to it; else it is walked
        again. Returns it and the folders created for it (outermost first).
        """
        kept = self._folders.take(key)
        if kept is not None:
            if kept.still_there(root_fd) == len(kept.names):
                return kept, []
            self._folders.drop(key, kept)
            self._folders.give_back(kept)
        fd, names, identities, created = self._walk(root_fd, real, list(key))
        return self._folders.keep(key, OpenFolder(fd, names, identities)), created

    def _walk(
        self, root_fd: int, real: str, parts: list[str]
    ) -> tuple[int, list[str], list[tuple[int, int]], list[Path]]:
        """Open the folder ``parts`` names below the root: its descriptor, real names,
        their identities (``st_dev``, ``st_ino``) and the folders created."""
        fd = os.open(".", _FOLDER, dir_fd=root_fd)  # this walk's own copy of the root
        names: list[str] = []  # the folders walked from the root, links replaced
        identities: list[tuple[int, int]] = []
        created: list[Path] = []
        queue = list(parts)
        followed = 0
        #: How many of the next parts are the folder a link resolved to: walked, never
        #: made (as by path, where a mkdir through a dangling link fails); the key's own
        #: folders after them are made as anywhere else.
        through = 0
        try:
            while queue:
                part = queue.pop(0)
                create = None if through else self._mode
                through = max(0, through - 1)
                folder = self.root.joinpath(*names, part)
                try:
                    child, made = open_folder(fd, part, mode=create)
                except LinkFoundError:
                    # Followed only to a folder inside the root, and then walked from the
                    # root: realpath names that folder, no link is followed to reach it.
                    resolved = os.path.realpath(folder)
                    followed += 1
                    if not inside(resolved, real) or followed > _LINKS:
                        raise _outside(folder) from None
                    relative = os.path.relpath(resolved, real)
                    resolved_parts = [] if relative == "." else relative.split(os.sep)
                    queue[:0] = resolved_parts
                    through = len(resolved_parts)
                    os.close(fd)
                    fd = -1
                    fd = os.open(".", _FOLDER, dir_fd=root_fd)
                    names, identities = [], []
                    continue
                except NotADirectoryError as exc:
                    raise LocalFileError(
                        f"cannot create {folder}: a file of that name exists"
                    ) from exc
                except FileNotFoundError as exc:
                    raise LocalFileError(
                        f"cannot write to {folder}: {exc.strerror or exc}",
                        hint="choose a destination in an existing, writable folder",
                    ) from exc
                except OSError as exc:
                    raise LocalFileError(
                        f"cannot create {folder}: {exc.strerror or exc}",
                        hint="choose a destination in a writable folder",
                    ) from exc
                os.close(fd)
                fd = child
                names.append(part)
                info = os.fstat(fd)
                identities.append((info.st_dev, info.st_ino))
                if made:
                    created.append(folder)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            self._remove(root_fd, created)
            raise
        return fd, names, identities, created

    def _check_file(self, fd: int, name: str, target: Path) -> None:
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise LocalFileError(f"cannot use {target}: {exc.strerror or exc}") from exc
        if stat.S_ISLNK(info.st_mode):
            raise link_refused(target)

    def _recheck(self, root_fd: int, real: str, folder: OpenFolder) -> None:
        """Raise unless the folder's route still leads from the root to the folder itself."""
        step = folder.still_there(root_fd)
        if step == len(folder.names):
            return
        where = self.root.joinpath(*folder.names[: step + 1])
        if os.path.islink(where) and not inside(os.path.realpath(where), real):
            raise _outside(where)
        raise _replaced(where)

    def remove_empty(self, folders: list[Path]) -> list[Path]:
        """Remove those of ``folders`` below the root that are empty, by descriptor (as given).

        Returns the others (the root and folders above or beside it), for the caller
        to remove by path. Best effort, like every cleanup of empty folders.
        """
        below = [f for f in folders if f != self.root and f.is_relative_to(self.root)]
        if below and DESCRIPTORS:
            with self._lock:
                fd = self._fd
                if fd >= 0:
                    self._users += 1  # not closed under the removal
            if fd >= 0:
                try:
                    self._remove(fd, below[::-1])  # given innermost first; _remove reverses
                finally:
                    self._release()
        return [f for f in folders if f not in below] if DESCRIPTORS else folders

    def _remove(self, root_fd: int, created: list[Path]) -> None:
        """Remove the ``created`` folders that are still empty, innermost first (best effort)."""
        for made in reversed(created):
            relative = made.relative_to(self.root).parts
            try:
                parent = os.open(".", _FOLDER, dir_fd=root_fd)
            except OSError:
                return
            try:
                for name in relative[:-1]:
                    child, _ = open_folder(parent, name)
                    os.close(parent)
                    parent = child
                os.rmdir(relative[-1], dir_fd=parent)
            except (OSError, LinkFoundError):
                pass
            finally:
                os.close(parent)
