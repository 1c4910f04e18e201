"""Object commands: mb, put (get, head: cli/reading.py; ls: listing.py; rm, cp...: tree.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import click

from securestore.errors import (
    ConfigurationError,
    LocalFileError,
    NotFoundError,
)
from securestore.location import S3Url

from .context import CliContext
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
from .versionhints import version_error

# boto3, cryptography and rich are imported by the commands that use them, not here:
# `securestore put --help` and usage errors then load none of them (cli/main.py).
if TYPE_CHECKING:
    from securestore.store import SecureStore

#: What other command modules used from here before the shared options had their own room.
_stdout = stdout

DRYRUN_HELP = "Print what would be done (as cp --dryrun does); change nothing."
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
@click.option("--dryrun", is_flag=True, help=DRYRUN_HELP)
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
        dry(obj, f"upload: {source} to {location}")
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


def dry(obj: CliContext, line: str) -> None:
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


def _exists(store: SecureStore, key: str) -> bool:
    try:
        store.head(key)
    except NotFoundError:
        return False
    return True


# rm lives in cli/tree.py with the other tree commands.
COMMANDS = (mb_command, put_command)

__all__ = [
    "COMMANDS",
    "DRYRUN_HELP",
    "RANGE_PIECE",
    "REQUIRE_CHOICES",
    "SSE_CHOICES",
    "VERSION_ID_HELP",
    "_stdout",
    "build_sse",
    "copy_range",
    "dry",
    "parse_pairs",
    "read_mode",
    "say",
    "store_for",
    "upload_mode",
    "upload_options",
    "version_error",
]
