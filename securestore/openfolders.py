"""The folders a tree download keeps open below its destination root, one per folder.

:class:`~securestore.confine.Destination` walks a key's folders from the root
without following a link (:func:`~securestore.confine.open_folder`). Walking
again for every file of a folder cost a tree download about ten system calls
per file (each one a hand-off of the GIL under contention: docs/benchmark-log.md,
"stop 23"). :class:`OpenFolders` keeps each walked folder's descriptor, the
route that reached it (``names``, links inside the root replaced) and the
identity (``st_dev``, ``st_ino``) of every folder on that route.

A kept folder is trusted only after :meth:`OpenFolder.still_there` (before the
download starts, and again just before its rename): each folder of the route,
looked at from the root without following the last link of each step
(``fstatat`` with ``AT_SYMLINK_NOFOLLOW``), must be a directory with the
identity it had when it was walked. A step that was replaced since (by a link,
or by another folder) fails the check: before the download the folder is
walked again, before the rename the download is refused, as a fresh walk would.
A folder whose check failed is never handed out again.

Bounded: at most :func:`kept_within_limit` folders stay open when unused (least
recently used closed first); a folder in use is closed when its last user lets it
go.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict

__all__ = ["KEPT", "OpenFolder", "OpenFolders", "kept_within_limit"]

#: Unused folders kept open at most (a descriptor each), where the process may open
#: 1,024 files or more.
KEPT = 128
#: Of the process's descriptor limit, the share kept folders may hold: the rest is
#: for the downloads in flight (a folder, a partial file and a connection each, 32 by
#: default) and the process itself.
_SHARE = 8


def kept_within_limit() -> int:
    """How many unused folders to keep open: :data:`KEPT`, or an eighth of the
    process's open-file limit (``ulimit -n``) where that is lower.

    macOS starts processes with a limit of 256: 128 kept folders and 32 downloads
    in flight ran a download of many folders out of descriptors (each failure then
    reported as a TLS handshake failure, the CA bundle being the file not opened).
    """
    try:
        import resource
    except ImportError:  # not POSIX: no descriptors are kept (confine.DESCRIPTORS)
        return KEPT
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return KEPT
    return max(1, min(KEPT, soft // _SHARE))


class OpenFolder:
    """One walked folder: its descriptor, route from the root and the identities on it.

    Attributes:
        fd: the folder, open (``O_DIRECTORY``); owned by :class:`OpenFolders`.
        names: the folders walked from the root to reach it (links replaced).
        identities: ``(st_dev, st_ino)`` of each folder of ``names``, in order.
    """

    def __init__(self, fd: int, names: list[str], identities: list[tuple[int, int]]) -> None:
        self.fd = fd
        self.names = names
        self.identities = identities
        self.users = 0
        self.dropped = False

    def still_there(self, root_fd: int) -> int:
        """How many steps of the route, from the root, are still the folders walked.

        Equal to ``len(names)`` when the whole route still leads to this folder;
        otherwise the index of the first step that is missing, not a directory
        (a link, say) or another folder than the one walked.
        """
        path = ""
        for index, (name, identity) in enumerate(zip(self.names, self.identities, strict=True)):
            path = f"{path}/{name}" if path else name
            try:
                info = os.stat(path, dir_fd=root_fd, follow_symlinks=False)
            except OSError:
                return index
            if not stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino) != identity:
                return index
        return len(self.names)


class OpenFolders:
    """The open folders of one destination, by the key's folder path (thread-safe)."""

    def __init__(self, kept: int | None = None) -> None:
        self._kept = kept_within_limit() if kept is None else kept
        self._lock = threading.Lock()
        self._folders: OrderedDict[tuple[str, ...], OpenFolder] = OrderedDict()

    def take(self, parts: tuple[str, ...]) -> OpenFolder | None:
        """The open folder kept for ``parts``, now in use (:meth:`give_back` it), or None."""
        with self._lock:
            folder = self._folders.get(parts)
            if folder is None:
                return None
            self._folders.move_to_end(parts)
            folder.users += 1
            return folder

    def keep(self, parts: tuple[str, ...], folder: OpenFolder) -> OpenFolder:
        """Keep ``folder`` (in use by the caller) for ``parts``; the one kept, now in use.

        If another thread kept one for ``parts`` meanwhile, that one is returned
        (in use) and ``folder`` is closed.
        """
        close: list[int] = []
        with self._lock:
            kept = self._folders.get(parts)
            if kept is not None and not kept.dropped:
                kept.users += 1
                close.append(folder.fd)
                folder = kept
            else:
                folder.users += 1
                self._folders[parts] = folder
                self._folders.move_to_end(parts)
            # Room for this one once given back: least recently used first.
            unused = [(k, f) for k, f in self._folders.items() if not f.users]
            for key, each in unused[: max(0, len(unused) + 1 - self._kept)]:
                del self._folders[key]
                close.append(each.fd)
        for fd in close:
            os.close(fd)
        return folder

    def give_back(self, folder: OpenFolder) -> None:
        """The caller no longer uses ``folder`` (it is closed if it was dropped meanwhile)."""
        with self._lock:
            folder.users -= 1
            closing = folder.dropped and not folder.users
        if closing:
            os.close(folder.fd)

    def drop(self, parts: tuple[str, ...], folder: OpenFolder) -> None:
        """Never hand ``folder`` out again (its check failed); closed once unused."""
        with self._lock:
            if self._folders.get(parts) is folder:
                del self._folders[parts]
            folder.dropped = True

    def close(self) -> None:
        """Close every folder not in use; those in use close when given back."""
        with self._lock:
            folders = list(self._folders.values())
            self._folders.clear()
            unused = []
            for folder in folders:
                folder.dropped = True
                if not folder.users:
                    unused.append(folder.fd)
        for fd in unused:
            os.close(fd)
