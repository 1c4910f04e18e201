"""The hierarchical keyring through the CLI: ``keys create-branch-key`` / ``rotate-branch-key``
/ ``show-branch-key`` and the branch key options of put and get (moto over TLS)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from click.testing import Result
from securestore_cli.errors import exit_code_for

from securestore.errors import KeyUnavailableError, NoMatchingKeyError
from tests.support.cli import Run


def _errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]


def test_create_put_rotate_get(run: Run, bucket: str, kms_key: str) -> None:
    table = f"cli-{uuid.uuid4().hex[:10]}"
    store = ["--key-store-table", table, "--key-store-kms-key", kms_key]
    created = run("keys", "create-branch-key", *store)
    assert created.exit_code == 0, created.stderr
    branch = created.stdout.strip()
    assert str(uuid.UUID(branch)) == branch
    shown = run("keys", "show-branch-key", *store, "--branch-key-id", branch, "--json")
    assert shown.exit_code == 0, shown.stderr
    first = json.loads(shown.stdout)["active_version"]

    keys = ["--branch-key-id", branch, "--key-store-table", table]
    old = run("put", "-", f"s3://{bucket}/old", *keys, input=b"old data")
    assert old.exit_code == 0, old.stderr
    assert "client-side" in old.stderr  # the branch key options imply --client-side
    header = run("inspect", f"s3://{bucket}/old", "--json")
    assert json.loads(header.stdout)["encrypted_data_keys"] == [f"aws-kms-hierarchy {branch}"]

    rotated = run("keys", "rotate-branch-key", *store, "--branch-key-id", branch)
    assert rotated.exit_code == 0, rotated.stderr
    second = rotated.stdout.strip()
    assert second != first
    shown = run("keys", "show-branch-key", *store, "--branch-key-id", branch, "--json")
    assert json.loads(shown.stdout)["active_version"] == second

    new = run("put", "-", f"s3://{bucket}/new", *keys, input=b"new data")
    assert new.exit_code == 0, new.stderr
    for name, data in (("old", b"old data"), ("new", b"new data")):
        got = run("get", f"s3://{bucket}/{name}", *keys)
        assert got.exit_code == 0, got.stderr
        assert got.stdout_bytes == data


def test_a_chosen_id_needs_context_and_is_never_overwritten(run: Run, kms_key: str) -> None:
    store = ["--key-store-table", f"cli-{uuid.uuid4().hex[:10]}", "--key-store-kms-key", kms_key]
    bare = run("keys", "create-branch-key", *store, "--branch-key-id", "team-a")
    assert bare.exit_code == 2
    assert _errors(bare)[0].startswith("error: a branch key with a chosen id needs")
    made = run("keys", "create-branch-key", *store, "--branch-key-id", "team-a", "--context", "t=a")
    assert made.exit_code == 0, made.stderr
    assert made.stdout.strip() == "team-a"
    again = run(
        "keys", "create-branch-key", *store, "--branch-key-id", "team-a", "--context", "t=a"
    )
    assert again.exit_code == exit_code_for(KeyUnavailableError("x"))
    assert "already exists" in _errors(again)[0]


def test_branch_key_without_table_is_refused_before_upload(run: Run, bucket: str) -> None:
    put = run("put", "-", f"s3://{bucket}/x", "--branch-key-id", "b", input=b"data")
    assert put.exit_code == 2
    assert _errors(put)[0] == "error: --branch-key-id and --key-store-table go together"
    assert run("ls", f"s3://{bucket}/").stdout == ""


def test_wrong_table_and_wrong_branch_key_fail_closed(run: Run, bucket: str, kms_key: str) -> None:
    table = f"cli-{uuid.uuid4().hex[:10]}"
    store = ["--key-store-table", table, "--key-store-kms-key", kms_key]
    one = run("keys", "create-branch-key", *store).stdout.strip()
    two = run("keys", "create-branch-key", *store).stdout.strip()
    put = run("put", "-", f"s3://{bucket}/x", "--branch-key-id", one, *store, input=b"data")
    assert put.exit_code == 0, put.stderr

    missing = run("get", f"s3://{bucket}/x", "--branch-key-id", one, "--key-store-table", "nope")
    assert missing.exit_code == exit_code_for(KeyUnavailableError("x"))
    assert missing.stdout_bytes == b""
    lines = _errors(missing)
    assert "ResourceNotFoundException" in lines[0] and lines[1].startswith("hint:")

    other = run("get", f"s3://{bucket}/x", "--branch-key-id", two, *store)
    assert other.exit_code == exit_code_for(NoMatchingKeyError("x"))
    assert other.stdout_bytes == b""
    assert "Traceback" not in other.stderr

    put_missing = run(
        "put", "-", f"s3://{bucket}/y", "--branch-key-id", "absent", *store, input=b"d"
    )
    assert put_missing.exit_code == exit_code_for(KeyUnavailableError("x"))
    assert "has no active version" in _errors(put_missing)[0]


def test_the_help_default_ttl_is_the_library_default() -> None:
    from securestore_cli import keys

    from securestore.keyrings import options

    assert keys.DEFAULT_BRANCH_KEY_TTL == options.DEFAULT_BRANCH_KEY_TTL


def test_cp_uploads_and_downloads_with_a_branch_key(
    run: Run, bucket: str, kms_key: str, tmp_path: Path
) -> None:
    table = f"cli-{uuid.uuid4().hex[:10]}"
    branch = run("keys", "create-branch-key", "--key-store-table", table, "--key-store-kms-key",
                 kms_key).stdout.strip()  # fmt: skip
    keys = ["--branch-key-id", branch, "--key-store-table", table]
    source = tmp_path / "in.bin"
    source.write_bytes(b"tree data" * 1000)
    up = run("cp", str(source), f"s3://{bucket}/t/in.bin", *keys)
    assert up.exit_code == 0, up.stderr
    header = json.loads(run("inspect", f"s3://{bucket}/t/in.bin", "--json").stdout)
    assert header["encrypted_data_keys"] == [f"aws-kms-hierarchy {branch}"]
    down = run("cp", f"s3://{bucket}/t/in.bin", str(tmp_path / "out.bin"), *keys)
    assert down.exit_code == 0, down.stderr
    assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()
