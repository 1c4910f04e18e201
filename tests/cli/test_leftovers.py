"""Review leftovers in the object commands: ``put --dryrun`` and ``get --dryrun``."""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore import Connection
from tests.support.cli import Run, aes_key_file


def _keys(connection: Connection, bucket: str) -> list[str]:
    s3 = connection.client("s3")
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _uploads(connection: Connection, bucket: str) -> list[object]:
    return list(connection.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", []))


@pytest.fixture
def key_file(tmp_path: Path, run: Run) -> Path:
    return aes_key_file(run, tmp_path)


def test_put_dryrun_prints_the_upload_and_sends_nothing(
    run: Run, bucket: str, connection: Connection, tmp_path: Path, key_file: Path
) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(b"alpha")
    result = run("put", str(src), f"s3://{bucket}/dir/", "--dryrun", "--key-file", str(key_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"(dryrun) upload: {src} to s3://{bucket}/dir/a.txt"]
    assert _keys(connection, bucket) == [] and _uploads(connection, bucket) == []
    # A stream: nothing is read from stdin either, and --quiet silences the line.
    stream = run("put", "-", f"s3://{bucket}/s", "--dryrun", input=b"data")
    assert stream.exit_code == 0 and stream.stdout == f"(dryrun) upload: - to s3://{bucket}/s\n"
    quiet = run("--quiet", "put", str(src), f"s3://{bucket}/k", "--dryrun")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert _keys(connection, bucket) == []


def test_put_dryrun_keeps_the_validations(
    run: Run, bucket: str, connection: Connection, tmp_path: Path
) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(b"alpha")
    missing_key = run(
        "put", str(src), f"s3://{bucket}/k", "--dryrun", "--key-file", str(tmp_path / "nope")
    )
    assert missing_key.exit_code == 2 and "(dryrun)" not in missing_key.stdout
    assert missing_key.stderr.startswith("error:"), missing_key.stderr
    missing_file = run("put", str(tmp_path / "gone"), f"s3://{bucket}/k", "--dryrun")
    assert missing_file.exit_code == 2 and "no such file" in missing_file.stderr
    folder = run("put", str(tmp_path), f"s3://{bucket}/k", "--dryrun")
    assert folder.exit_code == 2 and "is a directory" in folder.stderr
    assert _keys(connection, bucket) == []


def test_get_dryrun_prints_the_download_and_creates_nothing(
    run: Run, bucket: str, tmp_path: Path, key_file: Path
) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(b"alpha")
    url = f"s3://{bucket}/dir/a.txt"
    assert run("put", str(src), url, "--key-file", str(key_file)).exit_code == 0
    into = tmp_path / "restore"
    result = run("get", url, f"{into}/", "--dryrun", "--key-file", str(key_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"(dryrun) download: {url} to {into / 'a.txt'}"]
    assert not into.exists()
    existing = tmp_path / "existing"
    existing.write_bytes(b"keep me")
    over = run("get", url, str(existing), "--dryrun", "--key-file", str(key_file))
    assert over.exit_code == 0 and existing.read_bytes() == b"keep me"
    to_stdout = run("get", url, "--dryrun", "--key-file", str(key_file))
    assert to_stdout.exit_code == 0 and to_stdout.stdout == f"(dryrun) download: {url} to -\n"
    # Validations and the lookup still run: a missing object is exit 4, a bad option exit 2.
    missing = run("get", f"s3://{bucket}/nothing", str(tmp_path / "x"), "--dryrun")
    assert missing.exit_code == 4 and "(dryrun)" not in missing.stdout
    bad = run("get", url, str(tmp_path / "x"), "--dryrun", "--range", "9-1")
    assert bad.exit_code == 2 and not (tmp_path / "x").exists()
    unreadable = run("get", url, "--dryrun", "--key-file", str(tmp_path / "nope"))
    assert unreadable.exit_code == 2 and unreadable.stderr.startswith("error:")


@pytest.fixture
def protected(tmp_path: Path, run: Run) -> dict[str, Path]:
    """A passphrase-protected RSA key pair, the passphrase file and a wrong one."""
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    files = {"pass": keys / "pass.txt", "wrong": keys / "wrong.txt"}
    for name, text in (("pass", "correct horse\n"), ("wrong", "battery staple\n")):
        files[name].write_text(text)
        files[name].chmod(0o600)
    made = run("keygen", "--rsa", str(keys / "backup"), "--passphrase-file", str(files["pass"]))
    assert made.exit_code == 0, made.stderr
    return {**files, "pem": keys / "backup.pem"}


def test_keygen_public_from_names_its_own_passphrase_option(
    run: Run, protected: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out.pub.pem"
    # No passphrase, and no terminal to ask on (the runner's stdin is not a tty).
    missing = run("keygen", "--public-from", str(protected["pem"]), "-o", str(out))
    assert missing.exit_code == 4
    assert missing.stderr.splitlines() == [
        f"error: RSA private key {protected['pem']} is encrypted and no passphrase was given",
        "hint: give --passphrase-file FILE (its first line), or run on a terminal to be asked",
    ]
    wrong = run("keygen", "--public-from", str(protected["pem"]), "-o", str(out),
                "--passphrase-file", str(protected["wrong"]))  # fmt: skip
    assert wrong.exit_code == 4
    assert wrong.stderr.splitlines() == [
        f"error: cannot unlock RSA private key {protected['pem']}: wrong passphrase",
        f"hint: check the first line of {protected['wrong']} (--passphrase-file)",
    ]
    assert not out.exists()
    right = run("keygen", "--public-from", str(protected["pem"]), "-o", str(out),
                "--passphrase-file", str(protected["pass"]))  # fmt: skip
    assert right.exit_code == 0 and out.exists()


def test_decrypt_hints_name_rsa_passphrase_file(
    run: Run, protected: dict[str, Path], tmp_path: Path
) -> None:
    message = tmp_path / "m.encrypted"
    message.write_bytes(b"not read: the key fails first")
    missing = run("decrypt", str(message), "-o", "-", "--rsa-private-key", str(protected["pem"]))
    assert missing.exit_code == 4
    assert missing.stderr.splitlines() == [
        f"error: RSA private key {protected['pem']} is encrypted and no passphrase was given",
        "hint: give its passphrase: --rsa-passphrase-file FILE, or run on a terminal to be asked",
    ]
    wrong = run("decrypt", str(message), "-o", "-", "--rsa-private-key", str(protected["pem"]),
                "--rsa-passphrase-file", str(protected["wrong"]))  # fmt: skip
    assert wrong.exit_code == 4 and len(wrong.stderr.splitlines()) == 2
    assert wrong.stderr.splitlines()[1].startswith("hint: check the passphrase")
