"""Where a tree transfer reads and writes: a local directory or a prefix of a store.

Also aws-cli's destination rules: a destination that ends in ``/`` (or is an
existing directory) means "into it, under the source's base name".
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from securestore.confine import control_characters
from securestore.errors import ConfigurationError, IntegrityError, PolicyError
from securestore.store import SecureStore

__all__ = [
    "Local",
    "Remote",
    "Side",
    "as_side",
    "control_characters",
    "listed_object",
    "local_target",
    "remote_key",
    "source_root",
    "unsafe_relative",
]


@dataclass(frozen=True)
class Local:
    """A local directory (a tree) or file (a single transfer)."""

    path: Path

    def describe(self, relative: str = "") -> str:
        """How the CLI names a file below this root."""
        return str(self.path / relative) if relative else str(self.path)


@dataclass(frozen=True)
class Remote:
    """A prefix (a tree) or key (a single transfer) in the bucket of ``store``."""

    store: SecureStore
    prefix: str

    def key(self, relative: str) -> str:
        """The key of ``relative`` below this prefix."""
        return self.prefix + relative

    def describe(self, relative: str = "") -> str:
        """``s3://bucket/key`` of ``relative``."""
        return f"s3://{self.store.bucket}/{self.prefix}{relative}"


Side = Local | Remote


def as_side(value: Side | str | os.PathLike[str] | tuple[SecureStore, str]) -> Side:
    """Accept a :class:`Local`, :class:`Remote`, a path, or a ``(store, prefix)`` pair."""
    if isinstance(value, Local | Remote):
        return value
    if isinstance(value, tuple):
        store, prefix = value
        if not isinstance(store, SecureStore) or not isinstance(prefix, str):
            raise ConfigurationError("a remote side is a (SecureStore, prefix) pair")
        return Remote(store, prefix)
    if not isinstance(value, str | os.PathLike):
        raise ConfigurationError(
            f"a side must be a path, a (SecureStore, prefix) pair, Local or Remote, "
            f"not {type(value).__name__}"
        )
    return Local(Path(value))


def tree_root(side: Side) -> Side:
    """The side as a tree root: a prefix ends in ``/`` (unless it is the bucket's root).

    As in aws-cli, ``s3://b/tre`` with ``--recursive`` means ``tre/``, never ``tree/``.
    """
    if isinstance(side, Remote) and side.prefix and not side.prefix.endswith("/"):
        return Remote(side.store, side.prefix + "/")
    return side


def listed_object(store: SecureStore, key: str) -> bool:
    """Whether the object ``key`` exists, from a listing (what tree jobs are allowed).

    The first key a listing of the text prefix ``key`` yields is ``key`` itself if it
    exists: one request, and no ``s3:GetObject`` needed.
    """
    first = next(iter(store.list(key)), None)
    return first is not None and first.key == key


def source_root(side: Side) -> Side:
    """:func:`tree_root` of a tree job's source, refusing an object that names no folder.

    ``s3://b/p/a.txt`` as a tree means the folder ``p/a.txt/``. When that holds
    nothing but ``p/a.txt`` is an object, the job would silently do nothing (and
    ``sync --delete`` would empty the destination): refused. When both exist, the
    folder is the source (a local tree cannot hold a file and a folder of one name).

    Raises:
        ConfigurationError: the source is an object and its folder is empty.
    """
    root = tree_root(side)
    if (
        isinstance(side, Remote)
        and isinstance(root, Remote)
        and root != side
        and listed_object(side.store, side.prefix)
        and next(iter(side.store.list(root.prefix)), None) is None
    ):
        raise ConfigurationError(
            f"{side.describe()} is an object, not a folder: as a tree it names "
            f"{root.describe()}, which holds nothing",
            hint="copy or move it as one object: cp or mv without --recursive (library: copy_file)",
        )
    return root


def remote_key(destination: str, source_name: str) -> str:
    """The key a single upload or copy writes: into a "folder" when ``destination`` ends in /."""
    if destination == "" or destination.endswith("/"):
        return destination + source_name
    return destination


def local_target(destination: Path, source_key: str, *, trailing_slash: bool) -> Path:
    """The file a single download writes.

    Into ``destination`` under the key's base name when it is an existing
    directory or was given with a trailing ``/`` (created if missing). A file
    named by the key is never a symbolic link already there: the download would
    replace the file it points to, which whoever chose the key may have aimed at
    (a link the caller names as ``destination`` itself is followed, as ``cp`` does).
    A link placed between this check and the download is not caught.

    Raises:
        ConfigurationError: the key's base name cannot name a local file: empty, or
            holding control characters (:func:`control_characters`).
        IntegrityError: the base name is ``.`` or ``..`` (it would leave the folder).
        PolicyError: the file named after the key is an existing symbolic link.
    """
    name = posixpath.basename(source_key)
    if trailing_slash or destination.is_dir():
        named = "name the destination file yourself: DIR/NAME"
        if not name:
            raise ConfigurationError(
                f"cannot name a local file after the key {source_key!r}: it ends in /",
                hint=named,
            )
        why = unsafe_relative(name)
        if why:  # "..": the parent of the destination; refused as a tree download does
            raise IntegrityError(f"refusing to download {source_key!r}: {why}", hint=named)
        if control_characters(name):  # as a tree download skips it (tree/planner.py)
            raise ConfigurationError(
                f"{source_key!r} not downloaded: its name holds control characters "
                "(a local file name)",
                hint=named,
            )
        target = destination / name
        if os.path.islink(target):
            raise PolicyError(
                f"refusing to write through the symbolic link {target}",
                hint="a download named after its key never replaces a link or the file it "
                "points to: remove the link, or name the destination file yourself",
            )
        return target
    return destination


def unsafe_relative(relative: str) -> str | None:
    """Why ``relative`` (from a key) must not become a local path, or ``None`` if it may.

    Keys are chosen by whoever can write to the bucket: a key such as
    ``../../.ssh/authorized_keys`` must never write outside the destination.
    """
    if relative.startswith("/") or "\x00" in relative:
        return "it is absolute or contains NUL"
    for part in relative.split("/"):
        if part in ("", ".", ".."):
            return "it has an empty, '.' or '..' component"
    if os.sep != "/" and os.sep in relative:
        return "it contains the local path separator"
    return None
