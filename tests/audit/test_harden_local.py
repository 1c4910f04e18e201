"""The embedded endpoint judges transport conditions as AWS does: a hardened bucket
keeps working there, and Denies whose transport condition holds still deny.

The endpoint (``securestore.local``, in its own process) serves TLS only, so
``aws:SecureTransport`` is true, and ``s3:TlsVersion`` is the negotiated version.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import botocore.exceptions
import pytest

from securestore import Connection
from securestore.audit.harden import apply, plan_bucket

from ..conftest import unique_bucket_name

pytestmark = pytest.mark.skipif(not ssl.HAS_TLSv1_3, reason="the client must negotiate TLS 1.3")


@pytest.fixture
def fresh(connection: Connection) -> str:
    name = unique_bucket_name("local-policy")
    connection.client("s3").create_bucket(Bucket=name)
    return name


def object_calls(connection: Connection, bucket: str) -> None:
    """put, get and head of one object; raises ClientError when refused."""
    s3 = connection.client("s3")
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"hello"
    s3.head_object(Bucket=bucket, Key="k")


def add_statement(connection: Connection, bucket: str, statement: dict[str, Any]) -> None:
    s3 = connection.client("s3")
    document = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    document["Statement"].append(statement)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))


def test_a_hardened_bucket_keeps_working(connection: Connection, fresh: str) -> None:
    plan = plan_bucket(connection, fresh, sse="s3")
    apply(plan, connection)
    policy = json.loads(connection.client("s3").get_bucket_policy(Bucket=fresh)["Policy"])
    conditions = [st["Condition"] for st in policy["Statement"]]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": "1.2"}} in conditions
    object_calls(connection, fresh)


@pytest.mark.parametrize(
    ("condition", "denied"),
    [
        ({"Bool": {"aws:SecureTransport": "true"}}, True),
        ({"Bool": {"aws:SecureTransport": ["false", "true"]}}, True),
        ({"NumericLessThan": {"s3:TlsVersion": "1.4"}}, True),
        ({"NumericLessThan": {"s3:TlsVersion": "1.3"}}, False),
        ({"NumericLessThanIfExists": {"s3:TlsVersion": "1.2"}}, False),
    ],
    ids=["secure-true", "both-values", "below-1.4", "below-1.3", "below-1.2-if-exists"],
)
def test_transport_denies_apply_exactly_when_their_condition_holds(
    connection: Connection, fresh: str, condition: dict[str, Any], denied: bool
) -> None:
    apply(plan_bucket(connection, fresh, sse="s3"), connection)
    statement = {
        "Sid": "Extra",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{fresh}", f"arn:aws:s3:::{fresh}/*"],
        "Condition": condition,
    }
    add_statement(connection, fresh, statement)
    if not denied:
        object_calls(connection, fresh)
        return
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        object_calls(connection, fresh)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
