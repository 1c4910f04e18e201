"""Account-level continual monitoring (MON.1-MON.4): the checks on snapshot
fixtures, the selector parsers, and collection against the TLS endpoint (moto
implements GuardDuty, CloudTrail, Config and Security Hub), once per region."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection
from securestore.audit import AuditOptions, Collected, Registry, Result, Status
from securestore.audit.collect import Collector
from securestore.audit.monitoring import (
    EventScope,
    Recorder,
    TrailLogging,
    detector,
    trail_logging,
)
from tests.support.endpoints import endpoint_connection

from ..conftest import Endpoint, unique_bucket_name
from .builders import ARN, MONITORED, compliant, denied
from .stub import Canned, StubEndpoint, StubRequest

Run = Callable[..., Result]
IDS = ("MON.1", "MON.2", "MON.3", "MON.4")


def _mon(**changes: Any) -> Any:
    return compliant(monitoring=Collected.ok(replace(MONITORED, **changes)))


def _trail(**changes: Any) -> TrailLogging:
    (trail,) = MONITORED.trails.get()
    return replace(trail, **changes)


# --- the checks -------------------------------------------------------------------------------


def test_monitored_account_passes(run: Run) -> None:
    assert [run(i, compliant()).status for i in IDS] == [Status.PASS] * 4


def test_not_collected_is_an_error_never_a_pass(run: Run) -> None:
    for check_id in IDS:
        result = run(check_id, compliant(monitoring=None))
        assert result.status is Status.ERROR and "NotCollected" in result.message


@pytest.mark.parametrize(
    ("field", "operation", "check_id"),
    [
        ("guardduty", "ListDetectors", "MON.1"),
        ("trails", "DescribeTrails", "MON.2"),
        ("recorders", "DescribeConfigurationRecorders", "MON.3"),
        ("security_hub", "DescribeHub", "MON.4"),
    ],
)
def test_a_service_that_cannot_be_asked_is_an_error(
    run: Run, field: str, operation: str, check_id: str
) -> None:
    result = run(check_id, _mon(**{field: denied(operation=operation)}))
    assert result.status is Status.ERROR and operation in result.message


@pytest.mark.parametrize(
    ("detectors", "message"),
    [
        ((), "not enabled"),
        ((detector("d", {"Status": "DISABLED"}),), "suspended"),
        ((detector("d", {"Status": "ENABLED", "Features": []}),), "without S3 Protection"),
        (
            (
                detector(
                    "d",
                    {
                        "Status": "ENABLED",
                        "Features": [{"Name": "S3_DATA_EVENTS", "Status": "DISABLED"}],
                        "DataSources": {"S3Logs": {"Status": "ENABLED"}},
                    },
                ),
            ),
            "without S3 Protection",
        ),
    ],
    ids=["none", "suspended", "no-s3", "feature-off-wins"],
)
def test_guardduty_findings(run: Run, detectors: tuple[Any, ...], message: str) -> None:
    result = run("MON.1", _mon(guardduty=Collected.ok(detectors)))
    assert result.status is Status.FAIL and message in result.message


@pytest.mark.parametrize(
    ("trail", "missing"),
    [
        (_trail(logging=False), "no logging CloudTrail trail"),
        (_trail(multi_region=False), "no logging CloudTrail trail"),
        (_trail(s3_data=()), "S3 data read events, S3 data write events"),
        (_trail(s3_data=(EventScope(read=False, write=True),)), "S3 data read events"),
        (_trail(s3_data=(EventScope(True, True, (f"{ARN}/logs/",)),)), "S3 data read"),
        (_trail(s3_data=(EventScope(True, True, ("arn:aws:s3:::other/",)),)), "S3 data read"),
        (_trail(kms_events=False), "KMS events"),
    ],
    ids=["stopped", "other-region", "no-data", "write-only", "prefix", "other-bucket", "no-kms"],
)
def test_cloudtrail_findings(run: Run, trail: TrailLogging, missing: str) -> None:
    result = run("MON.2", _mon(trails=Collected.ok((trail,))))
    assert result.status is Status.FAIL and missing in result.message


def test_cloudtrail_scopes_of_several_trails_add_up(run: Run) -> None:
    reads = _trail(name="reads", s3_data=(EventScope(True, False, ("arn:aws:s3",)),))
    writes = _trail(name="writes", s3_data=(EventScope(False, True, (f"{ARN}/",)),))
    result = run("MON.2", _mon(trails=Collected.ok((reads, writes))))
    assert result.status is Status.PASS, result.message


def test_unreadable_trail_is_an_error_unless_another_trail_answers(run: Run) -> None:
    from securestore.audit import CollectionError

    unread = _trail(
        name="org-trail-of-the-management-account",
        logging=False,
        s3_data=(),
        kms_events=False,
        error=CollectionError("GetEventSelectors", "AccessDenied", "no"),
    )
    alone = run("MON.2", _mon(trails=Collected.ok((unread,))))
    assert alone.status is Status.ERROR and "AccessDenied" in alone.message
    partial = _trail(kms_events=False)
    result = run("MON.2", _mon(trails=Collected.ok((unread, partial))))
    assert result.status is Status.ERROR and "do not log KMS events" in result.message
    assert run("MON.2", _mon(trails=Collected.ok((unread, _trail())))).status is Status.PASS


def test_config_and_security_hub_findings(run: Run) -> None:
    assert run("MON.3", _mon(recorders=Collected.ok(()))).status is Status.FAIL
    stopped = Collected.ok((Recorder("default", recording=False),))
    assert "stopped" in run("MON.3", _mon(recorders=stopped)).message
    assert run("MON.4", _mon(security_hub=Collected.ok(False))).status is Status.FAIL


# --- the selector parsers ---------------------------------------------------------------------

_TRAIL = {"Name": "t", "HomeRegion": "us-east-1", "IsMultiRegionTrail": True}
_LOGGING = {"IsLogging": True}


def _advanced(*selectors: list[dict[str, Any]]) -> TrailLogging:
    body = {"AdvancedEventSelectors": [{"FieldSelectors": fs} for fs in selectors]}
    return trail_logging(_TRAIL, _LOGGING, body)


DATA = {"Field": "eventCategory", "Equals": ["Data"]}
OBJECTS = {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}
MANAGEMENT = {"Field": "eventCategory", "Equals": ["Management"]}


def test_trail_without_selectors_logs_management_events_only() -> None:
    got = trail_logging(_TRAIL, _LOGGING, {})
    assert got.kms_events and got.s3_data == ()


def test_basic_selectors() -> None:
    got = trail_logging(
        _TRAIL,
        _LOGGING,
        {
            "EventSelectors": [
                {
                    "ReadWriteType": "WriteOnly",
                    "IncludeManagementEvents": True,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"{ARN}/"]}],
                    "ExcludeManagementEventSources": ["kms.amazonaws.com"],
                }
            ]
        },
    )
    assert got.s3_data == (EventScope(False, True, (f"{ARN}/",)),)
    assert not got.kms_events  # write-only and KMS excluded


def test_advanced_selectors() -> None:
    got = _advanced([DATA, OBJECTS], [MANAGEMENT])
    assert got.s3_data == (EventScope(True, True, None),) and got.kms_events
    reads = _advanced([DATA, OBJECTS, {"Field": "readOnly", "Equals": ["true"]}])
    assert reads.s3_data == (EventScope(True, False, None),) and not reads.kms_events
    prefixed = _advanced([DATA, OBJECTS, {"Field": "resources.ARN", "StartsWith": [f"{ARN}/"]}])
    assert prefixed.s3_data[0].covers(ARN)


@pytest.mark.parametrize(
    "selector",
    [
        [DATA, OBJECTS, {"Field": "eventName", "Equals": ["GetObject"]}],
        [DATA, OBJECTS, {"Field": "resources.ARN", "NotStartsWith": [f"{ARN}/secret/"]}],
        [DATA, {"Field": "resources.type", "Equals": ["AWS::S3Outposts::Object"]}],
    ],
    ids=["event-name", "not-starts-with", "other-type"],
)
def test_advanced_selectors_that_may_narrow_count_for_nothing(
    selector: list[dict[str, Any]],
) -> None:
    assert _advanced(selector).s3_data == ()


def test_management_selector_excluding_kms_does_not_log_kms() -> None:
    excluded = [MANAGEMENT, {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}]
    assert not _advanced(excluded).kms_events
    writes = [MANAGEMENT, {"Field": "readOnly", "Equals": ["false"]}]
    assert not _advanced(writes).kms_events


# --- collection against the endpoint ----------------------------------------------------------

REGION = "eu-north-1"  # regional services set up here do not touch other tests' region


def _statuses(connection: Connection, *buckets: str) -> tuple[dict[str, Status], Any]:
    collection = Collector(connection, monitoring=True).collect(list(buckets))
    assert not collection.errors
    registry = Registry.builtin()
    snap = collection.snapshots[0]
    return {i: registry.get(i).run(snap, AuditOptions()).status for i in IDS}, collection


def _bucket(connection: Connection) -> str:
    name = unique_bucket_name("monitor")
    connection.client("s3", region_name=REGION).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return name


def test_endpoint_monitoring_collected_once_per_region_then_judged(
    connection: Connection,
) -> None:
    first, second = _bucket(connection), _bucket(connection)
    before, collection = _statuses(connection, first, second)
    assert before == dict.fromkeys(IDS, Status.FAIL)  # nothing enabled; hub not subscribed
    a, b = collection.snapshots
    assert a.monitoring is not None and b.monitoring is not None
    assert a.monitoring.value is b.monitoring.value  # one collection for the region, shared

    gd = connection.client("guardduty", region_name=REGION)
    gd.create_detector(Enable=True, DataSources={"S3Logs": {"Enable": True}})
    trail = connection.client("cloudtrail", region_name=REGION)
    trail.create_trail(Name="monitor-trail", S3BucketName=first)
    trail.start_logging(Name="monitor-trail")
    trail.put_event_selectors(
        TrailName="monitor-trail",
        AdvancedEventSelectors=[
            {"Name": "objects", "FieldSelectors": [DATA, OBJECTS]},
            {"Name": "management", "FieldSelectors": [MANAGEMENT]},
        ],
    )
    config = connection.client("config", region_name=REGION)
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": "arn:aws:iam::123456789012:role/config",
            "recordingGroup": {"allSupported": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": first})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    connection.client("securityhub", region_name=REGION).enable_security_hub()

    after, _ = _statuses(connection, first)
    assert after == dict.fromkeys(IDS, Status.PASS)


def test_endpoint_denied_services_are_errors(
    tls_endpoint: Endpoint, connection: Connection, tmp_path: Path
) -> None:
    name = _bucket(connection)
    trail = connection.client("cloudtrail", region_name=REGION)
    trail.create_trail(Name=f"denied-{name}", S3BucketName=name)
    trail.start_logging(Name=f"denied-{name}")

    def deny(request: StubRequest) -> Canned | None:
        denied_trail = request.target.endswith(".GetEventSelectors")
        if denied_trail or request.path.startswith(("/detector", "/accounts")):
            body = {"message": "not allowed", "__type": "AccessDeniedException"}
            return Canned(
                403,
                json.dumps(body).encode(),
                {"Content-Type": "application/json", "x-amzn-ErrorType": "AccessDeniedException"},
            )
        return None

    with StubEndpoint(tls_endpoint.url, tls_endpoint.ca_bundle, tmp_path, deny) as stub:
        conn = endpoint_connection(tls_endpoint.env, endpoint_url=stub.url, max_attempts=1)
        statuses, _ = _statuses(conn, name)
    assert statuses["MON.1"] is Status.ERROR and statuses["MON.4"] is Status.ERROR
    assert statuses["MON.2"] is Status.ERROR  # its selectors cannot be read


def test_monitoring_is_not_collected_unless_asked(connection: Connection) -> None:
    name = _bucket(connection)
    lean = Collector(connection).collect([name])
    assert lean.snapshots[0].monitoring is None
    full = Collector(connection, monitoring=True).collect([name])
    assert full.account_api_calls > lean.account_api_calls
