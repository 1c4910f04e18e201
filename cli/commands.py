"""Object commands: mb, put, get, head (ls: cli/listing.py; rm, cp, sync...: cli/tree.py)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import click

from securestore.errors import (
    ConfigurationError,
    LocalFileError,
    NotFoundError,
)
from securestore.localfile import AtomicFile
from securestore.location import S3Url
from securestore.placement import special_file_refused

from .context import CliContext
from .errors import require_stdout
from .keys import allow_s3ec_option, branch_key_options, key_options, s3ec_allowed
from .listing import human_size
from .options import (
    REQUIRE_CHOICES,
    SSE_CHOICES,
    attributes_from,
    build_sse,
    parse_pairs,
    read_mode,
    upload_mode,
    upload_options,
)
from .streams import RANGE_PIECE, Prefixed, copy_range, stdout
from .text import printable
from .versionhints import names_the_version, version_error

# boto3, cryptography and rich are imported by the commands that use them, not here:
# `securestore put --help` and usage errors then load none of them (cli/main.py).
if TYPE_CHECKING:
    from securestore.store import ObjectInfo, SecureStore

#: What other command modules used from here before the shared options had their own room.
_stdout = stdout

_RANGE_RE = re.compile(r"([0-9]+)-([0-9]*)", re.ASCII)
_DRYRUN_HELP = "Print what would be done (as cp --dryrun does); change nothing."
VERSION_ID_HELP = "Read this version of the object (see ls --versions); default: the current one."


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


@click.command("put")
@click.argument("source", metavar="SRC")
@click.argument("url", metavar="s3://BUCKET/KEY")
@upload_options
@click.option("--metadata", multiple=True, metavar="K=V", help="User metadata pair (repeatable).")
@click.option(
    "--content-type",
    metavar="TYPE",
    help="The object's Content-Type (default: guessed from SRC's name, as cp does).",
)
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
@click.option("--dryrun", is_flag=True, help=_DRYRUN_HELP)
@click.pass_obj
def put_command(
    obj: CliContext,
    /,
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
    dryrun: bool,
    **given: Any,
) -> None:
    """Upload SRC (a file, or - for stdin) to s3://BUCKET/KEY, encrypted."""
    from securestore.attributes import guess_content_type

    from .progress import transfer_progress

    location = _put_destination(url, source)
    if expected_size is not None and source != "-":
        raise ConfigurationError(
            "--expected-size goes with SRC - (a file's size is known)",
            hint="drop --expected-size",
        )
    pairs = parse_pairs(context, "context")
    meta = parse_pairs(metadata, "metadata")
    attributes = attributes_from(given)
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
        bucket=None if dryrun else location.bucket,
    )
    if source != "-":
        path = Path(source)
        if not path.exists():
            raise LocalFileError(f"no such file: {source}")
        if path.is_dir():
            raise LocalFileError(f"is a directory: {source}", hint="put uploads one file")
    if dryrun:  # validated as a real run is; nothing read from SRC, nothing sent
        _dry(obj, f"upload: {source} to {location}")
        return
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
        body = _Counted(Prefixed(first, stream))
        with transfer_progress(obj.progress_enabled(), "put", None) as progress:
            info = store.put(
                location.key,
                # put() only calls read() and readinto() on a stream body.
                cast(BinaryIO, body),
                metadata=meta,
                content_type=content_type,
                progress=progress,
                expected_size=expected_size,
                attributes=attributes,
            )
        sent = body.count
    else:
        sent = path.stat().st_size
        with transfer_progress(obj.progress_enabled(), "put", sent) as progress:
            info = store.upload_file(
                path,
                location.key,
                metadata=meta,
                content_type=content_type or guess_content_type(path.name),
                progress=progress,
                attributes=attributes,
            )
    # The bytes read (as get reports the bytes written), not a client-side object's stored size.
    size = human_size(sent, aws_cli=False)
    say(obj, f"put: {source} -> {location} ({size}, {info.encryption.describe()})")


class _Counted:
    """A stream that counts the bytes read from it (what ``put -`` reports)."""

    def __init__(self, stream: Prefixed) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        """Read like ``BinaryIO.read``, counting."""
        data = self._stream.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Read like ``BufferedReader.readinto`` (the stream's own: no copy), counting."""
        count = self._stream.readinto(buffer)
        self.count += count
        return count


def _dry(obj: CliContext, line: str) -> None:
    """A dry run's line, as the tree commands print theirs (stdout, unless ``--quiet``)."""
    if not obj.quiet:
        click.echo(printable(f"(dryrun) {line}"))


def _put_destination(url: str, source: str) -> S3Url:
    """aws-cli's rule: ``s3://b/dir/`` (or ``s3://b``) means ``dir/<source's base name>``."""
    from securestore.tree.listing import NOT_UTF8, valid_utf8
    from securestore.tree.paths import remote_key

    location = S3Url.parse(url)
    if location.key and not location.key.endswith("/"):
        return location
    if source == "-":
        raise ConfigurationError(
            f"no object key in {url!r}: a stream has no name", hint="write s3://BUCKET/KEY"
        )
    name = Path(source).name
    if not valid_utf8(name):
        raise LocalFileError(f"{source}: {NOT_UTF8}", hint="or name the object: s3://BUCKET/KEY")
    return S3Url.parse(f"s3://{location.bucket}/{remote_key(location.key, name)}")


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
@allow_s3ec_option()
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
@click.option("--dryrun", is_flag=True, help=_DRYRUN_HELP + " The object is looked up (HEAD).")
@click.pass_obj
@names_the_version
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
    dryrun: bool,
) -> None:
    """Download s3://BUCKET/KEY to DEST (a file or folder; - or absent: stdout)."""
    from securestore.clientside import ClientSide

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
        allow_s3ec=s3ec_allowed(),
    )
    if allow_legacy_unauthenticated and not isinstance(mode, ClientSide):
        raise ConfigurationError(
            "--allow-legacy-unauthenticated only applies to client-side reads",
            hint="add the key option that unwraps the object (--kms-key-id, --client-side, ...)",
        )
    to_stdout = dest is None or dest == "-"
    if dryrun:  # a read (HEAD) says the object exists; no file is created
        store.head(location.key, version_id=version_id)
        target_name = "-" if to_stdout else str(_target(dest, location.key))
        _dry(obj, f"download: {location} to {target_name}")
        return
    if to_stdout:
        out = stdout()
        with open_object() as reader:
            if span is not None:
                copy_range(reader, *span, out.write)
            else:
                for chunk in reader:
                    out.write(chunk)
            out.flush()
        return
    target = _target(dest, location.key)
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
        size = human_size(written, aws_cli=False)
        say(obj, f"get: {location} [{byte_range}] -> {target} ({size})")
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
            allow_s3ec=s3ec_allowed(),
        )
    # The bytes written (a client-side object's plaintext), not the stored size.
    size = human_size(_written_size(target, info.size), aws_cli=False)
    say(obj, f"get: {location} -> {target} ({size}, {info.encryption.describe()})")


def _target(dest: str | None, key: str) -> Path:
    """aws-cli's rule: an existing directory, or DEST ending in / (created), gets the key's name."""
    from securestore.tree.paths import local_target

    assert dest is not None
    target = local_target(Path(dest), key, trailing_slash=dest.endswith(("/", os.sep)))
    if target != Path(dest):  # the name came from the key: a FIFO or device there is refused
        with contextlib.suppress(OSError):
            mode = os.lstat(target).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode) or stat.S_ISDIR(mode)):
                raise special_file_refused(target)
    return target


def _written_size(target: str | Path, stored: int) -> int:
    try:
        status = os.stat(target)
    except OSError:
        return stored
    return status.st_size if stat.S_ISREG(status.st_mode) else stored


def _exists(store: SecureStore, key: str) -> bool:
    try:
        store.head(key)
    except NotFoundError:
        return False
    return True


def _describe(info: ObjectInfo) -> str:
    enc = info.encryption
    lines = [
        f"url:            s3://{info.bucket}/{info.key}",
        f"size:           {info.size} ({human_size(info.size, aws_cli=False)})",
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
        # The writer's own metadata: anyone who can write the object sets it; only a read
        # with the key (or `securestore inspect`) tells what the object really is.
        marker = ", ".join(f"{k}={v}" for k, v in enc.client_side.items())
        lines.append(f"client-side:    {marker} (stored metadata, not verified)")
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
@names_the_version
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
    "RANGE_PIECE",
    "REQUIRE_CHOICES",
    "SSE_CHOICES",
    "_stdout",
    "build_sse",
    "copy_range",
    "parse_pairs",
    "parse_range",
    "read_mode",
    "say",
    "store_for",
    "upload_mode",
    "upload_options",
    "version_error",
]
