"""Regression tests for the third review's findings (a new user and a reliability engineer)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from securestore_cli.main import main_group

from tests.conftest import Endpoint
from tests.support.cli import Run, stderr_lines


@pytest.fixture
def aes_key(run: Run, tmp_path: Path) -> Path:
    key = tmp_path / "team.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    return key


def test_encrypt_stdin_empty_never_replaces_an_existing_file(
    run: Run, aes_key: Path, tmp_path: Path
) -> None:
    out = tmp_path / "e.enc"
    first = run("encrypt", "-", "-o", str(out), "--key-file", str(aes_key), input=b"payload")
    assert first.exit_code == 0, first.stderr
    before = out.read_bytes()
    empty = run("encrypt", "-", "-o", str(out), "--key-file", str(aes_key), input=b"")
    assert empty.exit_code == 2, empty.stderr
    assert "standard input was empty" in stderr_lines(empty, "error:")[0]
    assert "--allow-empty" in stderr_lines(empty, "hint:")[0]
    assert out.read_bytes() == before
    # A non-empty stream still replaces it, its first byte included.
    again = run("encrypt", "-", "-o", str(out), "--key-file", str(aes_key), input=b"xyz")
    assert again.exit_code == 0, again.stderr
    back = run("decrypt", str(out), "-o", "-", "--key-file", str(aes_key))
    assert back.stdout_bytes == b"xyz"
    # The opt-in, and a new file, take an empty stream.
    allowed = run(
        "encrypt", "-", "-o", str(out), "--key-file", str(aes_key), "--allow-empty", input=b""
    )
    assert allowed.exit_code == 0, allowed.stderr
    fresh = tmp_path / "new.enc"
    new = run("encrypt", "-", "-o", str(fresh), "--key-file", str(aes_key), input=b"")
    assert new.exit_code == 0, new.stderr
    back = run("decrypt", str(fresh), "-o", "-", "--key-file", str(aes_key))
    assert back.exit_code == 0 and back.stdout_bytes == b""
    assert os.path.getsize(out) > 0


def _limited_file_size() -> None:  # in the child, before exec: `ulimit -f 64`
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1])
    )


def test_a_file_size_limit_is_not_called_a_full_disk(
    run: Run, tls_endpoint: Endpoint, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/big.bin"
    assert run("put", "-", url, input=os.urandom(300_000)).exit_code == 0
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"old")
    done = subprocess.run(
        [sys.executable, "-m", "securestore_cli", "get", url, str(dest)],
        env={**os.environ, **tls_endpoint.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        preexec_fn=_limited_file_size,
        timeout=300,
        check=False,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    hint = next(line for line in stderr.splitlines() if line.startswith("hint:"))
    assert "ulimit -f" in hint
    assert "free space" not in hint
    assert dest.read_bytes() == b"old"


@pytest.fixture
def rsa_keys(run: Run, tmp_path: Path) -> tuple[Path, Path]:
    result = run("keygen", "--rsa", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.stderr
    return tmp_path / "backup.pem", tmp_path / "backup.pub.pem"


def test_key_file_errors_say_what_a_key_file_must_be(
    run: Run, aes_key: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"hi")
    folder = tmp_path / "keys"
    folder.mkdir()
    for key in (folder, tmp_path / "missing.key", Path("/dev/null")):
        result = run("encrypt", str(source), "-o", str(tmp_path / "o.enc"), "--key-file", str(key))
        assert result.exit_code == 2, result.stderr
        (hint,) = stderr_lines(result, "hint:")
        assert "free space" not in hint and "key file" in hint, hint
    aes_key.chmod(0o644)
    lax = run("encrypt", str(source), "-o", str(tmp_path / "o.enc"), "--key-file", str(aes_key))
    assert lax.exit_code == 2
    assert "chmod 600" not in stderr_lines(lax, "error:")[0]
    assert stderr_lines(lax, "hint:") == [f"hint: run: chmod 600 {aes_key}"]


def test_a_pem_of_the_other_kind_is_named_before_its_mode(
    run: Run, rsa_keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = rsa_keys
    assert public.stat().st_mode & 0o077  # 0644: a public key's mode is no fault of it
    source = tmp_path / "in.txt"
    source.write_bytes(b"hi")
    sealed = tmp_path / "in.enc"
    done = run("encrypt", str(source), "-o", str(sealed), "--rsa-public-key", str(public))
    assert done.exit_code == 0, done.stderr
    wrong = run("decrypt", str(sealed), "-o", "-", "--rsa-private-key", str(public))
    assert wrong.exit_code == 2
    assert "is a PEM public key, not a private key" in stderr_lines(wrong, "error:")[0]
    assert "--rsa-public-key" in stderr_lines(wrong, "hint:")[0]
    assert "chmod" not in wrong.stderr
    swapped = run("encrypt", str(source), "-o", str(sealed), "--rsa-public-key", str(private))
    assert swapped.exit_code == 2
    assert "not a PEM public key" in stderr_lines(swapped, "error:")[0]
    assert stderr_lines(swapped, "hint:") == [
        "hint: this is a private key: give it with --rsa-private-key, or derive the public "
        "key with `securestore keygen --public-from`"
    ]


def test_an_unknown_profile_has_a_hint(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile real]\nregion = eu-west-1\n")
    result = CliRunner().invoke(
        main_group,
        ["--profile", "nosuchprofile", "ls", "s3://some-bucket/"],
        env={"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(config)},
    )
    assert result.exit_code == 2, result.stderr
    assert stderr_lines(result, "error:") == ["error: AWS profile not found: nosuchprofile"]
    assert "aws configure list-profiles" in stderr_lines(result, "hint:")[0]


@pytest.mark.parametrize("url", ["not a url", "localhost:4566", "//host:443"])
def test_a_malformed_endpoint_url_is_a_usage_error(url: str) -> None:
    result = CliRunner().invoke(main_group, ["--endpoint-url", url, "ls", "s3://some-bucket/"])
    assert result.exit_code == 2, result.stderr
    assert stderr_lines(result, "error:") == [f"error: invalid endpoint URL {url!r}: no scheme://"]
    assert stderr_lines(result, "hint:") == ["hint: give the endpoint as https://HOST[:PORT]"]


def test_a_plain_http_endpoint_stays_a_transport_security_refusal() -> None:
    result = CliRunner().invoke(
        main_group, ["--endpoint-url", "http://127.0.0.1:9", "ls", "s3://some-bucket/"]
    )
    assert result.exit_code == 4, result.stderr  # README: `http://` endpoint, exit 4
    assert "refusing to send a request over http://" in stderr_lines(result, "error:")[0]


def test_put_guesses_the_content_type_as_cp_does(run: Run, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "q3.csv"
    source.write_bytes(b"id,amount\n1,7\n")
    assert run("put", str(source), f"s3://{bucket}/q3.csv").exit_code == 0
    assert run("cp", str(source), f"s3://{bucket}/cp-q3.csv").exit_code == 0
    given = run("put", str(source), f"s3://{bucket}/given.csv", "--content-type", "text/plain")
    assert given.exit_code == 0, given.stderr
    types = {
        name: run("head", f"s3://{bucket}/{name}", "--json")
        for name in ("q3.csv", "cp-q3.csv", "given.csv")
    }
    assert all(result.exit_code == 0 for result in types.values())
    found = {name: json.loads(result.stdout)["content_type"] for name, result in types.items()}
    assert found == {"q3.csv": "text/csv", "cp-q3.csv": "text/csv", "given.csv": "text/plain"}


@pytest.mark.parametrize("from_stdin", [False, True], ids=["file", "stdin"])
def test_put_reports_the_plaintext_size_of_a_client_side_object(
    run: Run, bucket: str, aes_key: Path, tmp_path: Path, from_stdin: bool
) -> None:
    data = b"eighteen bytes...\n"
    assert len(data) == 18
    source = tmp_path / "small.txt"
    source.write_bytes(data)
    url = f"s3://{bucket}/small.txt"
    args = ("-" if from_stdin else str(source), url, "--key-file", str(aes_key))
    result = run("put", *args, input=data if from_stdin else None)
    assert result.exit_code == 0, result.stderr
    (line,) = stderr_lines(result, "put:")
    assert "(18 B, client-side" in line, line
    got = run("get", url, str(tmp_path / "back.txt"), "--key-file", str(aes_key))
    assert "(18 B, client-side" in got.stderr, got.stderr


def test_ls_prints_a_pages_directories_before_its_objects(run: Run, bucket: str) -> None:
    for key in ("a.txt", "b/x", "c.txt", "d/y"):
        assert run("put", "-", f"s3://{bucket}/{key}", input=b"x").exit_code == 0
    listed = run("ls", f"s3://{bucket}/")
    assert listed.exit_code == 0, listed.stderr
    names = [line.split()[-1] for line in listed.stdout.splitlines()]
    assert names == ["b/", "d/", "a.txt", "c.txt"]
    assert listed.stdout.splitlines()[0].split() == ["PRE", "b/"]
    as_json = json.loads(run("ls", f"s3://{bucket}/", "--json").stdout)
    keys = [item.get("key") or item.get("prefix") for item in as_json]
    assert keys == ["a.txt", "b/", "c.txt", "d/"]  # --json keeps key order
