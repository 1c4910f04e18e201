"""``securestore migrate``: AWS S3 Encryption Client objects rewritten as securestore messages."""

from __future__ import annotations

import click

from securestore.bucket import BucketAccess
from securestore.clientside import ClientSide
from securestore.errors import ConfigurationError, StorageError
from securestore.keyrings.options import combine, kms_keyrings, raw_keyrings
from securestore.location import S3Url
from securestore.migrate import MigrationEntry, migrate_to_client_side
from securestore.transfer import TransferConfig

from .commands import parse_pairs
from .context import CliContext
from .jsonstream import DocumentWriter
from .keys import key_options, reading_keyring
from .text import printable

__all__ = ["COMMANDS"]


@click.command("migrate")
@click.argument("url", metavar="s3://BUCKET/PREFIX")
@click.option(
    "--to-client-side",
    is_flag=True,
    required=True,
    help="Rewrite S3 Encryption Client objects as securestore client-side messages.",
)
@click.option(
    "--kms-key-id",
    "kms_key_ids",
    multiple=True,
    metavar="ID",
    help="KMS key that wraps the new messages' data keys (repeatable).",
)
@key_options(reading=False)
@click.option(
    "--context", multiple=True, metavar="K=V", help="The new messages' context (repeatable)."
)
@click.option(
    "--from-kms-key-id",
    "from_kms",
    multiple=True,
    metavar="ID",
    help="KMS key that unwraps the S3EC data keys (default: KMS discovery in your account).",
)
@click.option(
    "--from-key-file", "from_files", multiple=True, metavar="FILE", help="AES key (AES/GCM wrap)."
)
@click.option(
    "--from-rsa-private-key",
    "from_rsa",
    multiple=True,
    metavar="PEM",
    help="RSA private key (RSA-OAEP-SHA1 wrap).",
)
@click.option(
    "--from-context",
    multiple=True,
    metavar="K=V",
    help="The S3EC encryption context the objects carry (the whole context is required).",
)
@click.option(
    "--allow-legacy-unauthenticated",
    is_flag=True,
    help="WEAKENS THE READ: also migrate legacy unauthenticated S3EC objects (AES-CBC; "
    "kms, AESWrap and RSA PKCS#1 v1.5 wraps), whose content nobody can vouch for.",
)
@click.option("--dryrun", is_flag=True, help="Only say what would be migrated.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def migrate_command(
    obj: CliContext,
    url: str,
    to_client_side: bool,
    kms_key_ids: tuple[str, ...],
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    context: tuple[str, ...],
    from_kms: tuple[str, ...],
    from_files: tuple[str, ...],
    from_rsa: tuple[str, ...],
    from_context: tuple[str, ...],
    allow_legacy_unauthenticated: bool,
    dryrun: bool,
    as_json: bool,
) -> None:
    """Rewrite the S3EC objects under s3://BUCKET/PREFIX as client-side messages, in place.

    User metadata, Content-Type and tags are kept; each write is conditional on the
    object's ETag. Other objects are skipped. Exits 4 if any object failed.

    It reads S3EC objects without --allow-s3ec (converting them is its job) and
    converts in place what it finds at each key: S3EC encryption binds an object
    to no bucket and key, so an object moved to a key is migrated as that key's
    content. Check what the bucket holds (or who may write to it) first; after
    migration each message is bound to its key.
    """
    location = S3Url.parse(url)
    writers = kms_keyrings(obj.connection, kms_key_ids) + raw_keyrings(
        key_files, rsa_keys, key_name, reading=False
    )
    if not writers:
        raise ConfigurationError(
            "migrate needs the key of the new messages",
            hint="give --kms-key-id, --key-file or --rsa-public-key",
        )
    target = ClientSide(
        combine(writers), context=parse_pairs(context, "context"), max_data_keys=max_data_keys
    )
    unwrap = reading_keyring(
        obj.connection, from_kms, from_files, from_rsa, key_name, discovery=True
    )
    assert unwrap is not None
    # Each object's line (or JSON entry) as it is decided: a prefix of millions is never held.
    head = {"bucket": location.bucket, "prefix": location.key or "", "dryrun": dryrun}
    stream = DocumentWriter(head, "objects") if as_json else None

    def show(entry: MigrationEntry) -> None:
        if stream is not None:
            stream.add(entry.to_dict())
        else:
            click.echo(_line(entry))

    report = migrate_to_client_side(
        BucketAccess(location.bucket, obj.connection, TransferConfig()),
        location.key or "",
        target=target,
        unwrap=unwrap,
        context=parse_pairs(from_context, "context") or None,
        allow_legacy_unauthenticated=allow_legacy_unauthenticated,
        dryrun=dryrun,
        on_entry=show,
    )
    counts = report.counts()
    if stream is not None:
        stream.close({"counts": counts})
    else:
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        click.echo(summary or "nothing under the prefix")
    failed = counts.get("failed", 0)
    if failed:
        raise StorageError(
            f"{failed} of {report.total} objects could not be migrated",
            hint="see the report; fix the cause and run migrate again (migrated objects "
            "are skipped: they are messages now)",
        )


def _line(entry: MigrationEntry) -> str:
    # Keys and details (servers' error texts) came from the network: escaped (cli/text.py).
    return (
        f"{printable(entry.key)}  {entry.status:<13}  {entry.source or '-'}  "
        f"{printable(entry.detail)}"
    )


COMMANDS = (migrate_command,)
