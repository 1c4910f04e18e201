"""The store's read path: describe, check, fetch, authenticate and deliver an object.

A read first learns what the object is (:mod:`securestore.probing`: one ranged
GET that also brings a client-side message header, or a HEAD when a
server-side mode is demanded), enforces what the caller requires, then
delivers: plain ranged GETs for server-side modes (:mod:`securestore.ranges`),
frame-aligned authenticated reads for client-side messages
(:mod:`securestore.decrypting`), and S3 Encryption Client objects through
:mod:`securestore.s3ec`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from securestore.bucket import BucketAccess
from securestore.clientside import ClientSide, looks_like_message, read_header
from securestore.clientside_reader import ClientSideReader
from securestore.decrypting import decrypt_into, open_client_side
from securestore.errors import ConfigurationError
from securestore.localfile import AtomicFile, created_folders
from securestore.message import Header, HeaderLimits, Keyring
from securestore.modes import EncryptionMode
from securestore.objects import ObjectInfo
from securestore.probing import Probe, Prober
from securestore.ranges import ObjectRanges, download_ranges
from securestore.reader import ObjectReader, read_capped
from securestore.s3ec.metadata import has_s3ec_metadata
from securestore.s3ec.read import S3ecSource, find_s3ec
from securestore.transfer import ProgressCallback

__all__ = ["ReadPath"]


class ReadPath:
    """Reads of one bucket.

    Args:
        access: the bucket's client and helpers.
        encryption: the store's mode; a client-side store decrypts every read.
        keyring: decrypts client-side objects read through a server-side store.
        version_id: pin every request (HEAD, the probe, every ranged GET) to this
            version of the object; ``None`` reads the current version.
    """

    def __init__(
        self,
        access: BucketAccess,
        *,
        encryption: EncryptionMode,
        keyring: Keyring | None,
        version_id: str | None = None,
    ) -> None:
        self.access = access
        self.bucket = access.bucket
        self.encryption = encryption
        self.keyring = keyring
        self.version_id = version_id
        self.prober = Prober(access, encryption=encryption, keyring=keyring, version_id=version_id)

    def pinned(self, version_id: str | None) -> ReadPath:
        """This read path, or one pinned to ``version_id`` when one is given."""
        if version_id is None:
            return self
        return ReadPath(
            self.access, encryption=self.encryption, keyring=self.keyring, version_id=version_id
        )

    def _ranges(self, key: str, etag: str) -> ObjectRanges:
        # Every GET of one read is pinned to the version first seen: never mixed bytes.
        return ObjectRanges(self.access, key, etag, version_id=self.version_id)

    def _prepare_read(
        self, key: str, require: EncryptionMode | None, allow_plaintext: bool
    ) -> tuple[ObjectInfo, bytes, ClientSide | None]:
        """Describe the object, enforce ``require``, and say how it must be decrypted
        (see :meth:`securestore.probing.Prober.prepare`)."""
        probe = self.prober.prepare(key, require, allow_plaintext)
        return probe.info, probe.first, probe.client_side

    def _s3ec(
        self,
        key: str,
        info: ObjectInfo,
        require: EncryptionMode | None,
        first: bytes,
        context: Mapping[str, str] | None,
        allow_s3ec: bool,
    ) -> S3ecSource | None:
        """An object of the AWS S3 Encryption Client, read by :mod:`securestore.s3ec`.

        Found by its metadata (or, only with ``allow_s3ec``, its instruction file);
        refused without ``allow_s3ec`` (it is not bound to its location) or a keyring.
        """
        if not allow_s3ec and not has_s3ec_metadata(info.metadata):
            # find_s3ec's answer whatever the bytes say: spare a header parse per read.
            return None
        mode = self.prober.keyring_mode(require)
        ranges = self._ranges(key, info.etag)
        return find_s3ec(
            self.access,
            key,
            info,
            keyring=mode.keyring if mode is not None else None,
            context=(mode.context if mode is not None else None) if context is None else context,
            is_message=looks_like_message(first, info.size),
            fetch=ranges.fetch,
            stream=lambda: ranges.reader(info.size),
            allowed=allow_s3ec,
        )

    def open(
        self,
        key: str,
        *,
        require: EncryptionMode | None,
        context: Mapping[str, str] | None,
        relocated: bool,
        allow_plaintext: bool,
        allow_legacy_unauthenticated: bool = False,
        allow_s3ec: bool = False,
    ) -> ObjectReader | ClientSideReader:
        """See :meth:`securestore.store.SecureStore.open`; ``require`` is already resolved."""
        info, first, client_side = self._prepare_read(key, require, allow_plaintext)
        s3ec = self._s3ec(key, info, require, first, context, allow_s3ec)
        if s3ec is not None:
            return s3ec.open(allow_legacy_unauthenticated=allow_legacy_unauthenticated)
        ranges = self._ranges(key, info.etag)
        if client_side is not None:
            return open_client_side(ranges, info, client_side, context, relocated, first)
        return ranges.reader(info.size)

    def read_raw_range(self, key: str, first: int, last: int, *, etag: str | None) -> bytes:
        """See :meth:`securestore.store.SecureStore.read_raw_range`."""
        if last < first:
            raise ConfigurationError(
                f"invalid range: last ({last}) is before first ({first})",
                hint="first and last are inclusive byte offsets, first <= last",
            )
        response = self.access.get_range(key, first, last, etag=etag, version_id=self.version_id)
        # Content-Range was checked; the body's length is the server's to choose.
        return read_capped(response["Body"], last - first + 1, bucket=self.bucket, key=key)

    def inspect(self, key: str, *, limits: HeaderLimits | None = None) -> Header:
        """See :meth:`securestore.store.SecureStore.inspect`."""
        info = self.access.head(key, version_id=self.version_id)
        with self.access.boundary("inspect", key):
            fetch = self._ranges(key, info.etag).fetch
            return read_header(fetch, info.size, limits or HeaderLimits())

    def download(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        require: EncryptionMode | None,
        context: Mapping[str, str] | None,
        relocated: bool,
        allow_plaintext: bool,
        progress: ProgressCallback | None,
        mode: int | None = None,
        overwrite_readonly: bool = False,
        allow_legacy_unauthenticated: bool = False,
        allow_s3ec: bool = False,
    ) -> ObjectInfo:
        """See :meth:`securestore.store.SecureStore.download_file`.

        Missing folders of ``path`` are created, and removed again if the download
        fails (:func:`~securestore.localfile.created_folders`).

        A download that may deliver the object as stored costs one GET when the
        object fits in one part: the probe asks for the whole first part, and its
        body, once its first bytes said what the object is, is written rather
        than fetched again (:class:`~securestore.ranges.FirstPart`).
        """
        with created_folders(Path(path).parent):
            probe = self.prober.prepare(key, require, allow_plaintext, download=True)
            try:
                return self._deliver(
                    key,
                    Path(path),
                    probe,
                    require=require,
                    context=context,
                    relocated=relocated,
                    progress=progress,
                    mode=mode,
                    overwrite_readonly=overwrite_readonly,
                    allow_legacy_unauthenticated=allow_legacy_unauthenticated,
                    allow_s3ec=allow_s3ec,
                )
            finally:
                probe.close()

    def _deliver(
        self,
        key: str,
        target: Path,
        probe: Probe,
        *,
        require: EncryptionMode | None,
        context: Mapping[str, str] | None,
        relocated: bool,
        progress: ProgressCallback | None,
        mode: int | None,
        overwrite_readonly: bool,
        allow_legacy_unauthenticated: bool,
        allow_s3ec: bool,
    ) -> ObjectInfo:
        info, first = probe.info, probe.first
        s3ec = self._s3ec(key, info, require, first, context, allow_s3ec)
        if s3ec is not None:
            probe.close()  # read by its own pass, which authenticates the whole object
            s3ec.download(
                AtomicFile(
                    target,
                    create_mode=0o600 if mode is None else mode,
                    overwrite_readonly=overwrite_readonly,
                ),
                progress=progress,
                allow_legacy_unauthenticated=allow_legacy_unauthenticated,
            )
            return info
        ranges = self._ranges(key, info.etag)
        if probe.client_side is None:
            destination = AtomicFile(
                target,
                create_mode=0o666 if mode is None else mode,
                overwrite_readonly=overwrite_readonly,
            )
            with self.access.boundary("download", key), destination as out:
                download_ranges(ranges, info.size, out, progress, first_part=probe.first_part)
            return info
        reader = open_client_side(ranges, info, probe.client_side, context, relocated, first)
        # Freshly decrypted plaintext: a new file is the caller's alone unless asked otherwise.
        destination = AtomicFile(
            target,
            create_mode=0o600 if mode is None else mode,
            overwrite_readonly=overwrite_readonly,
        )
        with self.access.boundary("download", key), reader, destination as out:
            if out.stream or reader.header.suite.signed:
                probe.close()  # read in order through the reader (signed: verified already)
            if out.stream:
                for chunk in reader:
                    out.write_at(chunk, reader.tell() - len(chunk))
                    if progress:
                        progress(len(chunk))
            else:
                decrypt_into(ranges, reader, out.fd, progress, first_part=probe.first_part)
        return info
