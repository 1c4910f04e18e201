"""Reading S3 Encryption Client objects through a store: find, unwrap, authenticate, deliver.

:func:`find_s3ec` is the one place where :class:`~securestore.reading.ReadPath`
asks whether an object is an S3EC object; :class:`S3ecSource` then opens or
downloads it. A GCM object has one tag, at its end, so:

- :meth:`S3ecSource.open` first streams the whole ciphertext once through
  AES-GCM (constant memory), recording a BLAKE2b digest of every 1 MiB chunk, and
  refuses the object unless the tag matches; later reads fetch only the chunks
  they need, check each against its digest, and decrypt them with AES-CTR. No
  byte is returned before the tag authenticated (``get`` and CLI ``get`` to
  stdout included), and a chunk fetched later must be the one authenticated.
- :meth:`S3ecSource.download` decrypts in one pass into the temporary file,
  which is renamed only after the tag matched (a stream destination is written
  through the reader, after authentication).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from securestore.bucket import BucketAccess
from securestore.errors import (
    AuthenticationError,
    FormatError,
    KeyringError,
    NotFoundError,
    PolicyError,
)
from securestore.localfile import AtomicFile, pwrite_all
from securestore.message.materials import Keyring, wipe
from securestore.objects import ObjectInfo
from securestore.ranges import ObjectRanges
from securestore.reader import ObjectReader, check_open, check_range, range_total
from securestore.s3ec.content import (
    BLOCK,
    CBC,
    TAG_LENGTH,
    CbcRange,
    ContentKey,
    GcmStream,
    content_key,
    ctr_decrypt,
    plaintext_size,
    suite_for,
)
from securestore.s3ec.metadata import (
    INSTRUCTION_SUFFIX,
    MAX_INSTRUCTION_FILE,
    ContentMetadata,
    has_s3ec_metadata,
    needs_instruction_file,
    parse_content_metadata,
    parse_instruction_file,
)
from securestore.s3ec.unwrap import unwrap_data_key
from securestore.transfer import MiB, ProgressCallback

__all__ = ["S3ecReader", "S3ecSource", "find_s3ec", "open_s3ec"]

#: Ciphertext chunk with one recorded digest: the unit of a later authenticated read.
CHUNK = 1 * MiB
FetchRange = Callable[[int, int], bytes | bytearray]
StreamFactory = Callable[[], ObjectReader]
#: Why an S3EC object is refused by default (the opt-in is ``allow_s3ec``).
UNBOUND_REFUSAL = (
    "this object is encrypted by the AWS S3 Encryption Client, whose encryption does not "
    "bind it to this bucket and key: it could have been written elsewhere and moved here"
)
UNBOUND_HINT = (
    "if you trust whoever can write to this bucket, read it with its key option and "
    "--allow-s3ec (library: allow_s3ec=True), or convert it in place to a location-bound "
    "securestore message with `securestore migrate`"
)


def find_s3ec(
    access: BucketAccess,
    key: str,
    info: ObjectInfo,
    *,
    keyring: Keyring | None,
    context: Mapping[str, str] | None,
    is_message: bool,
    fetch: FetchRange,
    stream: StreamFactory,
    allowed: bool,
) -> S3ecSource | None:
    """The S3EC object at ``key``, or ``None`` if it is none.

    An object that begins like a securestore message never is (the message path
    authenticates it). Otherwise an object whose metadata carries S3EC mapkeys is
    one, and, with a keyring in play and ``allowed``, so is one with
    ``KEY.instruction`` (V1/V2 instruction files hold all the metadata).

    An S3EC object is refused unless ``allowed`` (the caller's ``allow_s3ec``):
    nothing in it binds it to its bucket and key, so a valid one for the caller's
    key could have been copied over this key from anywhere. Without ``allowed``
    no instruction file is asked for: an object whose metadata lives only there
    then reads as any object that is not a message (refused with a keyring).

    Raises:
        PolicyError: an S3EC object (by its metadata) and not ``allowed``.
        KeyringError: an S3EC object and no keyring: never handed out as ciphertext.
        FormatError: malformed or mixed-format S3EC metadata or instruction file,
            or an instruction file larger than :data:`MAX_INSTRUCTION_FILE`.
    """
    if is_message:
        # A securestore message is read (and authenticated) as one, whatever its metadata says.
        return None
    marked = has_s3ec_metadata(info.metadata)
    if marked and not allowed:
        raise PolicyError(UNBOUND_REFUSAL, bucket=access.bucket, key=key, hint=UNBOUND_HINT)
    if not marked and (keyring is None or not allowed):
        return None
    if keyring is None:
        raise KeyringError(
            "this object is encrypted by the AWS S3 Encryption Client and no keyring was given",
            bucket=access.bucket,
            key=key,
            hint="give the key it was encrypted with (CLI: --kms-key-id, --client-side for "
            "KMS discovery in your account, --key-file or --rsa-private-key)",
        )
    instruction = None
    if needs_instruction_file(info.metadata):
        instruction = _instruction_file(access, key, required=marked)
        if instruction is None:
            return None
    with access.boundary("read", key):
        metadata = parse_content_metadata(info.metadata, instruction)
    return S3ecSource(
        access, key, info, metadata, keyring=keyring, context=context, fetch=fetch, stream=stream
    )


def open_s3ec(
    access: BucketAccess,
    key: str,
    keyring: Keyring,
    *,
    context: Mapping[str, str] | None = None,
    allow_legacy_unauthenticated: bool = False,
    info: ObjectInfo | None = None,
) -> S3ecReader:
    """Open an S3EC object of ``access``'s bucket, authenticated, as a plaintext reader.

    The entry for callers that are not a :class:`~securestore.SecureStore` read
    (``securestore migrate``, whose job is converting what it finds at each key in
    place: it reads S3EC objects without an ``allow_s3ec``). ``allow_legacy_unauthenticated``
    **weakens the read** to accept the
    unauthenticated legacy modes (AES-CBC content; ``kms``, ``AESWrap`` and RSA
    PKCS#1 v1.5 wraps), whose content nobody can vouch for.

    Raises:
        FormatError: the object is no S3EC object, or its metadata is malformed.
        PolicyError, IntegrityError, KeyringError: as for :meth:`S3ecSource.open`.
    """
    info = info or access.head(key)
    # The same pinned, Content-Range-checked ranged GETs as every other read.
    ranges = ObjectRanges(access, key, info.etag)
    source = find_s3ec(
        access,
        key,
        info,
        keyring=keyring,
        context=context,
        is_message=False,
        fetch=ranges.fetch,
        stream=lambda: ranges.reader(info.size),
        allowed=True,
    )
    if source is None:
        raise FormatError(
            "the object is not an AWS S3 Encryption Client object", bucket=access.bucket, key=key
        )
    return source.open(allow_legacy_unauthenticated=allow_legacy_unauthenticated)


def _instruction_file(access: BucketAccess, key: str, *, required: bool) -> dict[str, str] | None:
    name = key + INSTRUCTION_SUFFIX
    try:
        with access.boundary("read", name):
            response = access.s3.get_object(
                Bucket=access.bucket, Key=name, Range=f"bytes=0-{MAX_INSTRUCTION_FILE}"
            )
            try:
                _check_instruction_size(response, name, access.bucket, key)
                # At most one byte past the bound, whatever the server sends (or never ends).
                body: bytes = response["Body"].read(MAX_INSTRUCTION_FILE + 1)
            finally:
                response["Body"].close()
    except NotFoundError:
        if not required:
            return None
        raise FormatError(
            f"the object's S3EC metadata needs the instruction file {name}, which is missing",
            bucket=access.bucket,
            key=key,
        ) from None
    if len(body) > MAX_INSTRUCTION_FILE:
        raise _too_large(name, access.bucket, key)
    with access.boundary("read", name):
        return parse_instruction_file(body)


def _too_large(name: str, bucket: str, key: str) -> FormatError:
    return FormatError(
        f"the instruction file {name} is larger than {MAX_INSTRUCTION_FILE} bytes: "
        "not a valid S3 Encryption Client instruction file",
        bucket=bucket,
        key=key,
    )


def _check_instruction_size(response: Mapping[str, Any], name: str, bucket: str, key: str) -> None:
    """Refuse by the response's headers alone, before reading the body."""
    length = response.get("ContentLength")
    total = range_total(response.get("ContentRange"))
    if (isinstance(length, int) and length > MAX_INSTRUCTION_FILE) or (
        total is not None and total > MAX_INSTRUCTION_FILE
    ):
        raise _too_large(name, bucket, key)


class S3ecSource:
    """An S3EC object found by a read, with its parsed content metadata."""

    def __init__(
        self,
        access: BucketAccess,
        key: str,
        info: ObjectInfo,
        metadata: ContentMetadata,
        *,
        keyring: Keyring,
        context: Mapping[str, str] | None,
        fetch: FetchRange,
        stream: StreamFactory,
    ) -> None:
        self.access = access
        self.key = key
        self.info = info
        self.metadata = metadata
        self.keyring = keyring
        self.context = dict(context or {})
        self._fetch = fetch
        self._stream = stream

    def _content_key(self, allow_legacy: bool) -> ContentKey:
        suite = suite_for(self.metadata, allow_legacy_unauthenticated=allow_legacy)
        data_key = unwrap_data_key(
            self.keyring,
            self.metadata,
            suite,
            expected_context=self.context,
            allow_legacy_unauthenticated=allow_legacy,
        )
        try:
            return content_key(self.metadata, suite, data_key)
        finally:
            wipe(data_key)

    def open(self, *, allow_legacy_unauthenticated: bool = False) -> S3ecReader:
        """Unwrap, authenticate the whole object, and return a seekable plaintext reader.

        Raises:
            PolicyError: a legacy mode without ``allow_legacy_unauthenticated``.
            IntegrityError: the context differs (names the keys), or the object does
                not authenticate (:class:`AuthenticationError`), or is malformed.
            KeyringError: no configured key unwraps the data key.
        """
        with self.access.boundary("read", self.key):
            key = self._content_key(allow_legacy_unauthenticated)
            return S3ecReader(
                key,
                ciphertext_size=self.info.size,
                fetch=self._fetch,
                stream=self._stream,
            )

    def download(
        self,
        destination: AtomicFile,
        *,
        progress: ProgressCallback | None,
        allow_legacy_unauthenticated: bool = False,
    ) -> None:
        """Decrypt into ``destination``; it is completed only if the tag authenticates."""
        with self.access.boundary("download", self.key):
            key = self._content_key(allow_legacy_unauthenticated)
            if key.suite is CBC or destination.stream:
                reader = S3ecReader(
                    key, ciphertext_size=self.info.size, fetch=self._fetch, stream=self._stream
                )
                with reader, destination as out:
                    for chunk in reader:
                        out.write_at(chunk, reader.tell() - len(chunk))
                        if progress:
                            progress(len(chunk))
                return
            plaintext_size(key.suite, self.info.size)
            gcm = GcmStream(key)
            with self._stream() as raw, destination as out:
                written = 0
                for piece in raw:
                    plain = gcm.update(piece)
                    pwrite_all(out.fd, plain, written)
                    written += len(plain)
                    if progress and plain:
                        progress(len(plain))
                # Raising here leaves the AtomicFile block by an exception: no file.
                gcm.finalize()


class S3ecReader(ObjectReader):
    """Seekable plaintext of an S3EC object whose GCM tag was checked when it was opened.

    An :class:`~securestore.reader.ObjectReader` to its callers (same interface),
    but every byte comes from :meth:`read_range`, never from one plain GET.
    """

    def __init__(
        self,
        key: ContentKey,
        *,
        ciphertext_size: int,
        fetch: FetchRange,
        stream: StreamFactory,
        chunk_size: int = CHUNK,
        piece: int = CHUNK,
    ) -> None:
        self._body = None  # what ObjectReader.close looks at, should opening fail
        self._piece = piece
        self._content = key
        self._fetch = fetch
        self._cbc: CbcRange | None = None
        self._digests: list[bytes] = []
        if key.suite is CBC:
            self._cbc = CbcRange(key, ciphertext_size)
            size = self._cbc_size(ciphertext_size)
        else:
            size = plaintext_size(key.suite, ciphertext_size)
            self._authenticate(stream, size)
        super().__init__(_no_plain_reads, size=size, bucket="", key="", chunk_size=chunk_size)

    def _authenticate(self, stream: StreamFactory, size: int) -> None:
        """One streaming pass: check the tag, and record each chunk's digest."""
        gcm = GcmStream(self._content)
        with stream() as raw:
            offset = 0
            while offset < size:
                chunk = _read_exactly(raw, min(self._piece, size - offset))
                gcm.update(chunk)
                self._digests.append(hashlib.blake2b(chunk, digest_size=32).digest())
                offset += len(chunk)
            gcm.update(_read_exactly(raw, TAG_LENGTH))
        gcm.finalize()

    def _cbc_size(self, ciphertext_size: int) -> int:
        assert self._cbc is not None
        tail = bytes(self._fetch(max(0, ciphertext_size - 2 * BLOCK), ciphertext_size))
        previous = tail[:BLOCK] if len(tail) == 2 * BLOCK else self._cbc.iv
        last = CbcRange.unpad(self._cbc.decrypt(previous, tail[-BLOCK:]))
        return ciphertext_size - BLOCK + len(last)

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` from the current position."""
        check_open(self)
        view = memoryview(buffer).cast("B")
        data = self.read_range(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read_range(self, start: int, length: int) -> bytes:
        """Return ``length`` plaintext bytes from ``start`` (fewer at the end).

        Like ``os.pread``: the position that ``read`` and ``tell`` use does not move.
        """
        check_open(self)
        check_range(start, length)
        end = min(self._size, start + length)
        if end <= start:
            return b""
        if self._cbc is not None:
            return self._cbc_range(start, end)
        step = self._piece
        first, last = start // step, (end - 1) // step
        lo, hi = first * step, min(self._size, (last + 1) * step)
        cipher = self._fetch(lo, hi)
        for index in range(first, last + 1):
            piece = memoryview(cipher)[(index - first) * step : (index - first + 1) * step]
            digest = hashlib.blake2b(piece, digest_size=32).digest()
            if not hmac.compare_digest(digest, self._digests[index]):
                raise AuthenticationError()
        plain = ctr_decrypt(self._content, lo, cipher)
        return plain[start - lo : end - lo]

    def _cbc_range(self, start: int, end: int) -> bytes:
        assert self._cbc is not None
        cbc = self._cbc
        first = start // BLOCK
        lo = max(0, first - 1) * BLOCK
        hi = min(cbc.ciphertext_size, -(-end // BLOCK) * BLOCK)
        data = bytes(self._fetch(lo, hi))
        previous, body = (cbc.iv, data) if first == 0 else (data[:BLOCK], data[BLOCK:])
        plain = cbc.decrypt(previous, body)
        if hi == cbc.ciphertext_size:
            plain = plain[:-BLOCK] + CbcRange.unpad(plain[-BLOCK:])
        offset = first * BLOCK
        return plain[start - offset : end - offset]


def _no_plain_reads(start: int, last: int | None = None) -> dict[str, Any]:
    raise AssertionError("an S3EC reader never reads the object as stored")


def _read_exactly(raw: ObjectReader, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        piece = raw.read(size - len(out))
        if not piece:
            raise AuthenticationError()  # truncated: the same opaque refusal
        out += piece
    return bytes(out)
