"""The sampled object scan against moto over TLS, with objects in the real S3EC formats
(the published vectors of ``tests/vectors/s3ec``, stored as an S3 Encryption Client
stores them: metadata on the object, or in ``KEY.instruction``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from securestore_cli.main import main_group

from securestore import Connection
from securestore.audit import AuditOptions, Registry, Status, run_checks
from securestore.audit.calls import CallCounter, record_call
from securestore.audit.collect import Collector
from securestore.audit.collect_objects import ObjectBudget, sample_bucket
from securestore.audit.collected import Collected
from securestore.audit.object_format import classify

from ..conftest import Endpoint, unique_bucket_name

_VECTORS = {
    v["name"]: v
    for v in json.loads(
        (Path(__file__).parents[1] / "vectors" / "s3ec" / "manifest.json").read_text()
    )["vectors"]
}
_MARKER = {"x-amz-crypto-instr-file": ""}


def _put(s3: Any, bucket: str, key: str, vector: str, *, instruction: bool = True) -> None:
    v = _VECTORS[vector]
    body = base64.b64decode(v["body"])
    s3.put_object(
        Bucket=bucket, Key=key, Body=body, Metadata=v["metadata"], ServerSideEncryption="AES256"
    )
    if instruction and "instruction_file" in v:
        s3.put_object(
            Bucket=bucket,
            Key=key + ".instruction",
            Body=v["instruction_file"].encode(),
            Metadata=_MARKER,
            ServerSideEncryption="AES256",
        )


@pytest.fixture(scope="module")
def s3ec_bucket(connection: Connection) -> str:
    s3 = connection.client("s3")
    name = unique_bucket_name("audit-s3ec")
    s3.create_bucket(Bucket=name)
    _put(s3, name, "new/v3", "v3-aes-gcm")
    _put(s3, name, "old/v1-cbc", "v1-refused")
    _put(s3, name, "old/v2-aeswrap", "v2-aeswrap-refused")
    _put(s3, name, "v2-instr", "v2-instruction-file")
    _put(s3, name, "v3-instr", "v3-instruction-file")
    _put(s3, name, "v3-no-instr", "v3-instruction-file", instruction=False)
    s3.put_object(
        Bucket=name,
        Key="gone.instruction",
        Body=_VECTORS["v2-instruction-file"]["instruction_file"].encode(),
        Metadata=_MARKER,
        ServerSideEncryption="AES256",
    )
    s3.put_object(Bucket=name, Key="plain.txt", Body=b"hello", ServerSideEncryption="AES256")
    return name


def test_the_scan_classifies_real_s3ec_objects_and_instruction_files(
    connection: Connection, s3ec_bucket: str
) -> None:
    collection = Collector(connection, options=AuditOptions(sample_objects=50)).collect(
        [s3ec_bucket]
    )
    assert not collection.errors
    snap = collection.snapshots[0]
    assert snap.objects is not None
    formats = {s.key: classify(s).format for s in snap.objects.get()}
    assert formats == {
        "gone.instruction": "instruction-file",
        "new/v3": "s3ec-v3",
        "old/v1-cbc": "s3ec-v1",
        "old/v2-aeswrap": "s3ec-v2",
        "plain.txt": "plain",
        "v2-instr": "s3ec-v2",  # no mapkey on the object: found through its instruction file
        "v2-instr.instruction": "instruction-file",
        "v3-instr": "s3ec-v3",
        "v3-instr.instruction": "instruction-file",
        "v3-no-instr": "s3ec",
    }
    assert snap.object_coverage is not None and snap.object_coverage.listing_complete
    report = run_checks(collection.snapshots, registry=Registry.builtin())
    by = {r.check_id: r for r in report.results}
    legacy = by["S3.OBJ.2"]
    assert legacy.status is Status.FAIL
    assert [i["key"] for i in legacy.details["legacy"]] == ["old/v1-cbc", "old/v2-aeswrap"]
    files = by["S3.OBJ.3"]
    assert files.status is Status.FAIL
    assert files.details["orphaned_instruction_files"] == ["gone.instruction"]
    assert files.details["missing_instruction_files"] == ["v3-no-instr"]
    assert by["S3.OBJ.1"].status is Status.PASS


@pytest.fixture(scope="module")
def many(connection: Connection) -> str:
    s3 = connection.client("s3")
    name = unique_bucket_name("audit-many")
    s3.create_bucket(Bucket=name)
    for i in range(40):
        s3.put_object(Bucket=name, Key=f"k{i:02d}", Body=b"x", ServerSideEncryption="AES256")
    return name


def test_the_sample_spreads_over_the_whole_bucket(connection: Connection, many: str) -> None:
    """Not the first page: with 4 of 40 the sample reaches the end of the listing."""
    snap = Collector(connection, options=AuditOptions(sample_objects=4)).collect([many])
    samples = snap.snapshots[0].objects
    assert samples is not None
    assert [s.key for s in samples.get()] == ["k00", "k08", "k24", "k32"]
    counter = CallCounter()

    def call(op: str, method: Any, **kwargs: Any) -> Collected[Any]:
        return record_call(counter, op, method, **kwargs)

    paged, coverage = sample_bucket(
        call,
        connection.client("s3"),
        many,
        count=4,
        require_rank=1,
        budget=ObjectBudget(),
        max_listed=1000,
        page_size=7,
    )
    assert [s.key for s in paged.get()] == ["k00", "k08", "k24", "k32"]
    assert coverage.listed == 40 and coverage.listing_complete and not coverage.partial
    bounded, cut = sample_bucket(
        call,
        connection.client("s3"),
        many,
        count=4,
        require_rank=1,
        budget=ObjectBudget(),
        max_listed=20,
        page_size=7,
    )
    assert [s.key for s in bounded.get()] == ["k00", "k04", "k12", "k16"]
    assert cut.listed == 20 and not cut.listing_complete


def test_the_object_budget_bounds_the_audit_and_says_so(
    connection: Connection, many: str, s3ec_bucket: str
) -> None:
    options = AuditOptions(sample_objects=4, object_budget=5)
    collection = Collector(connection, options=options, max_workers=1).collect([many, s3ec_bucket])
    sampled = {s.name: s.object_coverage for s in collection.snapshots}
    assert sum(c.sampled for c in sampled.values() if c is not None) == 5
    cut = [c for c in sampled.values() if c is not None and c.partial]
    assert len(cut) == 1 and cut[0].stopped_by == "object-budget"
    report = run_checks(collection.snapshots, registry=Registry.builtin(), options=options)
    partial = [
        r for r in report.results if r.check_id == "S3.OBJ.1" and "partial coverage" in r.message
    ]
    assert len(partial) == 1
    assert partial[0].status is not Status.PASS


def test_cli_reports_partial_coverage_and_exits_with_findings(
    tls_endpoint: Endpoint, many: str
) -> None:
    result = CliRunner().invoke(
        main_group,
        ["audit", many, "--sample-objects", "4", "--object-budget", "2", "--format", "json"],
        env=dict(tls_endpoint.env),
    )
    assert result.exit_code == 1, result.output
    records = {r["check_id"]: r for r in json.loads(result.stdout)["results"]}
    sampled = records["S3.OBJ.1"]
    assert sampled["status"] == "ERROR" and "partial coverage" in sampled["message"]
    assert sampled["details"]["coverage"] == {
        "requested": 4,
        "listed": 40,
        "listing_complete": True,
        "sampled": 2,
        "stopped_by": "object-budget",
    }
    whole = CliRunner().invoke(
        main_group,
        ["audit", many, "--sample-objects", "4", "--format", "json"],
        env=dict(tls_endpoint.env),
    )
    records = {r["check_id"]: r for r in json.loads(whole.stdout)["results"]}
    assert records["S3.OBJ.1"]["status"] == "PASS"


def test_the_time_budget_ends_the_scan_as_partial_coverage(
    connection: Connection, many: str
) -> None:
    ticks = iter([0.0, 1.0, 2.0])  # listing starts the clock; the objects come too late

    def clock() -> float:
        return next(ticks, 100.0)

    counter = CallCounter()

    def call(op: str, method: Any, **kwargs: Any) -> Collected[Any]:
        return record_call(counter, op, method, **kwargs)

    samples, coverage = sample_bucket(
        call,
        connection.client("s3"),
        many,
        count=4,
        require_rank=1,
        budget=ObjectBudget(None, 10.0, clock=clock),
        max_listed=1000,
    )
    assert coverage.stopped_by == "time-budget" and coverage.partial
    assert len(samples.get()) == coverage.sampled < 4
    assert counter.calls == 1 + coverage.sampled  # one listing page, then one HEAD each
    spent = ObjectBudget(0)
    none, nothing = sample_bucket(
        call, connection.client("s3"), many, count=4, require_rank=1, budget=spent, max_listed=10
    )
    assert none.get() == () and nothing.stopped_by == "object-budget"
    assert counter.calls == 1 + coverage.sampled  # an exhausted budget does not even list
