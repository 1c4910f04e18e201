"""Tree commands, aws-cli style: cp, mv, sync, rm, rb (the work is done by securestore.tree).

Each transferred object prints one line on stdout as aws-cli does
(``upload: DIR/a.txt to s3://b/a.txt``, ``(dryrun) delete: ...``) unless
``--quiet``; a failed object prints a ``failed:`` line on stderr and the others
go on. The command then ends with one ``error:`` line and the exit code of the
most serious failure: 3 if any object failed an integrity or policy check,
else 4 (storage, keyring), else 2 (local files).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from securestore.errors import (
    AccessDeniedError,
    ConfigurationError,
    LocalFileError,
)
from securestore.location import S3Url
from securestore.store import SecureStore
from securestore.tree import (
    Local,
    Remote,
    copy_file,
    copy_tree,
    local_target,
    move_tree,
    remote_key,
    remove_bucket,
    remove_tree,
    sync,
)

from .commands import say, store_for
from .context import CliContext
from .progress import tree_progress
from .text import printable
from .treelog import TreeLog, finish_tree
from .treeoptions import TreeCommand, filter_options, filters_of, transfer_options, tree_options

F = TypeVar("F", bound=Callable[..., Any])


def _pool_for(obj: CliContext, concurrency: int) -> int:
    """The job's ``--concurrency``, with a connection pool at least that large."""
    obj.pool_size = max(obj.pool_size, concurrency)
    return concurrency


def _side(obj: CliContext, text: str) -> Local | Remote:
    if text.startswith("s3://"):
        location = S3Url.parse(text)
        return Remote(store_for(obj, location), location.key)
    return Local(Path(text))


def _run_transfer(
    ctx: click.Context,
    obj: CliContext,
    source: str,
    destination: str,
    recursive: bool,
    move: bool,
    given: dict[str, Any],
) -> None:
    concurrency = _pool_for(obj, given["concurrency"])
    src, dst = _side(obj, source), _side(obj, destination)
    if isinstance(src, Local) and isinstance(dst, Local):
        raise ConfigurationError(
            "both locations are local", hint="one of them must be s3://BUCKET[/KEY]"
        )
    options = tree_options(obj, src, dst, given)
    printer = TreeLog(obj, move=move)
    dryrun = given["dryrun"]
    with tree_progress(obj.progress_enabled()) as progress:
        if recursive:
            if isinstance(src, Local) and not src.path.is_dir():
                raise LocalFileError(
                    f"not a directory: {src.path}", hint="drop --recursive to copy one file"
                )
            run = move_tree if move else copy_tree
            result = run(
                src,
                dst,
                filters=filters_of(ctx),
                options=options,
                dryrun=dryrun,
                concurrency=concurrency,
                progress=progress,
                on_event=printer,
            )
        else:
            src, dst = _single(src, dst, destination)
            result = copy_file(
                src,
                dst,
                options=options,
                move=move,
                dryrun=dryrun,
                progress=progress,
                on_event=printer,
            )
    finish_tree(ctx, obj, result, printer)


def _single(
    src: Local | Remote, dst: Local | Remote, text: str
) -> tuple[Local | Remote, Local | Remote]:
    """aws-cli's destination rules for one object."""
    if isinstance(src, Local):
        if src.path.is_dir():
            raise LocalFileError(f"is a directory: {src.path}", hint="add --recursive")
        name = src.path.name
    else:
        if not src.prefix or src.prefix.endswith("/"):
            raise ConfigurationError(
                f"{src.describe()} is a prefix, not an object", hint="add --recursive"
            )
        name = posixpath.basename(src.prefix)
    if isinstance(dst, Remote):
        return src, Remote(dst.store, remote_key(dst.prefix, name))
    assert isinstance(src, Remote)
    return src, Local(
        local_target(dst.path, src.prefix, trailing_slash=text.endswith(("/", os.sep)))
    )


def _tree_command(name: str, help_text: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        func.__doc__ = help_text
        return click.command(name, cls=TreeCommand)(func)  # type: ignore[return-value]

    return decorate


@_tree_command(
    "cp", "Copy a file, object or (--recursive) tree: local to S3, S3 to local, S3 to S3."
)
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option(
    "-r",
    "--recursive",
    is_flag=True,
    help="Copy every file or object below SRC (s3://b/p/a: the folder p/a/).",
)
@filter_options
@transfer_options
@click.pass_context
def cp_command(
    ctx: click.Context, /, source: str, destination: str, recursive: bool, **given: Any
) -> None:
    """Copy (see the help text)."""
    _run_transfer(ctx, ctx.obj, source, destination, recursive, False, given)


@_tree_command("mv", "Move: copy, verify the copy, then delete the source (file, object or tree).")
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option(
    "-r",
    "--recursive",
    is_flag=True,
    help="Move every file or object below SRC (s3://b/p/a: the folder p/a/).",
)
@filter_options
@transfer_options
@click.pass_context
def mv_command(
    ctx: click.Context, /, source: str, destination: str, recursive: bool, **given: Any
) -> None:
    """Move (see the help text)."""
    _run_transfer(ctx, ctx.obj, source, destination, recursive, True, given)


@_tree_command("sync", "Make DST hold what SRC holds: transfer new, resized and newer files.")
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option("--delete", is_flag=True, help="Delete files in DST that SRC lacks (filters apply).")
@click.option(
    "--allow-empty-source",
    is_flag=True,
    help="WEAKENS --delete: let a SRC that lists nothing (or nothing the filters select) "
    "empty DST; refused without it.",
)
@click.option("--size-only", is_flag=True, help="Compare sizes only, not times.")
@click.option(
    "--exact-timestamps", is_flag=True, help="Transfer same-size files whose times differ at all."
)
@filter_options
@transfer_options
@click.pass_context
def sync_command(
    ctx: click.Context,
    /,
    source: str,
    destination: str,
    delete: bool,
    allow_empty_source: bool,
    size_only: bool,
    exact_timestamps: bool,
    **given: Any,
) -> None:
    """Sync (see the help text)."""
    obj: CliContext = ctx.obj
    if allow_empty_source and not delete:
        raise click.UsageError("--allow-empty-source applies to sync --delete only")
    concurrency = _pool_for(obj, given["concurrency"])
    src, dst = _side(obj, source), _side(obj, destination)
    if isinstance(src, Local) and isinstance(dst, Local):
        raise ConfigurationError(
            "both locations are local", hint="one of them must be s3://BUCKET[/PREFIX]"
        )
    if isinstance(src, Local) and not src.path.is_dir():
        raise LocalFileError(
            f"not a directory: {src.path}", hint="sync takes directories and prefixes"
        )
    options = tree_options(obj, src, dst, given)
    printer = TreeLog(obj)
    with tree_progress(obj.progress_enabled()) as progress:
        result = sync(
            src,
            dst,
            delete=delete,
            allow_empty_source=allow_empty_source,
            size_only=size_only,
            exact_timestamps=exact_timestamps,
            filters=filters_of(ctx),
            options=options,
            dryrun=given["dryrun"],
            concurrency=concurrency,
            progress=progress,
            on_event=printer,
        )
    finish_tree(ctx, obj, result, printer)


@_tree_command("rm", "Delete an object, or (--recursive) every object below a prefix.")
@click.argument("url", metavar="s3://BUCKET/KEY")
@click.option(
    "-r",
    "--recursive",
    is_flag=True,
    help="Delete every object below the prefix: s3://b/p/a means the object p/a and "
    "the folder p/a/, never p/ab or p/a.bak.",
)
@filter_options
@click.pass_context
def rm_command(
    ctx: click.Context,
    url: str,
    recursive: bool,
    dryrun: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    concurrency: int,
) -> None:
    """Delete (deleting a missing key succeeds, as in S3)."""
    obj: CliContext = ctx.obj
    _pool_for(obj, concurrency)
    location = S3Url.parse(url, require_key=not recursive)
    store = store_for(obj, location)
    if not recursive:
        if include or exclude:
            raise ConfigurationError("--include/--exclude need --recursive")
        if location.key.endswith("/"):
            _refuse_folder(store, location)
        if not dryrun:
            store.delete(location.key)
        if not obj.quiet:
            click.echo(printable(f"{'(dryrun) ' if dryrun else ''}delete: {location}"))
        return
    printer = TreeLog(obj)
    result = remove_tree(
        store,
        location.key,
        filters=filters_of(ctx),
        dryrun=dryrun,
        concurrency=concurrency,
        on_event=printer,
    )
    finish_tree(ctx, obj, result, printer)


def _refuse_folder(store: SecureStore, location: S3Url) -> None:
    """``rm s3://b/dir/`` deletes the folder marker ``dir/``; a folder without one, that
    holds objects, is refused: the DELETE would succeed, print ``delete:`` and remove
    nothing (aws-cli does just that). One listing: a role that may delete but not list
    (``iam-policy --write-only``) deletes the marker as before."""
    try:
        first = next(iter(store.list(location.key)), None)
    except AccessDeniedError:
        return
    if first is not None and first.key != location.key:
        raise ConfigurationError(
            f"{location} is a folder: rm without --recursive deletes one object, and there "
            "is none of that name",
            hint="add --recursive to delete the objects under it",
        )


@click.command("rb")
@click.argument("url", metavar="s3://BUCKET")
@click.option("--force", is_flag=True, help="Delete every object first (never old versions).")
@click.pass_context
def rb_command(ctx: click.Context, url: str, force: bool) -> None:
    """Delete a bucket; it must be empty unless --force."""
    obj: CliContext = ctx.obj
    location = S3Url.parse(url)
    if location.key:
        raise ConfigurationError(f"rb takes a bucket, not an object: {url}")
    store: SecureStore = store_for(obj, location)
    remove_bucket(store, force=force, on_event=TreeLog(obj))
    say(obj, f"remove_bucket: {location.bucket}")


COMMANDS = (cp_command, mv_command, sync_command, rm_command, rb_command)

__all__ = ["COMMANDS"]
