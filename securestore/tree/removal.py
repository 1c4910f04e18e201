"""Deleting trees and buckets: :func:`remove_tree` (``rm -r``), :func:`remove_bucket` (``rb``)."""

from __future__ import annotations

import itertools
import posixpath
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from securestore.bucket import DELETE_BATCH
from securestore.errors import EndpointUnreachableError, SecureStoreError

from .arguments import checked
from .filters import Filters
from .manager import DEFAULT_CONCURRENCY, Event, Failure, Task, TransferManager, TreeResult
from .paths import Remote, listed_object, tree_root

if TYPE_CHECKING:
    from securestore.store import SecureStore

__all__ = ["delete_in_batches", "delete_task", "remove_bucket", "remove_tree"]


@checked
def remove_tree(
    store: SecureStore,
    prefix: str,
    *,
    filters: Filters | None = None,
    dryrun: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_event: Event | None = None,
) -> TreeResult:
    """Delete every object below ``prefix`` (``""``: the whole bucket) that the filters select.

    A ``prefix`` without a trailing ``/`` names a key or folder: ``p/a`` deletes the
    object ``p/a`` and the keys under ``p/a/``, never ``p/ab`` or ``p/a.bak``.

    Objects go 1,000 to a DeleteObjects request (one request where aws-cli sends a
    thousand). Those the answer does not confirm, and from then on every object of
    a server without DeleteObjects (or one that wants Content-MD5), are deleted one
    by one on the pool instead, as are keys with control characters: XML 1.0 cannot
    carry most of them, and one key a server cannot parse would fail its batch.
    """
    root = tree_root(Remote(store, prefix))
    assert isinstance(root, Remote)
    choose = filters or Filters()

    def selected() -> Iterator[Remote]:
        # ``p/a.txt`` names a key or folder: the object itself (matched by the filters
        # under its base name) and ``p/a.txt/...``, never ``p/a.txt.bak`` (aws-cli's text
        # prefix would delete it). It sorts before its folder's keys, so S3's order holds.
        if (
            root.prefix != prefix
            and choose.selects(posixpath.basename(prefix))
            and listed_object(store, prefix)
        ):
            yield Remote(store, prefix)
        # Deletes follow the listing as it streams: each depends on its own key only
        # (under the prefix, selected by the filters), never on what the listing has
        # not reached, and store.list refuses a key outside the prefix, out of order or
        # replayed before it is yielded (securestore.pagination), so a lying listing
        # stops the job without deleting anything it did not list under the prefix.
        for summary in store.list(root.prefix):
            relative = summary.key[len(root.prefix) :]
            if choose.selects(relative):
                yield Remote(store, summary.key)

    def one_by_one(where: Iterable[Remote]) -> TreeResult:
        tasks = (delete_task(w) for w in where)
        return TransferManager(concurrency=concurrency, on_event=on_event).run(tasks, dryrun=dryrun)

    if dryrun:
        return one_by_one(selected())
    return delete_in_batches(selected(), one_by_one, on_event)


def delete_in_batches(
    where: Iterator[Remote],
    one_by_one: Callable[[Iterable[Remote]], TreeResult],
    on_event: Event | None,
) -> TreeResult:
    """Delete the objects ``where`` yields, 1,000 to a DeleteObjects request.

    ``one_by_one`` deletes what a batch cannot: keys with control characters, keys
    an answer did not confirm, and every key from a server's first refusal of
    DeleteObjects on. ``on_event`` hears each object's ``"done"`` or ``"failed"``.

    Raises:
        EndpointUnreachableError: the endpoint stopped answering (later batches
            are not tried).
    """
    result = TreeResult()
    batches = True
    while chunk := list(itertools.islice(where, DELETE_BATCH)):
        single: list[Remote] = []
        batch: list[Remote] = []
        for w in chunk:
            (batch if batches and _xml_exact(w.prefix) else single).append(w)
        if batch:
            try:
                outcome = batch[0].store.delete_many([w.prefix for w in batch])
            except EndpointUnreachableError:
                raise  # the listing's endpoint stopped answering: nothing more will work
            except SecureStoreError:
                # No DeleteObjects here (or not as sent): what aws-cli does, from now on.
                batches, outcome = False, {}
            if batches and not outcome:
                batches = False  # an answer that confirms nothing: do not rely on it
            for w in batch:
                if w.prefix not in outcome:
                    single.append(w)
                    continue
                error = outcome[w.prefix]
                _record(result, w, error, on_event)
        if single:
            result.merge(one_by_one(single))
    return result


def _xml_exact(key: str) -> bool:
    """Whether an XML body carries ``key`` as it is (no control characters at all)."""
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\ufffe\uffff" for c in key)


def _record(
    result: TreeResult, where: Remote, error: SecureStoreError | None, on_event: Event | None
) -> None:
    task = delete_task(where)
    if error is None:
        result.deleted += 1
    else:
        failure = Failure(where.describe(), where.describe(), error, reported=on_event is not None)
        result.add_failure(failure)
    if on_event is not None:
        on_event(task, "done" if error is None else "failed", error)


def delete_task(where: Remote) -> Task:
    """The task that deletes the object ``where`` names."""

    def run(_: Callable[[int], None]) -> int:
        where.store.delete(where.prefix)
        return 0

    return Task("delete", where, where, 0, run)


#: What is left of a versioned bucket, and how to remove it (rb's two refusals).
_HISTORY = "old object versions or delete markers (versioning keeps them when objects are deleted)"


def _history_hint(bucket: str) -> str:
    return (
        f"list them with `securestore ls s3://{bucket} --versions`; delete each version and "
        "marker (aws s3api delete-objects with their VersionIds) or let a lifecycle rule "
        "expire noncurrent versions, then run rb again"
    )


def _refuse_versioned(store: Any) -> None:
    """Refuse ``rb --force`` of a versioned bucket that holds versions, deleting nothing.

    Deleting its objects would only hide them behind delete markers and leave the
    bucket in place. A server that does not say (no versioning call, denied) is
    left to answer the bucket deletion itself.
    """
    import botocore.exceptions

    from securestore.errors import SecureStoreError, StorageError

    try:
        status = store.connection.client("s3").get_bucket_versioning(Bucket=store.bucket)
        if status.get("Status") not in ("Enabled", "Suspended"):
            return
        held = next(iter(store.list_versions("")), None)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, SecureStoreError):
        return
    if held is not None:
        raise StorageError(
            f"refusing to empty a versioned bucket: deleting its objects would only add "
            f"delete markers, and S3 does not delete a bucket that keeps {_HISTORY}; "
            "nothing was deleted",
            bucket=store.bucket,
            code="BucketNotEmpty",
            hint=_history_hint(store.bucket),
        )


@checked
def remove_bucket(
    store: SecureStore, *, force: bool = False, on_event: Event | None = None
) -> TreeResult:
    """Delete the store's bucket; with ``force``, delete its objects first.

    Never object versions or delete markers: a versioned bucket that keeps some is
    refused by S3 (``BucketNotEmpty``), and the error says what is left and how to
    remove it. With ``force``, a bucket whose versioning is enabled or suspended and
    that holds any version is refused before anything is deleted: each delete would
    only add a delete marker, and S3 would refuse the bucket all the same.

    Raises:
        StorageError: the bucket is not empty (without ``force``, or versioned:
            nothing is deleted), or objects could not be deleted (the bucket is kept).
    """
    from securestore.errors import StorageError
    from securestore.transport import translate_error

    result = TreeResult()
    if force:
        _refuse_versioned(store)
        result = remove_tree(store, "", on_event=on_event)
        if not result.ok:
            raise StorageError(
                f"{result.failure_count} objects could not be deleted: the bucket was kept",
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
                error.message = f"delete bucket failed: the bucket still holds {_HISTORY}"
                error.args = (error.message,)
                error.hint = _history_hint(store.bucket)
            raise error from exc
        raise
    return result
