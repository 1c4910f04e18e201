"""The object classifier on the S3EC vectors, the spread and the budget, and the
``S3.OBJ.n`` checks on snapshots (pure: no endpoint)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore.audit import Collected, EncryptionRequirement, Registry, Status, run_checks
from securestore.audit.collect_objects import ObjectBudget, Spread
from securestore.audit.model import CollectionError, ObjectCoverage, ObjectSample, Result
from securestore.audit.object_format import classify
from securestore.audit.reports import FORMATS, renderer_for

from .builders import compliant

Run = Callable[..., Result]
VECTORS = Path(__file__).parents[1] / "vectors" / "s3ec" / "manifest.json"
_ALL = json.loads(VECTORS.read_text())["vectors"]

#: Vector name -> (format, legacy reasons start with ...), for the vectors whose format
#: is not simply their version without legacy modes.
_EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "v2-cbc-aeswrap-opt-in": ("s3ec-v2", ("unauthenticated", "legacy key wrap AESWrap")),
    "v2-cbc-refused": ("s3ec-v2", ("unauthenticated", "legacy key wrap AESWrap")),
    "v1-rsa-pkcs1-opt-in": ("s3ec-v1", ("unauthenticated", "legacy key wrap V1")),
    "v1-refused": ("s3ec-v1", ("unauthenticated", "legacy key wrap V1")),
    "v2-aeswrap-refused": ("s3ec-v2", ("legacy key wrap AESWrap",)),
    "mixed-v2-v3": ("s3ec-invalid", ()),
    "mixed-v1-v2": ("s3ec-invalid", ()),
    "mixed-v3-legacy-iv": ("s3ec-invalid", ()),
    "v3-instruction-holds-commitment": ("s3ec-invalid", ()),
    "v3-object-with-v2-instruction-file": ("s3ec-invalid", ()),
    "v2-tag-len-96": ("s3ec-invalid", ()),
    "v3-unknown-wrap": ("s3ec-invalid", ()),
    "v2-tag-only-truncated": ("s3ec-v2", ()),
    "v3-cipher-115-in-v2": ("s3ec-invalid", ()),
}


def _sample(vector: dict[str, Any], key: str = "obj") -> ObjectSample:
    body = vector.get("instruction_file")
    return ObjectSample(
        key,
        sse="AES256",
        metadata_keys=frozenset(vector["metadata"]),
        crypto_metadata=dict(vector["metadata"]),
        instruction=Collected.ok(body.encode()) if body is not None else None,
    )


@pytest.mark.parametrize("vector", _ALL, ids=[v["name"] for v in _ALL])
def test_every_vector_is_classified_by_its_format(vector: dict[str, Any]) -> None:
    got = classify(_sample(vector))
    version = "s3ec-v3" if vector["name"].startswith("v3") else vector["name"][:2]
    expected, legacy = _EXPECTED.get(vector["name"], (version, ()))
    if not expected.startswith("s3ec"):
        expected = f"s3ec-{expected}"
    assert got.format == expected, got
    assert len(got.legacy) == len(legacy)
    for reason, start in zip(got.legacy, legacy, strict=True):
        assert reason.startswith(start)
    assert got.client_side and got.s3ec
    if expected != "s3ec-invalid":
        assert got.instruction_file == ("instruction_file" in vector)


def _vector(name: str) -> dict[str, Any]:
    return next(v for v in _ALL if v["name"] == name)


def test_instruction_file_objects_without_any_mapkey_are_found_through_the_file() -> None:
    """V1/V2 with an instruction file leave the object without mapkeys: only the file
    (seen in the listing and read) tells that it is an S3EC object."""
    vector = _vector("v2-instruction-file")
    assert vector["metadata"] == {}
    assert classify(_sample(vector)).format == "s3ec-v2"
    gone = ObjectSample("obj", instruction=Collected.ok(None))
    assert classify(gone).format == "plain"
    assert classify(ObjectSample("obj")).format == "plain"


def test_missing_instruction_file_of_a_v3_object() -> None:
    vector = _vector("v3-instruction-file")
    sample = ObjectSample(
        "obj", crypto_metadata=dict(vector["metadata"]), instruction=Collected.ok(None)
    )
    got = classify(sample)
    assert got.format == "s3ec" and got.instruction_missing
    failed = ObjectSample(
        "obj",
        crypto_metadata=dict(vector["metadata"]),
        instruction=Collected.failed(CollectionError("GetObject", "AccessDenied")),
    )
    assert not classify(failed).instruction_missing
    assert "unreadable" in (classify(failed).problem or "")


def test_esdk_instruction_files_and_plain_objects() -> None:
    esdk = ObjectSample("m", head=bytes([0x02, 0x04, 0x78, 0x00]))
    assert classify(esdk).format == "esdk"
    marked = ObjectSample("m", sse="aws:kms", crypto_metadata={"securestore-format": "aws-esdk-v2"})
    assert classify(marked).format == "esdk"
    # The marker is informational: bytes that were read and are no message win.
    lying = ObjectSample("m", head=b"hello", crypto_metadata={"securestore-format": "x"})
    assert classify(lying).format == "plain"
    instruction = ObjectSample("obj.instruction", crypto_metadata={"x-amz-crypto-instr-file": ""})
    assert classify(instruction).format == "instruction-file"
    assert not classify(instruction).client_side


def test_spread_is_even_deterministic_and_bounded() -> None:
    spread = Spread(10)
    keys = [f"k{i:05d}" for i in range(10_000)]
    for key in keys:
        spread.offer(key)
        assert len(spread._kept) < 20
    chosen = spread.chosen()
    assert len(chosen) == 10 and chosen == sorted(chosen)
    positions = [keys.index(k) for k in chosen]
    assert positions[0] == 0 and positions[-1] >= 8_000  # the whole listing, not a page
    gaps = {b - a for a, b in itertools.pairwise(positions)}
    assert max(gaps) <= 2 * min(gaps)
    again = Spread(10)
    for key in keys:
        again.offer(key)
    assert again.chosen() == chosen
    short = Spread(10)
    for key in keys[:4]:
        short.offer(key)
    assert short.chosen() == keys[:4]


def test_budget_counts_objects_and_time() -> None:
    budget = ObjectBudget(2)
    assert budget.exhausted() is None
    assert [budget.take(), budget.take(), budget.take()] == [None, None, "object-budget"]
    assert budget.exhausted() == "object-budget"
    now = [0.0]
    timed = ObjectBudget(None, 5.0, clock=lambda: now[0])
    assert timed.take() is None and timed.exhausted() is None
    now[0] = 5.0
    assert timed.exhausted() == "time-budget" and timed.take() == "time-budget"


def _legacy_samples() -> tuple[ObjectSample, ...]:
    return (
        _sample(_vector("v3-aes-gcm"), "new"),
        _sample(_vector("v1-refused"), "old-cbc"),
        _sample(_vector("mixed-v2-v3"), "mixed"),
        ObjectSample("kms", sse="aws:kms"),
    )


def test_obj2_reports_legacy_and_invalid_s3ec_objects(run: Run) -> None:
    result = run("S3.OBJ.2", compliant(objects=Collected.ok(_legacy_samples())))
    assert result.status is Status.FAIL
    assert [i["key"] for i in result.details["legacy"]] == ["old-cbc"]
    assert [i["key"] for i in result.details["invalid"]] == ["mixed"]
    assert result.details["formats"] == {"plain": 1, "s3ec-invalid": 1, "s3ec-v1": 1, "s3ec-v3": 1}
    current = run("S3.OBJ.2", compliant(objects=Collected.ok(_legacy_samples()[:1])))
    assert current.status is Status.PASS
    assert run("S3.OBJ.2", compliant(objects=None)).status is Status.SKIP


def test_obj3_reports_orphaned_and_missing_instruction_files(run: Run) -> None:
    v3 = _vector("v3-instruction-file")
    samples = (
        ObjectSample("a.instruction", parent_exists=Collected.ok(False)),
        ObjectSample("b.instruction", parent_exists=Collected.ok(True)),
        ObjectSample("c", crypto_metadata=dict(v3["metadata"]), instruction=Collected.ok(None)),
        _sample(v3, "d"),
    )
    result = run("S3.OBJ.3", compliant(objects=Collected.ok(samples)))
    assert result.status is Status.FAIL
    assert result.details["orphaned_instruction_files"] == ["a.instruction"]
    assert result.details["missing_instruction_files"] == ["c"]
    fine = run("S3.OBJ.3", compliant(objects=Collected.ok(samples[1:2] + samples[3:])))
    assert fine.status is Status.PASS
    denied = ObjectSample(
        "e.instruction", parent_exists=Collected.failed(CollectionError("HeadObject", "403"))
    )
    assert run("S3.OBJ.3", compliant(objects=Collected.ok((denied,)))).status is Status.ERROR


@pytest.mark.parametrize("check_id", ["S3.OBJ.1", "S3.OBJ.2", "S3.OBJ.3"])
def test_a_scan_cut_short_is_never_a_pass(run: Run, check_id: str) -> None:
    fine = (ObjectSample("kms", sse="aws:kms"),)
    partial = ObjectCoverage(requested=10, listed=500, listing_complete=True, sampled=1,
                             stopped_by="object-budget")  # fmt: skip
    result = run(
        check_id,
        compliant(objects=Collected.ok(fine), object_coverage=partial),
        require=EncryptionRequirement.KMS,
    )
    assert result.status is Status.ERROR
    assert "partial coverage" in result.message and "object-budget" in result.message
    assert result.details["coverage"]["stopped_by"] == "object-budget"
    nothing = compliant(objects=Collected.ok(()), object_coverage=partial)
    assert run(check_id, nothing).status is Status.ERROR
    whole = ObjectCoverage(requested=10, listed=1, listing_complete=True, sampled=1)
    done = run(
        check_id,
        compliant(objects=Collected.ok(fine), object_coverage=whole),
        require=EncryptionRequirement.KMS,
    )
    assert done.status is Status.PASS and "across the whole listing" in done.message


def test_a_bounded_listing_is_said_in_the_message(run: Run) -> None:
    coverage = ObjectCoverage(requested=1, listed=100, listing_complete=False, sampled=1)
    result = run(
        "S3.OBJ.1",
        compliant(objects=Collected.ok((ObjectSample("x", "AES256"),)), object_coverage=coverage),
    )
    assert result.status is Status.PASS and "the first 100 keys" in result.message


def test_obj1_counts_s3ec_objects_found_through_their_instruction_file(run: Run) -> None:
    """A V1/V2 object stored with an instruction file has no mapkey; its listed and read
    instruction file makes it client-side, a plain object without one stays a finding."""
    stored = ObjectSample(
        "v2", instruction=_sample(_vector("v2-instruction-file")).instruction, head=b"\x8f"
    )
    plain = ObjectSample("p", instruction=Collected.ok(None), head=b"hello")
    assert run("S3.OBJ.1", compliant(objects=Collected.ok((stored,)))).status is Status.PASS
    both = run("S3.OBJ.1", compliant(objects=Collected.ok((stored, plain))))
    assert both.status is Status.FAIL and both.details["not_encrypted_as_required"] == ["p"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_object_findings_render_in_every_format(fmt: str) -> None:
    """The new checks' details (lists of objects with their reasons) in every report."""
    v3 = _vector("v3-instruction-file")
    samples = (
        *_legacy_samples(),
        ObjectSample("a.instruction", parent_exists=Collected.ok(False)),
        ObjectSample("c", crypto_metadata=dict(v3["metadata"]), instruction=Collected.ok(None)),
    )
    coverage = ObjectCoverage(10, 6, True, 6, stopped_by="object-budget")
    report = run_checks(
        [compliant(objects=Collected.ok(samples), object_coverage=coverage)],
        registry=Registry.builtin(),
    )
    statuses = {r.check_id: r.status for r in report.results if r.check_id.startswith("S3.OBJ")}
    assert statuses == {"S3.OBJ.1": Status.FAIL, "S3.OBJ.2": Status.FAIL, "S3.OBJ.3": Status.FAIL}
    text = renderer_for(fmt).render(report)
    assert "S3.OBJ.2" in text and "S3.OBJ.3" in text
