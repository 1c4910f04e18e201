"""Fetching S3 Inventory reports: the manifest, then its data files, verified.

A local manifest's data files are found beside it (the destination bucket's
layout, ``.../data/NAME``) and read in place; an ``s3://`` manifest's files are
downloaded from the destination bucket the manifest names, through the caller's
TLS-only connection, into a private temporary directory (:func:`scratch`) that
is removed however the audit ends. Every data file's size and MD5 are checked
against the manifest before the engine reads it, and ``manifest.checksum`` (the
MD5 of ``manifest.json``), where present, against the manifest.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions

from securestore.audit.collect import ClientFactory
from securestore.audit.inventory_manifest import (
    InventoryError,
    InventoryFile,
    InventoryManifest,
    parse_manifest,
)
from securestore.errors import ConfigurationError, NotFoundError
from securestore.location import S3Url
from securestore.transport import translate_error

__all__ = ["LoadedInventory", "S3Reader", "load_manifest", "read_manifest", "scratch"]

_CHUNK = 1024 * 1024
#: The largest manifest.json read (S3 writes a few hundred bytes per data file listed).
MAX_MANIFEST = 256 * 1024 * 1024
#: manifest.checksum holds one MD5 in hex.
_MAX_CHECKSUM = 1024


@dataclass(frozen=True)
class LoadedInventory:
    """A manifest with its data files verified on local disk."""

    source: str
    manifest: InventoryManifest
    paths: tuple[str, ...]


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(file: InventoryFile, actual_md5: str, actual_size: int, where: str) -> None:
    if actual_size != file.size:
        raise InventoryError(
            f"inventory data file {where} has {actual_size} bytes, the manifest says {file.size}"
        )
    if actual_md5 != file.md5:
        raise InventoryError(
            f"inventory data file {where} does not match the manifest's MD5 checksum",
            hint="the file changed after the manifest was written, or was damaged; "
            "use the manifest delivered with it",
        )


def _check_manifest_checksum(text: bytes, checksum: bytes | None, where: str) -> None:
    if checksum is None:
        return
    expected = checksum.decode("ascii", "replace").strip().lower()
    if hashlib.md5(text, usedforsecurity=False).hexdigest() != expected:
        raise InventoryError(f"{where} does not match its manifest.checksum")


# --- local manifests ------------------------------------------------------------------------


def _local_file(manifest_path: Path, key: str) -> Path:
    """Where a data file of a local copy of the destination bucket is.

    The manifest lies at ``ROOT/<key of manifest.json>`` and the files at
    ``ROOT/<key>``: try every ancestor as ROOT; failing that, ``data/NAME`` beside
    the manifest's config folder.
    """
    for root in manifest_path.resolve().parents:
        candidate = root / key
        if candidate.is_file():
            return candidate
    fallback = manifest_path.resolve().parent.parent / "data" / key.rsplit("/", 1)[-1]
    if fallback.is_file():
        return fallback
    raise InventoryError(
        f"inventory data file {key} (listed in {manifest_path}) is missing",
        hint="copy the destination bucket's inventory folder whole, data/ included",
    )


def _load_local(path: Path) -> LoadedInventory:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InventoryError(f"cannot read {path}: {exc.strerror or exc}") from exc
    checksum_path = path.with_name("manifest.checksum")
    checksum = checksum_path.read_bytes() if checksum_path.is_file() else None
    _check_manifest_checksum(text, checksum, str(path))
    manifest = parse_manifest(text)
    paths: list[str] = []
    for file in manifest.files:
        local = _local_file(path, file.key)
        _verify(file, _md5_file(local), local.stat().st_size, str(local))
        paths.append(str(local))
    return LoadedInventory(str(path), manifest, tuple(paths))


# --- manifests in S3 ------------------------------------------------------------------------


class S3Reader:
    """GETs through the caller's (TLS-only) clients, counting calls."""

    def __init__(self, clients: ClientFactory) -> None:
        self._s3 = clients.client("s3")
        self.calls = 0

    def _get(self, bucket: str, key: str) -> Any:
        self.calls += 1
        try:
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate_error(exc, bucket=bucket, key=key, action="GetObject") from exc

    def read(
        self, bucket: str, key: str, *, optional: bool = False, limit: int = MAX_MANIFEST
    ) -> bytes | None:
        """The whole object, which may hold at most ``limit`` bytes (InventoryError beyond)."""
        try:
            body = self._get(bucket, key)
        except NotFoundError:
            if optional:
                return None
            raise
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= limit and (chunk := body.read(min(_CHUNK, limit + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
        except botocore.exceptions.BotoCoreError as exc:
            raise translate_error(exc, bucket=bucket, key=key, action="GetObject") from exc
        finally:
            body.close()
        if size > limit:
            raise InventoryError(f"s3://{bucket}/{key} is larger than {limit} bytes")
        return b"".join(chunks)

    def download_to(self, bucket: str, key: str, target: Path) -> int:
        """Stream ``s3://bucket/key`` to the new file ``target``; return its size.

        A failed download leaves no file behind, so nothing partial is read later.
        """
        size = 0
        body = self._get(bucket, key)
        try:
            with target.open("xb") as out:
                try:
                    while chunk := body.read(_CHUNK):
                        size += len(chunk)
                        out.write(chunk)
                except BaseException:
                    target.unlink(missing_ok=True)
                    raise
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise translate_error(exc, bucket=bucket, key=key, action="GetObject") from exc
        finally:
            body.close()
        return size

    def download(self, bucket: str, file: InventoryFile, into: Path) -> Path:
        """Stream ``file`` to a new file in ``into``, checking size and MD5 on the way."""
        target = into / f"{len(list(into.iterdir())):06d}-{file.key.rsplit('/', 1)[-1]}"
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        body = self._get(bucket, file.key)
        # No more than one byte past the size the manifest declares: a body that
        # never ends must not fill the disk before the size check refuses it.
        limit = file.size + 1
        try:
            with target.open("wb") as out:
                while size < limit and (chunk := body.read(min(_CHUNK, limit - size))):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise translate_error(exc, bucket=bucket, key=file.key, action="GetObject") from exc
        finally:
            body.close()
        if size > file.size:
            raise InventoryError(
                f"inventory data file s3://{bucket}/{file.key} is longer than the "
                f"{file.size} bytes the manifest says"
            )
        _verify(file, digest.hexdigest(), size, f"s3://{bucket}/{file.key}")
        return target


def _load_s3(url: S3Url, reader: S3Reader, into: Path) -> LoadedInventory:
    text = reader.read(url.bucket, url.key)
    assert text is not None
    checksum_key = url.key.rsplit("/", 1)[0] + "/manifest.checksum" if "/" in url.key else ""
    checksum = (
        reader.read(url.bucket, checksum_key, optional=True, limit=_MAX_CHECKSUM)
        if checksum_key
        else None
    )
    _check_manifest_checksum(text, checksum, str(url))
    manifest = parse_manifest(text)
    paths = [str(reader.download(manifest.destination_bucket, f, into)) for f in manifest.files]
    return LoadedInventory(str(url), manifest, tuple(paths))


def load_manifest(
    location: str, *, clients: ClientFactory | None, into: Path, reader: Any = None
) -> LoadedInventory:
    """Read the manifest at ``location`` and make its data files available locally.

    Raises:
        InventoryError: the manifest or a data file is missing, malformed or does
            not match its checksum.
        StorageError: S3 refused a GET (translated).
    """
    if location.startswith("s3://"):
        if clients is None:
            raise ConfigurationError("an s3:// inventory needs an AWS connection")
        s3_reader = reader if reader is not None else S3Reader(clients)
        return _load_s3(S3Url.parse(location, require_key=True), s3_reader, into)
    return _load_local(Path(location))


def read_manifest(location: str, *, clients: ClientFactory | None) -> InventoryManifest:
    """Only the manifest at ``location`` (checked against ``manifest.checksum`` where
    present), without its data files: what the Athena script needs.

    Raises:
        InventoryError: missing, malformed, or not matching its checksum.
    """
    if not location.startswith("s3://"):
        path = Path(location)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise InventoryError(f"cannot read {path}: {exc.strerror or exc}") from exc
        checksum_path = path.with_name("manifest.checksum")
        checksum = checksum_path.read_bytes() if checksum_path.is_file() else None
        _check_manifest_checksum(text, checksum, str(path))
        return parse_manifest(text)
    if clients is None:
        raise ConfigurationError("an s3:// inventory needs an AWS connection")
    url = S3Url.parse(location, require_key=True)
    reader = S3Reader(clients)
    data = reader.read(url.bucket, url.key)
    assert data is not None
    checksum_key = url.key.rsplit("/", 1)[0] + "/manifest.checksum" if "/" in url.key else ""
    checksum = (
        reader.read(url.bucket, checksum_key, optional=True, limit=_MAX_CHECKSUM)
        if checksum_key
        else None
    )
    _check_manifest_checksum(data, checksum, location)
    return parse_manifest(data)


@contextmanager
def scratch() -> Iterator[Path]:
    """A private temporary directory, removed however the block ends."""
    path = Path(tempfile.mkdtemp(prefix="securestore-inventory-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
