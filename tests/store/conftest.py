"""Fixtures for the store tests: more KMS keys, versioned buckets, fault injection."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from securestore import Connection, SecureStore, create_bucket
from tests.conftest import SMALL_TRANSFER, Endpoint, unique_bucket_name
from tests.support.endpoints import endpoint_session

PART = SMALL_TRANSFER.part_size


@pytest.fixture(autouse=True)
def _empty_bucket_afterwards(request: pytest.FixtureRequest) -> Iterator[None]:
    """Free the endpoint's memory: delete what a test left in its bucket."""
    if "bucket" not in request.fixturenames:
        yield
        return
    connection: Connection = request.getfixturevalue("connection")
    name: str = request.getfixturevalue("bucket")
    yield
    s3 = connection.client("s3")
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=name, Delete={"Objects": keys})


@pytest.fixture(scope="session")
def other_kms_key(connection: Connection) -> str:
    """A second customer-managed key (for "wrong key" cases)."""
    arn: str = connection.client("kms").create_key(Description="securestore tests: other")[
        "KeyMetadata"
    ]["Arn"]
    return arn


@pytest.fixture(scope="session")
def kms_alias(connection: Connection, kms_key: str) -> str:
    """An alias name (``alias/...``) of ``kms_key``."""
    name = f"alias/securestore-tests-{uuid.uuid4().hex[:8]}"
    connection.client("kms").create_alias(AliasName=name, TargetKeyId=kms_key)
    return name


@pytest.fixture
def versioned_bucket(connection: Connection) -> Iterator[str]:
    """A new bucket with versioning enabled."""
    name = unique_bucket_name("versioned")
    create_bucket(connection, name)
    s3 = connection.client("s3")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    versions = s3.list_object_versions(Bucket=name)
    doomed = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
    ]
    if doomed:
        s3.delete_objects(Bucket=name, Delete={"Objects": doomed})


@pytest.fixture(scope="session")
def shared_session(tls_endpoint: Endpoint) -> boto3.Session:
    """One boto3 session for the per-test connections, so models load only once.

    Event handlers registered on a client stay with that client, so connections
    built on this session do not see each other's handlers.
    """
    return endpoint_session(tls_endpoint.env)


@pytest.fixture
def new_connection(
    tls_endpoint: Endpoint, shared_session: boto3.Session
) -> Callable[..., Connection]:
    """Build a connection of the test's own (default: a single retry)."""

    def make(**kwargs: Any) -> Connection:
        kwargs.setdefault("max_attempts", 1)
        return Connection(
            session=shared_session,
            endpoint_url=tls_endpoint.url,
            ca_bundle=tls_endpoint.ca_bundle,
            environ={},
            **kwargs,
        )

    return make


@pytest.fixture
def fault_connection(new_connection: Callable[..., Connection]) -> Connection:
    """A connection of its own (handlers registered on it stay in this test)."""
    return new_connection()


@pytest.fixture
def fault_store(fault_connection: Connection, bucket: str) -> Callable[..., SecureStore]:
    """Build a store on the test bucket that talks through ``fault_connection``."""

    def make(**kwargs: Any) -> SecureStore:
        kwargs.setdefault("connection", fault_connection)
        kwargs.setdefault("transfer", SMALL_TRANSFER)
        return SecureStore(bucket, **kwargs)

    return make


class _Raw:
    """The minimal raw body botocore reads an injected response from."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload

    def read(self, *_: Any) -> bytes:
        return self._payload


def error_response(request: Any, code: str = "InjectedFailure", status: int = 400) -> AWSResponse:
    """An S3 error response, as if the server had sent it.

    The default is a status botocore does not retry, so a test pays no back-off.
    """
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>injected failure</Message></Error>"
    ).encode()
    headers: Any = {"Content-Type": "application/xml"}
    return AWSResponse(request.url, status, headers, _Raw(body))


def list_uploads(connection: Connection, bucket: str) -> list[dict[str, Any]]:
    """The bucket's open multipart uploads."""
    uploads: list[dict[str, Any]] = (
        connection.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    )
    return uploads
