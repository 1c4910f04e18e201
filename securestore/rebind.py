"""Re-binding a client-side message to a copy's location (:mod:`securestore.copying`).

The copy gets a new header (docs/format.md, "Re-wrapping"): the same suite,
message id, frame length and key commitment, the new location in its
encryption context and exactly the data keys the destination keyring wraps,
under a recomputed header tag, in front of the unchanged body, which S3 copies
(:func:`securestore.rewrap_copy.write_rewrapped`, with its streamed fallback).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from securestore.clientside import (
    HEADER_PROBE,
    ClientSide,
    check_location,
    expected_context,
    message_context,
    read_header,
)
from securestore.errors import AuthenticationError, PolicyError
from securestore.message import AlgorithmSuite, Header, Keyring, Layout
from securestore.message.decryptor import unwrap_data_key
from securestore.message.header import serialize
from securestore.message.materials import wipe
from securestore.message.rewrite import (
    HeaderRewrite,
    authenticate_header,
    reheader,
    wrap_existing_key,
)
from securestore.rewrap import Rewrapper, RewrapResult, SourceVersion
from securestore.rewrap_copy import write_rewrapped

if TYPE_CHECKING:
    from securestore.copying import _Copy

__all__ = ["CopyRewrapper", "rebind_copy", "rebind_header"]

_REBINDABLE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY


def rebind_copy(
    job: _Copy, etag: str, source_mode: ClientSide, mode: ClientSide
) -> RewrapResult | None:
    """Write the re-bound copy ``job`` describes; ``None`` if the message cannot be re-headed.

    Raises:
        KeyringError, IntegrityError: the source cannot be unwrapped or authenticated.
        PolicyError: S3 stored the copy otherwise than ``mode`` (it was removed).
        PreconditionFailedError: the source or the destination changed meanwhile.
    """
    head = job._head_source(etag)
    rw = CopyRewrapper(job, source_mode)
    src = SourceVersion(
        bucket=job.src.bucket,
        key=job.key,
        etag=etag,
        version_id=head.get("VersionId"),
        size=int(head.get("ContentLength", 0)),
        head=head,
    )
    with job.src.access.boundary("copy", job.key):
        first = rw.fetch(src, 0, min(src.size, HEADER_PROBE))
        limits = source_mode.header_limits
        header = read_header(lambda a, b: rw.fetch(src, a, b), src.size, limits, first=first)
        if header.length > len(first):
            first += rw.fetch(src, len(first), header.length)
        expected = expected_context(job.src.bucket, job.key, source_mode.context)
        check_location(header, expected, job.src.bucket, job.key)
        if header.suite is not _REBINDABLE:
            return None
        # A body whose length fits no frame layout is refused before any key is used.
        Layout.from_ciphertext_length(src.size, header.frame_length, header.length)
        if any(header.encryption_context.get(k) != v for k, v in expected.items()):
            raise AuthenticationError()
        data_key = unwrap_data_key(header, source_mode.keyring, header.encryption_context)
        try:
            rewrite = rebind_header(
                header,
                data_key,
                context=message_context(job.dst.bucket, job.dest_key, mode.context),
                keyring=mode.keyring,
                max_encrypted_data_keys=mode.header_limits.max_encrypted_data_keys,
            )
        finally:
            wipe(data_key)
    with job.dst.access.boundary("copy", job.dest_key):
        job.dst.access.key_arn_for(mode)
        condition = job._write_condition(etag)
        if not job.in_place and "IfNoneMatch" not in condition:
            # A write over an existing copy replaces it before its answer can be checked.
            job.dst.confirm_mode(job.dest_key, mode)
    result = RewrapResult(
        bucket=job.dst.bucket,
        key=job.dest_key,
        source_bucket=job.src.bucket,
        source_key=job.key,
        method=None,
        dry_run=False,
        source_etag=etag,
        source_version_id=src.version_id,
    )
    return write_rewrapped(
        rw,
        src,
        rewrite,
        first,
        result,
        in_place=job.in_place,
        delete_old=False,
        condition=condition,
    )


class CopyRewrapper(Rewrapper):
    """The re-wrap write step, writing the copy's parameters and checking the copy's mode."""

    def __init__(self, job: _Copy, source_mode: ClientSide) -> None:
        super().__init__(job.src.access, source_mode.keyring, limits=source_mode.header_limits)
        self.job = job

    def request_params(self, src: SourceVersion, bucket: str, key: str) -> dict[str, Any]:
        return self.job._params(src.head, keep_marker=True, message=True)

    def check_sse(
        self, src: SourceVersion, response: Mapping[str, Any], bucket: str, key: str
    ) -> None:
        # On a versioned bucket write_rewrapped deletes the new version itself.
        version = response.get("VersionId")
        try:
            self.job._verify_rebound(response)
        except PolicyError as exc:
            if not self.job.in_place and (not version or version == "null"):
                exc.message += self.job._undo(response)
            raise


def rebind_header(
    header: Header,
    data_key: bytes | bytearray,
    *,
    context: Mapping[str, str],
    keyring: Keyring,
    max_encrypted_data_keys: int,
) -> HeaderRewrite:
    """A header for the body of ``header``'s message with a new context and data keys.

    Pure. The key commitment and header tag are checked under ``data_key`` first;
    the new header has the same suite, message id, frame length and commitment,
    ``context``, and exactly the data keys ``keyring`` wraps (every old one is
    dropped), under a recomputed header tag. See docs/format.md, "Re-wrapping".

    Raises:
        AuthenticationError: ``data_key`` does not match the message.
        PolicyError: the message is signed or not committing.
        KeyringError: the keyring added no data key or replaced the data key.
        ConfigurationError: more data keys than ``max_encrypted_data_keys``.
    """
    authenticate_header(header, data_key)
    edks = wrap_existing_key(keyring, header, context, data_key)
    new_header = reheader(header, data_key, context, edks, max_encrypted_data_keys)
    return HeaderRewrite(
        header=new_header,
        header_bytes=serialize(new_header),
        old=header,
        kept=(),
        rewrapped=(),
        added=edks,
        removed=header.encrypted_data_keys,
    )
