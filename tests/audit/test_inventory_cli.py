"""``securestore audit --inventory`` through click's runner: formats, exit codes, Athena."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from click.testing import CliRunner
from securestore_cli.audit import audit_command
from securestore_cli.main import main_group

from securestore import Connection
from securestore.audit.inventory import audit_inventory
from securestore.audit.inventory_athena import (
    VIEW_NAME,
    athena_script,
    create_table,
    table_name,
    view_statement,
)
from securestore.audit.inventory_manifest import parse_manifest
from securestore.audit.inventory_sql import NORMALISED_COLUMNS, summary_query
from securestore.audit.options import EncryptionRequirement

from ..conftest import unique_bucket_name
from .inventory_gen import Row, synthetic_rows, write_inventory


def invoke(*args: str) -> tuple[int, str]:
    obj = SimpleNamespace(connection=None, progress_enabled=lambda: False)
    result = CliRunner().invoke(audit_command, list(args), obj=obj, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [
        Row("shop", "orders/1.json", 100, "SSE-KMS", "ENABLED"),
        Row("shop", "orders/2.json", 200, "NOT-SSE"),
        Row("shop", "logs/1.log", 300, "SSE-S3"),
        Row("shop", "<script>|x`.txt", 5, "SSE-C"),
    ]
    return write_inventory(tmp_path_factory.mktemp("inv"), rows, source_bucket="shop")


@pytest.mark.parametrize("fmt", ["json", "sarif", "ocsf", "junit", "markdown", "csv", "table"])
def test_every_format_reports_findings_and_exits_one(manifest: Path, fmt: str) -> None:
    code, out = invoke("--inventory", str(manifest), "--require", "kms", "--format", fmt)
    assert code == 1
    if fmt in ("json", "sarif", "ocsf"):
        json.loads(out)
    if fmt == "junit":
        ET.fromstring(out)  # noqa: S314 - our own output
    assert "orders/2.json" in out or fmt in ("csv", "table", "markdown", "junit", "sarif", "ocsf")
    assert "S3.INV.1" in out or fmt == "ocsf"


def test_json_counts(manifest: Path) -> None:
    _, out = invoke("--inventory", str(manifest), "--require", "kms", "--format", "json")
    doc = json.loads(out)
    by = {r["bucket"]: r for r in doc["results"]}
    assert by["shop/orders/"]["status"] == "FAIL"
    assert by["shop/orders/"]["details"]["by_encryption_status"] == {
        "NOT-SSE": {"objects": 1, "bytes": 200},
        "SSE-KMS": {"objects": 1, "bytes": 100},
    }
    assert by["shop"]["details"]["worst_objects"] == [
        {"key": "<script>|x`.txt", "size": 5, "reason": "SSE-C"}
    ]
    assert doc["options"]["require"] == "kms"


def test_passes_when_nothing_falls_short(tmp_path: Path) -> None:
    manifest = write_inventory(
        tmp_path, [Row("ok", "a", 1, "SSE-S3")], source_bucket="ok", file_format="Parquet"
    )
    assert invoke("--inventory", str(manifest))[0] == 0


def test_unreadable_inventory_exits_four_with_the_reason(tmp_path: Path) -> None:
    manifest = write_inventory(
        tmp_path, [Row("b", "a", 1, "SSE-S3")], source_bucket="b", fields=("Bucket", "Key")
    )
    code, out = invoke("--inventory", str(manifest), "--format", "json")
    assert code == 4
    (error,) = json.loads(out)["errors"]
    assert "lacks encryption_status" in error


def test_missing_duckdb_exit_two_with_install_hint(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)
    result = CliRunner().invoke(main_group, ["audit", "--inventory", str(manifest)])
    assert result.exit_code == 2
    assert "hint: install DuckDB and pyarrow: pip install 'securestore[inventory]'" in (
        result.output
    )


def test_usage_errors(manifest: Path) -> None:
    assert invoke("--inventory", str(manifest), "some-bucket")[0] == 2
    assert invoke("--metadata-table", "x", "--athena")[0] == 2
    assert invoke("--inventory", str(manifest), "--framework", "aws-fsbp")[0] == 2
    assert invoke("--inventory", str(manifest), "--sample-objects", "3")[0] == 2


def test_suppression_applies(manifest: Path, tmp_path: Path) -> None:
    sup = tmp_path / "s.json"
    sup.write_text(json.dumps([{"check_id": "S3.INV.1", "bucket": "shop*", "reason": "known"}]))
    code, out = invoke("--inventory", str(manifest), "--suppress", str(sup), "--format", "json")
    assert code == 0
    assert json.loads(out)["summary"]["SUPPRESSED"] >= 2


# --- Athena --------------------------------------------------------------------------------


def test_athena_ddl_follows_the_manifest(tmp_path: Path) -> None:
    for fmt, serde in (
        ("CSV", "OpenCSVSerde"),
        ("Parquet", "ParquetHiveSerDe"),
        ("ORC", "OrcSerde"),
    ):
        path = write_inventory(
            tmp_path / fmt,
            [Row("src-b", "k", 1, "SSE-S3")],
            source_bucket="src-b",
            destination_bucket="central",
            file_format=fmt,
        )
        manifest = parse_manifest(path.read_bytes())
        ddl = create_table(manifest)
        assert serde in ddl
        assert "LOCATION 's3://central/inventory/src-b/securestore-daily/hive/'" in ddl
        assert "PARTITIONED BY (dt string)" in ddl
        for column in manifest.columns:
            assert f"`{column}`" in ddl
        assert ("`size` bigint" in ddl) is (fmt != "CSV")


def test_athena_queries_run_in_duckdb_and_agree(tmp_path: Path) -> None:
    """The view and the report query, run by DuckDB over tables shaped like Athena's
    (raw columns plus ``dt``), give the DuckDB report's counts."""
    rows = [*synthetic_rows(400), Row("estate-a", "with space/a+b.txt", 7, "NOT-SSE")]
    manifests = []
    con = duckdb.connect()
    for fmt in ("CSV", "Parquet"):
        path = write_inventory(
            tmp_path / fmt,
            rows,
            source_bucket=f"estate-{fmt.lower()}",
            file_format=fmt,
            rows_per_file=150,
        )
        m = parse_manifest(path.read_bytes())
        manifests.append(m)
        files = [str(tmp_path / fmt / f.key) for f in m.files]
        if fmt == "CSV":
            spec = ", ".join(f"'{c}': 'VARCHAR'" for c in m.columns)
            relation = f"read_csv({files}, columns = {{{spec}}}, header = false)"
        else:
            relation = f"read_parquet({files})"
        dt = view_statement([m]).split("dt = '")[1].split("'")[0]
        con.execute(f"CREATE TABLE {table_name(m)} AS SELECT *, '{dt}' AS dt FROM {relation}")  # noqa: S608
    con.execute(view_statement(manifests))
    rows_sql = con.execute(summary_query(VIEW_NAME, NORMALISED_COLUMNS, depth=1)).fetchall()
    via_view = {(b, p, s): n for b, p, s, _k, n, _bytes in rows_sql}

    report = audit_inventory(
        [str(next((tmp_path / fmt).rglob("manifest.json"))) for fmt in ("CSV", "Parquet")]
    )
    direct: dict[tuple[str, str, str], int] = {}
    for r in report.results:
        for status, entry in r.details["by_encryption_status"].items():
            key = (r.details["bucket"], r.details["prefix"], status)
            direct[key] = direct.get(key, 0) + int(entry["objects"])
    assert via_view == direct

    script = athena_script(manifests, require=EncryptionRequirement.KMS, top=5)
    # every statement but the Hive DDL parses and runs in DuckDB too
    for statement in script.split(";"):
        text = "\n".join(
            line for line in statement.splitlines() if not line.startswith("--")
        ).strip()
        if text.startswith("SELECT"):
            con.execute(text).fetchall()


def test_athena_flag_prints_the_script(manifest: Path) -> None:
    code, out = invoke("--inventory", str(manifest), "--athena", "--require", "dsse-kms")
    assert code == 0
    assert out.count("CREATE EXTERNAL TABLE") == 1
    assert "MSCK REPAIR TABLE inventory_shop_securestore_daily;" in out
    assert f"CREATE OR REPLACE VIEW {VIEW_NAME}" in out
    assert "NOT IN ('DSSE-KMS')" in out


def test_json_report_follows_the_published_schema(manifest: Path, tmp_path: Path) -> None:
    import jsonschema

    from securestore.audit.reports import load_schema

    for args in (("--require", "kms"), ("--allowed-kms-key", "arn:aws:kms:us-east-1:1:key/k")):
        _, out = invoke("--inventory", str(manifest), "--format", "json", *args)
        jsonschema.validate(json.loads(out), load_schema(), cls=jsonschema.Draft202012Validator)
    broken = write_inventory(
        tmp_path, [Row("b", "a", 1, "SSE-S3")], source_bucket="b", fields=("Bucket", "Key")
    )
    _, out = invoke("--inventory", str(broken), "--format", "json")
    jsonschema.validate(json.loads(out), load_schema(), cls=jsonschema.Draft202012Validator)


def test_s3_manifest_through_the_cli_connection(connection: Connection, tmp_path: Path) -> None:
    destination = unique_bucket_name("inv-cli-s3")
    manifest = write_inventory(
        tmp_path,
        [Row("src", "a/b", 3, "NOT-SSE"), Row("src", "a/c", 4, "SSE-KMS")],
        source_bucket="src",
        destination_bucket=destination,
        file_format="Parquet",
    )
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=destination)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            s3.put_object(
                Bucket=destination, Key=str(path.relative_to(tmp_path)), Body=path.read_bytes()
            )
    url = f"s3://{destination}/{manifest.relative_to(tmp_path)}"
    obj = SimpleNamespace(connection=connection, progress_enabled=lambda: False)
    result = CliRunner().invoke(
        audit_command, ["--inventory", url, "--format", "json"], obj=obj, catch_exceptions=False
    )
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["summary"]["api_calls"] == 3  # manifest, manifest.checksum, one data file
    (failing,) = [r for r in doc["results"] if r["status"] == "FAIL"]
    assert failing["details"]["worst_objects"] == [{"key": "a/b", "size": 3, "reason": "NOT-SSE"}]
    athena = CliRunner().invoke(audit_command, ["--inventory", url, "--athena"], obj=obj)
    assert athena.exit_code == 0 and f"s3://{destination}/inventory/src/" in athena.output
