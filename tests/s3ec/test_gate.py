"""S3EC objects are read only behind ``allow_s3ec`` / ``--allow-s3ec`` (fail closed).

An S3 Encryption Client object binds itself to no bucket and key: a valid one for
the caller's key, written anywhere, can be copied over a securestore message and
would read as that key's content. Real parts: the TLS moto endpoint (S3 and KMS)
and the test-only S3EC encoder; only the endless instruction body is a stub.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from securestore import SecureStore
from securestore.clientside import ClientSide
from securestore.errors import FormatError, NotFoundError, PolicyError
from securestore.keyrings import AwsKmsKeyring, RawAesKeyring
from securestore.s3ec.metadata import MAX_INSTRUCTION_FILE
from securestore.s3ec.read import _instruction_file
from securestore.transport import Connection
from tests.s3ec import encoder
from tests.s3ec.objects import aes_v3, kms_v2
from tests.support.cli import Run

PLANTED = b"PLANTED S3EC CONTENT\n"


def swap(s3: Any, bucket: str, source: str, target: str) -> None:
    """What someone with s3:PutObject can do: a server-side copy over ``target``."""
    s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source})


def assert_refused(result: Result) -> None:
    assert result.exit_code == 3, result.output
    assert result.stdout_bytes == b""
    assert "S3 Encryption Client" in result.stderr
    assert "bind" in result.stderr and "moved here" in result.stderr
    assert "--allow-s3ec" in result.stderr and "securestore migrate" in result.stderr
    assert "Traceback" not in result.output


def test_library_refuses_an_s3ec_object_swapped_over_a_message(
    bucket: str, s3: Any, make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    key = os.urandom(32)
    keyring = RawAesKeyring("any", "name", key)
    store = make_store(encryption=ClientSide(keyring))
    store.put("report.csv", b"the genuine report\n")
    body, metadata = aes_v3(PLANTED, key=key)
    encoder.put(s3, bucket, "legacy/other.csv", body, metadata)
    swap(s3, bucket, "legacy/other.csv", "report.csv")
    with pytest.raises(PolicyError, match="S3 Encryption Client") as caught:
        store.get("report.csv")
    assert "could have been" in str(caught.value)
    assert caught.value.hint is not None and "allow_s3ec=True" in caught.value.hint
    with pytest.raises(PolicyError):
        store.open("report.csv")
    with pytest.raises(PolicyError):
        store.download_file("report.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    plain = make_store()
    with pytest.raises(PolicyError):  # the read the attacker aimed at: --require client-side
        plain.get("report.csv", require=ClientSide(keyring))
    # The caller's explicit statement: read it anyway (client-side encrypted, so a
    # client-side require accepts it).
    assert store.get("report.csv", allow_s3ec=True) == PLANTED
    assert plain.get("report.csv", require=ClientSide(keyring), allow_s3ec=True) == PLANTED
    store.download_file("report.csv", tmp_path / "out", allow_s3ec=True)
    assert (tmp_path / "out").read_bytes() == PLANTED


def test_cli_get_refuses_the_swap_unless_allow_s3ec(
    bucket: str, s3: Any, run: Run, tmp_path: Path
) -> None:
    key_file = tmp_path / "k.aes"
    assert run("keygen", "--aes", str(key_file)).exit_code == 0
    from securestore.keyrings.keyfiles import load_aes_key_file

    source = tmp_path / "report.csv"
    source.write_bytes(b"the genuine report\n")
    url = f"s3://{bucket}/report.csv"
    put = run("put", str(source), url, "--key-file", str(key_file))
    assert put.exit_code == 0, put.output
    body, metadata = aes_v3(PLANTED, key=bytes(load_aes_key_file(key_file)))
    encoder.put(s3, bucket, "legacy/other.csv", body, metadata)
    swap(s3, bucket, "legacy/other.csv", "report.csv")
    out = tmp_path / "out.csv"
    for demand in ([], ["--require", "client-side"]):
        for dest in ("-", str(out)):
            assert_refused(run("get", url, dest, "--key-file", str(key_file), *demand))
            assert not out.exists()
        allowed = run("get", url, "-", "--key-file", str(key_file), "--allow-s3ec", *demand)
        assert allowed.exit_code == 0, allowed.output
        assert allowed.stdout_bytes == PLANTED
    # Tree downloads: refused per object, read with the opt-in.
    folder = tmp_path / "tree"
    copied = run("cp", url, f"{folder}/", "--key-file", str(key_file))
    assert copied.exit_code == 3, copied.output
    assert "S3 Encryption Client" in copied.stderr and not (folder / "report.csv").exists()
    copied = run("cp", url, f"{folder}/", "--key-file", str(key_file), "--allow-s3ec")
    assert copied.exit_code == 0, copied.output
    assert (folder / "report.csv").read_bytes() == PLANTED
    # S3 to S3 client-side copies likewise; the copy is a message bound to its new key.
    target = f"s3://{bucket}/copied.csv"
    copied = run("cp", url, target, "--key-file", str(key_file))
    assert copied.exit_code == 3, copied.output
    assert "S3 Encryption Client" in copied.stderr
    copied = run("cp", url, target, "--key-file", str(key_file), "--allow-s3ec")
    assert copied.exit_code == 0, copied.output
    again = run("get", target, "-", "--key-file", str(key_file))
    assert again.exit_code == 0, again.output
    assert again.stdout_bytes == PLANTED


def test_cli_allow_s3ec_fits_only_client_side_reads(bucket: str, run: Run, tmp_path: Path) -> None:
    plain = run("get", f"s3://{bucket}/k", "-", "--allow-s3ec")
    assert plain.exit_code == 2, plain.output
    assert "--allow-s3ec only applies to client-side reads" in plain.stderr
    source = tmp_path / "f"
    source.write_bytes(b"x")
    upload = run("cp", str(source), f"s3://{bucket}/f", "--allow-s3ec")
    assert upload.exit_code == 2, upload.output
    assert "--allow-s3ec applies to downloads and copies" in upload.stderr


def test_kms_discovery_refuses_an_object_planted_under_another_key_of_the_account(
    connection: Connection, kms_key: str, bucket: str, s3: Any, run: Run
) -> None:
    store = SecureStore(
        bucket,
        encryption=ClientSide(AwsKmsKeyring(kms_key, client=connection.client("kms"))),
        connection=connection,
    )
    store.put("kreport", b"the genuine report\n")
    # Anyone who may Encrypt under any key of the account (here: their own new key).
    attacker_key = connection.client("kms").create_key()["KeyMetadata"]["Arn"]
    body, metadata = kms_v2(connection, attacker_key, PLANTED, {})
    encoder.put(s3, bucket, "kreport", body, metadata)
    url = f"s3://{bucket}/kreport"
    assert_refused(run("get", url, "-", "--client-side"))
    assert_refused(run("get", url, "-", "--require", "client-side"))
    # Discovery with the opt-in reads it: what README says --client-side proves.
    allowed = run("get", url, "-", "--client-side", "--allow-s3ec")
    assert allowed.exit_code == 0, allowed.output
    assert allowed.stdout_bytes == PLANTED
    # A pinned key does not unwrap it, opt-in or not.
    pinned = run("get", url, "-", "--kms-key-id", kms_key, "--allow-s3ec")
    assert pinned.exit_code == 4, pinned.output
    assert pinned.stdout_bytes == b""


def test_s3_to_s3_client_side_copy_needs_the_opt_in(
    bucket: str, s3: Any, make_store: Callable[..., SecureStore]
) -> None:
    key = os.urandom(32)
    keyring = RawAesKeyring("any", "name", key)
    store = make_store(encryption=ClientSide(keyring))
    body, metadata = aes_v3(PLANTED, key=key)
    encoder.put(s3, bucket, "s3ec", body, metadata)
    with pytest.raises(PolicyError, match="S3 Encryption Client"):
        store.copy("s3ec", store, "copied", require=ClientSide(keyring))
    with pytest.raises(NotFoundError):  # nothing was written
        store.head("copied")
    store.copy("s3ec", store, "copied", require=ClientSide(keyring), allow_s3ec=True)
    assert store.inspect("copied").suite.committing  # now a bound securestore message
    assert store.get("copied") == PLANTED


@contextlib.contextmanager
def gets_of(store: SecureStore) -> Iterator[list[str]]:
    """The keys of the GetObject requests the store's client sends meanwhile."""
    seen: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["Key"])

    events = store._access.s3.meta.events
    events.register("provide-client-params.s3.GetObject", record)
    try:
        yield seen
    finally:
        events.unregister("provide-client-params.s3.GetObject", record)


def test_without_the_opt_in_no_instruction_file_is_fetched(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store(keyring=AwsKmsKeyring(kms_key, client=connection.client("kms")))
    body, metadata = kms_v2(connection, kms_key, b"two", {})
    own, instruction = encoder.split_instruction_file(metadata)
    assert not own  # the object itself carries no S3EC metadata at all
    encoder.put(s3, bucket, "v2i", body, own)
    s3.put_object(Bucket=bucket, Key="v2i.instruction", Body=instruction)
    # An unknown non-message: refused, never returned.
    with gets_of(store) as seen, pytest.raises(FormatError):
        store.get("v2i")
    assert "v2i.instruction" not in seen
    with gets_of(store) as seen:
        assert store.get("v2i", allow_s3ec=True) == b"two"
    assert "v2i.instruction" in seen


def test_an_instruction_file_larger_than_the_bound_is_refused(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store(keyring=AwsKmsKeyring(kms_key, client=connection.client("kms")))
    body, metadata = kms_v2(connection, kms_key, b"two", {})
    own, instruction = encoder.split_instruction_file(metadata)
    encoder.put(s3, bucket, "big", body, own)
    # Valid JSON, padded past the bound with whitespace.
    padded = instruction + b" " * (MAX_INSTRUCTION_FILE + 1 - len(instruction))
    assert json.loads(padded)
    s3.put_object(Bucket=bucket, Key="big.instruction", Body=padded)
    with pytest.raises(FormatError, match="larger than 65536 bytes"):
        store.get("big", allow_s3ec=True)
    # At the bound it is still read.
    s3.put_object(Bucket=bucket, Key="big.instruction", Body=padded[:-1])
    assert store.get("big", allow_s3ec=True) == b"two"


class _Endless:
    """A body that never ends (a server ignoring the Range header): a stub, since the
    endpoint honours ranges. Records how much was asked for."""

    def __init__(self) -> None:
        self.delivered = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        if amt is None:
            raise AssertionError("an unbounded read of an endless body")
        self.delivered += amt
        return b" " * amt

    def close(self) -> None:
        self.closed = True


class _Access:
    bucket = "b"

    def __init__(self, response: dict[str, Any]) -> None:
        self.s3 = self
        self._response = response

    def get_object(self, **_: Any) -> dict[str, Any]:
        return self._response

    @contextlib.contextmanager
    def boundary(self, action: str, key: str | None = None) -> Iterator[None]:
        yield


def test_an_endless_instruction_body_is_read_only_to_the_bound() -> None:
    body = _Endless()
    access: Any = _Access({"Body": body})  # no Content-Length: a chunked answer
    with pytest.raises(FormatError, match="larger than"):
        _instruction_file(access, "k", required=True)
    assert body.delivered <= MAX_INSTRUCTION_FILE + 1 and body.closed


def test_an_instruction_answer_announcing_too_much_is_refused_before_reading() -> None:
    for response in (
        {"ContentLength": MAX_INSTRUCTION_FILE + 1},
        {"ContentLength": 10, "ContentRange": "bytes 0-9/999999999"},
    ):
        body = _Endless()
        access: Any = _Access({"Body": body, **response})
        with pytest.raises(FormatError, match="larger than"):
            _instruction_file(access, "k", required=True)
        assert body.delivered == 0 and body.closed
