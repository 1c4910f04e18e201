"""Object commands: mb, put, get, head (ls: cli/listing.py; rm, cp, sync...: cli/tree.py)."""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import click

from securestore.errors import ConfigurationError, LocalFileError, NotFoundError
from securestore.localfile import AtomicFile
from securestore.location import S3Url
from securestore.modes import EncryptionMode, parse_mode

from .context import CliContext
from .errors import require_stdout
from .keys import (
    branch_key_options,
    branch_key_requested,
    combine,
    hierarchy_keyrings,
    key_options,
    kms_keyrings,
    raw_keyrings,
    reading_keyring,
)
from .text import printable

# boto3, cryptography and rich are imported by the commands that use them, not here:
# `securestore put --help` and usage errors then load none of them (cli/main.py).
if TYPE_CHECKING:
    from securestore.clientside import ClientSideReader
    from securestore.reader import ObjectReader
    from securestore.store import ObjectInfo, SecureStore

#: put --sse, get --require and audit --require accept the same names (and the sse- forms).
SSE_CHOICES = click.Choice(["s3", "sse-s3", "kms", "sse-kms", "dsse-kms"], case_sensitive=False)
_RANGE_RE = re.compile(r"([0-9]+)-([0-9]*)", re.ASCII)
VERSION_ID_HELP = "Read this version of the object (see ls --versions); default: the current one."
REQUIRE_CHOICES = click.Choice(
    ["s3", "sse-s3", "kms", "sse-kms", "dsse-kms", "client-side"], case_sensitive=False
)


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """Parse repeated ``K=V`` options into a dict; malformed pairs are usage errors."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigurationError(f"invalid {what} {pair!r}: expected KEY=VALUE")
        if name in result:
            raise ConfigurationError(f"{what} key {name!r} given twice")
        result[name] = value
    return result


def build_sse(
    sse: str | None, kms_key_id: str | None, context: dict[str, str], bucket_key: bool
) -> EncryptionMode:
    """The server-side mode chosen by ``--sse``/``--kms-key-id``/``--context``."""
    if sse is None:
        sse = "kms" if kms_key_id or context else "s3"
    return parse_mode(sse, kms_key_id=kms_key_id, bucket_key=bucket_key, context=context or None)


def store_for(obj: CliContext, url: S3Url, **kwargs: Any) -> SecureStore:
    """A store on ``url``'s bucket using the global connection options."""
    from securestore.store import SecureStore

    return SecureStore(url.bucket, connection=obj.connection, **kwargs)


def say(obj: CliContext, message: str) -> None:
    """A status line on stderr (stdout may carry object data), unless ``--quiet``.

    Non-printable characters (in object keys, say) are escaped.
    """
    if not obj.quiet:
        click.echo(printable(message), err=True)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@click.command("mb")
@click.argument("url", metavar="s3://BUCKET")
@click.pass_obj
def mb_command(obj: CliContext, url: str) -> None:
    """Create a bucket."""
    from securestore.store import create_bucket

    location = S3Url.parse(url)
    if location.key:
        raise ConfigurationError(f"mb takes a bucket, not an object: {url}")
    create_bucket(obj.connection, location.bucket, region=obj.region)
    say(obj, f"make_bucket: {location}")


F = TypeVar("F", bound=Callable[..., Any])


def upload_options(func: F) -> F:
    """put's encryption options (also on cp, sync and mv): --sse ... --sse-kms-key-id."""
    for option in reversed(
        [
            click.option(
                "--sse",
                type=SSE_CHOICES,
                help="Server-side encryption (default: s3, or kms with --kms-key-id; "
                "with --client-side: none unless given).",
            ),
            click.option(
                "--kms-key-id",
                "kms_key_ids",
                multiple=True,
                metavar="ID",
                help="KMS key id, ARN or alias. Without --client-side: the SSE-KMS/DSSE-KMS key "
                "S3 encrypts with. With --client-side: a key that wraps the message's data key "
                "(repeatable: any one of them decrypts), never the SSE layer's key (that is "
                "--sse-kms-key-id).",
            ),
            click.option(
                "--context",
                "context",
                multiple=True,
                metavar="K=V",
                help="Encryption context pair (repeatable): KMS context for SSE, the message's "
                "context for --client-side.",
            ),
            click.option(
                "--no-bucket-key", is_flag=True, help="Do not use an S3 Bucket Key with --sse kms."
            ),
            click.option(
                "--client-side",
                is_flag=True,
                help="Encrypt on this machine (AWS Encryption SDK format) before uploading. "
                "Implied by --key-file and --rsa-public-key.",
            ),
            key_options(reading=False),
            branch_key_options(),
            click.option(
                "--sse-kms-key-id",
                metavar="ID",
                help="With --client-side --sse kms/dsse-kms: the KMS key of the server-side "
                "layer (alias/aws/s3 for the AWS-managed key). Required there when "
                "--kms-key-id is given, so that the SSE layer's key is never a guess.",
            ),
        ]
    ):
        func = option(func)
    return func


def upload_mode(
    obj: CliContext,
    *,
    sse: str | None,
    kms_key_ids: tuple[str, ...],
    pairs: dict[str, str],
    no_bucket_key: bool,
    client_side: bool,
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    sse_kms_key_id: str | None,
) -> EncryptionMode:
    """The mode put's options (:func:`upload_options`) choose."""
    from securestore.clientside import ClientSide

    if any(not key_id.strip() for key_id in (*kms_key_ids, sse_kms_key_id or "x")):
        raise ConfigurationError("an empty --kms-key-id was given (is a variable unset?)")
    if client_side or key_files or rsa_keys or branch_key_requested():
        if kms_key_ids and sse_kms_key_id is None and _kms_layer(sse):
            # --kms-key-id wraps the data key here; the SSE layer would otherwise use the
            # AWS-managed key, which a reader of the command line would not guess.
            raise ConfigurationError(
                f"--sse {sse} with --client-side needs --sse-kms-key-id: --kms-key-id only "
                "wraps the client-side data key",
                hint="add --sse-kms-key-id with the same key for both layers, or "
                "--sse-kms-key-id alias/aws/s3 for the AWS-managed key",
            )
        if sse_kms_key_id and sse is None:  # (--sse s3 with a key: the mode refuses it)
            raise ConfigurationError("--sse-kms-key-id needs --sse kms or --sse dsse-kms")
        keyring = combine(
            kms_keyrings(obj.connection, kms_key_ids)
            + hierarchy_keyrings(obj.connection)
            + raw_keyrings(key_files, rsa_keys, key_name, reading=False)
        )
        layer = (
            parse_mode(sse, kms_key_id=sse_kms_key_id, bucket_key=not no_bucket_key)
            if sse
            else None
        )
        return ClientSide(keyring, sse=layer, context=pairs, max_data_keys=max_data_keys)
    if len(kms_key_ids) > 1:
        raise ConfigurationError("several --kms-key-id need --client-side")
    if sse_kms_key_id:
        raise ConfigurationError("--sse-kms-key-id goes with --client-side; use --kms-key-id")
    if max_data_keys is not None:
        raise ConfigurationError("--max-data-keys goes with --client-side")
    return build_sse(sse, kms_key_ids[0] if kms_key_ids else None, pairs, not no_bucket_key)


def read_mode(
    obj: CliContext,
    *,
    require: str | None,
    kms_key_ids: tuple[str, ...],
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    client_side: bool,
    allow_plaintext: bool,
    pairs: dict[str, str] | None,
    relocated: bool,
) -> EncryptionMode | None:
    """The mode get's options demand: ``None`` is a plain read (refuses client-side objects)."""
    from securestore.clientside import ClientSide

    if any(not key_id.strip() for key_id in kms_key_ids):
        raise ConfigurationError("an empty --kms-key-id was given (is a variable unset?)")
    sse: EncryptionMode | None = None
    if require not in (None, "client-side"):
        sse = parse_mode(require, kms_key_id=kms_key_ids[0] if kms_key_ids else None)
    # The options alone decide whether the object must decrypt, never its metadata
    # (anyone who can write to the bucket sets that). With --require kms/dsse-kms,
    # --kms-key-id names the server-side key, not a client-side one.
    client_kms_keys = kms_key_ids if sse is None else ()
    client_side_read = (
        client_side
        or require == "client-side"
        or bool(key_files or rsa_keys or client_kms_keys or pairs or relocated or max_data_keys)
        or branch_key_requested()
    )
    if allow_plaintext and not client_side_read:
        raise ConfigurationError(
            "--allow-plaintext only applies to client-side reads",
            hint="add --client-side or a key option (a plain read returns objects as stored)",
        )
    if not client_side_read:
        return sse
    keyring = reading_keyring(
        obj.connection, client_kms_keys, key_files, rsa_keys, key_name, discovery=True
    )
    assert keyring is not None
    return ClientSide(keyring, sse=sse, max_data_keys=max_data_keys)


@click.command("put")
@click.argument("source", metavar="SRC")
@click.argument("url", metavar="s3://BUCKET/KEY")
@upload_options
@click.option("--metadata", multiple=True, metavar="K=V", help="User metadata pair (repeatable).")
@click.option("--content-type", metavar="TYPE", help="The object's Content-Type.")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="With SRC -: let an empty stdin replace an existing object (refused by default: "
    "a producer that failed looks like an empty stream).",
)
@click.option(
    "--expected-size",
    type=click.IntRange(min=0),
    metavar="BYTES",
    help="With SRC -: about how many bytes stdin holds, to pick the part size up front "
    "(without it parts grow as the stream goes; either way a stream may reach 5 TiB).",
)
@click.pass_obj
def put_command(
    obj: CliContext,
    source: str,
    url: str,
    sse: str | None,
    kms_key_ids: tuple[str, ...],
    context: tuple[str, ...],
    no_bucket_key: bool,
    client_side: bool,
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    sse_kms_key_id: str | None,
    metadata: tuple[str, ...],
    content_type: str | None,
    allow_empty: bool,
    expected_size: int | None,
) -> None:
    """Upload SRC (a file, or - for stdin) to s3://BUCKET/KEY, encrypted."""
    from .progress import transfer_progress

    location = _put_destination(url, source)
    if expected_size is not None and source != "-":
        raise ConfigurationError(
            "--expected-size goes with SRC - (a file's size is known)",
            hint="drop --expected-size",
        )
    pairs = parse_pairs(context, "context")
    meta = parse_pairs(metadata, "metadata")
    mode = upload_mode(
        obj,
        sse=sse,
        kms_key_ids=kms_key_ids,
        pairs=pairs,
        no_bucket_key=no_bucket_key,
        client_side=client_side,
        key_files=key_files,
        rsa_keys=rsa_keys,
        key_name=key_name,
        max_data_keys=max_data_keys,
        sse_kms_key_id=sse_kms_key_id,
    )
    store = store_for(obj, location, encryption=mode)
    if source == "-":
        if sys.stdin is None:  # started with stdin closed (<&-)
            raise LocalFileError("standard input is closed", hint="redirect it, or give a file")
        stream = sys.stdin.buffer
        first = stream.read(1)
        if not first and not allow_empty and _exists(store, location.key):
            raise LocalFileError(
                f"standard input was empty: refusing to replace {location} with an empty object",
                hint="if a producer failed, check it (set -o pipefail); to store an empty "
                "object anyway, add --allow-empty",
            )
        with transfer_progress(obj.progress_enabled(), "put", None) as progress:
            info = store.put(
                location.key,
                # put() only calls read() on a stream body.
                cast(BinaryIO, _Prefixed(first, stream)),
                metadata=meta,
                content_type=content_type,
                progress=progress,
                expected_size=expected_size,
            )
    else:
        path = Path(source)
        if not path.exists():
            raise LocalFileError(f"no such file: {source}")
        if path.is_dir():
            raise LocalFileError(f"is a directory: {source}", hint="put uploads one file")
        with transfer_progress(obj.progress_enabled(), "put", path.stat().st_size) as progress:
            info = store.upload_file(
                path, location.key, metadata=meta, content_type=content_type, progress=progress
            )
    say(obj, f"put: {source} -> {location} ({_human(info.size)}, {info.encryption.describe()})")


def _put_destination(url: str, source: str) -> S3Url:
    """aws-cli's rule: ``s3://b/dir/`` (or ``s3://b``) means ``dir/<source's base name>``."""
    from securestore.tree.paths import remote_key

    location = S3Url.parse(url)
    if location.key and not location.key.endswith("/"):
        return location
    if source == "-":
        raise ConfigurationError(
            f"no object key in {url!r}: a stream has no name", hint="write s3://BUCKET/KEY"
        )
    return S3Url.parse(f"s3://{location.bucket}/{remote_key(location.key, Path(source).name)}")


def _kms_layer(sse: str | None) -> bool:
    return sse is not None and sse.lower() in ("kms", "sse-kms", "dsse-kms")


def parse_range(text: str) -> tuple[int, int]:
    """Parse ``START-END`` (inclusive, like HTTP ranges) or ``START-`` into (start, length)."""
    match = _RANGE_RE.fullmatch(text)
    start = int(match.group(1)) if match else -1
    end = int(match.group(2)) if match and match.group(2) else None
    if start < 0 or (end is not None and end < start):
        raise ConfigurationError(
            f"invalid range {text!r}: expected START-END (inclusive byte offsets) or START-"
        )
    return start, (end - start + 1) if end is not None else -1


@click.command("get")
@click.argument("url", metavar="s3://BUCKET/KEY")
@click.argument("dest", required=False, metavar="[DEST]")
@click.option(
    "--require", type=REQUIRE_CHOICES, help="Refuse the object unless stored with this mode."
)
@click.option(
    "--kms-key-id",
    "kms_key_ids",
    multiple=True,
    metavar="ID",
    help="KMS key(s) that may unwrap a client-side object's data key (implies "
    "--client-side); with --require kms/dsse-kms instead the server-side key the "
    "object must be stored with (a plain read).",
)
@key_options(reading=True)
@branch_key_options()
@click.option(
    "--client-side",
    is_flag=True,
    help="Decrypt a client-side object; without a key option, by KMS discovery limited "
    "to your own account. Implied by --key-file, --rsa-private-key, --kms-key-id "
    "(without --require kms/dsse-kms), --context and --relocated. Without any of "
    "them, get is a plain server-side read, which refuses client-side objects.",
)
@click.option(
    "--allow-plaintext",
    is_flag=True,
    help="WEAKENS the read: with a client-side read, return an object that is not a "
    "client-side message as stored, unauthenticated, instead of refusing it (exit 3).",
)
@click.option(
    "--allow-legacy-unauthenticated",
    is_flag=True,
    help="WEAKENS the read: decrypt objects AWS's S3 Encryption Client wrote in a legacy "
    "mode without authentication (V1 AES-CBC, old key wraps) instead of refusing them "
    "(exit 3); whoever could write to the bucket could have altered them.",
)
@click.option(
    "--context",
    "context",
    multiple=True,
    metavar="K=V",
    help="Client-side: an encryption context pair the object must carry (repeatable).",
)
@click.option(
    "--relocated",
    is_flag=True,
    help="Client-side: accept an object that was copied or moved from another key.",
)
@click.option(
    "--range",
    "byte_range",
    metavar="START-END",
    help="Only these bytes (inclusive offsets; END may be omitted).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace DEST even if it is read-only (as cp -f does).",
)
@click.option("--version-id", metavar="V", help=VERSION_ID_HELP)
@click.pass_obj
def get_command(
    obj: CliContext,
    url: str,
    dest: str | None,
    require: str | None,
    kms_key_ids: tuple[str, ...],
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    client_side: bool,
    allow_plaintext: bool,
    allow_legacy_unauthenticated: bool,
    context: tuple[str, ...],
    relocated: bool,
    byte_range: str | None,
    force: bool,
    version_id: str | None,
) -> None:
    """Download s3://BUCKET/KEY to DEST (a file or folder; - or absent: stdout)."""
    from securestore.clientside import ClientSide
    from securestore.tree.paths import local_target

    from .progress import transfer_progress

    location = S3Url.parse(url, require_key=True)
    span = parse_range(byte_range) if byte_range else None
    pairs = parse_pairs(context, "context") or None
    mode = read_mode(
        obj,
        require=require,
        kms_key_ids=kms_key_ids,
        key_files=key_files,
        rsa_keys=rsa_keys,
        key_name=key_name,
        max_data_keys=max_data_keys,
        client_side=client_side,
        allow_plaintext=allow_plaintext,
        pairs=pairs,
        relocated=relocated,
    )
    store = store_for(obj, location)
    open_object = functools.partial(
        store.open,
        location.key,
        require=mode,
        context=pairs,
        relocated=relocated,
        allow_plaintext=allow_plaintext,
        version_id=version_id,
        allow_legacy_unauthenticated=allow_legacy_unauthenticated,
    )
    if allow_legacy_unauthenticated and not isinstance(mode, ClientSide):
        raise ConfigurationError(
            "--allow-legacy-unauthenticated only applies to client-side reads",
            hint="add the key option that unwraps the object (--kms-key-id, --client-side, ...)",
        )
    if dest is None or dest == "-":
        out = _stdout()
        with open_object() as reader:
            if span is not None:
                copy_range(reader, *span, out.write)
            else:
                for chunk in reader:
                    out.write(chunk)
            out.flush()
        return
    # aws-cli's rule: an existing directory, or DEST ending in / (created), gets the key's name.
    target = local_target(Path(dest), location.key, trailing_slash=dest.endswith(("/", os.sep)))
    if span is not None:
        with open_object() as reader:
            # Decrypted plaintext (a securestore message or an S3EC object) is owner-only,
            # like download_file's files.
            private = isinstance(mode, ClientSide)
            destination = AtomicFile(
                target, create_mode=0o600 if private else 0o666, overwrite_readonly=force
            )
            with destination as file:
                written = copy_range(reader, *span, file.write_at)
        say(obj, f"get: {location} [{byte_range}] -> {target} ({_human(written)})")
        return
    # Only a progress bar needs the size up front; otherwise download_file finds it.
    total = store.head(location.key, version_id=version_id).size if obj.progress_enabled() else None
    with transfer_progress(obj.progress_enabled(), "get", total) as progress:
        info = store.download_file(
            location.key,
            target,
            require=mode,
            context=pairs,
            relocated=relocated,
            allow_plaintext=allow_plaintext,
            progress=progress,
            overwrite_readonly=force,
            version_id=version_id,
            allow_legacy_unauthenticated=allow_legacy_unauthenticated,
        )
    say(obj, f"get: {location} -> {target} ({_human(info.size)}, {info.encryption.describe()})")


def _exists(store: SecureStore, key: str) -> bool:
    try:
        store.head(key)
    except NotFoundError:
        return False
    return True


class _Prefixed:
    """A binary stream with bytes already read from it put back in front."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self._first = first
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        """Read like ``BinaryIO.read``: the put-back bytes first."""
        if self._first:
            head, self._first = self._first, b""
            if size < 0:
                return head + self._rest.read()
            return head + (self._rest.read(size - len(head)) if size > len(head) else b"")
        return self._rest.read(size)


#: The most of a ``--range`` held at once: ranges stream like whole objects.
RANGE_PIECE = 2 * 1024 * 1024


def copy_range(
    reader: ObjectReader | ClientSideReader,
    start: int,
    length: int,
    write: Callable[[bytes, int], object],
) -> int:
    """Copy ``length`` bytes (all to the end if negative) from ``start`` in bounded pieces.

    ``write(piece, offset)`` gets each piece with its offset in the output. A range
    that reaches the end of a client-side object ends with its final frame
    authenticated (``read_range`` checks it). Returns the number of bytes copied.
    """
    if start >= reader.size and not start == reader.size == 0:
        # HTTP 416 semantics: a range that starts past the end selects nothing.
        raise ConfigurationError(
            f"invalid range: it starts at byte {start}, past the end of the object "
            f"({reader.size} bytes)",
            hint=f"the last byte is at offset {reader.size - 1}",
        )
    end = reader.size if length < 0 else min(reader.size, start + length)
    offset = start
    while True:
        piece = reader.read_range(offset, min(RANGE_PIECE, max(0, end - offset)))
        if piece:
            write(piece, offset - start)
            offset += len(piece)
        if not piece or offset >= end:
            return offset - start


class _Stdout:
    """Standard output for object data: a full disk is a usage error, not a bug.

    A reader that went away (``| head``) stays a BrokenPipeError, which the CLI
    ends quietly, as other Unix tools do.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes, _offset: int = 0) -> None:
        self._call(self._stream.write, data)

    def flush(self) -> None:
        self._call(self._stream.flush)

    @staticmethod
    def _call(action: Callable[..., object], *args: bytes) -> None:
        try:
            action(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            hint = (
                "free space on the file system stdout goes to"
                if exc.errno == errno.ENOSPC
                else None
            )
            raise LocalFileError(
                f"cannot write to standard output: {exc.strerror or exc}", hint=hint
            ) from exc


def _stdout() -> _Stdout:
    require_stdout()
    return _Stdout(sys.stdout.buffer)


def _describe(info: ObjectInfo) -> str:
    enc = info.encryption
    lines = [
        f"url:            s3://{info.bucket}/{info.key}",
        f"size:           {info.size} ({_human(info.size)})",
        f"etag:           {info.etag}",
        f"last modified:  {info.last_modified.isoformat() if info.last_modified else '-'}",
        f"content type:   {info.content_type or '-'}",
        f"encryption:     {enc.sse_name}",
    ]
    if enc.kms_key_id:
        lines.append(f"kms key:        {enc.kms_key_id}")
    if enc.bucket_key_enabled is not None:
        lines.append(f"bucket key:     {'enabled' if enc.bucket_key_enabled else 'disabled'}")
    if enc.client_side is not None:
        lines.append("client-side:    " + ", ".join(f"{k}={v}" for k, v in enc.client_side.items()))
    if info.version_id:
        lines.append(f"version:        {info.version_id}")
    for name, value in sorted(info.metadata.items()):
        lines.append(f"metadata:       {name}={value}")
    # Everything here came from the server: escape each line (not the newlines).
    return "\n".join(printable(line) for line in lines)


@click.command("head")
@click.argument("url", metavar="s3://BUCKET/KEY")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--version-id", metavar="V", help=VERSION_ID_HELP)
@click.pass_obj
def head_command(obj: CliContext, url: str, as_json: bool, version_id: str | None) -> None:
    """Show an object's size, encryption mode and key, ETag and metadata."""
    require_stdout()
    location = S3Url.parse(url, require_key=True)
    info = store_for(obj, location).head(location.key, version_id=version_id)
    click.echo(json.dumps(info.to_dict(), indent=2) if as_json else _describe(info))


# rm lives in cli/tree.py with the other tree commands.
COMMANDS = (mb_command, put_command, get_command, head_command)

__all__ = [
    "COMMANDS",
    "build_sse",
    "parse_pairs",
    "read_mode",
    "say",
    "store_for",
    "upload_mode",
    "upload_options",
]
