"""Re-wrap when the world misbehaves: KMS throttling, a permission missing halfway through a
prefix, a source that changed between the plan and the write.

Throttling is a real botocore retry: the KMS client is handed an HTTP 400
``ThrottlingException`` answer before its request is sent (``before-send``), the same bytes
KMS sends, so botocore's own retry handler and securestore's error translation run. The
missing permission is real too: moto's IAM enforcement (the endpoint of
``tests/iam_policy/test_enforced.py``) refuses the writes of a user whose policy lacks them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner
from securestore_cli.main import main_group

from securestore import Connection, KeyUnavailableError, PreconditionFailedError, SecureStore
from securestore.clientside import ClientSide
from securestore.keyrings import AwsKmsKeyring, RawAesKeyring
from securestore.message import parse
from securestore.store import create_bucket
from tests.clientside.conftest import Raw
from tests.conftest import SMALL_TRANSFER
from tests.conftest import Endpoint as TlsEndpoint
from tests.iam_policy.test_enforced import (  # noqa: F401 - the IAM-enforcing endpoint fixtures
    Endpoint,
    endpoint,
    root,
)

MiB = 1024 * 1024


class _Throttle:
    """Answers the next ``times`` KMS requests of one client with a ThrottlingException."""

    def __init__(self, client: Any, times: int) -> None:
        self.left = times
        self.sent = 0
        client.meta.events.register("before-send.kms.*", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse | None:
        self.sent += 1
        if self.left <= 0:
            return None
        self.left -= 1
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})

        class _Raw:
            def stream(self, **_: Any) -> Iterator[bytes]:
                yield body.encode()

        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw())


@pytest.fixture
def kms_store(
    new_connection: Callable[..., Connection], bucket: str, kms_key: str
) -> Callable[[int], tuple[SecureStore, Any]]:
    """``kms_store(max_attempts)``: a store whose KMS keyring has a client of its own."""

    def make(max_attempts: int) -> tuple[SecureStore, Any]:
        connection = new_connection(max_attempts=max_attempts)
        kms = connection.client("kms")
        store = SecureStore(
            bucket,
            encryption=ClientSide(AwsKmsKeyring(kms_key, client=kms)),
            connection=connection,
            transfer=SMALL_TRANSFER,
        )
        return store, kms

    return make


def test_kms_throttling_is_retried_and_the_rewrap_completes(
    kms_store: Callable[[int], tuple[SecureStore, Any]], raw: Raw
) -> None:
    store, kms = kms_store(4)
    store.put("t.bin", b"throttled once or twice")
    add = RawAesKeyring("team", "new", os.urandom(32))
    throttle = _Throttle(kms, times=2)
    result = store.rewrap("t.bin", add=[add])
    assert throttle.left == 0 and throttle.sent >= 3  # two refusals, then the real Decrypt
    assert len(result.added) == 1
    reader = SecureStore(store.bucket, encryption=ClientSide(add), connection=store.connection)
    assert reader.get("t.bin") == b"throttled once or twice"
    assert len(parse(raw.get("t.bin")).encrypted_data_keys) == 2


def test_persistent_kms_throttling_fails_closed_and_leaves_the_object(
    kms_store: Callable[[int], tuple[SecureStore, Any]], raw: Raw
) -> None:
    store, kms = kms_store(2)
    store.put("small.bin", b"small")
    store.put("large.bin", os.urandom(12 * MiB))  # the server-side copy path
    before = {key: raw.get(key) for key in ("small.bin", "large.bin")}
    add = RawAesKeyring("team", "new", os.urandom(32))
    _Throttle(kms, times=1000)
    for key in before:
        with pytest.raises(KeyUnavailableError) as caught:
            store.rewrap(key, add=[add])
        assert "Throttling" in str(caught.value)
        assert raw.get(key) == before[key]
    assert not raw.open_uploads()


def test_a_source_replaced_after_the_plan_is_not_overwritten(
    new_connection: Callable[..., Connection], bucket: str, raw: Raw
) -> None:
    """The object is replaced between the rewrap's read and its write (from the first
    ranged GET's answer): the conditional write refuses, the new object stays."""
    old = RawAesKeyring("team", "old", os.urandom(32))
    add = RawAesKeyring("team", "new", os.urandom(32))
    connection = new_connection(max_attempts=1)
    store = SecureStore(
        bucket, encryption=ClientSide(old), connection=connection, transfer=SMALL_TRANSFER
    )
    for key, size in (("s.bin", 1000), ("l.bin", 12 * MiB)):
        store.put(key, os.urandom(size))
        replaced: list[bytes] = []

        def replace(key: str = key, replaced: list[bytes] = replaced, **_: Any) -> None:
            if not replaced:  # once: the writer that races the rewrap
                writer = SecureStore(
                    bucket, encryption=ClientSide(old), connection=new_connection()
                )
                writer.put(key, b"written concurrently")
                replaced.append(raw.get(key))

        s3 = connection.client("s3")
        s3.meta.events.register("after-call.s3.GetObject", replace)
        try:
            with pytest.raises(PreconditionFailedError):
                store.rewrap(key, add=[add])
        finally:
            s3.meta.events.unregister("after-call.s3.GetObject", replace)
        assert raw.get(key) == replaced[0]
        assert store.get(key) == b"written concurrently"
    assert not raw.open_uploads()


# -- a permission missing halfway through a prefix ------------------------------------------


def _policy(bucket: str, writable: list[str]) -> dict[str, Any]:
    object_writes = [
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
            {
                "Effect": "Allow",
                "Action": object_writes,
                "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in writable],
            },
        ],
    }


def test_a_permission_missing_halfway_through_a_prefix(
    endpoint: Endpoint,  # noqa: F811
    root: Connection,  # noqa: F811
    tmp_path: Path,
) -> None:
    bucket = f"rewrap-{uuid.uuid4().hex[:12]}"
    create_bucket(root, bucket)
    old, new = tmp_path / "old.aes", tmp_path / "new.aes"
    env = {**endpoint.env, "AWS_MAX_ATTEMPTS": "1"}
    runner = CliRunner()
    for path in (old, new):
        assert runner.invoke(main_group, ["keygen", "--aes", str(path)]).exit_code == 0
    for key in ("p/a/1", "p/m/1", "p/m/2", "p/z/1"):
        put = runner.invoke(
            main_group, ["put", "-", f"s3://{bucket}/{key}", "--key-file", str(old)],
            input=key.encode(), env=env,
        )  # fmt: skip
        assert put.exit_code == 0, put.output
    s3 = root.client("s3")
    before = {
        key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in ("p/m/1", "p/m/2")
    }

    iam = root.client("iam")
    name = f"rewrapper-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    policy = _policy(bucket, writable=["p/a/", "p/z/"])
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    access = iam.create_access_key(UserName=name)["AccessKey"]
    user_env = {
        **env,
        "AWS_ACCESS_KEY_ID": access["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": access["SecretAccessKey"],
    }
    endpoint.enforce()
    try:
        result = runner.invoke(
            main_group,
            ["rewrap", f"s3://{bucket}/p/", "--recursive", "--key-file", str(old),
             "--add-key-file", str(new), "--json"],
            env=user_env,
        )  # fmt: skip
    finally:
        endpoint.relax()
    assert result.exit_code == 4, result.output
    entries = {entry["key"]: entry for entry in json.loads(result.stdout)}
    assert set(entries) == {"p/a/1", "p/m/1", "p/m/2", "p/z/1"}
    # The objects before and after the refused ones were re-wrapped: the run went on.
    assert "error" not in entries["p/a/1"] and "error" not in entries["p/z/1"]
    for key in ("p/m/1", "p/m/2"):
        assert entries[key]["exit_code"] == 4
        assert "AccessDenied" in entries[key]["error"] or "denied" in entries[key]["error"]
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == before[key]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    for key in ("p/a/1", "p/z/1"):
        got = runner.invoke(
            main_group, ["get", f"s3://{bucket}/{key}", "--key-file", str(new)], env=env
        )
        assert got.exit_code == 0 and got.stdout_bytes == key.encode()


def test_the_most_serious_failure_of_a_prefix_decides_the_exit_code(
    tls_endpoint: TlsEndpoint, bucket: str, raw: Raw, tmp_path: Path
) -> None:
    """A key that does not fit (4) comes first in the listing, a tampered header (3)
    after it: a CI gate must see 3, not the first failure's 4."""
    runner = CliRunner()
    env = dict(tls_endpoint.env)
    keys = {name: tmp_path / f"{name}.aes" for name in ("mine", "theirs", "new")}
    for path in keys.values():
        assert runner.invoke(main_group, ["keygen", "--aes", str(path)]).exit_code == 0
    for key, owner in (("p/1-theirs", "theirs"), ("p/2-tampered", "mine"), ("p/3-ok", "mine")):
        put = runner.invoke(
            main_group, ["put", "-", f"s3://{bucket}/{key}", "--key-file", str(keys[owner])],
            input=b"data", env=env,
        )  # fmt: skip
        assert put.exit_code == 0, put.output
    message = bytearray(raw.get("p/2-tampered"))
    message[parse(bytes(message)).length - 1] ^= 1  # the header tag's last byte
    raw.put("p/2-tampered", bytes(message))
    result = runner.invoke(
        main_group,
        ["rewrap", f"s3://{bucket}/p/", "--recursive", "--key-file", str(keys["mine"]),
         "--add-key-file", str(keys["new"]), "--json"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    entries = {entry["key"]: entry for entry in json.loads(result.stdout)}
    assert entries["p/1-theirs"]["exit_code"] == 4
    assert entries["p/2-tampered"]["exit_code"] == 3
    assert "error" not in entries["p/3-ok"]


def test_a_prefix_skips_objects_that_are_not_messages_but_not_damaged_ones(
    tls_endpoint: TlsEndpoint, bucket: str, raw: Raw, connection: Connection, tmp_path: Path
) -> None:
    """Plaintext, empty and S3EC objects are skipped; a truncated message is an error (3):
    a key rotation must not report success over an object it could not re-wrap."""
    runner = CliRunner()
    env = dict(tls_endpoint.env)
    key_file, new_file = tmp_path / "k.aes", tmp_path / "n.aes"
    for path in (key_file, new_file):
        assert runner.invoke(main_group, ["keygen", "--aes", str(path)]).exit_code == 0
    put = runner.invoke(
        main_group, ["put", "-", f"s3://{bucket}/p/damaged", "--key-file", str(key_file)],
        input=b"x" * 1000, env=env,
    )  # fmt: skip
    assert put.exit_code == 0
    message = raw.get("p/damaged")
    raw.put("p/damaged", message[: parse(message).length - 20])  # cut inside the header
    s3 = connection.client("s3")
    s3.put_object(Bucket=bucket, Key="p/empty", Body=b"")
    s3.put_object(Bucket=bucket, Key="p/plain", Body=b"plain text")
    s3.put_object(
        Bucket=bucket, Key="p/s3ec", Body=os.urandom(64), Metadata={"x-amz-key-v2": "AAAA"}
    )
    result = runner.invoke(
        main_group,
        ["rewrap", f"s3://{bucket}/p/", "--recursive", "--key-file", str(key_file),
         "--add-key-file", str(new_file), "--json"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    entries = {entry["key"]: entry for entry in json.loads(result.stdout)}
    assert entries["p/damaged"]["exit_code"] == 3
    assert "ends inside the message header" in entries["p/damaged"]["error"]
    for key in ("p/empty", "p/plain", "p/s3ec"):
        assert "not a client-side message" in entries[key]["skipped"]
    assert "migrate" in result.stderr  # the S3EC object's hint
