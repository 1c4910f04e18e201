"""Reading one object: get and head (split from cli/commands.py)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import click

from securestore.errors import ConfigurationError
from securestore.localfile import AtomicFile
from securestore.location import S3Url
from securestore.placement import special_file_refused

from .commands import DRYRUN_HELP, VERSION_ID_HELP, dry, say, store_for
from .context import CliContext
from .errors import require_stdout
from .keys import allow_s3ec_option, branch_key_options, key_options, s3ec_allowed
from .listing import human_size
from .options import REQUIRE_CHOICES, parse_pairs, read_mode
from .streams import copy_range, stdout
from .text import printable
from .versionhints import names_the_version

# boto3 and cryptography are imported by the commands that use them (cli/main.py).
if TYPE_CHECKING:
    from securestore.objects import ObjectInfo

__all__ = ["COMMANDS", "get_command", "head_command", "parse_range"]

_RANGE_RE = re.compile(r"([0-9]+)-([0-9]*)", re.ASCII)


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
@click.option("--dryrun", is_flag=True, help=DRYRUN_HELP + " The object is looked up (HEAD).")
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
        dry(obj, f"download: {location} to {target_name}")
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


COMMANDS = (get_command, head_command)
