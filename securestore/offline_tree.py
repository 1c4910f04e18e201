"""The file-by-file work of :func:`~securestore.offline.encrypt_tree` and
:func:`~securestore.offline.decrypt_tree`: generators, started only once those
calls have checked their arguments and both directories.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from securestore.confine import confined_target, control_characters
from securestore.errors import LocalFileError, SecureStoreError
from securestore.message.materials import Keyring
from securestore.message.suites import DecryptPolicy
from securestore.offline import (
    SkipHandler,
    TreeEntry,
    _Counting,
    _decrypt,
    _open_source,
    encrypt_file,
)

if TYPE_CHECKING:
    from securestore.tree.listing import Problem

__all__ = ["decrypt_files", "encrypt_files"]


def _files(root: Path, output: Path, on_skip: SkipHandler | None) -> Iterator[Path]:
    """Regular files under ``root`` in a stable order, by the rules of ``cp --recursive``.

    :func:`~securestore.tree.listing.walk_local` decides: symbolic links are followed
    (a loop back into the current path is skipped), FIFOs, sockets, devices,
    broken links and our own partial files (a killed download's truncated
    plaintext) are skipped and passed to ``on_skip``; a path that cannot be
    accounted for (an unreadable directory) stops the tree with :class:`LocalFileError`.
    Files that resolve into ``output`` (through a link) are skipped: encrypting its
    own output would feed the tree to itself without end.
    """

    # Imported here: the listing module loads the store (boto3), which no offline call needs.
    from securestore.tree.listing import walk_local

    def report(problem: Problem) -> None:
        path = root / problem.relative
        if problem.fatal:
            raise LocalFileError(f"{path}: {problem.reason}")
        if on_skip is not None:
            on_skip(path, problem.reason)

    written = output.resolve()
    for entry in walk_local(root, report):
        path = root / entry.relative
        real = path.resolve()
        if real == written or written in real.parents:
            if on_skip is not None:
                on_skip(path, f"inside the output directory {output}")
            continue
        yield path


def _named(path: Path, error: SecureStoreError) -> None:
    """Prefix ``error``'s message with the tree file it concerns (its type stays)."""
    if str(path) not in error.message:
        error.message = f"{path}: {error.message}"
        error.args = (error.message, *error.args[1:])


def encrypt_files(
    src: Path,
    dst: Path,
    keyring: Keyring,
    *,
    suffix: str,
    context: Mapping[str, str] | None,
    frame_length: int,
    max_data_keys: int,
    overwrite_readonly: bool,
    on_skip: SkipHandler | None,
) -> Iterator[TreeEntry]:
    """The generator of :func:`~securestore.offline.encrypt_tree` (arguments checked)."""
    for path in _files(src, dst, on_skip):
        try:
            out, _ = confined_target(dst, path.relative_to(src).as_posix() + suffix)
            with _open_source(path) as stream:
                counting = _Counting(stream, str(path))
                header = encrypt_file(
                    counting,  # type: ignore[arg-type]
                    out,
                    keyring,
                    context=context,
                    frame_length=frame_length,
                    max_data_keys=max_data_keys,
                    overwrite_readonly=overwrite_readonly,
                )
        except SecureStoreError as exc:
            _named(path, exc)
            raise
        yield TreeEntry(path, out, header, counting.count)


def decrypt_files(
    src: Path,
    dst: Path,
    keyring: Keyring,
    *,
    suffix: str,
    context: Mapping[str, str] | None,
    max_data_keys: int,
    policy: DecryptPolicy,
    overwrite_readonly: bool,
    on_skip: SkipHandler | None,
) -> Iterator[TreeEntry]:
    """The generator of :func:`~securestore.offline.decrypt_tree` (arguments checked)."""
    for path in _files(src, dst, on_skip):
        relative = path.relative_to(src).as_posix()
        if not relative.endswith(suffix) or path.name == suffix:
            continue
        if control_characters(relative):
            # Someone else's vault may name files to replay escape sequences or spoof
            # an extension wherever the plaintext lands.
            if on_skip is not None:
                on_skip(path, "its name holds control characters (not decrypted)")
            continue
        try:
            # New folders get 0700 (they receive plaintext); no link is written through.
            out, _ = confined_target(dst, relative[: -len(suffix)], mode=0o700)
            header, size = _decrypt(
                path,
                out,
                keyring,
                context=context,
                max_data_keys=max_data_keys,
                policy=policy,
                overwrite_readonly=overwrite_readonly,
            )
        except SecureStoreError as exc:
            _named(path, exc)
            raise
        yield TreeEntry(path, out, header, size)
