"""Local files and streams as AWS Encryption SDK messages: no S3, no network.

The same message format and keyrings as client-side objects (docs/format.md),
so what :func:`encrypt_file` writes decrypts with ``aws-encryption-cli`` and any
ESDK, and :func:`decrypt_file` reads what they write (committing suites).

- Memory is constant: the plaintext is read and written one frame at a time.
- A destination path is written through :class:`~securestore.localfile.AtomicFile`:
  a hidden partial file renamed over the destination only when complete, and for
  :func:`decrypt_file` only after the whole message authenticated (every frame, the
  end of the message, a signed message's signature). On failure the destination
  is untouched. A new plaintext file is created 0600.
- A destination stream (stdout) receives each frame's plaintext only after that
  frame authenticated, and a signed message's final frame only after the
  signature: a tampered or truncated message may have released an authenticated
  prefix before the error, so trust such output only if the call returned.
- The message's encryption context is the caller's ``context`` alone (unlike an
  object's, it names no bucket or key); on decrypt, ``context`` pairs must be in
  the message with the same values (or reproduced, docs/format.md section 4).

The tree functions map a directory onto another, file by file, adding
(:func:`encrypt_tree`) or removing (:func:`decrypt_tree`) ``suffix``. They walk the
tree as ``cp --recursive`` does (symbolic links followed; FIFOs, broken links and
loops skipped and reported to ``on_skip``) and stop at the first failure, naming
its file and leaving the files already written in place.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

import securestore.arguments as args
from securestore.errors import (
    ConfigurationError,
    FormatError,
    LocalFileError,
    NotAMessageError,
)
from securestore.localfile import AtomicFile
from securestore.message.context import validate_user_context
from securestore.message.decrypt import DecryptingReader
from securestore.message.encrypt import DEFAULT_FRAME_LENGTH, DEFAULT_SUITE, Encryptor
from securestore.message.header import (
    DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    ESDK_MAX_FRAME_LENGTH,
    Header,
    HeaderLimits,
)
from securestore.message.materials import Keyring
from securestore.message.suites import AlgorithmSuite, DecryptPolicy

__all__ = [
    "DEFAULT_SUFFIX",
    "SkipHandler",
    "TreeEntry",
    "decrypt_file",
    "decrypt_tree",
    "encrypt_file",
    "encrypt_tree",
]

#: The suffix the tree functions add and remove (aws-encryption-cli's default too).
DEFAULT_SUFFIX = ".encrypted"

#: Called by the tree functions with each path they skip and why (FIFO, broken link...).
SkipHandler = Callable[[Path, str], None]


class _Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


PathLike = str | os.PathLike[str]
Source = PathLike | IO[bytes] | BinaryIO
Destination = PathLike | _Writable


def _source(name: str, value: object) -> None:
    if not (isinstance(value, str | os.PathLike) or callable(getattr(value, "read", None))):
        raise args.refuse(name, "a path or a binary file object to read", value)


def _destination(name: str, value: object) -> None:
    if not (isinstance(value, str | os.PathLike) or callable(getattr(value, "write", None))):
        raise args.refuse(name, "a path or a binary file object to write", value)


def _between(low: int, high: int) -> args.Check:
    def check_between(name: str, value: object) -> None:
        args.count(name, value)
        assert isinstance(value, int)
        if not low <= value <= high:
            raise ConfigurationError(f"{name} must be between {low} and {high}, not {value}")

    return check_between


def _context(name: str, value: object) -> None:
    args.mapping(name, value)
    assert isinstance(value, Mapping)
    validate_user_context(value)


#: The offline calls' arguments, checked when a call is made: before a file is
#: opened or created, and before a keyring is asked for a data key (a KMS call).
_ARGUMENTS: dict[str, args.Check] = {
    "source": _source,
    "destination": _destination,
    "keyring": args.keyring,
    "context": args.optional(_context),
    "frame_length": _between(1, ESDK_MAX_FRAME_LENGTH),
    "max_data_keys": _between(1, 0xFFFF),
    "suite": args.instance_of(AlgorithmSuite, "an AlgorithmSuite"),
    "policy": args.instance_of(DecryptPolicy, "a DecryptPolicy"),
    "suffix": args.text,
    "on_skip": args.optional(args.callback),
    **dict.fromkeys(args.FLAGS, args.flag),
}
_checked = args.checked(_ARGUMENTS)
_tree_checked = args.checked({**_ARGUMENTS, "source": args.path, "destination": args.path})


@dataclass(frozen=True)
class TreeEntry:
    """One file written by :func:`encrypt_tree` or :func:`decrypt_tree`."""

    source: Path
    destination: Path
    header: Header
    #: Plaintext bytes (read on encrypt, written on decrypt).
    size: int


_HEAD_KEPT = 4096


class _Counting:
    """A source whose OS errors become :class:`LocalFileError`; counts the bytes read."""

    def __init__(self, stream: IO[bytes] | BinaryIO, name: str) -> None:
        self._stream = stream
        self._name = name
        self.count = 0
        #: The first bytes read: enough to tell a message from something else.
        self.head = b""

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
        except OSError as exc:
            raise LocalFileError(f"cannot read {self._name}: {exc.strerror or exc}") from exc
        self.count += len(data)
        if len(self.head) < _HEAD_KEPT:
            self.head += data[: _HEAD_KEPT - len(self.head)]
        return data


def _as_path(value: object) -> Path | None:
    """``value`` as a path if it is one (``str`` or ``os.PathLike``), else None."""
    if isinstance(value, str | os.PathLike):
        return Path(os.fspath(value))
    return None


def _open_source(path: Path) -> BinaryIO:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise LocalFileError(f"no such file: {path}") from None
    except OSError as exc:
        raise LocalFileError(f"cannot use {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise LocalFileError(f"is a directory: {path}", hint="add --recursive (library: *_tree)")
    try:
        return path.open("rb")
    except OSError as exc:
        raise LocalFileError(f"cannot open {path}: {exc.strerror or exc}") from exc


def _same_file(source: Path, destination: Path) -> bool:
    try:
        return os.path.samefile(source, destination)
    except OSError:
        return False


def _refuse_same(source: object, destination: object) -> None:
    src, dst = _as_path(source), _as_path(destination)
    if src is not None and dst is not None and _same_file(src, dst):
        raise LocalFileError(
            f"the output is the input ({dst}): refusing to replace a file with itself",
            hint="choose another output file",
        )


def _run(
    source: Source,
    destination: Destination,
    *,
    create_mode: int,
    overwrite_readonly: bool,
    write: _Pump,
) -> tuple[Header, int]:
    _refuse_same(source, destination)
    opened: BinaryIO | None = None
    source_path = _as_path(source)
    if source_path is not None:
        opened = _open_source(source_path)
        reader = _Counting(opened, str(source_path))
    else:
        reader = _Counting(source, "the input")  # type: ignore[arg-type]
    try:
        target_path = _as_path(destination)
        if target_path is None:
            return write(reader, destination.write)  # type: ignore[union-attr]
        target = AtomicFile(
            target_path,
            create_mode=create_mode,
            overwrite_readonly=overwrite_readonly,
        )
        with target as file:
            offset = 0

            def at(data: bytes | bytearray | memoryview) -> None:
                nonlocal offset
                file.write_at(data, offset)
                offset += len(data)

            return write(reader, at)
    finally:
        if opened is not None:
            opened.close()


class _Pump(Protocol):
    def __call__(self, reader: _Counting, sink: _Sink) -> tuple[Header, int]: ...


class _Sink(Protocol):
    def __call__(self, data: bytes | bytearray | memoryview, /) -> object: ...


@_checked
def encrypt_file(
    source: Source,
    destination: Destination,
    keyring: Keyring,
    *,
    context: Mapping[str, str] | None = None,
    frame_length: int = DEFAULT_FRAME_LENGTH,
    suite: AlgorithmSuite = DEFAULT_SUITE,
    max_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    overwrite_readonly: bool = False,
) -> Header:
    """Encrypt ``source`` (a path or a readable) into ``destination`` (a path or a writable).

    Returns the header written. A destination path is replaced only when the whole
    message was written (see the module docstring); one the caller may not write is
    refused unless ``overwrite_readonly``.

    Raises:
        LocalFileError: a source or destination that cannot be used.
        ConfigurationError: bad arguments (not a keyring, context, frame length, too many
            data keys), refused before a file is opened or the keyring is asked.
        KeyringError: the keyring could not produce or wrap a data key.
    """

    def pump(reader: _Counting, sink: _Sink) -> tuple[Header, int]:
        encryptor = Encryptor(
            keyring,
            encryption_context=context,
            frame_length=frame_length,
            suite=suite,
            max_data_keys=max_data_keys,
        )
        for piece in encryptor.iter_message(reader):  # type: ignore[arg-type]
            sink(piece)
        return encryptor.header, reader.count

    header, _ = _run(
        source, destination, create_mode=0o666, overwrite_readonly=overwrite_readonly, write=pump
    )
    return header


def _decrypt(
    source: Source,
    destination: Destination,
    keyring: Keyring,
    *,
    context: Mapping[str, str] | None,
    max_data_keys: int,
    policy: DecryptPolicy,
    overwrite_readonly: bool,
) -> tuple[Header, int]:
    limits = HeaderLimits(max_encrypted_data_keys=max_data_keys)

    def pump(reader: _Counting, sink: _Sink) -> tuple[Header, int]:
        try:
            plaintext = DecryptingReader(
                reader,  # type: ignore[arg-type]
                keyring,
                expected_context=context,
                policy=policy,
                limits=limits,
            )
            written = 0
            # Iteration yields a frame only once it authenticated, and ends only after
            # the end of the message (and a signature) checked out.
            for piece in plaintext:
                sink(piece)
                written += len(piece)
        except FormatError as exc:
            _not_a_message(reader.head, exc)
            raise
        return plaintext.header, written

    return _run(
        source, destination, create_mode=0o600, overwrite_readonly=overwrite_readonly, write=pump
    )


def _not_a_message(head: bytes, error: FormatError) -> None:
    """Raise :class:`NotAMessageError` if ``head`` does not even begin a message."""
    # Imported here: securestore.clientside loads boto3, which offline calls do not need.
    from securestore.clientside import starts_like_message

    if isinstance(error, NotAMessageError) or starts_like_message(head):
        return  # a damaged message stays an error about the message
    raise NotAMessageError(
        f"not a client-side message: {error.message}",
        hint="it is not encrypted (plaintext?) or in another tool's format: "
        "there is nothing to decrypt",
    ) from error


@_checked
def decrypt_file(
    source: Source,
    destination: Destination,
    keyring: Keyring,
    *,
    context: Mapping[str, str] | None = None,
    max_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    policy: DecryptPolicy = DecryptPolicy.REQUIRE_COMMITTING,
    overwrite_readonly: bool = False,
) -> Header:
    """Decrypt the message in ``source`` into ``destination``; return its authenticated header.

    A destination path is replaced only after the whole message authenticated; a
    writable receives authenticated frames as they come (see the module docstring).

    Raises:
        AuthenticationError, FormatError: the message is not authentic or malformed.
        NoMatchingKeyError: none of the keyring's keys unwraps a data key.
        LocalFileError: a source or destination that cannot be used.
        ConfigurationError: bad arguments (not a keyring...), before a file is opened.
    """
    header, _ = _decrypt(
        source,
        destination,
        keyring,
        context=context,
        max_data_keys=max_data_keys,
        policy=policy,
        overwrite_readonly=overwrite_readonly,
    )
    return header


def _check_tree(source: Path, destination: Path) -> None:
    if not source.is_dir():
        raise LocalFileError(f"not a directory: {source}")
    src, dst = source.resolve(), destination.resolve()
    if dst == src or src in dst.parents:
        raise LocalFileError(
            f"the output directory {destination} is inside the input directory {source}",
            hint="choose an output directory outside the input tree",
        )
    if destination.exists() and not destination.is_dir():
        raise LocalFileError(f"the output {destination} exists and is not a directory")


def _check_suffix(suffix: str) -> None:
    if not suffix or "/" in suffix or suffix in (".", ".."):
        raise ConfigurationError(f"invalid suffix {suffix!r}: give a file name ending like .enc")


@_tree_checked
def encrypt_tree(
    source: PathLike,
    destination: PathLike,
    keyring: Keyring,
    *,
    suffix: str = DEFAULT_SUFFIX,
    context: Mapping[str, str] | None = None,
    frame_length: int = DEFAULT_FRAME_LENGTH,
    max_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    overwrite_readonly: bool = False,
    on_skip: SkipHandler | None = None,
) -> Iterator[TreeEntry]:
    """Encrypt every regular file under ``source`` to ``destination``/RELATIVE``suffix``.

    A generator: each file is encrypted as the caller iterates (constant memory for
    any tree). Symbolic links are followed like ``cp --recursive`` does; what is
    skipped (FIFOs, sockets, broken links, loops, our own partial files) goes to
    ``on_skip``. Missing directories are created; in ``destination`` no link is
    written through (a symbolic link out of it, or as an output file, is refused
    with :class:`~securestore.errors.PolicyError`). An error names the file it concerns.

    The arguments and the two directories are checked when it is called, before
    the first ``next()`` (:class:`ConfigurationError`, :class:`LocalFileError`).
    """
    _check_suffix(suffix)
    src, dst = Path(source), Path(destination)
    _check_tree(src, dst)
    from securestore.offline_tree import encrypt_files

    return encrypt_files(
        src,
        dst,
        keyring,
        suffix=suffix,
        context=context,
        frame_length=frame_length,
        max_data_keys=max_data_keys,
        overwrite_readonly=overwrite_readonly,
        on_skip=on_skip,
    )


@_tree_checked
def decrypt_tree(
    source: PathLike,
    destination: PathLike,
    keyring: Keyring,
    *,
    suffix: str = DEFAULT_SUFFIX,
    context: Mapping[str, str] | None = None,
    max_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    policy: DecryptPolicy = DecryptPolicy.REQUIRE_COMMITTING,
    overwrite_readonly: bool = False,
    on_skip: SkipHandler | None = None,
) -> Iterator[TreeEntry]:
    """Decrypt every file under ``source`` whose name ends with ``suffix``.

    Each goes to ``destination``/RELATIVE minus ``suffix``, replaced only after it
    authenticated; files without the suffix are not read. New directories are
    created 0700 (they receive plaintext). A generator, like :func:`encrypt_tree`
    (links followed, skipped paths to ``on_skip``, errors name their file), whose
    arguments are checked when it is called.
    """
    _check_suffix(suffix)
    src, dst = Path(source), Path(destination)
    _check_tree(src, dst)
    from securestore.offline_tree import decrypt_files

    return decrypt_files(
        src,
        dst,
        keyring,
        suffix=suffix,
        context=context,
        max_data_keys=max_data_keys,
        policy=policy,
        overwrite_readonly=overwrite_readonly,
        on_skip=on_skip,
    )
