"""``--batch`` for reencrypt and rewrap: hand the objects to an S3 Batch Operations job."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from securestore.errors import ConfigurationError
from securestore.location import S3Url

from .context import CliContext

__all__ = ["batch_options", "check_batch", "submit"]

F = TypeVar("F", bound=Callable[..., Any])

#: Builds the CreateJob request from (account, manifest bucket, key, ETag).
RequestBuilder = Callable[[str, str, str, str], dict[str, Any]]


def batch_options(func: F) -> F:
    """``--batch``, ``--batch-role``, ``--batch-bucket``."""
    for option in reversed(
        [
            click.option(
                "--batch",
                is_flag=True,
                help="Hand the objects to an S3 Batch Operations job instead of changing "
                "them from here (the job waits for confirmation).",
            ),
            click.option(
                "--batch-role",
                metavar="ARN",
                help="--batch: the IAM role S3 Batch Operations assumes.",
            ),
            click.option(
                "--batch-bucket",
                metavar="BUCKET",
                help="--batch: where the job's manifest and completion report are written.",
            ),
        ]
    ):
        func = option(func)
    return func


def check_batch(batch: bool, role: str | None, bucket: str | None) -> bool:
    """Whether ``--batch`` was asked for, with what it needs."""
    if not (batch or role or bucket):
        return False
    if not (batch and role and bucket):
        raise ConfigurationError(
            "--batch needs --batch-role and --batch-bucket (and they need --batch)"
        )
    return True


def submit(
    obj: CliContext,
    location: S3Url,
    *,
    recursive: bool,
    batch_bucket: str,
    build: RequestBuilder,
    dry_run: bool,
    what: str,
) -> int:
    """Write the manifest (from a listing, or the one object) and create the job; with
    ``dry_run`` print the validated CreateJob request and upload nothing."""
    from securestore import batch as jobs

    entries: Iterator[jobs.ManifestEntry] = (
        jobs.entries_from_listing(obj.connection, location.bucket, location.key)
        if recursive
        else iter([jobs.ManifestEntry(location.bucket, location.key)])
    )
    manifest = jobs.manifest_csv(entries)
    manifest_key = f"securestore-batch/{uuid.uuid4()}/manifest.csv"
    account = str(obj.connection.client("sts").get_caller_identity()["Account"])
    etag = hashlib.md5(manifest, usedforsecurity=False).hexdigest()  # a single PUT's ETag
    # Validated before anything is uploaded: a request botocore would refuse leaves nothing.
    request = build(account, batch_bucket, manifest_key, etag)
    jobs.validate_request(request)
    objects = manifest.count(b"\n")
    if dry_run:
        click.echo(jobs.describe_job(request), nl=False)
        click.echo(f"{what} --batch (dry run): {objects} objects; nothing uploaded", err=True)
        return 0
    etag = jobs.upload_manifest(obj.connection, batch_bucket, manifest_key, manifest)
    try:
        job = jobs.create_job(obj.connection, build(account, batch_bucket, manifest_key, etag))
    except BaseException:
        # No job will read the manifest: do not leave it behind (best effort; the
        # error that matters is the one re-raised).
        with contextlib.suppress(Exception):
            obj.connection.client("s3").delete_object(Bucket=batch_bucket, Key=manifest_key)
        raise
    click.echo(
        f"created S3 Batch Operations job {job} for {objects} objects (manifest "
        f"s3://{batch_bucket}/{manifest_key}); it waits for confirmation: aws s3control "
        f"update-job-status --account-id {account} --job-id {job} --requested-job-status Ready"
    )
    return 0
