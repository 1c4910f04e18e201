"""S3 Metadata live inventory tables read as real Iceberg tables (written by pyiceberg).

The report is compared with a count computed here from the rows written, minus the
rows a later snapshot deleted; the table is read from a local metadata file and,
end to end, from S3 through S3 Tables ``GetTableMetadataLocation`` on the embedded
TLS endpoint (moto implements S3 Tables).
"""

from __future__ import annotations

import json
import socket
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from securestore_cli.audit import audit_command
from securestore_cli.main import main_group

from securestore import Connection
from securestore.audit import exit_status
from securestore.audit.inventory import audit_metadata_table
from securestore.audit.inventory_manifest import InventoryError
from securestore.audit.inventory_report import prefix_of
from securestore.audit.metadata_table import read_live_table
from securestore.audit.options import AuditOptions, EncryptionRequirement
from securestore.audit.runner import AuditReport
from securestore.errors import ConfigurationError, NotFoundError

from ..conftest import Endpoint, unique_bucket_name
from .metadata_table_gen import (
    METADATA_NAMESPACE,
    METADATA_TABLE,
    MetadataRow,
    commit_delete_file,
    metadata_arrow,
    metadata_rows,
    write_metadata_table,
)

pyiceberg = pytest.importorskip("pyiceberg")
from pyiceberg.expressions import StartsWith  # noqa: E402

GOOD = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-0000-0000-0000-000000000000"
OTHER = "arn:aws:kms:us-east-1:444455556666:key/2222bbbb-0000-0000-0000-000000000000"
KEYS = (GOOD, OTHER, GOOD, None)  # None: a KMS row whose key S3 Metadata did not record
DELETED = "p3/"  # the prefix the second-to-last snapshot deletes
OPTIONS = AuditOptions(require=EncryptionRequirement.KMS, allowed_kms_keys=frozenset({GOOD}))


def _live(rows: list[MetadataRow]) -> list[MetadataRow]:
    """What the table holds after the fixture's snapshots, delete markers left out: every
    row but those under DELETED written before the delete (the last 50 came after it)."""
    kept = [r for r in rows[:-50] if not r.key.startswith(DELETED)] + rows[-50:]
    return [r for r in kept if not r.delete_marker]


Tally = dict[str, Counter[tuple[str, str]]]


def _expected(rows: Iterable[MetadataRow]) -> tuple[Tally, Tally]:
    """Objects and bytes per bucket/prefix by status and by key, counted here."""
    status: Tally = {}
    keys: Tally = {}
    for r in rows:
        group = f"{r.bucket}/{prefix_of(r.key, 1)}"
        s = status.setdefault(group, Counter())
        name = r.encryption_status or ""
        s[(name, "objects")] += 1
        s[(name, "bytes")] += r.size or 0
        if r.encryption_status in ("SSE-KMS", "DSSE-KMS"):
            k = keys.setdefault(group, Counter())
            arn = r.kms_key_arn or "unknown"
            k[(arn, "objects")] += 1
            k[(arn, "bytes")] += r.size or 0
    return status, keys


def _reported(report: AuditReport) -> tuple[Tally, Tally]:
    status: Tally = {}
    keys: Tally = {}
    for result in report.results:
        if result.check_id == "S3.INV.1":
            s = status.setdefault(result.bucket, Counter())
            for name, entry in result.details["by_encryption_status"].items():
                s[(name, "objects")] += entry["objects"]
                s[(name, "bytes")] += entry["bytes"]
        else:
            k = keys.setdefault(result.bucket, Counter())
            for arn, entry in result.details["by_kms_key"].items():
                k[(arn, "objects")] += entry["objects"]
                k[(arn, "bytes")] += entry["bytes"]
    return status, {b: c for b, c in keys.items() if c}


@pytest.fixture(scope="module")
def rows() -> list[MetadataRow]:
    return metadata_rows(3000, keys=KEYS)


@pytest.fixture(scope="module")
def local_table(tmp_path_factory: pytest.TempPathFactory, rows: list[MetadataRow]) -> Path:
    """Three appends, then a copy-on-write delete of every row under p3/ (data files
    rewritten, old entries marked deleted), then one more append of 50 SSE-KMS rows."""
    folder = tmp_path_factory.mktemp("iceberg")
    table: Any = write_metadata_table(folder, rows[:-50])
    table.delete(StartsWith("key", DELETED))
    table.append(metadata_arrow(rows[-50:], len(rows) - 50))
    assert table.metadata.format_version == 2
    return Path(table.metadata_location.removeprefix("file://"))


def test_report_equals_an_independent_count(local_table: Path, rows: list[MetadataRow]) -> None:
    report = audit_metadata_table([str(local_table)], options=OPTIONS)
    assert not report.errors
    assert _reported(report) == _expected(_live(rows))
    written = sum(1 for r in rows if not r.delete_marker)
    counted = sum(r.details["objects"] for r in report.results if r.check_id == "S3.INV.1")
    assert counted == len(_live(rows)) < written  # the deleted rows are not counted
    assert exit_status(report) == 1


def test_keys_outside_the_allowed_set_and_unknown_keys_fail(local_table: Path) -> None:
    report = audit_metadata_table([str(local_table)], options=OPTIONS)
    key_results = [r for r in report.results if r.check_id == "S3.INV.2"]
    failing = [r for r in key_results if r.status.value == "FAIL"]
    assert failing and all(r.details["by_kms_key"] for r in failing)
    reasons = {o["reason"] for r in failing for o in r.details["worst_objects"]}
    assert reasons == {OTHER, "none"}  # the other account's key, and rows without a key
    assert all("unknown" in r.message or OTHER in r.message for r in failing)
    assert not [r for r in key_results if r.status.value == "ERROR"]


def test_all_allowed_passes(tmp_path: Path) -> None:
    rows = [MetadataRow("ok", f"a/{i}", i, "SSE-KMS", GOOD, bucket_key=True) for i in range(20)] + [
        MetadataRow("ok", "a/gone", 0, None, delete_marker=True)
    ]
    table: Any = write_metadata_table(tmp_path, rows, commits=2)
    report = audit_metadata_table([table.metadata_location], options=OPTIONS)
    assert {r.status.value for r in report.results} == {"PASS"}
    (inv1,) = [r for r in report.results if r.check_id == "S3.INV.1"]
    assert inv1.details["by_bucket_key_status"] == {"ENABLED": {"objects": 20, "bytes": 190}}
    assert exit_status(report) == 0


def test_read_live_table_counts_rows_and_files(
    local_table: Path, rows: list[MetadataRow], tmp_path: Path
) -> None:
    live = read_live_table(str(local_table), clients=None, into=tmp_path)
    assert live.rows == len([r for r in rows[:-50] if not r.key.startswith(DELETED)]) + 50
    assert live.data_files >= 2 and live.delete_files == 0 and live.api_calls == 0
    assert live.rows_path.parent.parent == tmp_path


def test_position_deletes_are_applied(tmp_path: Path, rows: list[MetadataRow]) -> None:
    """A merge-on-read delete: a position delete file names rows of two data files; those
    rows are gone from the report (read back here from the data files with pyarrow)."""
    import pyarrow.parquet as pq

    table: Any = write_metadata_table(tmp_path, rows[:1000], commits=2)
    tasks = list(table.scan().plan_files())
    assert len(tasks) == 2
    positions = {tasks[0].file.file_path: list(range(0, 120, 3)), tasks[1].file.file_path: [7]}
    gone = set()
    for path, where in positions.items():
        keys = pq.read_table(path.removeprefix("file://"), columns=["key"]).column("key")
        gone |= {keys[i].as_py() for i in where}
    table = commit_delete_file(table, positions=positions)
    report = audit_metadata_table([table.metadata_location], options=OPTIONS)
    kept = [r for r in rows[:1000] if r.key not in gone and not r.delete_marker]
    assert len(gone) == 41
    assert _reported(report) == _expected(kept)
    (tmp_path / "x").mkdir()
    live = read_live_table(table.metadata_location, clients=None, into=tmp_path / "x")
    assert (live.data_files, live.delete_files) == (2, 1)


def test_equality_deletes_are_refused(tmp_path: Path, rows: list[MetadataRow]) -> None:
    table: Any = write_metadata_table(tmp_path, rows[:100], commits=1)
    table = commit_delete_file(table, equality_keys=[rows[3].key])
    with pytest.raises(InventoryError, match="equality delete files"):
        audit_metadata_table([table.metadata_location], options=OPTIONS)


# --- refusals: the audit cannot run (exit 4), never a pass ---------------------------------


def _copy_table(source: Path, into: Path) -> Path:
    """A copy of the local table's metadata file with its paths unchanged (the data
    stays where it is), for editing."""
    into.mkdir(parents=True, exist_ok=True)
    target = into / source.name
    target.write_bytes(source.read_bytes())
    return target


def test_gzipped_metadata_file(tmp_path: Path, local_table: Path, rows: list[MetadataRow]) -> None:
    import gzip

    path = tmp_path / (local_table.name + ".gz")
    path.write_bytes(gzip.compress(local_table.read_bytes()))
    report = audit_metadata_table([str(path)], options=OPTIONS)
    assert _reported(report) == _expected(_live(rows))


def test_missing_metadata_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="does not exist"):
        audit_metadata_table([str(tmp_path / "00001-x.metadata.json")])


def test_corrupt_metadata_file(tmp_path: Path, local_table: Path) -> None:
    path = _copy_table(local_table, tmp_path / "m")
    path.write_text(path.read_text()[:-20])
    with pytest.raises(InventoryError, match="cannot be read"):
        audit_metadata_table([str(path)])


def test_unknown_format_version(tmp_path: Path, local_table: Path) -> None:
    path = _copy_table(local_table, tmp_path / "m")
    doc = json.loads(path.read_text())
    doc["format-version"] = 7
    path.write_text(json.dumps(doc))
    with pytest.raises(InventoryError, match="cannot be read"):
        audit_metadata_table([str(path)])


def test_format_version_three_is_refused_by_name(tmp_path: Path, local_table: Path) -> None:
    path = _copy_table(local_table, tmp_path / "m")
    doc = json.loads(path.read_text())
    doc["format-version"] = 3
    doc["next-row-id"] = 0
    path.write_text(json.dumps(doc))
    with pytest.raises(InventoryError, match="format version 3; only 1, 2 are read"):
        audit_metadata_table([str(path)])


def test_missing_manifest_list(tmp_path: Path, rows: list[MetadataRow]) -> None:
    table: Any = write_metadata_table(tmp_path, rows[:100], commits=1)
    Path(table.current_snapshot().manifest_list.removeprefix("file://")).unlink()
    with pytest.raises(InventoryError, match=r"manifests .* cannot be read"):
        audit_metadata_table([table.metadata_location])


def test_corrupt_manifest(tmp_path: Path, rows: list[MetadataRow]) -> None:
    table: Any = write_metadata_table(tmp_path, rows[:100], commits=1)
    (manifest,) = table.current_snapshot().manifests(table.io)
    path = Path(manifest.manifest_path.removeprefix("file://"))
    damaged = bytearray(path.read_bytes())
    damaged[4:200] = b"\xff" * 196  # same length: past the size check, into the parser
    path.write_bytes(bytes(damaged))
    with pytest.raises(InventoryError, match=r"manifests .* cannot be read"):
        audit_metadata_table([table.metadata_location])


def test_manifest_changed_since_commit(tmp_path: Path, rows: list[MetadataRow]) -> None:
    table: Any = write_metadata_table(tmp_path, rows[:100], commits=1)
    (manifest,) = table.current_snapshot().manifests(table.io)
    with Path(manifest.manifest_path.removeprefix("file://")).open("ab") as out:
        out.write(b"\0" * 16)
    with pytest.raises(InventoryError, match="its manifest list says"):
        audit_metadata_table([table.metadata_location])


def test_data_file_changed_since_commit(tmp_path: Path, rows: list[MetadataRow]) -> None:
    table: Any = write_metadata_table(tmp_path, rows[:100], commits=1)
    (task,) = table.scan().plan_files()
    path = Path(task.file.file_path.removeprefix("file://"))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InventoryError, match="its manifest says"):
        audit_metadata_table([table.metadata_location])


def test_missing_data_file(tmp_path: Path, rows: list[MetadataRow]) -> None:
    table: Any = write_metadata_table(tmp_path, rows[:100], commits=1)
    (task,) = table.scan().plan_files()
    Path(task.file.file_path.removeprefix("file://")).unlink()
    with pytest.raises(InventoryError, match="is missing"):
        audit_metadata_table([table.metadata_location])


def test_table_without_snapshot(tmp_path: Path) -> None:
    table: Any = write_metadata_table(tmp_path, [])
    with pytest.raises(InventoryError, match="no current snapshot"):
        audit_metadata_table([table.metadata_location])


def test_journal_table_is_refused(tmp_path: Path) -> None:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField, StringType

    catalog = SqlCatalog("j", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=tmp_path.as_uri())
    catalog.create_namespace("aws_s3_metadata")
    schema = Schema(
        *(
            NestedField(i + 1, name, StringType(), required=False)
            for i, name in enumerate(("bucket", "key", "record_type", "encryption_status"))
        )
    )
    table = catalog.create_table("aws_s3_metadata.journal", schema=schema)
    import pyarrow as pa

    table.append(
        pa.table({n: ["x"] for n in ("bucket", "key", "record_type", "encryption_status")})
    )
    with pytest.raises(InventoryError, match="journal table"):
        audit_metadata_table([table.metadata_location])


def test_missing_pyiceberg_is_a_configuration_error(
    local_table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyiceberg", None)
    with pytest.raises(ConfigurationError) as caught:
        audit_metadata_table([str(local_table)])
    assert caught.value.hint == "install pyiceberg: pip install 'securestore[inventory]'"


def test_s3_location_needs_a_connection() -> None:
    with pytest.raises(ConfigurationError, match="needs an AWS connection"):
        audit_metadata_table(["s3://b/t/metadata/00001-x.metadata.json"])


# --- the CLI ---------------------------------------------------------------------------------


def invoke(*args: str, connection: Connection | None = None) -> tuple[int, str]:
    obj = SimpleNamespace(connection=connection, progress_enabled=lambda: False)
    result = CliRunner().invoke(audit_command, list(args), obj=obj, catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_reports_and_exits_one(local_table: Path, rows: list[MetadataRow]) -> None:
    code, out = invoke(
        "--metadata-table", str(local_table), "--require", "kms", "--allowed-kms-key", GOOD,
        "--format", "json",
    )  # fmt: skip
    assert code == 1
    doc = json.loads(out)
    inv1 = [r for r in doc["results"] if r["check_id"] == "S3.INV.1"]
    assert sum(r["details"]["objects"] for r in inv1) == len(_live(rows))


def test_cli_unreadable_table_exits_four(tmp_path: Path) -> None:
    code, out = invoke(
        "--metadata-table", str(tmp_path / "00001-x.metadata.json"), "--format", "json"
    )
    assert code == 4
    (error,) = json.loads(out)["errors"]
    assert "does not exist" in error


def test_cli_without_pyiceberg_exits_two_with_install_hint(
    local_table: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyiceberg", None)
    result = CliRunner().invoke(main_group, ["audit", "--metadata-table", str(local_table)])
    assert result.exit_code == 2
    assert "hint: install pyiceberg: pip install 'securestore[inventory]'" in result.output


def test_cli_help_names_the_sources() -> None:
    result = CliRunner().invoke(main_group, ["audit", "--help"])
    assert "--metadata-table" in result.output and "--metadata-namespace" in result.output


# --- end to end: S3 Tables + S3 on the embedded TLS endpoint ---------------------------------


def _upload(connection: Connection, root: Path, *, leave_out: str = "") -> None:
    s3 = connection.client("s3")
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (leave_out and path.name == leave_out):
            bucket, key = path.relative_to(root).as_posix().split("/", 1)
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


@pytest.fixture(scope="module")
def table_bucket(
    connection: Connection, tmp_path_factory: pytest.TempPathFactory, rows: list[MetadataRow]
) -> tuple[str, str]:
    """A table bucket with aws_s3_metadata.inventory whose files are in S3 (the table's
    warehouse), committed with UpdateTableMetadataLocation; the ARN and the location."""
    tables = connection.client("s3tables")
    arn = tables.create_table_bucket(name=unique_bucket_name("meta"))["arn"]
    tables.create_namespace(tableBucketARN=arn, namespace=[METADATA_NAMESPACE])
    tables.create_table(
        tableBucketARN=arn, namespace=METADATA_NAMESPACE, name=METADATA_TABLE, format="ICEBERG"
    )
    where = tables.get_table_metadata_location(
        tableBucketARN=arn, namespace=METADATA_NAMESPACE, name=METADATA_TABLE
    )
    folder = tmp_path_factory.mktemp("s3-iceberg")
    table: Any = write_metadata_table(folder, rows[:-50], location=where["warehouseLocation"])
    table.delete(StartsWith("key", DELETED))
    table.append(metadata_arrow(rows[-50:], len(rows) - 50))
    _upload(connection, folder / "s3")
    tables.update_table_metadata_location(
        tableBucketARN=arn,
        namespace=METADATA_NAMESPACE,
        name=METADATA_TABLE,
        versionToken=where["versionToken"],
        metadataLocation=table.metadata_location,
    )
    return arn, table.metadata_location


def test_table_bucket_arn_end_to_end(
    connection: Connection, table_bucket: tuple[str, str], rows: list[MetadataRow]
) -> None:
    arn, _location = table_bucket
    report = audit_metadata_table([arn], clients=connection, options=OPTIONS)
    assert not report.errors
    assert _reported(report) == _expected(_live(rows))
    assert report.api_calls[""] > 5  # GetTableMetadataLocation and the GETs of every file


def test_s3_metadata_location_end_to_end(
    connection: Connection, table_bucket: tuple[str, str], rows: list[MetadataRow]
) -> None:
    _arn, location = table_bucket
    assert location.startswith("s3://")
    report = audit_metadata_table([location], clients=connection, options=OPTIONS)
    assert _reported(report) == _expected(_live(rows))


def test_cli_with_a_table_bucket_arn(
    connection: Connection, table_bucket: tuple[str, str], rows: list[MetadataRow]
) -> None:
    arn, _ = table_bucket
    code, out = invoke(
        "--metadata-table", arn, "--require", "kms", "--format", "json", connection=connection
    )
    assert code == 1
    inv1 = [r for r in json.loads(out)["results"] if r["check_id"] == "S3.INV.1"]
    assert sum(r["details"]["objects"] for r in inv1) == len(_live(rows))


def test_unknown_table_is_not_found(connection: Connection, table_bucket: tuple[str, str]) -> None:
    arn, _ = table_bucket
    with pytest.raises(NotFoundError):
        audit_metadata_table([arn], clients=connection, table="journal")


def test_data_file_missing_in_s3_exits_four(
    connection: Connection, tmp_path: Path, rows: list[MetadataRow]
) -> None:
    tables = connection.client("s3tables")
    arn = tables.create_table_bucket(name=unique_bucket_name("gone"))["arn"]
    tables.create_namespace(tableBucketARN=arn, namespace=[METADATA_NAMESPACE])
    tables.create_table(
        tableBucketARN=arn, namespace=METADATA_NAMESPACE, name=METADATA_TABLE, format="ICEBERG"
    )
    where = tables.get_table_metadata_location(
        tableBucketARN=arn, namespace=METADATA_NAMESPACE, name=METADATA_TABLE
    )
    table: Any = write_metadata_table(tmp_path, rows[:100], location=where["warehouseLocation"])
    # S3 Tables refuses DeleteObject on a table's storage: leave one data file out instead.
    data_path = next(iter(table.scan().plan_files())).file.file_path
    missing = data_path.rsplit("/", 1)[-1]
    _upload(connection, tmp_path / "s3", leave_out=missing)
    tables.update_table_metadata_location(
        tableBucketARN=arn,
        namespace=METADATA_NAMESPACE,
        name=METADATA_TABLE,
        versionToken=where["versionToken"],
        metadataLocation=table.metadata_location,
    )
    with pytest.raises(NotFoundError):
        audit_metadata_table([arn], clients=connection)
    code, out = invoke("--metadata-table", arn, "--format", "json", connection=connection)
    assert code == 4
    assert missing in json.loads(out)["errors"][0]


def test_unreachable_s3_tables_exits_four(tls_endpoint: Endpoint) -> None:
    session = boto3.Session(
        aws_access_key_id=tls_endpoint.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=tls_endpoint.env["AWS_SECRET_ACCESS_KEY"],
        region_name=tls_endpoint.env["AWS_REGION"],
    )
    # A port held by this test and never listened on (a fixed one may be anyone's on a
    # shared machine): S3 Tables cannot be reached.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = Connection(
            session=session,
            endpoint_url=f"https://127.0.0.1:{unused.getsockname()[1]}",
            ca_bundle=tls_endpoint.ca_bundle,
            environ={},
            max_attempts=1,
        )
        arn = "arn:aws:s3tables:us-east-1:123456789012:bucket/nowhere"
        with pytest.raises(InventoryError, match="cannot be reached"):
            audit_metadata_table([arn], clients=dead)
        code, out = invoke("--metadata-table", arn, "--format", "json", connection=dead)
    assert code == 4
    assert "cannot be reached" in json.loads(out)["errors"][0]
