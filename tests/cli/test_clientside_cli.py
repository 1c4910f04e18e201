"""Client-side encryption through the CLI: keygen, put/get with each key kind, inspect, ranges."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import Result

from tests.support.cli import Run


@pytest.fixture
def keys(run: Run, tmp_path: Path) -> dict[str, Path]:
    aes = tmp_path / "k.aes"
    assert run("keygen", "--aes", str(aes)).exit_code == 0
    result = run("keygen", "--rsa", str(tmp_path / "rsa"))
    assert result.exit_code == 0, result.stderr
    return {"aes": aes, "rsa": tmp_path / "rsa.pem", "rsa_pub": tmp_path / "rsa.pub.pem"}


def first_error(result: Result) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("error:"))


def test_keygen_creates_private_files_and_never_overwrites(run: Run, keys: dict[str, Path]) -> None:
    assert stat.S_IMODE(keys["aes"].stat().st_mode) == 0o600
    assert stat.S_IMODE(keys["rsa"].stat().st_mode) == 0o600
    before = keys["aes"].read_bytes()
    again = run("keygen", "--aes", str(keys["aes"]))
    assert again.exit_code == 2
    assert "already exists" in first_error(again)
    assert keys["aes"].read_bytes() == before
    neither = run("keygen")
    assert neither.exit_code == 2
    assert (
        first_error(neither)
        == "error: give exactly one of --aes FILE, --rsa PREFIX or --public-from PEM"
    )


def test_aes_round_trip_range_and_inspect(run: Run, bucket: str, keys: dict[str, Path]) -> None:
    data = os.urandom(700_000)
    url = f"s3://{bucket}/secret.bin"
    put = run("put", "-", url, "--key-file", str(keys["aes"]), "--context", "team=a", input=data)
    assert put.exit_code == 0, put.stderr
    assert "client-side" in put.stderr
    got = run("get", url, "--key-file", str(keys["aes"]))
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == data
    part = run("get", url, "--key-file", str(keys["aes"]), "--range", "262140-262150")
    assert part.stdout_bytes == data[262140:262151]
    tail = run("get", url, "--key-file", str(keys["aes"]), "--range", "699990-")
    assert tail.stdout_bytes == data[699990:]
    for past in ("700000-", "700001-700005"):  # HTTP 416: nothing selected is an error
        beyond = run("get", url, "--key-file", str(keys["aes"]), "--range", past)
        assert beyond.exit_code == 2, beyond.stderr
        assert beyond.stdout_bytes == b""
        assert "past the end of the object (700000 bytes)" in first_error(beyond)
    header = json.loads(run("inspect", url, "--json").stdout)
    assert header["suite"].startswith("0x0478")
    assert header["encryption_context"] == {
        "securestore:bucket": bucket,
        "securestore:key": "secret.bin",
        "team": "a",
    }
    assert header["encrypted_data_keys"] == ["securestore default"]
    # Raw bytes in S3 are not the plaintext.
    raw = run("get", url, "--require", "s3")
    assert raw.exit_code != 0 or data not in raw.stdout_bytes


def test_a_range_of_an_empty_object_says_it_is_empty(
    run: Run, bucket: str, keys: dict[str, Path]
) -> None:
    url = f"s3://{bucket}/empty"
    put = run("put", "-", url, "--key-file", str(keys["aes"]), "--allow-empty", input=b"")
    assert put.exit_code == 0, put.stderr
    beyond = run("get", url, "--key-file", str(keys["aes"]), "--range", "1-")
    assert beyond.exit_code == 2, beyond.stderr
    assert "hint: the object is empty" in beyond.stderr  # not "the last byte is at offset -1"


def test_rsa_public_key_encrypts_private_key_decrypts(
    run: Run, bucket: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(5 * 1024 * 1024 + 3))
    url = f"s3://{bucket}/rsa.bin"
    assert run("put", str(src), url, "--rsa-public-key", str(keys["rsa_pub"])).exit_code == 0
    out = tmp_path / "out"
    result = run("get", url, str(out), "--rsa-private-key", str(keys["rsa"]))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == src.read_bytes()


def test_kms_keyring_and_account_discovery(run: Run, bucket: str, kms_key: str) -> None:
    data = b"kms wrapped" * 1000
    url = f"s3://{bucket}/kms.bin"
    put = run("put", "-", url, "--client-side", "--kms-key-id", kms_key, "--sse", "s3", input=data)
    assert put.exit_code == 0, put.stderr
    head = json.loads(run("head", url, "--json").stdout)
    assert head["encryption"]["mode"] == "sse-s3"
    assert head["encryption"]["client_side"]["securestore-format"] == "aws-esdk-v2"
    assert run("get", url, "--client-side").stdout_bytes == data  # discovery in the account
    assert run("get", url, "--kms-key-id", kms_key).stdout_bytes == data
    required = run("get", url, "--require", "client-side")
    assert required.exit_code == 0 and required.stdout_bytes == data


def test_wrong_key_is_a_keyring_error_and_writes_nothing(
    run: Run, bucket: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    url = f"s3://{bucket}/x"
    assert run("put", "-", url, "--key-file", str(keys["aes"]), input=b"data").exit_code == 0
    other = tmp_path / "other.aes"
    assert run("keygen", "--aes", str(other)).exit_code == 0
    dest = tmp_path / "dest"
    result = run("get", url, str(dest), "--key-file", str(other))
    assert result.exit_code == 4
    assert "the message was encrypted for: securestore default" in first_error(result)
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dest")]
    key_bytes = keys["aes"].read_text().strip()
    assert key_bytes not in result.stderr + result.stdout


def test_context_mismatch_and_relocation(
    run: Run, bucket: str, keys: dict[str, Path], connection
) -> None:
    url = f"s3://{bucket}/ctx"
    aes = str(keys["aes"])
    assert run("put", "-", url, "--key-file", aes, "--context", "team=a", input=b"v").exit_code == 0
    wrong = run("get", url, "--key-file", aes, "--context", "team=b")
    assert wrong.exit_code == 3
    assert wrong.stdout_bytes == b""
    assert run("get", url, "--key-file", aes, "--context", "team=a").stdout_bytes == b"v"
    connection.client("s3").copy_object(
        Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "ctx"}
    )
    moved = run("get", f"s3://{bucket}/copy", "--key-file", aes)
    assert moved.exit_code == 3
    assert first_error(moved).startswith(f"error: the object was encrypted for s3://{bucket}/ctx")
    relocated = run("get", f"s3://{bucket}/copy", "--key-file", aes, "--relocated")
    assert relocated.exit_code == 0 and relocated.stdout_bytes == b"v"


def test_tampered_object_is_refused_without_output(
    run: Run, bucket: str, keys: dict[str, Path], connection, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/t"
    aes = str(keys["aes"])
    assert run("put", "-", url, "--key-file", aes, input=os.urandom(10_000)).exit_code == 0
    s3 = connection.client("s3")
    body = bytearray(s3.get_object(Bucket=bucket, Key="t")["Body"].read())
    body[-40] ^= 1
    s3.put_object(
        Bucket=bucket, Key="t", Body=bytes(body), Metadata={"securestore-format": "aws-esdk-v2"}
    )
    to_stdout = run("get", url, "--key-file", aes)
    assert to_stdout.exit_code == 3
    assert to_stdout.stdout_bytes == b""
    dest = tmp_path / "out"
    to_file = run("get", url, str(dest), "--key-file", aes)
    assert to_file.exit_code == 3
    assert first_error(to_file).startswith("error: authentication failed")
    assert list(tmp_path.iterdir()) == [] or not dest.exists()


def test_a_stream_that_fails_after_output_says_to_discard_what_went_out(
    run: Run, bucket: str, keys: dict[str, Path], connection, tmp_path: Path
) -> None:
    """Frames go to stdout once each authenticates: when a later one fails, the hint must
    not claim that nothing was written, and says how much went out."""
    url = f"s3://{bucket}/multi"
    aes = str(keys["aes"])
    data = os.urandom(3 << 20)  # past the first ranged read of the object
    assert run("put", "-", url, "--key-file", aes, input=data).exit_code == 0
    s3 = connection.client("s3")
    head = s3.head_object(Bucket=bucket, Key="multi")
    body = bytearray(s3.get_object(Bucket=bucket, Key="multi")["Body"].read())
    body[-20] ^= 1  # in the final frame's tag
    s3.put_object(Bucket=bucket, Key="multi", Body=bytes(body), Metadata=head["Metadata"])
    streamed = run("get", url, "-", "--key-file", aes)
    assert streamed.exit_code == 3
    assert 0 < len(streamed.stdout_bytes) <= len(data)
    hint = next(line for line in streamed.stderr.splitlines() if line.startswith("hint:"))
    assert f"{len(streamed.stdout_bytes)} byte(s) had already gone to standard output" in hint
    assert "nothing was written" not in hint
    to_file = run("get", url, str(tmp_path / "out"), "--key-file", aes)
    assert to_file.exit_code == 3
    assert "nothing was written" in to_file.stderr and "standard output" not in to_file.stderr


def test_group_readable_key_file_is_refused(run: Run, keys: dict[str, Path], bucket: str) -> None:
    keys["aes"].chmod(0o644)
    result = run("put", "-", f"s3://{bucket}/k", "--key-file", str(keys["aes"]), input=b"x")
    assert result.exit_code == 2
    assert "accessible by group or others" in first_error(result)
    assert run("ls", f"s3://{bucket}").stdout == ""


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--range", "5-1"], "error: invalid range '5-1'"),
        (["--range", "abc"], "error: invalid range 'abc'"),
        (["--range", "-5"], "error: invalid range '-5'"),
    ],
)
def test_bad_ranges(run: Run, bucket: str, args: list[str], error: str) -> None:
    result = run("get", f"s3://{bucket}/any", *args)
    assert result.exit_code == 2
    assert first_error(result).startswith(error)


def test_a_range_past_the_end_of_a_truncated_object_is_an_integrity_error(
    run: Run, bucket: str, keys: dict[str, Path], connection
) -> None:
    """Dropping the final frame makes the object look shorter: a range past that false end
    must not be a usage error (2) but the damage it is (3)."""
    from securestore.message import parse
    from securestore.message.sizes import Layout

    url = f"s3://{bucket}/cut.bin"
    data = os.urandom(3 * 262144 + 1000)
    assert run("put", "-", url, "--key-file", str(keys["aes"]), input=data).exit_code == 0
    s3 = connection.client("s3")
    got = s3.get_object(Bucket=bucket, Key="cut.bin")
    message = got["Body"].read()
    header = parse(message)
    layout = Layout.from_ciphertext_length(len(message), header.frame_length, header.length)
    cut = message[: layout.frame_start(layout.frame_count)]  # without the final frame
    s3.put_object(Bucket=bucket, Key="cut.bin", Body=cut, Metadata=got["Metadata"])
    beyond = run("get", url, "-", "--key-file", str(keys["aes"]), "--range", f"{len(data) - 10}-")
    assert beyond.exit_code == 3, beyond.stderr
    assert beyond.stdout_bytes == b""


def test_get_reports_the_plaintext_size_it_wrote(
    run: Run, bucket: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    url = f"s3://{bucket}/sized.bin"
    assert run("put", "-", url, "--key-file", str(keys["aes"]), input=b"x" * 3000).exit_code == 0
    got = run("get", url, str(tmp_path / "out"), "--key-file", str(keys["aes"]))
    assert got.exit_code == 0, got.stderr
    assert "(2.9 KiB, client-side" in got.stderr  # 3000 B of plaintext, not the message's size


def test_plain_object_read_as_client_side_is_refused(run: Run, bucket: str, kms_key: str) -> None:
    url = f"s3://{bucket}/plain"
    assert run("put", "-", url, input=b"not encrypted client-side").exit_code == 0
    result = run("get", url, "--require", "client-side", "--kms-key-id", kms_key)
    assert result.exit_code == 3
    assert "not a valid client-side message" in first_error(result)
    assert result.stdout_bytes == b""


def _replace_with_plaintext(connection, bucket: str, key: str, body: bytes) -> None:
    """What anyone with s3:PutObject can do: a plain object, without the marker."""
    connection.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


@pytest.mark.parametrize("key_kind", ["key-file", "kms-discovery", "kms-key-id"])
def test_plaintext_substituted_for_a_client_side_object_is_refused(
    run: Run,
    bucket: str,
    keys: dict[str, Path],
    kms_key: str,
    connection,
    tmp_path: Path,
    key_kind: str,
) -> None:
    url = f"s3://{bucket}/swapped"
    write, read = {
        "key-file": (["--key-file", str(keys["aes"])], ["--key-file", str(keys["aes"])]),
        "kms-discovery": (["--client-side", "--kms-key-id", kms_key], ["--client-side"]),
        "kms-key-id": (["--client-side", "--kms-key-id", kms_key], ["--kms-key-id", kms_key]),
    }[key_kind]
    assert run("put", "-", url, *write, input=b"genuine").exit_code == 0
    forged = b"attacker's bytes\n"
    _replace_with_plaintext(connection, bucket, "swapped", forged)
    to_stdout = run("get", url, *read)
    assert to_stdout.exit_code == 3, to_stdout.stderr
    assert to_stdout.stdout_bytes == b""
    assert "not a valid client-side message" in first_error(to_stdout)
    assert "an AWS Encryption SDK message starts with byte 0x02" in first_error(to_stdout)
    # The hint names the CLI option, not the library parameter.
    hint = to_stdout.stderr.splitlines()[1]
    assert hint.startswith("hint: ") and "read it with --allow-plaintext," in hint, hint
    assert "=True" not in hint and "CLI:" not in hint
    folder = tmp_path / "downloads"
    folder.mkdir()
    to_file = run("get", url, str(folder / "out"), *read)
    assert to_file.exit_code == 3
    assert list(folder.iterdir()) == []
    # The explicit, loudly named opt-in returns the object as stored.
    lenient = run("get", url, *read, "--allow-plaintext")
    assert lenient.exit_code == 0, lenient.stderr
    assert lenient.stdout_bytes == forged


def test_client_side_object_with_stripped_metadata_still_decrypts(
    run: Run, bucket: str, keys: dict[str, Path], connection
) -> None:
    url = f"s3://{bucket}/stripped"
    aes = str(keys["aes"])
    assert run("put", "-", url, "--key-file", aes, input=b"secret").exit_code == 0
    s3 = connection.client("s3")
    message = s3.get_object(Bucket=bucket, Key="stripped")["Body"].read()
    _replace_with_plaintext(connection, bucket, "stripped", message)
    got = run("get", url, "--key-file", aes)
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == b"secret"


def test_plain_read_refuses_a_client_side_object(
    run: Run, bucket: str, kms_key: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/cs"
    put = run("put", "-", url, "--client-side", "--kms-key-id", kms_key, input=b"secret")
    assert put.exit_code == 0
    dest = tmp_path / "out"
    for args in ([], [str(dest)]):
        result = run("get", url, *args)
        assert result.exit_code == 4, result.stderr
        assert result.stdout_bytes == b""
        assert "client-side encrypted" in first_error(result)
        assert "--client-side" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_allow_plaintext_needs_a_client_side_read(run: Run, bucket: str) -> None:
    result = run("get", f"s3://{bucket}/any", "--allow-plaintext")
    assert result.exit_code == 2
    assert "--allow-plaintext only applies to client-side reads" in first_error(result)


def test_require_client_side_and_allow_plaintext_contradict(
    run: Run, bucket: str, connection, tmp_path: Path
) -> None:
    """Together they let a plain object through --require client-side: refused instead."""
    connection.client("s3").put_object(Bucket=bucket, Key="plain", Body=b"plain")
    key = tmp_path / "k.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    url = f"s3://{bucket}/plain"
    result = run(
        "get", url, "-", "--require", "client-side", "--key-file", str(key), "--allow-plaintext"
    )
    assert result.exit_code == 2
    assert result.stdout_bytes == b""
    assert "contradict" in first_error(result)


def test_require_dsse_kms_with_a_key_is_checked(
    run: Run, bucket: str, kms_key: str, connection, tmp_path: Path
) -> None:
    other = connection.client("kms").create_key(Description="other")["KeyMetadata"]["Arn"]
    url = f"s3://{bucket}/dsse"
    assert (
        run("put", "-", url, "--sse", "dsse-kms", "--kms-key-id", kms_key, input=b"d").exit_code
        == 0
    )
    ok = run("get", url, "--require", "dsse-kms", "--kms-key-id", kms_key)
    assert ok.exit_code == 0 and ok.stdout_bytes == b"d"
    wrong = run("get", url, str(tmp_path / "x"), "--require", "dsse-kms", "--kms-key-id", other)
    assert wrong.exit_code == 3
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncated", "tampered"])
def test_damaged_object_get_to_file_is_all_or_nothing_stdout_gets_a_prefix(
    run: Run, bucket: str, keys: dict[str, Path], connection, tmp_path: Path, damage: str
) -> None:
    """To a file: nothing changes. To stdout: only an authenticated prefix, then exit 3."""
    url = f"s3://{bucket}/big"
    aes = str(keys["aes"])
    data = os.urandom(3 * 1024 * 1024 + 5)  # several 1 MiB pieces of output
    assert run("put", "-", url, "--key-file", aes, input=data).exit_code == 0
    s3 = connection.client("s3")
    body = bytearray(s3.get_object(Bucket=bucket, Key="big")["Body"].read())
    if damage == "truncated":
        del body[-100_000:]
    else:
        body[-100_000] ^= 1
    _replace_with_plaintext(connection, bucket, "big", bytes(body))
    folder = tmp_path / "downloads"
    folder.mkdir()
    existing = folder / "existing.bin"
    existing.write_bytes(b"previous")
    to_file = run("get", url, str(existing), "--key-file", aes)
    assert to_file.exit_code == 3
    assert existing.read_bytes() == b"previous"
    assert [p.name for p in folder.iterdir()] == ["existing.bin"]
    to_stdout = run("get", url, "--key-file", aes)
    assert to_stdout.exit_code == 3
    released = to_stdout.stdout_bytes
    assert len(released) < len(data) and data.startswith(released)


def test_a_kms_alias_decrypts_as_its_key(
    run: Run, bucket: str, kms_key: str, connection, tmp_path: Path
) -> None:
    """Messages name their KMS data keys by key ARN: an alias given for reading is resolved
    (it matched nothing before, and get failed with exit 4)."""
    import uuid

    alias = f"alias/reading-{uuid.uuid4().hex[:8]}"
    connection.client("kms").create_alias(AliasName=alias, TargetKeyId=kms_key)
    url = f"s3://{bucket}/by-alias"
    put = run("put", "-", url, "--client-side", "--kms-key-id", alias, input=b"aliased")
    assert put.exit_code == 0, put.stderr
    got = run("get", url, "-", "--kms-key-id", alias)
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == b"aliased"
    sealed, opened = tmp_path / "m.encrypted", tmp_path / "m"
    (tmp_path / "m.txt").write_bytes(b"offline")
    assert (
        run("encrypt", str(tmp_path / "m.txt"), "-o", str(sealed), "--kms-key-id", alias).exit_code
        == 0
    )
    done = run("decrypt", str(sealed), "-o", str(opened), "--kms-key-id", alias)
    assert done.exit_code == 0, done.stderr
    assert opened.read_bytes() == b"offline"
    missing = run("get", url, "-", "--kms-key-id", "alias/no-such-alias")
    assert missing.exit_code == 4
    assert "could not be resolved to a key ARN" in first_error(missing)
    assert "hint:" in missing.stderr
