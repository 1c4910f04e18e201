"""``securestore ls``: buckets, one directory level (``PRE dir/``), whole trees, versions.

The text output is that of ``aws s3 ls`` (columns, ``PRE`` lines, names relative
to the listed directory, ``--human-readable``, ``--summarize``), so scripts and
habits carry over; ``--json`` is one array, streamed, for machines. Every name
comes from the bucket and is escaped (cli/text.py).
"""

from __future__ import annotations

import datetime
import itertools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from securestore.errors import ConfigurationError
from securestore.location import S3Url

from .context import CliContext
from .errors import EXIT_NO_MATCH, require_stdout
from .text import printable

if TYPE_CHECKING:
    from securestore.objects import CommonPrefix, ObjectSummary, ObjectVersion

__all__ = ["COMMANDS", "human_size", "ls_command"]

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(size: int, *, aws_cli: bool = True) -> str:
    """A size in binary units, one decimal from KiB up.

    ``aws_cli`` (``ls``, progress): as ``aws s3 ls --human-readable`` prints it,
    ``1 Byte``, ``12 Bytes``, ``1.5 KiB``, the next unit once the value rounds to
    1024, up to EiB. Otherwise the short form of ``put``/``get``/``head`` and
    ``rewrap``: ``12 B``, ``1.5 KiB``, the next unit from 1024 on, up to TiB.
    """
    if size < 1024:
        if not aws_cli:
            return f"{size} B"
        return "1 Byte" if size == 1 else f"{size} Bytes"
    units = _UNITS if aws_cli else _UNITS[:4]
    value = float(size)
    for unit in units:
        value /= 1024
        # aws-cli's rule: 1023.96 KiB prints as 1.0 MiB, not 1024.0 KiB.
        if (round(value) if aws_cli else value) < 1024 or unit == units[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def _when(moment: datetime.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else " " * 19


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class _Totals:
    def __init__(self) -> None:
        self.objects = 0
        self.size = 0


def _list_buckets(obj: CliContext, as_json: bool) -> None:
    from securestore.store import list_buckets

    buckets = list_buckets(obj.connection)
    if as_json:
        rows = [
            {"bucket": name, "created": created.isoformat() if created else None}
            for name, created in buckets
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for name, created in buckets:
        when = created.strftime("%Y-%m-%d %H:%M:%S") if created else ""
        click.echo(f"{when:19}  {printable(name)}")


def _as_item(entry: ObjectSummary | ObjectVersion | CommonPrefix) -> dict[str, Any]:
    from securestore.objects import CommonPrefix, ObjectVersion

    if isinstance(entry, CommonPrefix):
        return {"prefix": entry.prefix}
    item: dict[str, Any] = {
        "key": entry.key,
        "size": entry.size,
        "etag": entry.etag,
        "last_modified": _iso(entry.last_modified),
        "storage_class": entry.storage_class,
    }
    if isinstance(entry, ObjectVersion):
        item.update(
            version_id=entry.version_id,
            is_latest=entry.is_latest,
            delete_marker=entry.delete_marker,
        )
    return item


def _echo_json(entries: Iterator[Any]) -> None:
    # Streamed element by element: constant memory for any listing size. The first
    # page is fetched before "[" is printed, so that a failed listing (a missing
    # bucket) prints nothing; a failure on a later page leaves the array unclosed,
    # which no JSON parser mistakes for a complete listing.
    first = next(entries, None)
    click.echo("[", nl=False)
    rest = entries if first is None else itertools.chain([first], entries)
    for index, entry in enumerate(rest):
        click.echo(("," if index else "") + "\n  " + json.dumps(_as_item(entry)), nl=False)
    click.echo("\n]")


def _line(
    entry: ObjectSummary | ObjectVersion | CommonPrefix,
    shown_from: int,
    human: bool,
    totals: _Totals,
) -> str:
    from securestore.objects import CommonPrefix, ObjectVersion

    if isinstance(entry, CommonPrefix):
        return f"{'PRE':>30} {printable(entry.prefix[shown_from:])}"
    name = printable(entry.key[shown_from:])
    if isinstance(entry, ObjectVersion) and entry.delete_marker:
        size = "DELETED"
    else:
        totals.objects += 1
        totals.size += entry.size
        size = human_size(entry.size) if human else str(entry.size)
    line = f"{_when(entry.last_modified)} {size:>10} {name}"
    if isinstance(entry, ObjectVersion):
        line += f"  {printable(entry.version_id)}" + ("  (latest)" if entry.is_latest else "")
    return line


@click.command("ls")
@click.argument("url", required=False, metavar="[s3://BUCKET[/PREFIX]]")
@click.option(
    "-r",
    "--recursive",
    is_flag=True,
    help="List every object under the prefix, with full keys (the prefix then also "
    "matches across '/': s3://b/tre lists tree/...).",
)
@click.option(
    "--human-readable", is_flag=True, help="Sizes in Bytes/KiB/MiB/GiB/TiB (as aws s3 ls)."
)
@click.option(
    "--summarize",
    is_flag=True,
    help="End with the Total Objects and Total Size lines (needs s3://BUCKET).",
)
@click.option(
    "--versions",
    is_flag=True,
    help="Every version and delete marker (DELETED) of each key, newest first, with its "
    "version id (ListObjectVersions).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (prefixes as {prefix}).")
@click.pass_obj
def ls_command(
    obj: CliContext,
    url: str | None,
    recursive: bool,
    human_readable: bool,
    summarize: bool,
    versions: bool,
    as_json: bool,
) -> None:
    """List objects and PRE directories under a prefix (or, without a URL, the buckets)."""
    require_stdout()
    if as_json and (human_readable or summarize):
        raise ConfigurationError("--human-readable and --summarize do not apply to --json")
    if url is None or url == "s3://":
        if recursive or versions or summarize:
            # aws s3 ls --summarize prints "Total Objects: 0" under the buckets: refused here.
            raise ConfigurationError(
                "--recursive, --versions and --summarize need s3://BUCKET",
                hint="they list and count objects; without a URL, ls lists the buckets",
            )
        _list_buckets(obj, as_json)
        return
    from securestore.store import SecureStore

    location = S3Url.parse(url)
    store = SecureStore(location.bucket, connection=obj.connection)
    prefix = location.key
    entries: Iterator[ObjectSummary | ObjectVersion | CommonPrefix]
    if versions:
        entries = store.list_versions(prefix, recursive=recursive)
    elif recursive:
        entries = store.list(prefix)
    else:
        # aws s3 ls prints a page's PRE lines before its objects; --json keeps key order.
        entries = store.list_directory(prefix, prefixes_first=not as_json)
    if as_json:
        _echo_json(entries)  # an empty array is the answer for machines: exit 0
        return
    # Names are shown from the listed directory on, as aws s3 ls does; whole keys
    # with --recursive.
    shown_from = 0 if recursive else prefix.rfind("/") + 1
    totals = _Totals()
    listed = 0
    for entry in entries:
        click.echo(_line(entry, shown_from, human_readable, totals))
        listed += 1
    if summarize:
        size = human_size(totals.size) if human_readable else str(totals.size)
        click.echo(f"\nTotal Objects: {totals.objects}\n   Total Size: {size}")
    if not listed and prefix:
        _nothing_matched()


def _nothing_matched() -> None:
    """Exit 1 without output: a prefix that matched nothing, as ``aws s3 ls`` does.

    Listing a bucket's root that is empty is success (exit 0), as in aws-cli:
    errors such as a missing bucket are the server's to report.
    """
    click.get_current_context().exit(EXIT_NO_MATCH)


COMMANDS = (ls_command,)
