"""``audit_inventory``: the DuckDB report matches a listing of the same objects, and every
way an inventory can be unreadable is refused (InventoryError: exit 4)."""

from __future__ import annotations

import gzip
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection
from securestore.audit.inventory import audit_inventory, audit_metadata_table
from securestore.audit.inventory_manifest import InventoryError, parse_manifest
from securestore.audit.options import AuditOptions, EncryptionRequirement
from securestore.audit.runner import AuditReport, exit_status
from securestore.errors import ConfigurationError

from ..conftest import unique_bucket_name
from .inventory_gen import Row, synthetic_rows, write_inventory

_STATUS = {"AES256": "SSE-S3", "aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS"}


def _listing(connection: Connection, bucket: str) -> list[Row]:
    """Every object with its encryption from ListObjectsV2 + HeadObject."""
    s3 = connection.client("s3")
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=item["Key"])
            status = _STATUS.get(head.get("ServerSideEncryption", ""), "NOT-SSE")
            if head.get("SSECustomerAlgorithm"):
                status = "SSE-C"
            rows.append(
                Row(
                    bucket=bucket,
                    key=item["Key"],
                    size=item["Size"],
                    encryption_status=status,
                    bucket_key_status="ENABLED" if head.get("BucketKeyEnabled") else "DISABLED",
                )
            )
    return rows


@pytest.fixture(scope="module")
def estate(connection: Connection, kms_key: str) -> tuple[str, list[Row]]:
    """A bucket with objects in mixed server-side encryption modes, and its listing."""
    name = unique_bucket_name("inv-src")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=name)
    puts: list[tuple[str, dict[str, Any]]] = [
        ("plain/a.txt", {}),
        ("plain/b c+d.txt", {}),
        ("s3/one.bin", {"ServerSideEncryption": "AES256"}),
        ("s3/deep/two.bin", {"ServerSideEncryption": "AES256"}),
        ("kms/one.bin", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}),
        (
            "kms/bucket-key.bin",
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key, "BucketKeyEnabled": True},
        ),
        ("dsse/one.bin", {"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": kms_key}),
        ("top.txt", {"ServerSideEncryption": "AES256"}),
    ]
    for index, (key, extra) in enumerate(puts):
        s3.put_object(Bucket=name, Key=key, Body=b"x" * (100 * (index + 1)), **extra)
    return name, _listing(connection, name)


def _expected(rows: list[Row], depth: int = 1) -> dict[tuple[str, str], Counter[str]]:
    out: dict[tuple[str, str], Counter[str]] = {}
    for row in rows:
        prefix = "".join(p + "/" for p in row.key.split("/")[:-1][:depth])
        out.setdefault((row.bucket, prefix), Counter())[row.encryption_status] += 1
    return out


def _reported(report: AuditReport) -> dict[tuple[str, str], Counter[str]]:
    out: dict[tuple[str, str], Counter[str]] = {}
    for r in report.results:
        if r.check_id != "S3.INV.1":
            continue
        counts = Counter(
            {s: int(v["objects"]) for s, v in r.details["by_encryption_status"].items()}
        )
        out[(r.details["bucket"], r.details["prefix"])] = counts
    return out


def _upload(connection: Connection, root: Path, bucket: str) -> None:
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in root.rglob("*"):
        if path.is_file():
            s3.put_object(Bucket=bucket, Key=str(path.relative_to(root)), Body=path.read_bytes())


@pytest.mark.parametrize("file_format", ["CSV", "Parquet", "ORC"])
def test_report_matches_listing_through_s3(
    connection: Connection,
    estate: tuple[str, list[Row]],
    tmp_path: Path,
    file_format: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, rows = estate
    statuses = {r.encryption_status for r in rows}
    assert {"NOT-SSE", "SSE-S3", "SSE-KMS"} <= statuses  # the endpoint kept the modes apart
    destination = unique_bucket_name("inv-dest")
    manifest = write_inventory(
        tmp_path / "dest",
        rows,
        source_bucket=source,
        destination_bucket=destination,
        file_format=file_format,
        rows_per_file=3,
    )
    _upload(connection, tmp_path / "dest", destination)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    url = f"s3://{destination}/{manifest.relative_to(tmp_path / 'dest')}"

    report = audit_inventory(
        [url], clients=connection, options=AuditOptions(require=EncryptionRequirement.KMS)
    )

    assert _reported(report) == _expected(rows)
    failing = {r.bucket for r in report.findings()}
    assert failing == {f"{source}/plain/", f"{source}/s3/", source}
    assert exit_status(report) == 1
    assert report.total_api_calls == 2 + len(parse_manifest(manifest.read_bytes()).files)
    assert list(scratch.iterdir()) == []  # the downloaded data files are gone


def test_keys_are_url_decoded_and_delete_markers_skipped(tmp_path: Path) -> None:
    rows = [
        Row("b1", "dir one/a+b é.txt", 10, "NOT-SSE"),
        Row("b1", "dir one/gone.txt", 0, "NOT-SSE", is_delete_marker=True),
    ]
    fields = (
        "Bucket",
        "Key",
        "VersionId",
        "IsLatest",
        "IsDeleteMarker",
        "Size",
        "EncryptionStatus",
    )
    for fmt in ("CSV", "Parquet"):
        manifest = write_inventory(
            tmp_path / fmt, rows, source_bucket="b1", file_format=fmt, fields=fields
        )
        report = audit_inventory([str(manifest)], top=5)
        (result,) = report.results
        assert result.details["objects"] == 1
        assert result.details["worst_objects"] == [
            {"key": "dir one/a+b é.txt", "size": 10, "reason": "NOT-SSE"}
        ]


def test_requirement_levels_and_worst_first(tmp_path: Path) -> None:
    rows = synthetic_rows(700)
    manifest = write_inventory(tmp_path, rows, source_bucket="estate", file_format="Parquet")
    dsse = audit_inventory(
        [str(manifest)], options=AuditOptions(require=EncryptionRequirement.DSSE_KMS), depth=0
    )
    # depth 0: one result per bucket; only DSSE-KMS objects meet dsse-kms
    assert {r.bucket for r in dsse.results} == {"estate-a", "estate-b"}
    short = sum(r.details["short_objects"] for r in dsse.results)
    assert short == sum(1 for r in rows if r.encryption_status != "DSSE-KMS")
    s3 = audit_inventory([str(manifest)], depth=2)
    short_bytes = [r.details["short_bytes"] for r in s3.results]
    assert short_bytes == sorted(short_bytes, reverse=True)  # worst offenders first
    for r in s3.results:
        sizes = [o["size"] for o in r.details["worst_objects"]]
        assert sizes == sorted(sizes, reverse=True) and len(sizes) <= 20
        assert {o["reason"] for o in r.details["worst_objects"]} <= {"NOT-SSE", "SSE-C"}


def test_all_encrypted_passes(tmp_path: Path) -> None:
    rows = [Row("ok", f"k/{i}", i, "SSE-KMS", "ENABLED") for i in range(5)]
    manifest = write_inventory(tmp_path, rows, source_bucket="ok", file_format="CSV")
    report = audit_inventory(
        [str(manifest)], options=AuditOptions(require=EncryptionRequirement.KMS)
    )
    (result,) = report.results
    assert result.status.value == "PASS"
    assert result.details["by_bucket_key_status"] == {"ENABLED": {"objects": 5, "bytes": 10}}
    assert exit_status(report) == 0


# --- unreadable inventories --------------------------------------------------------------


def _one(tmp_path: Path, file_format: str = "CSV", **kwargs: Any) -> Path:
    rows = [Row("b", "k/1", 1, "SSE-S3"), Row("b", "k/2", 2, "NOT-SSE")]
    return write_inventory(tmp_path, rows, source_bucket="b", file_format=file_format, **kwargs)


def _data_file(manifest: Path) -> Path:
    key = json.loads(manifest.read_text())["files"][0]["key"]
    return next(p for p in manifest.parents if (p / key).is_file()) / key


def test_missing_data_file(tmp_path: Path) -> None:
    manifest = _one(tmp_path)
    _data_file(manifest).unlink()
    with pytest.raises(InventoryError, match="is missing"):
        audit_inventory([str(manifest)])


def test_schema_without_encryption_status(tmp_path: Path) -> None:
    manifest = _one(tmp_path, fields=("Bucket", "Key", "Size"))
    with pytest.raises(InventoryError, match="lacks encryption_status") as caught:
        audit_inventory([str(manifest)])
    assert caught.value.hint and "EncryptionStatus" in caught.value.hint


@pytest.mark.parametrize("file_format", ["CSV", "Parquet"])
def test_checksum_mismatch(tmp_path: Path, file_format: str) -> None:
    manifest = _one(tmp_path, file_format)
    data = _data_file(manifest)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # same size, other bytes
    data.write_bytes(bytes(raw))
    with pytest.raises(InventoryError, match="MD5"):
        audit_inventory([str(manifest)])


def test_manifest_checksum_mismatch(tmp_path: Path) -> None:
    manifest = _one(tmp_path)
    (manifest.parent / "manifest.checksum").write_text("0" * 32)
    with pytest.raises(InventoryError, match=r"manifest\.checksum"):
        audit_inventory([str(manifest)])


def _rewrite(manifest: Path, data: Path, content: bytes) -> None:
    """Replace a data file and fix the manifest (and its checksum) to match it."""
    import hashlib

    data.write_bytes(content)
    doc = json.loads(manifest.read_text())
    doc["files"][0].update(
        size=len(content), MD5checksum=hashlib.md5(content, usedforsecurity=False).hexdigest()
    )
    text = json.dumps(doc).encode()
    manifest.write_bytes(text)
    (manifest.parent / "manifest.checksum").write_text(
        hashlib.md5(text, usedforsecurity=False).hexdigest()
    )


@pytest.mark.parametrize(
    ("file_format", "content"),
    [
        ("CSV", gzip.compress(b'"b","k/1","many","2026","e","STANDARD","false","SSE-S3","","x"\n')),
        ("CSV", b"not gzip at all"),
        ("CSV", gzip.compress(b'"b","k/1","1"\n')),  # too few columns
        ("Parquet", b"PAR1 but not parquet"),
    ],
)
def test_file_that_does_not_parse(tmp_path: Path, file_format: str, content: bytes) -> None:
    manifest = _one(tmp_path, file_format)
    _rewrite(manifest, _data_file(manifest), content)
    with pytest.raises(InventoryError, match="cannot be read"):
        audit_inventory([str(manifest)])


@pytest.mark.parametrize(
    "change",
    [
        {"fileFormat": "JSON"},
        {"files": []},
        {"destinationBucket": "not-an-arn"},
        {"fileSchema": "struct<bucket:string"},
    ],
)
def test_malformed_manifest(tmp_path: Path, change: dict[str, Any]) -> None:
    manifest = _one(tmp_path)
    doc = json.loads(manifest.read_text())
    doc.update(change)
    manifest.write_text(json.dumps(doc))
    (manifest.parent / "manifest.checksum").unlink()
    with pytest.raises(InventoryError):
        audit_inventory([str(manifest)])


def test_missing_manifest_in_s3(connection: Connection, tmp_path: Path) -> None:
    bucket = unique_bucket_name("inv-none")
    connection.client("s3").create_bucket(Bucket=bucket)
    with pytest.raises(Exception, match=r"manifest\.json") as caught:
        audit_inventory([f"s3://{bucket}/x/manifest.json"], clients=connection)
    assert type(caught.value).__name__ == "NotFoundError"


def test_scratch_removed_when_a_download_fails(
    connection: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = unique_bucket_name("inv-bad")
    manifest = _one(tmp_path / "dest", destination_bucket=destination, rows_per_file=1)
    _upload(connection, tmp_path / "dest", destination)
    doc = json.loads(manifest.read_text())
    connection.client("s3").delete_object(Bucket=destination, Key=doc["files"][1]["key"])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    url = f"s3://{destination}/{manifest.relative_to(tmp_path / 'dest')}"
    with pytest.raises(Exception, match="GetObject"):
        audit_inventory([url], clients=connection)
    assert list(scratch.iterdir()) == []


def test_missing_duckdb_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ConfigurationError) as caught:
        audit_inventory([str(_one(tmp_path))])
    assert caught.value.hint and "pip install 'securestore[inventory]'" in caught.value.hint


# --- S3 Metadata live inventory tables (exported as Parquet) -----------------------------


def _metadata_export(path: Path, key_arn: str, other_arn: str) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "bucket": ["m", "m", "m", "m"],
            "key": ["a/1", "a/2", "b/3", "b/4"],
            "sequence_number": ["1", "2", "3", "4"],
            "version_id": [None] * 4,
            "is_delete_marker": [False, False, False, True],
            "size": pa.array([10, 20, 30, 0], type=pa.int64()),
            "encryption_status": ["SSE-KMS", "SSE-KMS", "DSSE-KMS", None],
            "is_bucket_key_enabled": [True, False, False, None],
            "kms_key_arn": [key_arn, other_arn, key_arn, None],
        }
    )
    pq.write_table(table, path)
    return path


def test_metadata_table_checks_allowed_keys(tmp_path: Path) -> None:
    good = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-0000-0000-0000-000000000000"
    bad = "arn:aws:kms:us-east-1:444455556666:key/2222bbbb-0000-0000-0000-000000000000"
    export = _metadata_export(tmp_path / "live.parquet", good, bad)
    options = AuditOptions(
        require=EncryptionRequirement.KMS,
        allowed_kms_keys=frozenset({"1111aaaa-0000-0000-0000-000000000000"}),
    )
    report = audit_metadata_table([str(tmp_path)], options=options)
    by = {(r.check_id, r.bucket): r for r in report.results}
    assert by[("S3.INV.1", "m/a/")].status.value == "PASS"
    assert by[("S3.INV.2", "m/a/")].status.value == "FAIL"
    assert by[("S3.INV.2", "m/a/")].details["worst_objects"] == [
        {"key": "a/2", "size": 20, "reason": bad}
    ]
    assert by[("S3.INV.2", "m/b/")].status.value == "PASS"
    assert by[("S3.INV.1", "m/b/")].details["objects"] == 1  # the delete marker is no object
    assert export.exists()


def test_inventory_without_key_arns_cannot_confirm_allowed_keys(tmp_path: Path) -> None:
    options = AuditOptions(allowed_kms_keys=frozenset({"arn:aws:kms:us-east-1:1:key/x"}))
    report = audit_inventory([str(_one(tmp_path))], options=options)
    statuses = {r.check_id: r.status.value for r in report.results}
    assert statuses["S3.INV.2"] == "ERROR"
    assert exit_status(report) == 1
