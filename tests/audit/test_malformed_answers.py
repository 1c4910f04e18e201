"""A ``200`` answer without what its API always returns is an audit error, never a verdict.

A TLS stub (``tests/audit/stub.py``) in front of the moto endpoint answers one
chosen read with ``200`` and an empty body, unrelated XML, or XML that has the
right members under the wrong root. For every read the audit makes, the honest
answer gives the verdicts it gives today, and each malformed one turns the
checks that needed it into ``ERROR`` (exit 4, listed under ``errors``): never a
PASS, never a FAIL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection
from securestore.audit import Registry
from securestore.audit.collect import Collector
from securestore.audit.org import OrgAudit
from securestore.audit.shapes import MalformedAnswer, check_answer, check_body
from securestore.errors import StorageError

from ..conftest import Endpoint, unique_bucket_name
from .stub import Canned, StubEndpoint, StubRequest
from .test_audit_errors import _connection, invoke
from .test_collect import _LocalS3Control

pytestmark = pytest.mark.timeout(300)

XML = {"Content-Type": "application/xml"}

Matcher = Callable[[StubRequest], bool]


def _query(name: str) -> Matcher:
    return lambda r: r.method == "GET" and name in r.query and r.path.strip("/") != ""


#: Every read of a bucket audit: (operation, how the stub recognises its request).
READS: list[tuple[str, Matcher]] = [
    ("GetBucketLocation", _query("location")),
    ("GetBucketEncryption", _query("encryption")),
    ("GetBucketPolicy", _query("policy")),
    ("GetPublicAccessBlock", _query("publicAccessBlock")),
    ("GetBucketAcl", _query("acl")),
    ("GetBucketOwnershipControls", _query("ownershipControls")),
    ("GetBucketVersioning", _query("versioning")),
    ("GetBucketLogging", _query("logging")),
    ("GetObjectLockConfiguration", _query("object-lock")),
    ("GetBucketReplication", _query("replication")),
    ("GetBucketLifecycleConfiguration", _query("lifecycle")),
    ("ListObjectsV2", _query("list-type")),
    ("HeadObject", lambda r: r.method == "HEAD" and r.path.count("/") >= 2),
    ("GetCallerIdentity", lambda r: b"Action=GetCallerIdentity" in r.body),
    ("GetPublicAccessBlock (account)", lambda r: "/configuration/publicAccessBlock" in r.path),
]

#: Malformed success answers: an empty body, unrelated XML, and the members of an
#: ACL answer under a root no S3 read has.
BODIES = {
    "empty": b"",
    "junk": b"<Nonsense/>",
    "wrong-root": b"<Nonsense><Owner><ID>x</ID></Owner><AccessControlList/>"
    b"<Rules/><Status>Enabled</Status></Nonsense>",
}


@pytest.fixture
def stub(tls_endpoint: Endpoint, tmp_path: Path) -> Iterator[Any]:
    """``stub(answer)`` starts a stub in front of the endpoint; stopped after the test."""
    started: list[StubEndpoint] = []

    def start(answer: Any) -> StubEndpoint:
        server = StubEndpoint(
            tls_endpoint.url, tls_endpoint.ca_bundle, tmp_path / f"stub{len(started)}", answer
        )
        started.append(server.__enter__())
        return server

    try:
        yield start
    finally:
        for server in started:
            server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def public_bucket(connection: Connection) -> str:
    """A bucket with a public ACL and policy, versioning, logging, lifecycle, one object."""
    s3 = connection.client("s3")
    name = unique_bucket_name("audit-shape")
    logs = unique_bucket_name("audit-shape-logs")
    s3.create_bucket(Bucket=name)
    s3.create_bucket(Bucket=logs)
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            k: False
            for k in (
                "BlockPublicAcls",
                "IgnorePublicAcls",
                "BlockPublicPolicy",
                "RestrictPublicBuckets",
            )
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_bucket_acl(Bucket=name, ACL="public-read")
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*",
    }
    s3.put_bucket_policy(
        Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                }
            ]
        },
    )
    s3.put_object(Bucket=name, Key="data.txt", Body=b"hello")
    return name


def _audit(connection: Connection, bucket: str) -> tuple[int, dict[str, Any]]:
    code, out = invoke(connection, bucket, "--format", "json", "--sample-objects", "2")
    return code, json.loads(out)


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {r["check_id"]: r["status"] for r in report["results"]}


@pytest.fixture(scope="module")
def honest(tls_endpoint: Endpoint, public_bucket: str) -> dict[str, str]:
    """The verdicts of the audit on honest answers (through no stub)."""
    code, report = _audit(_connection(tls_endpoint, tls_endpoint.url), public_bucket)
    assert code == 1 and report["errors"] == []
    statuses = _statuses(report)
    assert statuses["S3.PUBLIC.3"] == "FAIL" and statuses["S3.PUBLIC.5"] == "FAIL"
    return statuses


def test_honest_answers_through_the_stub_give_todays_verdicts(
    tls_endpoint: Endpoint, public_bucket: str, honest: dict[str, str], stub: Any
) -> None:
    server = stub(lambda request: None)
    code, report = _audit(_connection(tls_endpoint, server.url), public_bucket)
    assert (code, report["errors"]) == (1, [])
    assert _statuses(report) == honest
    assert "ERROR" not in honest.values()


@pytest.mark.parametrize("body", list(BODIES), ids=list(BODIES))
@pytest.mark.parametrize(("operation", "matches"), READS, ids=[op for op, _ in READS])
def test_malformed_success_answer_is_an_audit_error(
    tls_endpoint: Endpoint,
    public_bucket: str,
    honest: dict[str, str],
    stub: Any,
    operation: str,
    matches: Matcher,
    body: str,
) -> None:
    def answer(request: StubRequest) -> Canned | None:
        return Canned(200, BODIES[body], XML) if matches(request) else None

    server = stub(answer)
    code, report = _audit(_connection(tls_endpoint, server.url), public_bucket)
    assert code == 4
    assert report["errors"], "a malformed answer must be listed as an audit error"
    op = operation.split(" ")[0]
    assert any(op in e and "MalformedResponse" in e for e in report["errors"]), report["errors"]
    statuses = _statuses(report)
    changed = {c: s for c, s in statuses.items() if s != honest.get(c)}
    assert changed, "the check that needed the answer must not keep its verdict"
    # Nothing learned from a malformed answer: what changed is ERROR (or SKIP, for a
    # check whose precondition could not be read), never a PASS or a FAIL.
    assert "ERROR" in changed.values() and set(changed.values()) <= {"ERROR", "SKIP"}, changed


@pytest.mark.parametrize("body", ["empty", "junk"])
def test_all_buckets_with_a_malformed_bucket_list_exits_four(
    tls_endpoint: Endpoint, connection: Connection, public_bucket: str, stub: Any, body: str
) -> None:
    listed = Collector(_LocalS3Control(connection)).list_buckets()
    assert public_bucket in listed  # the honest list

    def answer(request: StubRequest) -> Canned | None:
        if request.method == "GET" and request.path == "/" and not request.query:
            return Canned(200, BODIES[body], XML)
        return None

    server = stub(answer)
    conn = _connection(tls_endpoint, server.url)
    with pytest.raises(StorageError, match="ListBuckets"):
        Collector(_LocalS3Control(conn)).list_buckets()
    code, out = invoke(conn, "--all-buckets", "--format", "json", "--fail-on", "critical")
    assert code == 4
    assert any("ListBuckets" in e for e in json.loads(out)["errors"])


# --- the shape rules themselves, on the documented answers ------------------------------------


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        (
            "GetBucketVersioning",
            b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>',
        ),
        ("GetBucketLogging", b'<?xml version="1.0" encoding="UTF-8"?>\n<BucketLoggingStatus/>'),
        ("GetBucketLocation", b"<LocationConstraint/>"),
    ],
)
def test_documented_empty_answers_are_accepted(operation: str, body: bytes) -> None:
    check_body("rest-xml", operation, 200, body)
    with pytest.raises(MalformedAnswer, match="an empty body"):
        check_body("rest-xml", operation, 200, b"")


def test_error_answers_and_other_services_are_not_judged_by_body() -> None:
    check_body("rest-xml", "GetBucketVersioning", 403, b"")
    check_body("rest-xml", "GetObject", 200, b"")
    check_body("json", "Decrypt", 200, b"")
    with pytest.raises(MalformedAnswer, match="JSON object"):
        check_body("json", "ListAliases", 200, b"[]")
    with pytest.raises(MalformedAnswer, match="GetCallerIdentityResponse"):
        check_body("query", "GetCallerIdentity", 200, b"<GetCallerIdentityResponse/>")
    check_body(
        "query",
        "GetCallerIdentity",
        200,
        b"<GetCallerIdentityResponse><GetCallerIdentityResult/></GetCallerIdentityResponse>",
    )


@pytest.mark.parametrize(
    "policy",
    ["", "not json", "[]", '{"Version": "2012-10-17"}'],
)
def test_bucket_policy_must_be_a_json_object_with_statements(policy: str) -> None:
    with pytest.raises(MalformedAnswer):
        check_answer("GetBucketPolicy", {"Policy": policy})


def test_acl_needs_owner_and_grants() -> None:
    check_answer("GetBucketAcl", {"Owner": {"ID": "x"}, "Grants": []})
    with pytest.raises(MalformedAnswer, match="Owner"):
        check_answer("GetBucketAcl", {"Grants": []})
    with pytest.raises(MalformedAnswer, match="Grants"):
        check_answer("GetBucketAcl", {"Owner": {"ID": "x"}})


@pytest.mark.parametrize("body", [b"{}", b'{"NextToken": null}'])
def test_org_account_list_without_accounts_is_an_error_not_an_empty_org(
    tls_endpoint: Endpoint, stub: Any, body: bytes
) -> None:
    def answer(request: StubRequest) -> Canned | None:
        if request.target.endswith(".ListAccounts"):
            return Canned(200, body, {"Content-Type": "application/x-amz-json-1.1"})
        return None

    server = stub(answer)
    auditor = OrgAudit(_connection(tls_endpoint, server.url), registry=Registry.builtin())
    with pytest.raises(StorageError, match="ListAccounts: the answer has no Accounts"):
        auditor.list_accounts()


def test_trail_selectors_answer_must_name_its_trail() -> None:
    """Without selectors a trail reads as "management events only": {} must not say that."""
    check_answer("GetEventSelectors", {"TrailARN": "arn:aws:cloudtrail:us-east-1:1:trail/t"})
    with pytest.raises(MalformedAnswer, match="TrailARN"):
        check_answer("GetEventSelectors", {})
