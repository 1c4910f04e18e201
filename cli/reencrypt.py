"""``securestore reencrypt``: change the server-side encryption of stored objects in place."""

from __future__ import annotations

from typing import Any

import click

from securestore.errors import ConfigurationError
from securestore.location import S3Url
from securestore.modes import parse_mode
from securestore.reencrypt import ObjectOutcome, Outcome, reencrypt
from securestore.store import SecureStore

from .batchjobs import batch_options, check_batch, submit
from .context import CliContext
from .errors import EXIT_FAILURE, report
from .jsonstream import DocumentWriter
from .text import printable

__all__ = ["COMMANDS"]

_TARGETS = click.Choice(["s3", "sse-s3", "kms", "sse-kms", "dsse-kms"], case_sensitive=False)


def line(bucket: str, entry: ObjectOutcome) -> str:
    """One object's line of the text report."""
    where = f"s3://{bucket}/{entry.key}"
    if entry.outcome is Outcome.REENCRYPTED:
        assert entry.mechanism is not None
        text = f"reencrypted {where}: {entry.old} -> {entry.new} ({entry.mechanism.value})"
    elif entry.outcome is Outcome.PLANNED:
        text = f"would reencrypt {where}: {entry.old} -> {entry.new}"
    elif entry.outcome is Outcome.SKIPPED:
        text = f"skipped {where}: {entry.note}"
    else:
        text = f"failed {where}: {entry.note}"
    if entry.outcome is Outcome.REENCRYPTED and entry.note:
        text += f"; {entry.note}"
    return printable(text)


@click.command("reencrypt")
@click.argument("url", metavar="s3://BUCKET/KEY")
@click.option("--sse", required=True, type=_TARGETS, help="The new server-side encryption.")
@click.option("--kms-key-id", metavar="ID", help="The KMS key of --sse kms/dsse-kms.")
@click.option("--bucket-key", is_flag=True, help="Use an S3 Bucket Key (--sse kms).")
@click.option("-r", "--recursive", is_flag=True, help="Every object under the prefix KEY.")
@click.option("--dryrun", "--dry-run", "dry_run", is_flag=True, help="Change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@batch_options
@click.option(
    "--batch-operation",
    type=click.Choice(["update", "copy"]),
    help="--batch: S3UpdateObjectEncryption (default for --sse kms: no data movement) or "
    "S3PutObjectCopy (needed for --sse s3 and for objects without SSE).",
)
@click.pass_obj
def reencrypt_command(
    obj: CliContext,
    url: str,
    sse: str,
    kms_key_id: str | None,
    bucket_key: bool,
    recursive: bool,
    dry_run: bool,
    as_json: bool,
    batch: bool,
    batch_role: str | None,
    batch_bucket: str | None,
    batch_operation: str | None,
) -> int:
    """Change the server-side encryption of objects in place, without downloading them.

    Uses S3's UpdateObjectEncryption where the server has it (ETag, dates and
    storage class stay), else a server-side copy over the same key, conditional
    on the object's ETag. Every object is checked afterwards and reported.
    Client-side objects are skipped (use rewrap); so are objects already in the
    target mode. Failures are reported and the run goes on; exit 4 if any failed.
    """
    location = S3Url.parse(url, require_key=not recursive)
    if kms_key_id is not None and not kms_key_id.strip():
        raise ConfigurationError("an empty --kms-key-id was given (is a variable unset?)")
    if bucket_key and sse.lower().removeprefix("sse-") != "kms":
        raise ConfigurationError("--bucket-key goes with --sse kms")
    mode = parse_mode(sse, kms_key_id=kms_key_id, bucket_key=bucket_key)
    if check_batch(batch, batch_role, batch_bucket) or batch_operation:
        if not batch:
            raise ConfigurationError("--batch-operation needs --batch")
        assert batch_role is not None and batch_bucket is not None
        return _batch_job(
            obj,
            location,
            kms_key_id=kms_key_id,
            sse=sse,
            recursive=recursive,
            role=batch_role,
            bucket=batch_bucket,
            operation=batch_operation,
            dry_run=dry_run,
        )
    store = SecureStore(location.bucket, connection=obj.connection)
    # --json: objects as they finish, the summary after them (millions are never held).
    head = {"bucket": store.bucket, "prefix": location.key, "target": mode.name}
    stream = DocumentWriter(head, "objects") if as_json else None

    def show(entry: ObjectOutcome) -> None:
        if stream is not None:
            stream.add(entry.to_dict())
        else:
            click.echo(line(store.bucket, entry))

    result = reencrypt(
        store, location.key, mode, recursive=recursive, dry_run=dry_run, on_object=show
    )
    if stream is not None:  # a failed listing leaves it unclosed: never taken as complete
        stream.close({"summary": {o.value: result.count(o) for o in Outcome}})
    elif not obj.quiet:
        summary = ", ".join(f"{result.count(o)} {o.value}" for o in Outcome if result.count(o))
        click.echo(f"reencrypt: {summary or 'no objects'}", err=True)
    if not result.ok:
        # Named here too: the report may have gone to a reader that stopped (`| head`).
        first = next(entry for entry in result.objects if entry.outcome is Outcome.FAILED)
        report(
            f"{result.count(Outcome.FAILED)} of {result.total} objects could not be "
            f"re-encrypted (the first: {line(store.bucket, first).removeprefix('failed ')})",
            "see the failed lines; the other objects were changed and verified",
        )
        return EXIT_FAILURE
    return 0


def _batch_job(
    obj: CliContext,
    location: S3Url,
    *,
    kms_key_id: str | None,
    sse: str,
    recursive: bool,
    role: str,
    bucket: str,
    operation: str | None,
    dry_run: bool,
) -> int:
    """reencrypt as a Batch Operations job: S3UpdateObjectEncryption or S3PutObjectCopy."""
    from securestore import batch as jobs

    to_kms = sse.lower().removeprefix("sse-") in ("kms", "dsse-kms")
    if sse.lower() == "dsse-kms":
        raise ConfigurationError(
            "S3 Batch Operations cannot write DSSE-KMS", hint="reencrypt without --batch"
        )
    chosen = operation or ("update" if to_kms else "copy")
    if chosen == "update" and not to_kms:
        raise ConfigurationError("S3UpdateObjectEncryption only moves objects to SSE-KMS")
    if to_kms and not (kms_key_id and kms_key_id.startswith("arn:")):
        raise ConfigurationError(
            "--batch needs the KMS key as an ARN", hint="--kms-key-id arn:aws:kms:..."
        )

    def build(account: str, manifest_bucket: str, key: str, etag: str) -> dict[str, Any]:
        return jobs.reencrypt_request(
            location.bucket,
            chosen,
            kms_key_arn=kms_key_id if to_kms else None,
            account_id=account,
            role_arn=role,
            manifest_bucket=manifest_bucket,
            manifest_key=key,
            manifest_etag=etag,
            report_bucket=manifest_bucket,
        )

    return submit(
        obj,
        location,
        recursive=recursive,
        batch_bucket=bucket,
        build=build,
        dry_run=dry_run,
        what="reencrypt",
    )


COMMANDS = (reencrypt_command,)
