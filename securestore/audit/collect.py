"""Collection: the only audit code that calls AWS.

:class:`Collector` builds one :class:`~securestore.audit.model.BucketSnapshot`
per bucket with bounded concurrency. Every API call that fails (AccessDenied,
throttling after botocore's retries, a connection error) is recorded in the
snapshot field it was meant to fill, so the checks that need it report ERROR;
collection itself never raises for a per-bucket failure. Whatever a call does
(an unparsable answer included) becomes a recorded error, every shared result
is completed, and every wait is bounded.

Some failures say the audit as a whole could not run, not that one permission
is missing: connection and credential failures
(:data:`~securestore.audit.model.AUDIT_LEVEL_CODES`) and a bucket for which
every call failed. Those are also listed in :attr:`Collection.errors`, which
makes the audit exit 4.

Clients come from a factory with ``client(service_name, region_name=None)``,
such as :class:`securestore.transport.Connection`; none are created at import
time. The factory's clients should allow at least ``max_workers`` pooled
connections (``Connection(max_pool_connections=...)``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import botocore.exceptions

from securestore.audit.answers import (
    bucket_region,
    map_answer,
    public_access_block,
    reference_region,
)
from securestore.audit.calls import AnswerCheckingClients, CallCounter, record_call
from securestore.audit.collect_account import AccountMonitor
from securestore.audit.collect_bucket import read_settings, unreachable
from securestore.audit.collect_errors import bucket_errors
from securestore.audit.collect_keys import describe_key
from securestore.audit.collect_objects import ObjectBudget, sample_bucket
from securestore.audit.model import (
    DEFAULT_S3_KEY_ALIAS,
    KMS_ALGORITHMS,
    BucketSnapshot,
    Collected,
    CollectionError,
    KeySnapshot,
    PublicAccessBlock,
)
from securestore.audit.options import AuditOptions
from securestore.audit.shapes import MalformedAnswer, check_answer
from securestore.errors import ConfigurationError, StorageError
from securestore.transport import translate_error

__all__ = ["ClientFactory", "Collection", "Collector", "ProgressCallback"]

T = TypeVar("T")

#: ``progress(bucket, done, total)`` after each bucket.
ProgressCallback = Callable[[str, int, int], None]


class ClientFactory(Protocol):
    """Anything that hands out boto3 clients (``securestore.transport.Connection``)."""

    def client(self, service_name: str, region_name: str | None = None) -> Any:
        """A boto3 client for ``service_name`` in ``region_name`` (default region if None)."""
        ...


@dataclass(frozen=True)
class Collection:
    """The result of collecting: snapshots plus audit-level errors and call counts."""

    snapshots: tuple[BucketSnapshot, ...]
    errors: tuple[str, ...] = ()
    account_api_calls: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)


class Collector:
    """Builds bucket snapshots through injected clients.

    Args:
        clients: a client factory (see :class:`ClientFactory`).
        options: used for the object scan (``sample_objects``, the budgets shared by
            every bucket this collector audits, and the encryption floor that decides
            whether an object's first bytes are read; see
            :mod:`securestore.audit.collect_objects`).
        max_workers: buckets collected at the same time.
        progress: called after each bucket as ``progress(bucket, done, total)``.
        region: the region for account-level and listing calls (the factory's
            default when None).
        trail_buckets: also read which buckets CloudTrail delivers logs to (one
            DescribeTrails call for the account), for framework requirements
            about CloudTrail buckets only (CIS 3.4).
        lifecycle: read each bucket's lifecycle rules (``S3.DATA.6``); when
            False the field records ``NotCollected``.
        monitoring: read the account's monitoring services (GuardDuty,
            CloudTrail, Config, Security Hub) once per region (``MON.n``).
        wait_timeout: the longest wait, in seconds, for one bucket's collection
            or for a KMS key another bucket is describing; past it the bucket
            (or key) is recorded as failed and the audit goes on. botocore's own
            timeouts and retries normally end every call long before.
    """

    def __init__(
        self,
        clients: ClientFactory,
        *,
        options: AuditOptions | None = None,
        max_workers: int = 8,
        progress: ProgressCallback | None = None,
        region: str | None = None,
        trail_buckets: bool = False,
        lifecycle: bool = True,
        monitoring: bool = False,
        wait_timeout: float = 600.0,
    ) -> None:
        if max_workers < 1:
            raise ConfigurationError("max_workers must be at least 1")
        if wait_timeout <= 0:
            raise ConfigurationError("wait_timeout must be positive")
        self._wait_timeout = wait_timeout
        self._trail_buckets = trail_buckets
        self._lifecycle = lifecycle
        # Every answer's body is checked before botocore parses it (audit/shapes.py).
        self._clients: ClientFactory = AnswerCheckingClients(clients)
        self._options = options or AuditOptions()
        self._max_workers = max_workers
        self._progress = progress
        self._region = region
        self._keys: dict[tuple[str, str], Future[Collected[KeySnapshot]]] = {}
        self._keys_lock = threading.Lock()
        self._account = CallCounter()
        self._object_budget = ObjectBudget(
            self._options.object_budget, self._options.object_seconds
        )
        self._caller: Future[Collected[str]] | None = None
        self._monitor = (
            AccountMonitor(self._clients, self._account, self._call, wait_timeout)
            if monitoring
            else None
        )

    # -- public -------------------------------------------------------------------------------

    def list_buckets(self) -> list[str]:
        """Every bucket the credentials can list.

        Raises:
            SecureStoreError: listing failed (translated botocore error), or a page
                lacks ``ListAllMyBucketsResult``/``Buckets``/``Owner``
                (:class:`~securestore.errors.StorageError`): the audit cannot run.
        """
        s3 = self._clients.client("s3", region_name=self._region)
        names: list[str] = []
        try:
            for page in s3.get_paginator("list_buckets").paginate():
                self._account.add()
                check_answer("ListBuckets", page)
                for bucket in page["Buckets"]:
                    if not isinstance(bucket, dict) or not isinstance(bucket.get("Name"), str):
                        raise MalformedAnswer("ListBuckets: a bucket without a Name")
                    names.append(bucket["Name"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate_error(exc, action="ListBuckets") from exc
        except MalformedAnswer as exc:
            raise StorageError(
                f"the bucket list could not be read: {exc}",
                code="MalformedResponse",
                hint="the endpoint answered ListBuckets without the list S3 always returns",
            ) from exc
        return sorted(names)

    def collect(
        self, buckets: Sequence[str] | None = None, *, account_level: bool = True
    ) -> Collection:
        """Snapshot ``buckets`` (all listable buckets when None).

        A bucket that does not exist becomes an audit-level error; any other
        failure is recorded per field. With ``account_level=False`` the
        account's public access block is not read (``securestore harden`` needs
        only the bucket) and the field records ``NotCollected``.
        """
        errors: list[str] = []
        names = list(buckets) if buckets is not None else self.list_buckets()
        caller = self._caller_account()
        if caller.error is not None and caller.error.audit_level:
            errors.append(f"account: {caller.error}")
        account_pab: Collected[PublicAccessBlock | None] = (
            self._account_public_access_block()
            if account_level
            else Collected.failed(
                CollectionError("GetPublicAccessBlock", "NotCollected", "not requested")
            )
        )
        trails = self._trail_bucket_names() if self._trail_buckets else None
        total = len(names)
        done = 0
        snapshots: list[BucketSnapshot] = []
        pool = ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="securestore-audit"
        )
        stuck = False
        try:
            futures = {
                pool.submit(self._snapshot, name, account_pab, trails): name for name in names
            }
            for future, name in futures.items():
                try:
                    snapshot = future.result(timeout=self._wait_timeout)
                except FutureTimeout:
                    stuck = True
                    errors.append(
                        f"bucket {name}: collection did not finish within {self._wait_timeout:g} s"
                    )
                    snapshot = None
                except Exception as exc:  # a bug must cost one bucket, not the audit
                    errors.append(f"bucket {name}: collection failed: {type(exc).__name__}: {exc}")
                    snapshot = None
                else:
                    if snapshot is None:
                        errors.append(f"bucket {name} does not exist")
                    else:
                        snapshots.append(snapshot)
                        errors.extend(bucket_errors(snapshot))
                done += 1
                if self._progress is not None:
                    self._progress(name, done, total)
        finally:
            # A stuck call must not hold the audit: do not join threads that overran.
            pool.shutdown(wait=not stuck, cancel_futures=True)
        return Collection(
            snapshots=tuple(sorted(snapshots, key=lambda s: s.name)),
            errors=tuple(errors),
            account_api_calls=self._account.calls,
            api_calls={s.name: s.api_calls for s in snapshots},
        )

    def key(self, reference: str, region: str) -> Collected[KeySnapshot]:
        """Metadata of one KMS key (cached per reference and region, thread-safe).

        Never raises and never waits longer than ``wait_timeout``: a failure of
        the thread describing the key reaches every bucket that shares it as a
        recorded error.
        """
        cache_key = (reference, reference_region(reference) or region)
        with self._keys_lock:
            future = self._keys.get(cache_key)
            owner = future is None
            if future is None:
                future = Future()
                self._keys[cache_key] = future
        if owner:
            try:
                future.set_result(self._describe_key(reference, cache_key[1]))
            except BaseException as exc:  # complete the future whatever happens
                future.set_exception(exc)
        try:
            return future.result(timeout=self._wait_timeout)
        except FutureTimeout:
            return Collected.failed(
                CollectionError(
                    "DescribeKey", "Timeout", f"no answer within {self._wait_timeout:g} s"
                )
            )
        except Exception as exc:
            return Collected.failed(CollectionError("DescribeKey", type(exc).__name__, str(exc)))

    # -- account ------------------------------------------------------------------------------

    def _caller_account(self) -> Collected[str]:
        """The credentials' account (GetCallerIdentity, once per collector)."""
        with self._keys_lock:
            future = self._caller
            owner = future is None
            if future is None:
                future = self._caller = Future()
        if owner:
            try:
                sts = self._clients.client("sts", region_name=self._region)
                ident = self._call(self._account, "GetCallerIdentity", sts.get_caller_identity)
                future.set_result(map_answer(ident, lambda r: str(r["Account"])))
            except BaseException as exc:
                future.set_exception(exc)
        try:
            return future.result(timeout=self._wait_timeout)
        except Exception as exc:
            return Collected.failed(
                CollectionError("GetCallerIdentity", type(exc).__name__, str(exc))
            )

    def _trail_bucket_names(self) -> Collected[frozenset[str]]:
        """The buckets any trail (of any region) delivers its logs to."""
        trail = self._clients.client("cloudtrail", region_name=self._region)
        got = self._call(
            self._account, "DescribeTrails", trail.describe_trails, includeShadowTrails=True
        )
        return map_answer(
            got,
            lambda r: frozenset(
                str(t["S3BucketName"]) for t in r.get("trailList", []) if t.get("S3BucketName")
            ),
        )

    def _account_public_access_block(self) -> Collected[PublicAccessBlock | None]:
        ident = self._caller_account()
        if not ident.is_ok:
            return Collected.failed(ident.error)  # type: ignore[arg-type]
        control = self._clients.client("s3control", region_name=self._region)
        got = self._call(
            self._account,
            "GetPublicAccessBlock",
            control.get_public_access_block,
            AccountId=ident.get(),
        )
        return map_answer(got, lambda r: public_access_block(r["PublicAccessBlockConfiguration"]))

    # -- buckets ------------------------------------------------------------------------------

    def _snapshot(
        self,
        name: str,
        account_pab: Collected[PublicAccessBlock | None],
        trails: Collected[frozenset[str]] | None = None,
    ) -> BucketSnapshot | None:
        counter = CallCounter()
        default = self._clients.client("s3", region_name=self._region)
        location = self._call(
            counter, "GetBucketLocation", default.get_bucket_location, Bucket=name
        )
        if location.error is not None and location.error.code == "NoSuchBucket":
            return None
        if location.error is not None and location.error.audit_level:
            # The endpoint or the credentials failed: every other call would fail
            # the same way, each after its retries. Record it everywhere instead.
            return unreachable(name, location.error, account_pab, counter.calls)
        region = map_answer(location, lambda r: bucket_region(r.get("LocationConstraint")))
        s3 = self._clients.client("s3", region_name=region.value) if region.is_ok else default

        def call(op: str, method: Callable[..., Any], **kwargs: Any) -> Collected[Any]:
            return self._call(counter, op, method, Bucket=name, **kwargs)

        settings = read_settings(call, s3, lifecycle=self._lifecycle)
        encryption = settings.encryption
        keys: dict[str, Collected[KeySnapshot]] = {}
        if encryption.is_ok:
            key_region = region.value if region.is_ok and region.value else "us-east-1"
            for rule in encryption.get():
                if rule.algorithm in KMS_ALGORITHMS:
                    ref = rule.kms_key_id or DEFAULT_S3_KEY_ALIAS
                    keys[ref] = self.key(ref, key_region)
        objects = coverage = None
        if self._options.sample_objects:

            def object_call(op: str, method: Callable[..., Any], **kwargs: Any) -> Collected[Any]:
                return self._call(counter, op, method, **kwargs)

            objects, coverage = sample_bucket(
                object_call,
                s3,
                name,
                count=self._options.sample_objects,
                require_rank=self._options.require.rank,
                budget=self._object_budget,
                max_listed=self._options.max_listed_keys,
            )
        caller = self._caller_account()
        monitoring = None
        if self._monitor is not None:
            monitoring = (
                self._monitor.get(region.value or "us-east-1")
                if region.is_ok
                else Collected.failed(region.error)  # type: ignore[arg-type]
            )
        return BucketSnapshot(
            name=name,
            region=region,
            account_id=caller.value if caller.is_ok else None,
            encryption=encryption,
            policy=settings.policy,
            public_access_block=settings.public_access_block,
            account_public_access_block=account_pab,
            acl=settings.acl,
            ownership=settings.ownership,
            versioning=settings.versioning,
            logging=settings.logging,
            object_lock=settings.object_lock,
            replication=settings.replication,
            lifecycle=settings.lifecycle,
            monitoring=monitoring,
            keys=keys,
            objects=objects,
            object_coverage=coverage,
            api_calls=counter.calls,
            every_call_failed=counter.calls > 0 and counter.failed == counter.calls,
            cloudtrail_bucket=None if trails is None else map_answer(trails, lambda t: name in t),
        )

    # -- keys ---------------------------------------------------------------------------------

    def _describe_key(self, reference: str, region: str) -> Collected[KeySnapshot]:
        kms = self._clients.client("kms", region_name=region)
        return describe_key(kms, self._account, reference, caller=self._caller_account())

    # -- calls --------------------------------------------------------------------------------

    @staticmethod
    def _call(
        counter: CallCounter, operation: str, method: Callable[..., Any], **kwargs: Any
    ) -> Collected[Any]:
        """One API call, counted; any failure becomes a CollectionError (or absence)."""
        return record_call(counter, operation, method, **kwargs)
