"""``reencrypt`` on the TLS moto endpoint: copy fallback, UpdateObjectEncryption, failures, CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse

from securestore import ClientSide, Connection, SecureStore, SseKms, SseS3
from securestore.keyrings import RawAesKeyring
from securestore.reencrypt import Mechanism, Outcome, Reencryptor, reencrypt
from tests.store.conftest import error_response
from tests.support.cli import Run
from tests.support.inflight import InFlight


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload

    def read(self, *_: Any) -> bytes:
        return self._payload


def _keys(connection: Connection, bucket: str) -> list[str]:
    listed = connection.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def _fill(connection: Connection, bucket: str, kms_key: str, aes: RawAesKeyring) -> None:
    s3 = connection.client("s3")
    for name in ("p/a", "p/b", "p/c"):
        s3.put_object(
            Bucket=bucket,
            Key=name,
            Body=name.encode() * 100,
            ServerSideEncryption="AES256",
            Metadata={"owner": "ops"},
            ContentType="text/plain",
            StorageClass="STANDARD_IA",
        )
    s3.put_object(
        Bucket=bucket, Key="p/kms", Body=b"k", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key
    )
    SecureStore(bucket, encryption=ClientSide(aes), connection=connection).put("p/cs", b"secret")
    s3.put_object(Bucket=bucket, Key="q/outside", Body=b"o", ServerSideEncryption="AES256")


def test_objects_are_copied_over_themselves_where_update_is_missing(
    connection: Connection, bucket: str, kms_key: str, aes_keyring: RawAesKeyring
) -> None:
    _fill(connection, bucket, kms_key, aes_keyring)
    store = SecureStore(bucket, connection=connection)
    report = reencrypt(store, "p/", SseKms(kms_key, bucket_key=False), recursive=True)
    by_key = {entry.key: entry for entry in report.objects}
    assert sorted(by_key) == ["p/a", "p/b", "p/c", "p/cs", "p/kms"]
    for name in ("p/a", "p/b", "p/c"):
        entry = by_key[name]
        assert entry.outcome is Outcome.REENCRYPTED, entry
        assert entry.mechanism is Mechanism.COPY_OBJECT  # moto has no UpdateObjectEncryption
        assert entry.old == "sse-s3" and entry.new is not None and kms_key in entry.new
        head = connection.client("s3").head_object(Bucket=bucket, Key=name)
        assert head["SSEKMSKeyId"] == kms_key
        assert head["Metadata"] == {"owner": "ops"} and head["ContentType"] == "text/plain"
        assert head["StorageClass"] == "STANDARD_IA"
        assert store.get(name) == name.encode() * 100
    assert by_key["p/kms"].outcome is Outcome.SKIPPED and "already" in str(by_key["p/kms"].note)
    assert by_key["p/cs"].outcome is Outcome.SKIPPED and "rewrap" in str(by_key["p/cs"].note)
    assert report.ok
    # moto takes UpdateObjectEncryption for a PutObject: the probe must leave nothing behind,
    # and no object may have been replaced by the request's XML.
    assert _keys(connection, bucket) == ["p/a", "p/b", "p/c", "p/cs", "p/kms", "q/outside"]
    assert (
        connection.client("s3").head_object(Bucket=bucket, Key="q/outside")["ServerSideEncryption"]
        == "AES256"
    )


def test_update_object_encryption_is_used_where_the_server_has_it(
    new_connection: Callable[..., Connection],
    connection: Connection,
    bucket: str,
    kms_key: str,
) -> None:
    """Nothing here runs UpdateObjectEncryption, so a handler plays a server that has it."""
    own = new_connection()
    s3 = connection.client("s3")
    s3.put_object(Bucket=bucket, Key="x", Body=b"data", ServerSideEncryption="AES256")
    calls: list[str] = []

    def server(request: Any, **_: Any) -> AWSResponse:
        key = unquote(urlsplit(request.url).path.split("/", 2)[2])
        calls.append(key)
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except s3.exceptions.ClientError:
            return error_response(request, "NoSuchKey", 404)
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        assert b"<KMSKeyArn>" + kms_key.encode() in body
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key,
        )
        return AWSResponse(request.url, 200, {}, _Body(b""))  # type: ignore[arg-type]

    own.client("s3").meta.events.register("before-send.s3.UpdateObjectEncryption", server)
    before = s3.head_object(Bucket=bucket, Key="x")
    store = SecureStore(bucket, connection=own)
    report = reencrypt(store, "x", SseKms(kms_key, bucket_key=False))
    (entry,) = report.objects
    assert entry.outcome is Outcome.REENCRYPTED, entry
    assert entry.mechanism is Mechanism.UPDATE_OBJECT_ENCRYPTION
    assert len(calls) == 2 and calls[0].startswith("securestore-probe-") and calls[1] == "x"
    after = s3.head_object(Bucket=bucket, Key="x")
    assert after["ETag"] == before["ETag"] and after["SSEKMSKeyId"] == kms_key


def test_a_denied_object_halfway_is_reported_and_the_run_goes_on(
    connection: Connection, bucket: str, kms_key: str
) -> None:
    s3 = connection.client("s3")
    for name in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=name, Body=b"x", ServerSideEncryption="AES256")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/b",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    try:
        report = reencrypt(
            SecureStore(bucket, connection=connection),
            "",
            SseKms(kms_key, bucket_key=False),
            recursive=True,
        )
    finally:
        s3.delete_bucket_policy(Bucket=bucket)
    outcomes = {entry.key: entry.outcome for entry in report.objects}
    assert outcomes == {"a": Outcome.REENCRYPTED, "b": Outcome.FAILED, "c": Outcome.REENCRYPTED}
    assert not report.ok
    assert "403" in str(report.objects[1].note)
    assert s3.head_object(Bucket=bucket, Key="b")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="c")["SSEKMSKeyId"] == kms_key


def test_dry_run_changes_nothing(connection: Connection, bucket: str, kms_key: str) -> None:
    s3 = connection.client("s3")
    s3.put_object(Bucket=bucket, Key="a", Body=b"x", ServerSideEncryption="AES256")
    report = reencrypt(
        SecureStore(bucket, connection=connection), "a", SseKms(kms_key), dry_run=True
    )
    assert [e.outcome for e in report.objects] == [Outcome.PLANNED]
    assert s3.head_object(Bucket=bucket, Key="a")["ServerSideEncryption"] == "AES256"


def test_back_to_sse_s3_by_copy(connection: Connection, bucket: str, kms_key: str) -> None:
    s3 = connection.client("s3")
    s3.put_object(
        Bucket=bucket, Key="a", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key
    )
    report = reencrypt(SecureStore(bucket, connection=connection), "a", SseS3())
    assert [e.mechanism for e in report.objects] == [Mechanism.COPY_OBJECT]
    assert s3.head_object(Bucket=bucket, Key="a")["ServerSideEncryption"] == "AES256"


# -- the command -------------------------------------------------------------------------


def test_cli_reports_each_object_and_exits_zero(
    run: Run,
    connection: Connection,
    bucket: str,
    kms_key: str,
    aes_keyring: RawAesKeyring,
) -> None:
    _fill(connection, bucket, kms_key, aes_keyring)
    result = run(
        "reencrypt", f"s3://{bucket}/p/", "--sse", "kms", "--kms-key-id", kms_key, "--recursive"
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()  # in the order objects finish (they run concurrently)
    assert (
        f"reencrypted s3://{bucket}/p/a: sse-s3 -> sse-kms ({kms_key}) "
        + ("(copy-object); rewritten by S3 over the same key: new ETag and last-modified date")
        in lines
    )
    assert f"skipped s3://{bucket}/p/cs: client-side encrypted" in result.stdout
    assert f"skipped s3://{bucket}/p/kms: already sse-kms" in result.stdout
    assert result.stderr.strip() == "reencrypt: 3 reencrypted, 2 skipped"


def test_cli_json_and_a_failure_exit_4(
    run: Run, connection: Connection, bucket: str, kms_key: str
) -> None:
    s3 = connection.client("s3")
    for name in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=name, Body=b"x", ServerSideEncryption="AES256")
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/a",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny))
    try:
        result = run(
            "reencrypt",
            f"s3://{bucket}",
            "--sse",
            "kms",
            "--kms-key-id",
            kms_key,
            "--recursive",
            "--json",
        )
    finally:
        s3.delete_bucket_policy(Bucket=bucket)
    assert result.exit_code == 4
    document = json.loads(result.stdout)
    assert document["summary"]["failed"] == 1 and document["summary"]["reencrypted"] == 1
    # Streamed in the order objects finish (they run concurrently): sorted here.
    objects = sorted(document["objects"], key=lambda o: o["key"])
    assert [o["outcome"] for o in objects] == ["failed", "reencrypted"]
    assert objects[1]["mechanism"] == "copy-object"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    failed = objects[0]["key"]
    # The failed object is named on stderr too: the JSON may go to a reader that stopped.
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        f"error: 1 of 2 objects could not be re-encrypted (the first: s3://{bucket}/{failed}: "
    ), errors


def test_cli_usage_errors_exit_2(run: Run, bucket: str) -> None:
    assert run("reencrypt", f"s3://{bucket}", "--sse", "kms").exit_code == 2  # no key
    assert run("reencrypt", f"s3://{bucket}/k", "--sse", "s3", "--bucket-key").exit_code == 2
    assert run("reencrypt", f"s3://{bucket}/k").exit_code == 2


def test_versioned_bucket_copy_says_the_old_version_keeps_its_encryption(
    connection: Connection, versioned_bucket: str, kms_key: str
) -> None:
    s3 = connection.client("s3")
    first = s3.put_object(
        Bucket=versioned_bucket, Key="a", Body=b"x", ServerSideEncryption="AES256"
    )["VersionId"]
    report = reencrypt(SecureStore(versioned_bucket, connection=connection), "a", SseKms(kms_key))
    (entry,) = report.objects
    assert entry.outcome is Outcome.REENCRYPTED
    assert f"previous version {first} keeps its old encryption" in str(entry.note)
    old = s3.head_object(Bucket=versioned_bucket, Key="a", VersionId=first)
    assert old["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=versioned_bucket, Key="a")["SSEKMSKeyId"] == kms_key


def test_a_prefix_runs_on_the_bounded_pool_and_reports_by_key(
    new_connection: Callable[..., Connection], bucket: str, kms_key: str
) -> None:
    connection = new_connection(max_attempts=3)  # a loaded CI box may drop a request
    s3 = connection.client("s3")
    keys = [f"p/{i:02d}" for i in range(20)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x", ServerSideEncryption="AES256")
    in_flight = InFlight(s3)
    store = SecureStore(bucket, connection=connection)
    report = Reencryptor(store, SseKms(kms_key), concurrency=4).run(
        (entry.key for entry in store.list("p/")), prefix="p/"
    )
    assert [entry.key for entry in report.objects] == keys
    assert report.count(Outcome.REENCRYPTED) == 20
    assert 1 < in_flight.most <= 4
    for key in keys:
        assert s3.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "aws:kms"
