"""Collection against moto over TLS (the project's ``tls_endpoint``).

moto treats any conditional Deny as unconditional, so these tests check what
was collected and how the checks judge it, not moto's enforcement.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from securestore import Connection
from securestore.audit import AuditOptions, Registry, Status, run_checks
from securestore.audit.collect import Collector

from ..conftest import unique_bucket_name

_ACCOUNT_HOST = re.compile(r"^(https?://)\d{12}\.")


class _LocalS3Control:
    """Test-only factory wrapper: moto in server mode cannot resolve the account-id
    host prefix boto3 adds to s3control requests (see NOTES.md), so strip it."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._patched: set[int] = set()

    def client(self, service_name: str, region_name: str | None = None) -> Any:
        client = self._connection.client(service_name, region_name=region_name)
        if service_name == "s3control" and id(client) not in self._patched:
            client.meta.events.register("before-sign.s3-control.*", _strip_account_host)
            self._patched.add(id(client))
        return client


def _strip_account_host(request: Any, **_: Any) -> None:
    request.url = _ACCOUNT_HOST.sub(r"\1", request.url)


def _tls_policy(bucket: str) -> str:
    arn = f"arn:aws:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": False}},
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def buckets(connection: Connection, kms_key: str) -> dict[str, str]:
    s3 = connection.client("s3")
    names = {
        "plain": unique_bucket_name("audit-plain"),
        "hardened": unique_bucket_name("audit-hard"),
    }
    for name in names.values():
        s3.create_bucket(Bucket=name)
    hard = names["hardened"]
    s3.put_bucket_encryption(
        Bucket=hard,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": kms_key,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=hard,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=hard, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_ownership_controls(
        Bucket=hard, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_bucket_policy(Bucket=hard, Policy=_tls_policy(hard))
    s3.put_object(Bucket=names["plain"], Key="a.txt", Body=b"hello")
    connection.client("kms").enable_key_rotation(KeyId=kms_key)
    return names


def test_collects_snapshots_and_checks_judge_them(
    connection: Connection, buckets: dict[str, str], kms_key: str
) -> None:
    seen: list[tuple[str, int, int]] = []
    collector = Collector(
        _LocalS3Control(connection),
        max_workers=4,
        progress=lambda b, d, t: seen.append((b, d, t)),
        options=AuditOptions(sample_objects=5),
    )
    collection = collector.collect(sorted(buckets.values()))
    assert not collection.errors
    assert [d for _, d, _ in seen] == [1, 2] and {t for _, _, t in seen} == {2}
    snaps = {s.name: s for s in collection.snapshots}
    hard = snaps[buckets["hardened"]]
    assert hard.encryption.get()[0].algorithm == "aws:kms"
    assert hard.encryption.get()[0].bucket_key_enabled
    key = hard.key(kms_key)
    assert key.customer_managed and key.rotation_enabled.get() is True
    assert hard.api_calls == 12  # 11 configuration reads + ListObjectsV2 (empty bucket)
    plain = snaps[buckets["plain"]]
    assert plain.policy.get() is None and plain.public_access_block.get() is None
    assert plain.objects is not None and [o.key for o in plain.objects.get()] == ["a.txt"]

    report = run_checks(
        collection.snapshots,
        registry=Registry.builtin(),
        account_api_calls=collection.account_api_calls,
    )
    by = {(r.bucket, r.check_id): r.status for r in report.results}
    for check_id in (
        "S3.ENC.1",
        "S3.ENC.3",
        "S3.ENC.4",
        "S3.TLS.1",
        "S3.PUBLIC.1",
        "S3.PUBLIC.4",
        "S3.DATA.1",
        "KMS.1",
        "KMS.2",
        "KMS.3",
    ):
        assert by[(hard.name, check_id)] is Status.PASS, check_id
    for check_id in ("S3.ENC.1", "S3.TLS.1", "S3.PUBLIC.1", "S3.DATA.1"):
        assert by[(plain.name, check_id)] is Status.FAIL, check_id
    assert report.total_api_calls > 0


def test_missing_bucket_is_an_audit_error(connection: Connection) -> None:
    collection = Collector(_LocalS3Control(connection)).collect(["no-such-bucket-xyz-123"])
    assert collection.errors == ("bucket no-such-bucket-xyz-123 does not exist",)


def test_access_denied_becomes_error_results(
    connection: Connection, buckets: dict[str, str]
) -> None:
    """An API call that fails yields ERROR for the checks that needed it, never a pass."""
    import botocore.exceptions

    class Denying(_LocalS3Control):
        def client(self, service_name: str, region_name: str | None = None) -> Any:
            client = super().client(service_name, region_name)
            if service_name != "s3":
                return client

            class Proxy:
                def __getattr__(self, name: str) -> Any:
                    if name == "get_bucket_policy":

                        def deny(**_: Any) -> Any:
                            raise botocore.exceptions.ClientError(
                                {"Error": {"Code": "AccessDenied", "Message": "nope"}},
                                "GetBucketPolicy",
                            )

                        return deny
                    return getattr(client, name)

            return Proxy()

    collection = Collector(Denying(connection)).collect([buckets["hardened"]])
    report = run_checks(collection.snapshots, registry=Registry.builtin())
    by = {r.check_id: r for r in report.results}
    for check_id in ("S3.TLS.1", "S3.TLS.2", "S3.PUBLIC.5", "S3.NET.1"):
        assert by[check_id].status is Status.ERROR
        assert "GetBucketPolicy failed with AccessDenied" in by[check_id].message
    assert by["S3.ENC.1"].status is Status.PASS
