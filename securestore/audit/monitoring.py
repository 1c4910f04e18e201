"""Account-level continual monitoring, as collected (pure: no AWS calls).

One :class:`AccountMonitoring` per account and region, shared by the snapshots
of every bucket there: GuardDuty detectors, CloudTrail trails (with what their
event selectors log), AWS Config recorders and whether Security Hub is enabled.
The ``MON.n`` checks read it; :mod:`securestore.audit.collect_account` fills it.
The parsers here turn one API answer each into these values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from securestore.audit.model import Collected, CollectionError

__all__ = [
    "AccountMonitoring",
    "Detector",
    "EventScope",
    "Recorder",
    "TrailLogging",
    "detector",
    "recorders",
    "trail_logging",
]


@dataclass(frozen=True)
class Detector:
    """A GuardDuty detector: enabled, and whether S3 Protection (S3 data events) is on."""

    detector_id: str
    enabled: bool
    s3_protection: bool


@dataclass(frozen=True)
class EventScope:
    """S3 object data events one selector logs: read and/or write events, for the
    object ARNs starting with one of ``prefixes`` (``None``: every bucket)."""

    read: bool
    write: bool
    prefixes: tuple[str, ...] | None = None

    def covers(self, bucket_arn: str) -> bool:
        """True if every object of the bucket is in scope."""
        objects = f"{bucket_arn}/"
        return self.prefixes is None or any(objects.startswith(p) for p in self.prefixes)


@dataclass(frozen=True)
class TrailLogging:
    """What one trail logs: ``logging`` (GetTrailStatus ``IsLogging``), the S3 data
    event scopes, and whether KMS events (Decrypt, GenerateDataKey: read-only
    management events) are logged. ``error`` says why the trail's status or
    selectors could not be read (nothing is then known of what it logs)."""

    name: str
    home_region: str
    multi_region: bool
    logging: bool
    s3_data: tuple[EventScope, ...] = ()
    kms_events: bool = False
    error: CollectionError | None = None

    def applies_to(self, region: str) -> bool:
        """True if the trail records events of ``region``."""
        return self.multi_region or self.home_region == region


@dataclass(frozen=True)
class Recorder:
    """An AWS Config configuration recorder and whether it is recording."""

    name: str
    recording: bool
    all_supported: bool = False


@dataclass(frozen=True)
class AccountMonitoring:
    """The monitoring services of one account in one region, each collected on its own."""

    region: str
    guardduty: Collected[tuple[Detector, ...]]
    trails: Collected[tuple[TrailLogging, ...]]
    recorders: Collected[tuple[Recorder, ...]]
    security_hub: Collected[bool]


def detector(detector_id: str, response: Mapping[str, Any]) -> Detector:
    """GetDetector: the state and S3 Protection (the ``S3_DATA_EVENTS`` feature, or the
    older ``DataSources.S3Logs``)."""
    features = {
        str(f.get("Name")): f.get("Status") == "ENABLED" for f in response.get("Features") or []
    }
    legacy = (response.get("DataSources") or {}).get("S3Logs", {}).get("Status") == "ENABLED"
    return Detector(
        detector_id=detector_id,
        enabled=response["Status"] == "ENABLED",
        s3_protection=features.get("S3_DATA_EVENTS", legacy),
    )


def recorders(described: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[Recorder, ...]:
    """DescribeConfigurationRecorders with DescribeConfigurationRecorderStatus."""
    recording = {
        str(s["name"]): bool(s.get("recording"))
        for s in status.get("ConfigurationRecordersStatus", [])
    }
    return tuple(
        Recorder(
            name=str(r["name"]),
            recording=recording.get(str(r["name"]), False),
            all_supported=bool((r.get("recordingGroup") or {}).get("allSupported")),
        )
        for r in described.get("ConfigurationRecorders", [])
    )


_READ = {"All": (True, True), "ReadOnly": (True, False), "WriteOnly": (False, True)}
_KMS_SOURCE = "kms.amazonaws.com"


def _basic(selectors: Sequence[Mapping[str, Any]]) -> tuple[list[EventScope], bool]:
    scopes: list[EventScope] = []
    kms = False
    for sel in selectors:
        read, write = _READ.get(str(sel.get("ReadWriteType", "All")), (False, False))
        if sel.get("IncludeManagementEvents", True) and read:
            kms = kms or _KMS_SOURCE not in (sel.get("ExcludeManagementEventSources") or [])
        for resource in sel.get("DataResources") or []:
            if resource.get("Type") == "AWS::S3::Object":
                scopes.append(EventScope(read, write, tuple(resource.get("Values") or ())))
    return scopes, kms


def _advanced(selectors: Sequence[Mapping[str, Any]]) -> tuple[list[EventScope], bool]:
    """Advanced selectors; a field or operator not understood here makes the selector
    count for nothing (it may narrow what is logged)."""
    scopes: list[EventScope] = []
    kms = False
    for sel in selectors:
        fields: dict[str, dict[str, list[str]]] = {}
        for fs in sel.get("FieldSelectors") or []:
            ops = {k: [str(v) for v in vals] for k, vals in fs.items() if k != "Field"}
            fields[str(fs.get("Field"))] = ops
        category = fields.pop("eventCategory", {}).get("Equals", [])
        read_only = fields.pop("readOnly", {})
        if set(read_only) - {"Equals"}:
            continue
        flags = read_only.get("Equals", ["true", "false"])
        read, write = "true" in flags, "false" in flags
        if category == ["Management"]:
            source = fields.pop("eventSource", {})
            if fields or not read:
                continue
            if _KMS_SOURCE in source.get("NotEquals", []) or (
                "Equals" in source and _KMS_SOURCE not in source["Equals"]
            ):
                continue
            if set(source) - {"Equals", "NotEquals"}:
                continue
            kms = True
        elif category == ["Data"]:
            if fields.pop("resources.type", {}).get("Equals") != ["AWS::S3::Object"]:
                continue
            arn = fields.pop("resources.ARN", None)
            if fields or (arn is not None and set(arn) != {"StartsWith"}):
                continue
            scopes.append(EventScope(read, write, tuple(arn["StartsWith"]) if arn else None))
    return scopes, kms


def trail_logging(
    trail: Mapping[str, Any], status: Mapping[str, Any], selectors: Mapping[str, Any]
) -> TrailLogging:
    """DescribeTrails' entry, GetTrailStatus and GetEventSelectors of one trail. A
    trail without selectors logs every management event and no data event."""
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    if advanced:
        scopes, kms = _advanced(advanced)
    elif basic:
        scopes, kms = _basic(basic)
    else:
        scopes, kms = [], True
    return TrailLogging(
        name=str(trail["Name"]),
        home_region=str(trail.get("HomeRegion", "")),
        multi_region=bool(trail.get("IsMultiRegionTrail")),
        logging=bool(status.get("IsLogging")),
        s3_data=tuple(scopes),
        kms_events=kms,
    )
