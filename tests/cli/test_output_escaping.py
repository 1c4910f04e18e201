"""Text that anyone who can write an object controls never reaches the terminal raw.

Keys, metadata, message headers and error texts carry escape sequences, carriage
returns, NUL and bidi overrides here; the CLI must print them escaped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from securestore_cli.errors import report
from securestore_cli.text import printable

from securestore import Connection
from tests.support.cli import Run

#: Set the window title, clear the screen, return to column 0, reverse the text.
HOSTILE = "a\x1b]0;pwned\x07\x1b[2J\rb\u202ec\x9b31m"
RAW = ("\x1b", "\x07", "\r", "\u202e", "\x9b", "\x00")


def assert_clean(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text)


def test_printable_escapes_every_non_printable_character() -> None:
    assert printable("plain/key name.txt") == "plain/key name.txt"
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("x\ry\nz\tw\x00") == "x\\ry\\nz\\tw\\x00"
    assert printable("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert printable("\U000e0041\udcff\u00a0") == "\\U000e0041\\udcff\\xa0"
    # A backslash is escaped too, so an escaped text cannot imitate another.
    assert printable("\\x1b") == "\\\\x1b"
    assert printable("é日本") == "é日本"


def test_the_error_printer_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    report(f"server said: {HOSTILE}", hint=f"try {HOSTILE}")
    err = capsys.readouterr().err
    assert_clean(err)
    assert err.count("\n") == 2
    assert "\\x1b]0;pwned\\x07" in err and "\\u202e" in err


def test_ls_and_head_escape_keys_and_metadata(
    run: Run, bucket: str, connection: Connection, tmp_path: Path
) -> None:
    key = f"dir/{HOSTILE}"
    s3 = connection.client("s3")
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=b"x",
        ServerSideEncryption="AES256",
        Metadata={"note": "v\x1b[2Jw"},
    )
    listed = run("ls", f"s3://{bucket}/dir/")
    assert listed.exit_code == 0, listed.stderr
    assert_clean(listed.stdout)
    assert printable(key.removeprefix("dir/")) in listed.stdout  # names within dir/, as aws s3 ls
    head = run("head", f"s3://{bucket}/{key}")
    assert head.exit_code == 0, head.stderr
    assert_clean(head.stdout)
    assert "v\\x1b[2Jw" in head.stdout
    as_json = run("ls", f"s3://{bucket}/dir/", "--json")
    assert_clean(as_json.stdout)
    assert json.loads(as_json.stdout)[0]["key"] == key
    removed = run("rm", f"s3://{bucket}/{key}")
    assert removed.exit_code == 0
    assert_clean(removed.stderr)


def test_inspect_escapes_and_labels_the_unauthenticated_header(
    run: Run, bucket: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "k.key"
    assert run("keygen", "--aes", str(key_file)).exit_code == 0
    src = tmp_path / "src"
    src.write_bytes(b"secret")
    url = f"s3://{bucket}/obj"
    put = run(
        "put", str(src), url, "--key-file", str(key_file), "--context", f"{HOSTILE}=v{HOSTILE}"
    )
    assert put.exit_code == 0, put.stderr
    shown = run("inspect", url)
    assert shown.exit_code == 0, shown.stderr
    assert_clean(shown.stdout)
    assert "verified:       no" in shown.stdout
    context_lines = [line for line in shown.stdout.splitlines() if line.startswith("context:")]
    assert any(printable(HOSTILE) in line and "(unverified)" in line for line in context_lines)
    as_json = json.loads(run("inspect", url, "--json").stdout)
    assert as_json["verified"] is False
    assert as_json["encryption_context"][HOSTILE] == f"v{HOSTILE}"


def test_errors_quoting_a_header_escape_it(
    run: Run, bucket: str, connection: Connection, tmp_path: Path
) -> None:
    key_file = tmp_path / "k.key"
    assert run("keygen", "--aes", str(key_file)).exit_code == 0
    src = tmp_path / "src"
    src.write_bytes(b"secret")
    hostile_key = f"from/{HOSTILE}"
    put = run("put", str(src), f"s3://{bucket}/{hostile_key}", "--key-file", str(key_file))
    assert put.exit_code == 0, put.stderr
    assert_clean(put.stderr)
    # Moved elsewhere: the error quotes the location recorded in the header.
    connection.client("s3").copy_object(
        Bucket=bucket, Key="moved", CopySource={"Bucket": bucket, "Key": hostile_key}
    )
    got = run("get", f"s3://{bucket}/moved", str(tmp_path / "out"), "--key-file", str(key_file))
    assert got.exit_code == 3
    assert_clean(got.stderr)
    assert printable(HOSTILE) in got.stderr
