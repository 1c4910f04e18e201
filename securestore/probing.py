"""What a read learns before it delivers a byte: what the object is, and what to do with it.

One request describes the object: a ranged GET whose headers say what HEAD
would, and whose first bytes tell a client-side message from anything else
(never the object's metadata, which anyone who can write to the bucket sets).
A download asks for its whole first part in that GET, so that a small object
costs one request (:class:`~securestore.ranges.FirstPart`).
A read that demands a server-side mode uses HEAD, so that a refused object
sends no byte at all. Then ``require`` is enforced and the decryption decided.
"""

from __future__ import annotations

import contextlib
from typing import Any

from securestore.bucket import BucketAccess, version_argument
from securestore.clientside import HEADER_PROBE, ClientSide, looks_like_message
from securestore.errors import KeyringError, PolicyError, StorageError
from securestore.location import validate_key
from securestore.message import Keyring
from securestore.modes import UNREPORTED_KEY, EncryptionMode, StoredEncryption
from securestore.objects import ObjectInfo
from securestore.ranges import FirstPart, ObjectRanges
from securestore.reader import RETRYABLE_STREAM_ERRORS, range_total
from securestore.transfer import read_body_into

__all__ = ["Probe", "Prober"]


class Probe:
    """What :meth:`Prober.prepare` found.

    Attributes:
        info: the object's description (from the probe's headers, or HEAD).
        first: its first bytes (up to :data:`~securestore.clientside.HEADER_PROBE`;
            empty when a HEAD described it or the probe's body broke).
        client_side: the mode to decrypt it with, or ``None`` to deliver it as stored.
        first_part: the rest of the probe's body (downloads only); close it when
            the object is not delivered as stored.
    """

    def __init__(
        self,
        info: ObjectInfo,
        first: bytes,
        client_side: ClientSide | None,
        first_part: FirstPart | None,
    ) -> None:
        self.info = info
        self.first = first
        self.client_side = client_side
        self.first_part = first_part

    def close(self) -> None:
        """Release the first part's body, if it was not handed on."""
        if self.first_part is not None:
            self.first_part.close()


class Prober:
    """Describes objects of one bucket for reads, and decides how each is read.

    Args:
        access: the bucket's client and helpers.
        encryption: the store's mode; a client-side store decrypts every read.
        keyring: decrypts client-side objects read through a server-side store.
        version_id: pin every request to this version (``None``: the current one).
    """

    def __init__(
        self,
        access: BucketAccess,
        *,
        encryption: EncryptionMode,
        keyring: Keyring | None,
        version_id: str | None,
    ) -> None:
        self.access = access
        self.bucket = access.bucket
        self.encryption = encryption
        self.keyring = keyring
        self.version_id = version_id

    def check_read(self, mode: EncryptionMode | None, stored: StoredEncryption, key: str) -> None:
        """Refuse an object stored otherwise than ``mode`` demands (``None``: anything goes)."""
        if mode is None:
            return
        reason = mode.check(stored)
        if reason is not None and mode.kms_key_id:
            reason = mode.check(stored, resolved_key_arn=self.access.key_arn_for(mode))
        if reason is not None:
            raise PolicyError(
                f"refusing to read: the object is {reason}",
                bucket=self.bucket,
                key=key,
                hint="the server did not say which KMS key the object uses; demand the mode "
                "without a key id to accept any KMS key"
                if reason.startswith(UNREPORTED_KEY)
                else None,
            )

    def keyring_mode(self, require: EncryptionMode | None) -> ClientSide | None:
        """The client-side mode a read decrypts with, or ``None`` for a plain SSE read.

        Decided by what the caller configured (the call's ``require``, the store's
        mode, the store's keyring), never by the object or its metadata.
        """
        if isinstance(require, ClientSide):
            return require
        if isinstance(self.encryption, ClientSide):
            return self.encryption
        if self.keyring is not None:
            return ClientSide(self.keyring)
        return None

    def probe(self, key: str, require: EncryptionMode | None) -> tuple[ObjectInfo, bytes]:
        """What HEAD tells, plus the object's first :data:`HEADER_PROBE` bytes, in one GET.

        The GET also brings the message header of a client-side object along,
        saving a round trip on every open. A read that demands a server-side mode
        uses HEAD, so that a refused object sends no byte at all; so does a probe
        whose body breaks (the header is then fetched with retries).
        """
        if require is not None and not isinstance(require, ClientSide):
            return self._head(key), b""
        validate_key(key)
        try:
            with self.access.boundary("read", key):
                response = self.access.s3.get_object(
                    Bucket=self.bucket,
                    Key=key,
                    Range=f"bytes=0-{HEADER_PROBE - 1}",
                    **version_argument(self.version_id),
                )
        except StorageError as exc:
            if exc.code == "InvalidRange":  # an empty object has no byte 0
                return self._head(key), b""
            raise
        self.access.check_version(key, self.version_id, response)
        with self.access.boundary("read", key), contextlib.closing(response["Body"]) as body:
            try:
                # Bounded: a server that ignores Range would send the whole object.
                first: bytes = body.read(HEADER_PROBE)
            except RETRYABLE_STREAM_ERRORS:
                return self._head(key), b""
        total = range_total(response.get("ContentRange"))
        size = total if total is not None else int(response.get("ContentLength", len(first)))
        return self.access.info(key, {**response, "ContentLength": size}), first[:HEADER_PROBE]

    def probe_first_part(self, key: str) -> tuple[ObjectInfo, bytes, FirstPart | None]:
        """Like :meth:`probe`, asking for the whole first part of a download.

        The answer must be the range asked for (its bytes are written), and its
        first :data:`HEADER_PROBE` bytes are read to tell what the object is; the
        rest of its body is left open in the :class:`FirstPart`. A body that breaks
        that early, or an answer without the object's size, gives no first part:
        the download then fetches every range itself, with retries.
        """
        validate_key(key)
        last = self.access.transfer.part_size - 1
        try:
            response = self.access.get_range(key, 0, last, version_id=self.version_id)
        except StorageError as exc:
            if exc.code == "InvalidRange":  # an empty object has no byte 0
                return self._head(key), b"", None
            raise
        body: Any = response["Body"]
        total = range_total(response.get("ContentRange"))
        if total is None:
            body.close()
            return self._head(key), b"", None
        info = self.access.info(key, {**response, "ContentLength": total})
        end = min(total, last + 1)
        first = bytearray(min(HEADER_PROBE, end))
        view = memoryview(first)
        filled = 0
        try:
            with self.access.boundary("read", key):
                while filled < len(first):
                    count = read_body_into(body, view[filled:])
                    if not count:
                        break
                    filled += count
        except RETRYABLE_STREAM_ERRORS:
            filled = -1
        except BaseException:
            body.close()
            raise
        if filled < len(first):
            body.close()
            return info, b"", None
        return info, bytes(first), FirstPart(body, bytes(first), end)

    def _head(self, key: str) -> ObjectInfo:
        return self.access.head(key, version_id=self.version_id)

    def prepare(
        self,
        key: str,
        require: EncryptionMode | None,
        allow_plaintext: bool,
        *,
        download: bool = False,
    ) -> Probe:
        """Describe the object, enforce ``require``, and say how it must be decrypted.

        With a keyring in play the object must be a message (``allow_plaintext``
        lets an object that does not even begin like one through, as stored).
        Without one, an object that begins like a message is refused rather
        than handed out as ciphertext. ``download``: the probe asks for the whole
        first part (see :meth:`probe_first_part`), which the download then reads on.
        """
        mode = self.keyring_mode(require)
        server_side = require is not None and not isinstance(require, ClientSide)
        part: FirstPart | None = None
        if download and not server_side:
            info, first, part = self.probe_first_part(key)
        else:
            info, first = self.probe(key, require)
        probe = Probe(info, first, mode, part)
        try:
            self.check_read(require, info.encryption, key)
            if mode is not None and not allow_plaintext:
                return probe
            if not first and info.size:
                with self.access.boundary("read", key):
                    ranges = ObjectRanges(self.access, key, info.etag, version_id=self.version_id)
                    probe.first = first = bytes(ranges.fetch(0, min(info.size, HEADER_PROBE)))
            message = looks_like_message(first, info.size)
            if mode is None and message:
                raise KeyringError(
                    "this object is client-side encrypted and no keyring was given",
                    bucket=self.bucket,
                    key=key,
                    hint="give a keyring (keyring= or a ClientSide mode; CLI: --client-side for "
                    "KMS discovery in your account, or --key-file, --rsa-private-key, "
                    "--kms-key-id); to fetch the stored bytes as they are, use a plain S3 "
                    "client (aws s3 cp)",
                )
        except BaseException:
            probe.close()
            raise
        if not message:
            probe.client_side = None
        return probe
