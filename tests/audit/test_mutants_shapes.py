"""The audit's answer-shape rules one by one, as plain data (securestore/audit/shapes.py).

Written for the mutants that survived the pure tests of test_malformed_answers.py
(docs/mutation.md, stop 20). A rule that no single case pins lets a malformed ``200``
through as "not configured": the finding becomes a PASS.
"""

from __future__ import annotations

from typing import Any

import pytest

from securestore.audit.shapes import REQUIRED, XML_ROOTS, MalformedAnswer, check_answer, check_body

S3_NS = b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'

#: A minimal honest answer of every operation with required members.
HONEST: dict[str, dict[str, Any]] = {
    "ListBuckets": {"Buckets": [], "Owner": {"ID": "o"}},
    "GetBucketEncryption": {
        "ServerSideEncryptionConfiguration": {
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        }
    },
    "GetBucketPolicy": {"Policy": '{"Statement": []}'},
    "GetPublicAccessBlock": {"PublicAccessBlockConfiguration": {"BlockPublicAcls": True}},
    "GetBucketAcl": {"Owner": {"ID": "o"}, "Grants": []},
    "GetBucketOwnershipControls": {
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    },
    "GetObjectLockConfiguration": {"ObjectLockConfiguration": {}},
    "GetBucketReplication": {"ReplicationConfiguration": {"Role": "r", "Rules": [{}]}},
    "GetBucketLifecycleConfiguration": {"Rules": [{"Status": "Enabled"}]},
    "ListObjectsV2": {"IsTruncated": False},
    "HeadObject": {"ContentLength": 0, "ETag": '"e"'},
    "GetCallerIdentity": {"Account": "111122223333"},
    "GetKeyRotationStatus": {"KeyRotationEnabled": False},
    "GetKeyPolicy": {"Policy": '{"Statement": [{"Effect": "Allow"}]}'},
    "ListAliases": {"Aliases": []},
    "DescribeTrails": {"trailList": []},
    "GetTrailStatus": {"IsLogging": False},
    "GetEventSelectors": {"TrailARN": "arn:aws:cloudtrail:us-east-1:1:trail/t"},
    "ListDetectors": {"DetectorIds": []},
    "GetDetector": {"Status": "DISABLED"},
    "DescribeConfigurationRecorders": {"ConfigurationRecorders": []},
    "DescribeConfigurationRecorderStatus": {"ConfigurationRecordersStatus": []},
    "DescribeHub": {"HubArn": "arn:aws:securityhub:us-east-1:1:hub/default"},
    "ListAccounts": {"Accounts": []},
}


def test_every_operation_with_required_members_has_an_honest_case_here() -> None:
    assert set(HONEST) == set(REQUIRED)


@pytest.mark.parametrize("operation", sorted(HONEST))
def test_an_honest_answer_passes_and_an_empty_one_is_malformed(operation: str) -> None:
    check_answer(operation, HONEST[operation])
    with pytest.raises(MalformedAnswer, match=f"^{operation}: the answer has no "):
        check_answer(operation, {})


@pytest.mark.parametrize("operation", sorted(HONEST))
def test_every_required_member_of_the_wrong_type_is_malformed(operation: str) -> None:
    # Each top-level member replaced by a value of no type any rule accepts.
    for name in HONEST[operation]:
        with pytest.raises(MalformedAnswer, match=f"^{operation}: "):
            check_answer(operation, {**HONEST[operation], name: object()})


@pytest.mark.parametrize(
    ("operation", "answer", "problem"),
    [
        ("GetBucketEncryption", {"ServerSideEncryptionConfiguration": {"Rules": []}}, "is empty"),
        ("GetBucketEncryption", {"ServerSideEncryptionConfiguration": []}, "has no"),
        ("GetBucketOwnershipControls", {"OwnershipControls": {"Rules": []}}, "is empty"),
        ("GetBucketReplication", {"ReplicationConfiguration": {"Rules": []}}, "is empty"),
        ("GetBucketLifecycleConfiguration", {"Rules": []}, "is empty"),
        ("GetCallerIdentity", {"Account": ""}, "Account is empty"),
        ("GetEventSelectors", {"TrailARN": ""}, "TrailARN is empty"),
        ("DescribeHub", {"HubArn": ""}, "HubArn is empty"),
        ("GetBucketPolicy", {"Policy": ""}, "Policy is empty"),
        ("GetKeyPolicy", {"Policy": "[1]"}, "not a JSON object with a Statement"),
        ("GetKeyPolicy", {"Policy": "{"}, "not JSON"),
        # A boolean is no number (Python's bool is an int), a number no boolean.
        ("HeadObject", {"ContentLength": True, "ETag": '"e"'}, "ContentLength is not a int"),
        ("ListObjectsV2", {"IsTruncated": 0}, "IsTruncated is not a boolean"),
        ("GetBucketAcl", {"Owner": [], "Grants": []}, "Owner is not a map"),
        ("GetBucketAcl", {"Owner": {}, "Grants": {}}, "Grants is not a list"),
        ("GetDetector", {"Status": 1}, "Status is not a string"),
    ],
)
def test_each_rule_alone(operation: str, answer: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedAnswer, match=f"^{operation}: .*{problem}"):
        check_answer(operation, answer)


def test_a_parsed_answer_that_is_no_map_is_malformed_even_without_rules() -> None:
    with pytest.raises(MalformedAnswer, match=r"^GetBucketVersioning answered list, not a map"):
        check_answer("GetBucketVersioning", [])
    check_answer("GetBucketVersioning", {})  # may be empty: judged by its XML root alone


# --- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204, 299])
def test_every_success_status_is_judged(status: int) -> None:
    with pytest.raises(MalformedAnswer):
        check_body("rest-xml", "GetBucketAcl", status, b"")


@pytest.mark.parametrize("status", [199, 300, 304, 403, 500])
def test_other_statuses_are_not_judged(status: int) -> None:
    check_body("rest-xml", "GetBucketAcl", status, b"")
    check_body("json", "ListAliases", status, b"")
    check_body("query", "GetCallerIdentity", status, b"")


@pytest.mark.parametrize("operation", sorted(XML_ROOTS))
def test_each_xml_read_needs_its_own_root(operation: str) -> None:
    root = XML_ROOTS[operation].encode()
    check_body("rest-xml", operation, 200, b"<" + root + S3_NS + b"/>")
    check_body(
        "rest-xml", operation, 200, b'<?xml version="1.0"?>\n<' + root + b"></" + root + b">"
    )
    # botocore's own serializers (moto) name the root after the operation.
    check_body("rest-xml", operation, 200, f"<{operation}Response/>".encode())
    other = next(r for r in XML_ROOTS.values() if r != XML_ROOTS[operation]).encode()
    with pytest.raises(MalformedAnswer, match=f"^{operation} answered <{other.decode()}>"):
        check_body("rest-xml", operation, 200, b"<" + other + b"/>")


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"", "an empty body"),
        (b"  \n", "an empty body"),
        (b"not xml", "something else"),
        (b"<<<", "something else"),
        (b"<Error><Code>x</Code></Error>", "<Error>"),
    ],
)
def test_a_body_that_is_not_the_documented_xml_names_what_it_was(body: bytes, shown: str) -> None:
    with pytest.raises(
        MalformedAnswer, match=f"GetBucketAcl answered {shown}, not <AccessControlPolicy>"
    ):
        check_body("rest-xml", "GetBucketAcl", 200, body)


def test_xml_reads_the_auditor_does_not_make_are_not_judged() -> None:
    check_body("rest-xml", "GetObject", 200, b"")
    check_body("rest-xml", "PutObject", 200, b"<Nonsense/>")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"junk",
        b"<Other><GetCallerIdentityResult/></Other>",
        b"<GetCallerIdentityResponse><Other/></GetCallerIdentityResponse>",
        b"<GetCallerIdentityResponse/>",
    ],
)
def test_a_query_answer_needs_its_response_and_result(body: bytes) -> None:
    with pytest.raises(
        MalformedAnswer, match=r"^GetCallerIdentity answered .*<GetCallerIdentityResponse>"
    ):
        check_body("query", "GetCallerIdentity", 200, body)


def test_a_namespaced_query_answer_is_accepted() -> None:
    ns = b' xmlns="https://sts.amazonaws.com/doc/2011-06-15/"'
    check_body(
        "query",
        "GetCallerIdentity",
        200,
        b"<GetCallerIdentityResponse" + ns + b"><GetCallerIdentityResult><Account>1</Account>"
        b"</GetCallerIdentityResult></GetCallerIdentityResponse>",
    )


@pytest.mark.parametrize("protocol", ["json", "rest-json"])
@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'"x"', b"{", b"1"])
def test_a_json_answer_must_be_an_object(protocol: str, body: bytes) -> None:
    with pytest.raises(MalformedAnswer, match=r"^ListAliases answered .*not a JSON object"):
        check_body(protocol, "ListAliases", 200, body)
    check_body(protocol, "ListAliases", 200, b"{}")  # its members: check_answer's part


def test_bodies_of_operations_without_rules_or_of_other_protocols_are_not_judged() -> None:
    check_body("query", "AssumeRole", 200, b"")
    check_body("json", "Decrypt", 200, b"[]")
    check_body("ec2", "ListAliases", 200, b"")
