"""Giving up on multipart uploads: aborts bounded after an interrupt, and the ledger of
the uploads a job's threads left open, so that each one left is named once.

An interrupted command cannot wait for a stalled request (botocore calls cannot be
cancelled), so an abort then runs on a daemon thread for at most
:data:`ABORT_DEADLINE` seconds; an upload that stays is reported, for a lifecycle
rule (AbortIncompleteMultipartUpload) or ``securestore uploads abort`` to remove.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

__all__ = [
    "ABORT_DEADLINE",
    "OpenUpload",
    "UploadLedger",
    "abort_upload",
    "bind_upload_ledger",
    "create_upload",
    "upload_closed",
    "upload_opened",
]

logger = logging.getLogger("securestore.bucket")

#: Seconds an interrupted command waits for an abort before it gives up on it.
ABORT_DEADLINE = 2.0


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload a job created and did not complete or abort.

    ``abort_failed``: the abort was answered with an error (else it never ended).
    ``committing``: its CompleteMultipartUpload was sent, with no answer: the server
    may have completed it, so the warning says the object may have been replaced.
    """

    bucket: str
    key: str
    upload_id: str
    abort_failed: bool = False
    committing: bool = False

    def warn(self, waited: float) -> None:
        """Log the warning that the upload stays (``waited``: the seconds given to its abort)."""
        maybe = (
            f"; its CompleteMultipartUpload was sent, so s3://{self.bucket}/{self.key} may "
            f"have been replaced by it: check with `securestore head s3://{self.bucket}/"
            f"{self.key}`"
            if self.committing
            else ""
        )
        if self.abort_failed:
            logger.warning(
                "could not abort multipart upload %s of s3://%s/%s; a lifecycle rule "
                "(AbortIncompleteMultipartUpload) will have to remove it%s",
                self.upload_id,
                self.bucket,
                self.key,
                maybe,
            )
        else:
            logger.warning(
                "multipart upload %s of s3://%s/%s was not aborted within %g s; a lifecycle "
                "rule (AbortIncompleteMultipartUpload) will have to remove it%s",
                self.upload_id,
                self.bucket,
                self.key,
                waited,
                maybe,
            )


class UploadLedger:
    """The multipart uploads a job's threads created and have not completed or aborted.

    A job whose workers cannot all be waited for (a tree transfer after Ctrl-C: a
    stalled request cannot be cancelled) binds one in each worker
    (:func:`bind_upload_ledger`); the uploads still open once it stops waiting are
    the ones it must warn about. While a ledger is bound, :func:`abort_upload`
    logs nothing itself: the ledger's owner reports each upload left, once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str], OpenUpload] = {}

    def opened(self, bucket: str, key: str, upload_id: str) -> None:
        """Note an upload the server created."""
        with self._lock:
            self._open[bucket, key, upload_id] = OpenUpload(bucket, key, upload_id)

    def closed(self, bucket: str, key: str, upload_id: str) -> None:
        """Note an upload completed or aborted: nothing of it stays."""
        with self._lock:
            self._open.pop((bucket, key, upload_id), None)

    def update(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        abort_failed: bool | None = None,
        committing: bool | None = None,
    ) -> None:
        """Note what became of an open upload: its abort failed, its completion was sent."""
        with self._lock:
            entry = self._open.get((bucket, key, upload_id))
            if entry is not None:
                self._open[bucket, key, upload_id] = dataclasses.replace(
                    entry,
                    abort_failed=entry.abort_failed if abort_failed is None else abort_failed,
                    committing=entry.committing if committing is None else committing,
                )

    def left(self) -> list[OpenUpload]:
        """The uploads still open, in creation order."""
        with self._lock:
            return list(self._open.values())


_ledgers = threading.local()


def bind_upload_ledger(ledger: UploadLedger | None) -> None:
    """Record the multipart uploads this thread creates, completes and aborts in ``ledger``."""
    _ledgers.current = ledger


def _ledger() -> UploadLedger | None:
    ledger: UploadLedger | None = getattr(_ledgers, "current", None)
    return ledger


def upload_opened(bucket: str, key: str, upload_id: str) -> None:
    """Note, in this thread's ledger if it has one, an upload the server just created."""
    ledger = _ledger()
    if ledger is not None:
        ledger.opened(bucket, key, upload_id)


def upload_closed(bucket: str, key: str, upload_id: str) -> None:
    """Note, in this thread's ledger if it has one, an upload just completed."""
    ledger = _ledger()
    if ledger is not None:
        ledger.closed(bucket, key, upload_id)


def abort_upload(
    s3: Any, bucket: str, key: str, upload_id: str, *, interrupted: bool, committing: bool = False
) -> None:
    """Abort a multipart upload; after an interrupt, wait at most :data:`ABORT_DEADLINE`.

    An interrupted command must exit promptly even when the network stalls
    (botocore calls cannot be cancelled), so the abort then runs on a daemon
    thread and is given up on after the deadline. A failed abort is logged: a
    lifecycle rule has to remove the parts. In a thread with an
    :class:`UploadLedger`, the ledger records the outcome instead, and its owner
    warns.

    ``committing``: the CompleteMultipartUpload was sent (its answer never came).
    An upload then found gone was completed by the server: the object was
    probably replaced, which is said at once, never that a lifecycle rule must act.
    """
    finished = threading.Event()
    ledger = _ledger()  # this thread's: the abort may run on another
    left = OpenUpload(bucket, key, upload_id, committing=committing)
    if ledger is not None and committing:
        ledger.update(bucket, key, upload_id, committing=True)

    def abort() -> None:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if committing and code == "NoSuchUpload":
                if ledger is not None:
                    ledger.closed(bucket, key, upload_id)
                logger.warning(
                    "the interrupted upload of s3://%s/%s was completed by the server before "
                    "it could be aborted: the object was probably replaced by it (check with "
                    "`securestore head s3://%s/%s`)",
                    bucket,
                    key,
                    bucket,
                    key,
                )
            elif ledger is None:
                dataclasses.replace(left, abort_failed=True).warn(0)
            else:
                ledger.update(bucket, key, upload_id, abort_failed=True)
        else:
            if ledger is not None:
                ledger.closed(bucket, key, upload_id)
        finally:
            finished.set()

    if not interrupted:
        abort()
        return
    threading.Thread(target=abort, name="securestore-abort", daemon=True).start()
    if not finished.wait(ABORT_DEADLINE) and ledger is None:
        left.warn(ABORT_DEADLINE)


def create_upload(
    create: Callable[..., Mapping[str, Any]], params: Mapping[str, Any]
) -> Mapping[str, Any]:
    """``create(**params)`` (a CreateMultipartUpload); the server's answer.

    The upload is noted in this thread's ledger, if it has one. An interrupt
    while the request is in flight leaves the client without the UploadId of an
    upload the server may have created: nothing can abort it, so the caller is
    told where to look.
    """
    bucket, key = params["Bucket"], params["Key"]
    try:
        created = create(**params)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            logger.warning(
                "interrupted while the server created a multipart upload of s3://%s/%s: one "
                "may have been started; check with `securestore uploads ls s3://%s/%s`",
                bucket,
                key,
                bucket,
                key,
            )
        raise
    upload_opened(bucket, key, str(created["UploadId"]))
    return created
