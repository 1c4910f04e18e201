"""Organization-wide audit: every account's buckets, through a read-only role in each.

The flow (see ``docs/audit-at-scale.md``):

1. The accounts come from Organizations ``ListAccounts`` (paginated, called from
   the management account or a delegated administrator; only ``ACTIVE``
   accounts), or from a file (:func:`parse_account_list`).
2. For each account, STS ``AssumeRole`` of ``arn:aws:iam::ACCOUNT:role/ROLE``
   (with the external id, when given) over the caller's TLS-only
   :class:`~securestore.transport.Connection`; the credentials refresh
   themselves before they expire. The account's buckets are then collected by
   a :class:`~securestore.audit.collect.Collector` through a connection signed
   with those credentials, and evaluated.
3. Accounts run ``max_accounts_in_flight`` at a time, each with ``max_workers``
   buckets at a time; STS, S3 and KMS requests of all accounts share one
   :class:`TokenBucket` per service, and botocore's adaptive retries back off
   on throttling answers.

An account that cannot be assumed, or whose buckets cannot be listed, is an
:class:`~securestore.audit.runner.AccountOutcome` with an ``error`` and one
audit-level error of the report (exit 4); the other accounts are still
audited. A :class:`~securestore.audit.org_checkpoint.Checkpoint` records every
finished account, so that an interrupted run resumes without auditing them
again.

The pure parts are apart: account lists and role ARNs in
:mod:`~securestore.audit.org_accounts` (re-exported here), the token bucket
here; :class:`OrgAudit` is the only part that calls AWS.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import datetime
from typing import Any

import boto3
import botocore.credentials
import botocore.exceptions
import botocore.session

from securestore.audit.collect import ClientFactory, Collector
from securestore.audit.compliance import Framework
from securestore.audit.model import Result, Suppression
from securestore.audit.options import AuditOptions
from securestore.audit.org_accounts import (
    Account,
    active_accounts,
    parse_account_list,
    role_arn,
)
from securestore.audit.org_checkpoint import AccountRecord, Checkpoint, write_shard
from securestore.audit.registry import Registry
from securestore.audit.runner import (
    AccountOutcome,
    AuditReport,
    assemble_report,
    evaluate,
    selected_checks,
)
from securestore.audit.shapes import MalformedAnswer, check_answer
from securestore.errors import ConfigurationError, SecureStoreError, StorageError
from securestore.transport import Connection, translate_error

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_ROLE_NAME",
    "DEFAULT_SESSION_NAME",
    "Account",
    "OrgAudit",
    "RateLimitedClients",
    "TokenBucket",
    "active_accounts",
    "org_report",
    "parse_account_list",
    "role_arn",
]

#: The role name the shipped template (``docs/roles/audit-role.yaml``) creates.
DEFAULT_ROLE_NAME = "SecureStoreAudit"
#: The role session name, as CloudTrail shows it in each account.
DEFAULT_SESSION_NAME = "securestore-audit"
#: Requests per second shared by all accounts, per service family (bursts of the same size).
DEFAULT_RATE_LIMITS: Mapping[str, float] = {"sts": 10.0, "s3": 50.0, "kms": 20.0}

# IAM's rules: session names 2-64, external ids 2-1224 characters.
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
_ROLE_DURATION = 3600


class TokenBucket:
    """A thread-safe token bucket: ``rate`` requests per second, bursts of ``burst``.

    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ConfigurationError("a rate limit must be positive")
        self._rate = rate
        self._capacity = max(1.0, burst if burst is not None else rate)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it when none is left; returns the wait in seconds."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            self._tokens -= 1.0
            # A negative balance is the queue: this caller waits for its share.
            delay = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if delay > 0:
            self._sleep(delay)
        return delay

    def before_send(self, **_: Any) -> None:
        """botocore ``before-send`` handler: every attempt, retries included, takes a token."""
        self.acquire()


def _family(service: str) -> str:
    return "s3" if service in ("s3", "s3control") else service


class RateLimitedClients:
    """A client factory whose clients take a token per request from a shared bucket.

    ``limits`` maps a service family (``s3`` covers ``s3control``) to its bucket;
    services without one are not limited.
    """

    def __init__(self, inner: ClientFactory, limits: Mapping[str, TokenBucket]) -> None:
        self._inner = inner
        self._limits = limits

    def client(self, service_name: str, region_name: str | None = None) -> Any:
        client = self._inner.client(service_name, region_name=region_name)
        bucket = self._limits.get(_family(service_name))
        if bucket is not None:
            # unique_id: a cached client asked for again is not limited twice.
            client.meta.events.register(
                "before-send", bucket.before_send, unique_id="securestore-rate-limit"
            )
        return client


#: ``on_account(outcome_record, done, total)`` after each account (in the calling thread).
AccountCallback = Callable[[AccountRecord, int, int], None]


class OrgAudit:
    """Audits the buckets of many accounts through a role assumed in each.

    Args:
        connection: the caller's connection (management or delegated administrator
            account): it lists the accounts and assumes the roles.
        registry: the checks to run (with ``framework``, those it maps).
        options: audit options, as for a single-account audit.
        framework: an optional compliance framework.
        role_name: the role to assume in every account.
        external_id: the external id the role's trust policy demands, if any.
        session_name: the role session name.
        regions: when given, only buckets in these regions are reported.
        max_accounts_in_flight: accounts audited at the same time.
        max_workers: buckets collected at the same time within one account.
        rate_limits: requests per second per service family (``sts``, ``s3``,
            ``kms``...), shared by every account.
        collector_options: further keyword arguments for each account's
            :class:`~securestore.audit.collect.Collector` (``region``,
            ``lifecycle``, ``monitoring``, ``trail_buckets``...).
        checkpoint: where finished accounts are recorded and reloaded from.
        shard_dir: a folder to write one JSON Lines shard per account to.
        tool_version: written into the shards.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        registry: Registry,
        options: AuditOptions | None = None,
        framework: Framework | None = None,
        role_name: str = DEFAULT_ROLE_NAME,
        external_id: str | None = None,
        session_name: str = DEFAULT_SESSION_NAME,
        regions: Sequence[str] = (),
        max_accounts_in_flight: int = 4,
        max_workers: int = 8,
        rate_limits: Mapping[str, float] | None = None,
        collector_options: Mapping[str, Any] | None = None,
        checkpoint: Checkpoint | None = None,
        shard_dir: Any = None,
    ) -> None:
        role_arn("000000000000", role_name)  # validates the name once, up front
        if not _SESSION_NAME.fullmatch(session_name):
            raise ConfigurationError(
                f"invalid role session name {session_name!r}",
                hint="2-64 letters, digits and +=,.@_-",
            )
        if external_id is not None and not _EXTERNAL_ID.fullmatch(external_id):
            raise ConfigurationError(
                "invalid external id: 2-1224 letters, digits and +=,.@:/-",
            )
        if max_accounts_in_flight < 1 or max_workers < 1:
            raise ConfigurationError("max_accounts_in_flight and max_workers must be at least 1")
        self._connection = connection
        self._registry = registry
        self._options = options or AuditOptions()
        self._framework = framework
        self._role_name = role_name
        self._external_id = external_id
        self._session_name = session_name
        self._regions = frozenset(regions)
        self._in_flight = max_accounts_in_flight
        self._max_workers = max_workers
        limits = DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits
        self._limits = {name: TokenBucket(rate) for name, rate in limits.items()}
        self._collector_options = dict(collector_options or {})
        self._checkpoint = checkpoint
        self._shard_dir = shard_dir
        self._management_calls = 0
        self._calls_lock = threading.Lock()

    @property
    def management_calls(self) -> int:
        """Calls made with the caller's own credentials (ListAccounts, AssumeRole)."""
        return self._management_calls

    def _count(self) -> None:
        with self._calls_lock:
            self._management_calls += 1

    def list_accounts(self) -> tuple[Account, ...]:
        """The organization's active accounts (Organizations ``ListAccounts``, all pages).

        Raises:
            SecureStoreError: the accounts could not be listed (for example the
                caller is neither the management account nor a delegated
                administrator): the audit cannot run.
        """
        client = RateLimitedClients(self._connection, self._limits).client("organizations")
        pages: list[Mapping[str, Any]] = []
        try:
            for page in client.get_paginator("list_accounts").paginate():
                self._count()
                check_answer("ListAccounts", page)
                pages.append(page)
        except MalformedAnswer as exc:  # not "no accounts": nothing was learned
            raise StorageError(
                f"the organization's accounts could not be read: {exc}",
                code="MalformedResponse",
            ) from exc
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            error = translate_error(exc, action="ListAccounts")
            error.hint = (
                "run it with credentials of the organization's management account or of a "
                "delegated administrator, or name the accounts with --accounts FILE"
            )
            raise error from exc
        accounts = active_accounts(pages)
        if not accounts:
            raise ConfigurationError("the organization lists no active account")
        return accounts

    def run(
        self, accounts: Sequence[Account], *, on_account: AccountCallback | None = None
    ) -> tuple[AccountRecord, ...]:
        """Audit ``accounts``; returns one record per account, in the order given.

        Accounts the checkpoint already holds are not audited again (their
        records come from it). Each newly finished account is written to the
        checkpoint (and its shard) before ``on_account`` is called.
        """
        records: dict[str, AccountRecord] = {}
        todo: list[Account] = []
        for account in accounts:
            done = self._checkpoint.finished(account.id) if self._checkpoint else None
            if done is not None:
                records[account.id] = done
            else:
                todo.append(account)
        total = len(accounts)
        count = len(records)
        pool = ThreadPoolExecutor(max_workers=self._in_flight, thread_name_prefix="securestore-org")
        try:
            pending: set[Future[AccountRecord]] = set()
            queue = iter(todo)
            # Submit lazily so an interrupt leaves unstarted accounts unstarted.
            for account in queue:
                pending.add(pool.submit(self._audit_account, account))
                if len(pending) >= self._in_flight:
                    break
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    record = future.result()
                    records[record.account_id] = record
                    if self._checkpoint is not None and record.error is None:
                        self._checkpoint.record(record)
                    if self._shard_dir is not None:
                        write_shard(self._shard_dir, record)
                    count += 1
                    if on_account is not None:
                        on_account(record, count, total)
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(self._audit_account, nxt))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return tuple(records[a.id] for a in accounts)

    # -- one account ----------------------------------------------------------------------

    def _audit_account(self, account: Account) -> AccountRecord:
        try:
            clients = RateLimitedClients(self._assume(account.id), self._limits)
            collector = Collector(
                clients,
                options=self._options,
                max_workers=self._max_workers,
                **self._collector_options,
            )
            collection = collector.collect(None)
        except SecureStoreError as exc:
            return AccountRecord(account.id, account.name, error=str(exc))
        except Exception as exc:  # a bug must cost one account, not the organization
            return AccountRecord(
                account.id, account.name, error=f"audit failed: {type(exc).__name__}: {exc}"
            )
        snapshots = [
            s if s.account_id else replace(s, account_id=account.id)
            for s in collection.snapshots
            if not self._regions
            or not s.region.is_ok
            or (s.region.value or "us-east-1") in self._regions
        ]
        results: tuple[Result, ...] = evaluate(
            snapshots, registry=self._registry, options=self._options, framework=self._framework
        )
        kept = {s.name for s in snapshots}
        calls = {k: v for k, v in collection.api_calls.items() if k in kept}
        return AccountRecord(
            account.id,
            account.name,
            buckets=tuple(sorted(kept)),
            results=results,
            errors=collection.errors,
            api_calls=calls,
            account_api_calls=collection.account_api_calls,
        )

    def _assume(self, account_id: str) -> Connection:
        """A connection signed with the role's credentials in ``account_id``.

        Raises:
            SecureStoreError: AssumeRole failed.
        """
        arn = role_arn(account_id, self._role_name)
        sts = RateLimitedClients(self._connection, self._limits).client("sts")
        kwargs: dict[str, Any] = {
            "RoleArn": arn,
            "RoleSessionName": self._session_name,
            "DurationSeconds": _ROLE_DURATION,
        }
        if self._external_id is not None:
            kwargs["ExternalId"] = self._external_id

        def fetch() -> dict[str, str]:
            self._count()
            try:
                answer = sts.assume_role(**kwargs)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                error = translate_error(exc, action=f"AssumeRole {arn}")
                error.hint = (
                    f"deploy docs/roles/audit-role.yaml in account {account_id} (role "
                    f"{self._role_name}, trusting this account) or check --external-id"
                )
                raise error from exc
            creds = answer["Credentials"]
            expiry = creds["Expiration"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
            }

        # Refreshed by botocore before expiry: a large account may take longer than a session.
        credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        core = botocore.session.Session()
        # botocore has no public setter for refreshable credentials.
        core._credentials = credentials  # type: ignore[attr-defined]
        session = boto3.Session(botocore_session=core, region_name=self._connection.region)
        # Adaptive: after throttling answers the client also slows itself down.
        return self._connection.with_session(session, retry_mode="adaptive")


def org_report(
    records: Sequence[AccountRecord],
    *,
    registry: Registry,
    options: AuditOptions | None = None,
    framework: Framework | None = None,
    suppressions: Sequence[Suppression] = (),
    management_calls: int = 0,
    now: datetime | None = None,
    tool_version: str = "0.1.0",
) -> AuditReport:
    """One report of every account: results by account then bucket, errors per account.

    An account that could not be audited, and every audit-level error of an
    account's collection, is an error of the report named by the account (so
    :func:`~securestore.audit.runner.exit_status` is 4).
    """
    ordered = sorted(records, key=lambda r: r.account_id)
    errors: list[str] = []
    calls: dict[str, int] = {}
    account_level = management_calls
    for record in ordered:
        if record.error is not None:
            errors.append(f"account {record.account_id}: {record.error}")
        errors.extend(f"account {record.account_id}: {e}" for e in record.errors)
        calls.update(record.api_calls)
        account_level += record.account_api_calls
    if account_level:
        calls[""] = account_level
    return assemble_report(
        (r for record in ordered for r in record.results),
        checks=selected_checks(registry, framework),
        buckets=[b for record in ordered for b in record.buckets],
        options=options,
        suppressions=suppressions,
        framework=framework,
        errors=errors,
        api_calls=calls,
        now=now,
        tool_version=tool_version,
        accounts=[
            AccountOutcome(r.account_id, r.name, buckets=len(r.buckets), error=r.error)
            for r in ordered
        ],
    )
