"""``securestore rewrap`` through click's runner against the TLS endpoint, with exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import Result

from securestore import Connection
from tests.support.cli import Run


@pytest.fixture
def keys(run: Run, tmp_path: Path) -> dict[str, str]:
    for name in ("old", "new"):
        assert run("keygen", "--aes", str(tmp_path / f"{name}.aes")).exit_code == 0
    assert run("keygen", "--rsa", str(tmp_path / "rsa")).exit_code == 0
    return {
        "old": str(tmp_path / "old.aes"),
        "new": str(tmp_path / "new.aes"),
        "rsa": str(tmp_path / "rsa.pem"),
        "rsa_pub": str(tmp_path / "rsa.pub.pem"),
    }


def _errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_rotate_an_aes_key(run: Run, bucket: str, keys: dict[str, str]) -> None:
    data = os.urandom(100_000)
    url = f"s3://{bucket}/r.bin"
    assert run("put", "-", url, "--key-file", keys["old"], input=data).exit_code == 0
    dry = run("rewrap", url, "--key-file", keys["old"], "--add-key-file", keys["new"], "--dryrun")
    assert dry.exit_code == 0, dry.stderr
    assert "dry run" in dry.stderr
    rotated = run(
        "rewrap",
        url,
        "--key-file",
        keys["old"],
        "--add-key-file",
        keys["new"],
        "--remove-key-file",
        keys["old"],
        "--json",
    )
    assert rotated.exit_code == 0, rotated.stderr
    report = json.loads(rotated.stdout)
    assert report["method"] == "single-put" and len(report["removed"]) == 1
    assert run("get", url, "--key-file", keys["new"]).stdout_bytes == data
    old = run("get", url, "--key-file", keys["old"])
    assert old.exit_code == 4 and len(_errors(old)) == 1


def test_add_rsa_and_change_context(run: Run, bucket: str, keys: dict[str, str]) -> None:
    data = os.urandom(1000)
    url = f"s3://{bucket}/c.bin"
    assert (
        run("put", "-", url, "--key-file", keys["old"], "--context", "a=1", input=data).exit_code
        == 0
    )
    changed = run(
        "rewrap",
        url,
        "--key-file",
        keys["old"],
        "--expect-context",
        "a=1",
        "--add-rsa-public-key",
        keys["rsa_pub"],
        "--context",
        "b=2",
        "--remove-context",
        "a",
    )
    assert changed.exit_code == 0, changed.stderr
    assert "re-wrapped for the new context" in changed.stderr
    got = run("get", url, "--rsa-private-key", keys["rsa"], "--context", "b=2")
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == data
    assert run("get", url, "--key-file", keys["old"], "--context", "a=1").exit_code == 3


def test_refusals_have_one_error_line_and_the_documented_code(
    run: Run, bucket: str, keys: dict[str, str], connection: Connection
) -> None:
    url = f"s3://{bucket}/x.bin"
    assert run("put", "-", url, "--key-file", keys["old"], input=b"x").exit_code == 0
    etag = connection.client("s3").head_object(Bucket=bucket, Key="x.bin")["ETag"]
    last = run("rewrap", url, "--key-file", keys["old"], "--remove-key-file", keys["old"])
    assert last.exit_code == 2 and "last data key" in _errors(last)[0]
    wrong = run("rewrap", url, "--key-file", keys["new"], "--add-key-file", keys["new"])
    assert wrong.exit_code == 4 and len(_errors(wrong)) == 1
    nothing = run("rewrap", url, "--key-file", keys["old"])
    assert nothing.exit_code == 2 and "nothing to change" in _errors(nothing)[0]
    assert "Traceback" not in last.stderr + wrong.stderr + nothing.stderr
    assert connection.client("s3").head_object(Bucket=bucket, Key="x.bin")["ETag"] == etag


def test_recursive_skips_plain_objects_and_reports_failures(
    run: Run, bucket: str, keys: dict[str, str], connection: Connection
) -> None:
    for name in ("p/one", "p/two"):
        put = run("put", "-", f"s3://{bucket}/{name}", "--key-file", keys["old"], input=b"d")
        assert put.exit_code == 0
    connection.client("s3").put_object(Bucket=bucket, Key="p/plain", Body=b"not a message")
    run("put", "-", f"s3://{bucket}/p/other", "--key-file", keys["new"], input=b"d")
    result = run(
        "rewrap",
        f"s3://{bucket}/p/",
        "--recursive",
        "--key-file",
        keys["old"],
        "--add-rsa-public-key",
        keys["rsa_pub"],
        "--json",
    )
    assert result.exit_code == 4  # p/other cannot be unwrapped with the old key
    entries = {entry["key"]: entry for entry in json.loads(result.stdout)}
    assert "skipped" in entries["p/plain"]
    assert entries["p/other"]["exit_code"] == 4
    assert entries["p/one"]["method"] == "single-put"
    assert entries["p/two"]["method"] == "single-put"
    got = run("get", f"s3://{bucket}/p/one", "--rsa-private-key", keys["rsa"])
    assert got.stdout_bytes == b"d"


def test_kms_discovery_and_a_context_change(run: Run, bucket: str, kms_key: str) -> None:
    url = f"s3://{bucket}/kms.bin"
    put = run("put", "-", url, "--client-side", "--kms-key-id", kms_key, input=b"kms body")
    assert put.exit_code == 0, put.stderr
    # No key option: KMS discovery in the caller's account unwraps; the KMS data key
    # is re-wrapped for the new context through its own key (discovery cannot wrap).
    changed = run("rewrap", url, "--context", "stage=2")
    assert changed.exit_code == 0, changed.stderr
    got = run("get", url, "--kms-key-id", kms_key, "--context", "stage=2")
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == b"kms body"


def test_max_data_keys_caps_the_new_header(run: Run, bucket: str, keys: dict[str, str]) -> None:
    url = f"s3://{bucket}/cap.bin"
    assert run("put", "-", url, "--key-file", keys["old"], input=b"x").exit_code == 0
    args = ["rewrap", url, "--key-file", keys["old"], "--add-key-file", keys["new"]]
    capped = run(*args, "--max-data-keys", "1")
    assert capped.exit_code == 2 and "limit is 1" in _errors(capped)[0]
    assert run(*args, "--max-data-keys", "2").exit_code == 0
