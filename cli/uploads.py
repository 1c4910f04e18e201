"""``securestore uploads ls|abort``: incomplete multipart uploads (see securestore/uploads.py).

``s3://BUCKET/tmp`` names a key or folder, as the tree commands read it: uploads
of the key ``tmp`` and under ``tmp/``, never of ``tmpx``; ``s3://BUCKET/tmp/``
and the bucket's root are plain prefixes. ``abort`` exits 0 when every chosen
upload was aborted (or was already gone), 4 when an abort failed (the others are
still aborted, and each failure is listed).
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

import click

from securestore.errors import ConfigurationError, StorageError
from securestore.location import S3Url

from .context import CliContext
from .errors import require_stdout
from .jsonstream import ArrayWriter, echo_array
from .text import printable

if TYPE_CHECKING:
    from securestore.uploads import AbortOutcome, MultipartUpload

__all__ = ["COMMANDS", "parse_age", "uploads_group"]

_AGE_RE = re.compile(r"([0-9]+)([smhdw])", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> datetime.timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` (a number and a unit) as a time span."""
    match = _AGE_RE.fullmatch(text.strip())
    if match is None:
        raise ConfigurationError(
            f"invalid age {text!r}: expected a number and a unit, as 30m, 12h, 7d or 2w"
        )
    return datetime.timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _location(url: str) -> S3Url:
    return S3Url.parse(url)


def _upload_item(upload: MultipartUpload) -> dict[str, Any]:
    return {
        "bucket": upload.bucket,
        "key": upload.key,
        "upload_id": upload.upload_id,
        "initiated": upload.initiated.isoformat() if upload.initiated else None,
        "storage_class": upload.storage_class,
    }


def _line(upload: MultipartUpload) -> str:
    when = upload.initiated.strftime("%Y-%m-%d %H:%M:%S") if upload.initiated else " " * 19
    return f"{when}  {printable(upload.key)}  {printable(upload.upload_id)}"


@click.group("uploads")
def uploads_group() -> None:
    """List or abort incomplete multipart uploads (their parts are stored and billed).

    s3://BUCKET/tmp means the key tmp and the folder tmp/, never tmpx/... or tmp-a, as
    the tree commands (cp, rm --recursive) read it, so that abort never reaches past the
    folder named. ls follows aws s3 ls instead: there s3://BUCKET/tmp is a text prefix
    (tmp-a.txt and PRE tmpx/ too). A trailing / means the same in both.
    """


@uploads_group.command("ls")
@click.argument("url", metavar="s3://BUCKET[/PREFIX]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def uploads_ls_command(obj: CliContext, url: str, as_json: bool) -> None:
    """List incomplete multipart uploads: start time, key, upload id.

    s3://BUCKET/tmp means the key tmp and the folder tmp/ (never tmpx/...): exactly
    what uploads abort of the same URL aborts (unlike ls, which reads it as aws s3 ls
    does, as a text prefix).
    """
    from securestore.uploads import list_uploads

    require_stdout()
    location = _location(url)
    uploads = list_uploads(obj.connection, location.bucket, location.key, as_folder=True)
    if as_json:
        echo_array(_upload_item(upload) for upload in uploads)  # streamed: any number
        return
    for upload in uploads:
        click.echo(_line(upload))


def _outcome_item(outcome: AbortOutcome) -> dict[str, Any]:
    return {
        **_upload_item(outcome.upload),
        "aborted": outcome.aborted,
        "dry_run": outcome.dry_run,
        "already_gone": outcome.already_gone,
        "error": outcome.error,
    }


def _say(obj: CliContext, outcome: AbortOutcome) -> None:
    where = f"s3://{outcome.upload.bucket}/{outcome.upload.key} ({outcome.upload.upload_id})"
    if outcome.error is not None:
        click.echo(printable(f"abort failed: {where}: {outcome.error}"), err=True)
    elif not obj.quiet:
        verb = (
            "(dryrun) abort"
            if outcome.dry_run
            else "already gone"
            if outcome.already_gone
            else "abort"
        )
        click.echo(printable(f"{verb}: {where}"), err=True)


@uploads_group.command("abort")
@click.argument("url", metavar="s3://BUCKET[/PREFIX]")
@click.option(
    "--older-than",
    metavar="AGE",
    help="Only uploads started at least AGE ago (30m, 12h, 7d, 2w). Uploads whose start "
    "the server does not report are then kept.",
)
@click.option("--dryrun", "--dry-run", "dry_run", is_flag=True, help="Abort nothing; list.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as a JSON array.")
@click.pass_obj
def uploads_abort_command(
    obj: CliContext, url: str, older_than: str | None, dry_run: bool, as_json: bool
) -> None:
    """Abort incomplete multipart uploads under a prefix (their parts are deleted).

    s3://BUCKET/tmp means the key tmp and the folder tmp/ (never tmpx/...), as
    the tree commands read it; s3://BUCKET aborts every upload of the bucket.
    """
    from securestore.uploads import abort_uploads

    if as_json:
        require_stdout()
    location = _location(url)
    age = parse_age(older_than) if older_than is not None else None
    # Counted, never held: a prefix may hold millions of abandoned uploads.
    total = failed = 0
    writer = ArrayWriter() if as_json else None
    for outcome in abort_uploads(
        obj.connection,
        location.bucket,
        location.key,
        as_folder=True,
        older_than=age,
        dry_run=dry_run,
    ):
        total += 1
        failed += outcome.error is not None
        _say(obj, outcome)
        if writer is not None:
            writer.add(_outcome_item(outcome))
    if writer is not None:
        writer.close()
    if failed:
        raise StorageError(
            f"{failed} of {total} upload(s) could not be aborted",
            bucket=location.bucket,
            hint="see the 'abort failed' lines; check s3:AbortMultipartUpload permissions",
        )


COMMANDS = (uploads_group,)
