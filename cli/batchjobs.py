"""``--batch`` for reencrypt and rewrap, ``--objects-batch`` for audit: hand the objects to
an S3 Batch Operations job."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from securestore.errors import ConfigurationError
from securestore.location import S3Url

from .context import CliContext
from .options import grouped_options

__all__ = [
    "ObjectScanArgs",
    "batch_options",
    "check_batch",
    "object_scan_options",
    "submit",
    "submit_entries",
    "submit_object_scan",
]

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
    return submit_entries(
        obj, entries, batch_bucket=batch_bucket, build=build, dry_run=dry_run, what=what
    )


def submit_entries(
    obj: CliContext,
    entries: Iterable[Any],
    *,
    batch_bucket: str,
    build: RequestBuilder,
    dry_run: bool,
    what: str,
    flag: str = "--batch",
) -> int:
    """:func:`submit` for any manifest entries (``securestore.batch.ManifestEntry``)."""
    from securestore import batch as jobs

    # On disk, not in memory: a listing of millions of objects (an unnamed file, closed below).
    with jobs.write_manifest(entries) as manifest:
        manifest_key = f"securestore-batch/{uuid.uuid4()}/manifest.csv"
        account = str(obj.connection.client("sts").get_caller_identity()["Account"])
        etag = manifest.md5  # a single PUT's ETag
        # Validated before anything is uploaded: a request botocore would refuse leaves nothing.
        request = build(account, batch_bucket, manifest_key, etag)
        jobs.validate_request(request)
        objects = manifest.objects
        if dry_run:
            click.echo(jobs.describe_job(request), nl=False)
            click.echo(f"{what} {flag} (dry run): {objects} objects; nothing uploaded", err=True)
            return 0
        etag = jobs.upload_manifest(obj.connection, batch_bucket, manifest_key, manifest.file)
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


@dataclass(frozen=True)
class ObjectScanArgs:
    """The object-scan options of one ``audit`` invocation."""

    object_budget: int | None = None
    object_seconds: float | None = None
    batch: bool = False
    role: str | None = None
    bucket: str | None = None
    function: str | None = None
    dry_run: bool = False

    @property
    def batch_given(self) -> bool:
        """True when any ``--objects-batch`` option was given."""
        return bool(self.batch or self.role or self.bucket or self.function or self.dry_run)


#: Adds the object-scan options; the command receives them as ``objects=ObjectScanArgs``.
object_scan_options = grouped_options(
    "objects",
    ObjectScanArgs,
    {
        "obj_budget": "object_budget",
        "obj_seconds": "object_seconds",
        "obj_batch": "batch",
        "obj_role": "role",
        "obj_bucket": "bucket",
        "obj_function": "function",
        "obj_dry_run": "dry_run",
    },
    [
        click.option(
            "--object-budget",
            "obj_budget",
            type=click.IntRange(min=0),
            metavar="N",
            help="--sample-objects: inspect at most N objects in the whole audit; buckets "
            "left short report partial coverage.",
        ),
        click.option(
            "--object-time-budget",
            "obj_seconds",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="--sample-objects: stop inspecting objects after SECONDS (partial coverage).",
        ),
        click.option(
            "--objects-batch",
            "obj_batch",
            is_flag=True,
            help="Classify every object of the BUCKETs with an S3 Batch Operations job "
            "(LambdaInvoke of securestore.batch_scan.handler) instead of auditing.",
        ),
        click.option(
            "--batch-role", "obj_role", metavar="ARN", help="--objects-batch: the job's role."
        ),
        click.option(
            "--batch-bucket",
            "obj_bucket",
            metavar="BUCKET",
            help="--objects-batch: where the manifest and completion report are written.",
        ),
        click.option(
            "--batch-function",
            "obj_function",
            metavar="ARN",
            help="--objects-batch: the Lambda function running securestore.batch_scan.handler.",
        ),
        click.option(
            "--dryrun",
            "--dry-run",
            "obj_dry_run",
            is_flag=True,
            help="--objects-batch: print the job request; upload and create nothing.",
        ),
    ],
)


def submit_object_scan(
    obj: CliContext, buckets: tuple[str, ...], args: ObjectScanArgs, *, require: str
) -> int:
    """``audit BUCKET... --objects-batch``: a manifest of every object of ``buckets`` and a
    classification job (every task in the completion report)."""
    from securestore import batch as jobs
    from securestore import batch_scan
    from securestore.audit import EncryptionRequirement

    if not (args.batch and args.role and args.bucket and args.function):
        raise ConfigurationError(
            "--objects-batch needs --batch-role, --batch-bucket and --batch-function "
            "(and they need --objects-batch)"
        )
    if not buckets:
        raise ConfigurationError("--objects-batch needs the BUCKETs to classify")
    role, function = args.role, args.function
    requirement = EncryptionRequirement.parse(require)
    entries = itertools.chain.from_iterable(
        jobs.entries_from_listing(obj.connection, name) for name in buckets
    )

    def build(account: str, manifest_bucket: str, key: str, etag: str) -> dict[str, Any]:
        return batch_scan.scan_request(
            account_id=account,
            function_arn=function,
            require=requirement,
            manifest_bucket=manifest_bucket,
            manifest_key=key,
            manifest_etag=etag,
            role_arn=role,
            buckets=" ".join(buckets),
        )

    return submit_entries(
        obj,
        entries,
        batch_bucket=args.bucket,
        build=build,
        dry_run=args.dry_run,
        what="audit",
        flag="--objects-batch",
    )
