"""Deleting trees and buckets: :func:`remove_tree` (``rm -r``), :func:`remove_bucket` (``rb``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .filters import Filters
from .manager import DEFAULT_CONCURRENCY, Event, Task, TransferManager, TreeResult
from .paths import Remote, tree_root

if TYPE_CHECKING:
    from securestore.store import SecureStore

__all__ = ["remove_bucket", "remove_tree"]


def remove_tree(
    store: SecureStore,
    prefix: str,
    *,
    filters: Filters | None = None,
    dryrun: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: Event | None = None,
) -> TreeResult:
    """Delete every object below ``prefix`` (``""``: the whole bucket) that the filters select."""
    root = tree_root(Remote(store, prefix))
    assert isinstance(root, Remote)

    def tasks() -> Iterator[Task]:
        # Deletes follow the listing as it streams: each depends on its own key only
        # (under the prefix, selected by the filters), never on what the listing has
        # not reached, and store.list refuses a key outside the prefix, out of order or
        # replayed before it is yielded (securestore.pagination), so a lying listing
        # stops the job without deleting anything it did not list under the prefix.
        for summary in store.list(root.prefix):
            relative = summary.key[len(root.prefix) :]
            if (filters or Filters()).selects(relative):
                where = Remote(store, summary.key)
                yield Task("delete", where, where, 0, _deleter(where))

    return TransferManager(concurrency=concurrency, on_event=on_event).run(tasks(), dryrun=dryrun)


def _deleter(where: Remote) -> Callable[[Callable[[int], None]], int]:
    def run(_: Callable[[int], None]) -> int:
        where.store.delete(where.prefix)
        return 0

    return run


def remove_bucket(
    store: SecureStore, *, force: bool = False, on_event: Event | None = None
) -> TreeResult:
    """Delete the store's bucket; with ``force``, delete its objects first.

    Never object versions or delete markers: a versioned bucket that keeps some is
    refused by S3 (``BucketNotEmpty``), and the error says what is left and how to
    remove it.

    Raises:
        StorageError: the bucket is not empty (without ``force``: nothing is
            deleted), or objects could not be deleted (the bucket is kept).
    """
    from securestore.errors import StorageError
    from securestore.transport import translate_error

    result = TreeResult()
    if force:
        result = remove_tree(store, "", on_event=on_event)
        if not result.ok:
            raise StorageError(
                f"{len(result.failed)} objects could not be deleted: the bucket was kept",
                bucket=store.bucket,
            )
    elif next(iter(store.list("")), None) is not None:
        raise StorageError(
            "the bucket is not empty",
            bucket=store.bucket,
            code="BucketNotEmpty",
            hint="delete its objects first, or add --force",
        )
    try:
        store.connection.client("s3").delete_bucket(Bucket=store.bucket)
    except Exception as exc:  # botocore's errors, translated at this boundary
        import botocore.exceptions

        if isinstance(exc, botocore.exceptions.BotoCoreError | botocore.exceptions.ClientError):
            error = translate_error(exc, bucket=store.bucket, action="delete bucket")
            if getattr(error, "code", None) == "BucketNotEmpty":
                # No current object left, so what remains is history: rb --force deletes
                # objects, never versions (that would erase what versioning is there for).
                error.message = (
                    "delete bucket failed: the bucket still holds old object versions or "
                    "delete markers (versioning keeps them when objects are deleted)"
                )
                error.args = (error.message,)
                error.hint = (
                    f"list them with `securestore ls s3://{store.bucket} --versions`; delete "
                    "each version and marker (aws s3api delete-objects with their VersionIds) "
                    "or let a lifecycle rule expire noncurrent versions, then run rb again"
                )
            raise error from exc
        raise
    return result
