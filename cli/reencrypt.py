"""``securestore reencrypt``: change the server-side encryption of stored objects in place."""

from __future__ import annotations

import json

import click

from securestore.errors import ConfigurationError
from securestore.location import S3Url
from securestore.modes import parse_mode
from securestore.reencrypt import ObjectOutcome, Outcome, reencrypt
from securestore.store import SecureStore

from .context import CliContext
from .errors import EXIT_FAILURE, report
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
@click.option("--recursive", is_flag=True, help="Every object under the prefix KEY.")
@click.option("--dryrun", "--dry-run", "dry_run", is_flag=True, help="Change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--batch",
    is_flag=True,
    help="Hand the objects to an S3 Batch Operations job instead of changing them from here.",
)
@click.option(
    "--batch-role",
    metavar="ARN",
    help="--batch: the IAM role S3 Batch Operations assumes to change the objects.",
)
@click.option(
    "--batch-bucket",
    metavar="BUCKET",
    help="--batch: where the job's manifest and completion report are written.",
)
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
    if batch or batch_role or batch_bucket or batch_operation:
        if not (batch and batch_role and batch_bucket):
            raise ConfigurationError(
                "--batch needs --batch-role and --batch-bucket (and they need --batch)"
            )
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

    def show(entry: ObjectOutcome) -> None:
        if not as_json:
            click.echo(line(store.bucket, entry))

    result = reencrypt(
        store, location.key, mode, recursive=recursive, dry_run=dry_run, on_object=show
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif not obj.quiet:
        summary = ", ".join(f"{result.count(o)} {o.value}" for o in Outcome if result.count(o))
        click.echo(f"reencrypt: {summary or 'no objects'}", err=True)
    if not result.ok:
        report(
            f"{result.count(Outcome.FAILED)} of {len(result.objects)} objects could not be "
            "re-encrypted",
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
    """Write the manifest from a listing and create the Batch Operations job (or, with
    --dryrun, print the CreateJob request and upload nothing)."""
    import hashlib
    import uuid

    from securestore import batch as jobs

    to_kms = sse.lower().removeprefix("sse-") in ("kms", "dsse-kms")
    if sse.lower() == "dsse-kms":
        raise ConfigurationError(
            "S3 Batch Operations cannot write DSSE-KMS; reencrypt without --batch"
        )
    operation = operation or ("update" if to_kms else "copy")
    if operation == "update" and not to_kms:
        raise ConfigurationError("S3UpdateObjectEncryption only moves objects to SSE-KMS")
    if to_kms and not (kms_key_id and kms_key_id.startswith("arn:")):
        raise ConfigurationError(
            "--batch needs the KMS key as an ARN", hint="--kms-key-id arn:aws:kms:..."
        )
    prefix = location.key if recursive else ""
    entries = jobs.entries_from_listing(obj.connection, location.bucket, prefix)
    if not recursive:
        entries = iter([jobs.ManifestEntry(location.bucket, location.key)])
    manifest = jobs.manifest_csv(entries)
    manifest_key = f"securestore-batch/{uuid.uuid4()}/manifest.csv"
    account = obj.connection.client("sts").get_caller_identity()["Account"]
    etag = hashlib.md5(manifest, usedforsecurity=False).hexdigest()  # a single PUT's ETag
    if not dry_run:
        etag = jobs.upload_manifest(obj.connection, bucket, manifest_key, manifest)
    request = jobs.reencrypt_request(
        location.bucket,
        operation,
        kms_key_arn=kms_key_id if to_kms else None,
        account_id=account,
        role_arn=role,
        manifest_bucket=bucket,
        manifest_key=manifest_key,
        manifest_etag=etag,
        report_bucket=bucket,
    )
    jobs.validate_request(request)
    objects = manifest.count(b"\n")
    if dry_run:
        click.echo(jobs.describe_job(request), nl=False)
        click.echo(f"reencrypt --batch (dry run): {objects} objects; nothing uploaded", err=True)
        return 0
    job = jobs.create_job(obj.connection, request)
    click.echo(
        f"created S3 Batch Operations job {job} for {objects} objects (manifest "
        f"s3://{bucket}/{manifest_key}); it waits for confirmation: aws s3control "
        f"update-job-status --account-id {account} --job-id {job} --requested-job-status Ready"
    )
    return 0


COMMANDS = (reencrypt_command,)
