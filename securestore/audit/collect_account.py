"""Collection of account-level continual monitoring, once per account and region.

:class:`AccountMonitor` asks GuardDuty, CloudTrail, AWS Config and Security Hub
what they do in a region and caches the answer, so the snapshots of every bucket
there share one :class:`~securestore.audit.monitoring.AccountMonitoring`. Each
service is collected on its own: a denied or failed call is recorded in that
service's field (its check says ERROR), never read as "enabled". Only Security
Hub's own "not subscribed" answer means "not enabled".

:class:`~securestore.audit.collect.Collector` uses it when asked to
(``monitoring=True``, which the CLI sets when a selected check needs it).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from securestore.audit.answers import map_answer
from securestore.audit.model import Collected, CollectionError
from securestore.audit.monitoring import (
    AccountMonitoring,
    Detector,
    TrailLogging,
    detector,
    recorders,
    trail_logging,
)

__all__ = ["AccountMonitor"]


class _Counter(Protocol):
    def add(self) -> None: ...

    def fail(self) -> None: ...


#: ``call(counter, operation, method, **kwargs)``: one counted call (Collector._call).
Call = Callable[..., Collected[Any]]


class AccountMonitor:
    """Collects :class:`AccountMonitoring` per region, once (thread-safe).

    Args:
        clients: the collector's client factory.
        counter: the account-level call counter.
        call: the collector's call wrapper (counts, and turns every failure into a
            :class:`~securestore.audit.model.CollectionError`).
        wait_timeout: the longest wait for another thread's collection of a region.
    """

    def __init__(self, clients: Any, counter: _Counter, call: Call, wait_timeout: float) -> None:
        self._clients = clients
        self._counter = counter
        self._call = call
        self._wait_timeout = wait_timeout
        self._regions: dict[str, Future[AccountMonitoring]] = {}
        self._lock = threading.Lock()

    def get(self, region: str) -> Collected[AccountMonitoring]:
        """The monitoring of ``region``; never raises."""
        with self._lock:
            future = self._regions.get(region)
            owner = future is None
            if future is None:
                future = self._regions[region] = Future()
        if owner:
            try:
                future.set_result(self._collect(region))
            except BaseException as exc:  # complete the future whatever happens
                future.set_exception(exc)
        try:
            return Collected.ok(future.result(timeout=self._wait_timeout))
        except Exception as exc:
            return Collected.failed(CollectionError("monitoring", type(exc).__name__, str(exc)))

    def _ask(self, operation: str, method: Callable[..., Any], **kwargs: Any) -> Collected[Any]:
        return self._call(self._counter, operation, method, **kwargs)

    def _collect(self, region: str) -> AccountMonitoring:
        return AccountMonitoring(
            region=region,
            guardduty=self._guardduty(region),
            trails=self._trails(region),
            recorders=self._recorders(region),
            security_hub=self._security_hub(region),
        )

    def _guardduty(self, region: str) -> Collected[tuple[Detector, ...]]:
        gd = self._clients.client("guardduty", region_name=region)
        listed = self._ask("ListDetectors", gd.list_detectors)
        ids = map_answer(listed, lambda r: [str(d) for d in r.get("DetectorIds", [])])
        if not ids.is_ok:
            return Collected.failed(ids.error)  # type: ignore[arg-type]
        found: list[Detector] = []
        for detector_id in ids.get():
            got = map_answer(
                self._ask("GetDetector", gd.get_detector, DetectorId=detector_id),
                functools.partial(detector, detector_id),
            )
            if not got.is_ok:
                return Collected.failed(got.error)  # type: ignore[arg-type]
            found.append(got.get())
        return Collected.ok(tuple(found))

    def _trails(self, region: str) -> Collected[tuple[TrailLogging, ...]]:
        ct = self._clients.client("cloudtrail", region_name=region)
        described = map_answer(
            self._ask("DescribeTrails", ct.describe_trails, includeShadowTrails=True),
            lambda r: list(r.get("trailList", [])),
        )
        if not described.is_ok:
            return Collected.failed(described.error)  # type: ignore[arg-type]
        out: list[TrailLogging] = []
        for trail in described.get():
            home = str(trail.get("HomeRegion") or region)
            if not (trail.get("IsMultiRegionTrail") or home == region):
                continue
            # A trail is read in its home region (shadow copies elsewhere are not).
            client = self._clients.client("cloudtrail", region_name=home)
            arn = str(trail.get("TrailARN") or trail["Name"])
            status = self._ask("GetTrailStatus", client.get_trail_status, Name=arn)
            selectors = self._ask("GetEventSelectors", client.get_event_selectors, TrailName=arn)
            error = status.error or selectors.error
            if error is None:
                try:
                    out.append(trail_logging(trail, status.get(), selectors.get()))
                    continue
                except Exception as exc:  # an odd answer costs this trail, not the audit
                    error = CollectionError("parse", "UnexpectedResponse", repr(exc))
            # Another trail may still answer the question; MON.2 says ERROR if not.
            out.append(
                TrailLogging(
                    name=str(trail.get("Name", arn)),
                    home_region=home,
                    multi_region=bool(trail.get("IsMultiRegionTrail")),
                    logging=False,
                    error=error,
                )
            )
        return Collected.ok(tuple(out))

    def _recorders(self, region: str) -> Collected[Any]:
        cfg = self._clients.client("config", region_name=region)
        described = self._ask(
            "DescribeConfigurationRecorders", cfg.describe_configuration_recorders
        )
        if not described.is_ok:
            return described
        status = self._ask(
            "DescribeConfigurationRecorderStatus", cfg.describe_configuration_recorder_status
        )
        if not status.is_ok:
            return status
        return map_answer(status, lambda s: recorders(described.get(), s))

    def _security_hub(self, region: str) -> Collected[bool]:
        hub = self._clients.client("securityhub", region_name=region)
        got = self._ask("DescribeHub", hub.describe_hub)
        error = got.error
        if (
            error is not None
            and error.code == "InvalidAccessException"
            and "not subscribed" in error.message.lower()
        ):
            return Collected.ok(False)  # Security Hub's own "not enabled" answer
        return map_answer(got, lambda r: bool(r.get("HubArn")))
