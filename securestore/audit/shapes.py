"""What every successful answer of an API the auditor reads always contains (pure).

A ``200`` answer that lacks what the API always returns on success (an empty
body, a proxy's error page, XML of another operation) says nothing about the
bucket. botocore parses such an answer into a mostly empty dict, which the
answer readers would take for "not configured": no ACL grants, no policy,
versioning never enabled. Two checks stop that, before any reader sees the
answer; a failure is a :class:`MalformedAnswer`, which collection records like
an access failure (the checks that needed the field report ``ERROR``).

1. The body (:func:`check_body`, run by a botocore ``before-parse`` hook on the
   audit's clients): an S3 REST-XML answer must be XML whose root element is the
   one the S3 API Reference documents for the operation (:data:`XML_ROOTS`).
   (or ``<OperationResponse>``, the root botocore's own serializers write, as
   moto does for GetBucketVersioning). This is the only way to tell a
   never-versioned bucket's ``<VersioningConfiguration/>`` (or a logging-off
   ``<BucketLoggingStatus/>``) from an empty body or unrelated XML: all parse to
   ``{}``.
2. The parsed answer (:func:`check_answer`, run on every collection call): the
   elements that are always present (:data:`REQUIRED`), such as GetBucketAcl's
   ``Owner`` and ``Grants`` or a GetBucketPolicy ``Policy`` that is a JSON object.

An answer botocore cannot parse at all already fails the call; "not configured"
error answers (``NoSuchBucketPolicy``...) are error codes, never ``200``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["REQUIRED", "XML_ROOTS", "MalformedAnswer", "check_answer", "check_body"]


class MalformedAnswer(ValueError):  # noqa: N818 - a signal inside collection, like Absent
    """A successful answer without the shape its API always returns."""


#: The root element of each S3 / S3 Control REST-XML answer the auditor reads, by
#: operation (S3 API Reference, "Response Syntax"). S3 Control's
#: GetPublicAccessBlock has the same root as S3's.
XML_ROOTS: Mapping[str, str] = {
    "ListBuckets": "ListAllMyBucketsResult",
    "GetBucketLocation": "LocationConstraint",
    "GetBucketEncryption": "ServerSideEncryptionConfiguration",
    "GetPublicAccessBlock": "PublicAccessBlockConfiguration",
    "GetBucketAcl": "AccessControlPolicy",
    "GetBucketOwnershipControls": "OwnershipControls",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketLogging": "BucketLoggingStatus",
    "GetObjectLockConfiguration": "ObjectLockConfiguration",
    "GetBucketReplication": "ReplicationConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "ListObjectsV2": "ListBucketResult",
}


def _root(body: bytes) -> str | None:
    """The local name of the first element of ``body``, or None if it is not XML."""
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start",))
    try:
        parser.feed(body)
        events: list[Any] = list(parser.read_events())
        for _event, element in events:
            if isinstance(element, ET.Element):
                return str(element.tag).rsplit("}", 1)[-1]
    except ET.ParseError:
        return None
    return None


def _xml_query_answer(operation: str, body: bytes) -> None:
    """An AWS query protocol answer (STS): ``<OpResponse>`` holding ``<OpResult>``."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - botocore parses the same bytes next
    except ET.ParseError:
        root = None
    name = str(root.tag).rsplit("}", 1)[-1] if root is not None else None
    if name != f"{operation}Response" or not any(
        str(child.tag).rsplit("}", 1)[-1] == f"{operation}Result" for child in root or ()
    ):
        raise MalformedAnswer(
            f"{operation} answered {_shown(body, name)}, not <{operation}Response>"
        )


def _json_answer(operation: str, body: bytes) -> None:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise MalformedAnswer(f"{operation} answered {_shown(body, None)}, not a JSON object")


def _shown(body: bytes, root: str | None) -> str:
    if not body.strip():
        return "an empty body"
    return f"<{root}>" if root else "something else"


def check_body(protocol: str, operation: str, status: int, body: bytes) -> None:
    """Raise :class:`MalformedAnswer` if a 2xx answer of a read the auditor makes is not
    the document its protocol and operation always return.

    ``rest-xml`` (S3, S3 Control): the root element of :data:`XML_ROOTS`;
    ``query`` (STS): ``<OperationResponse>`` with ``<OperationResult>``; JSON
    protocols: a JSON object. Error answers, operations the auditor does not
    read and streamed bodies (passed as ``b""`` with their operation left out of
    the tables, as for GetObject) are not judged here.
    """
    if not 200 <= status < 300:
        return
    if protocol == "rest-xml":
        expected = XML_ROOTS.get(operation)
        if expected is None:
            return
        found = _root(body)
        # Servers built on botocore's serializers (moto, so `securestore local`) name the
        # root after the operation instead: as specific, so accepted too.
        if found not in (expected, f"{operation}Response"):
            raise MalformedAnswer(f"{operation} answered {_shown(body, found)}, not <{expected}>")
    elif operation not in REQUIRED:
        return
    elif protocol == "query":
        _xml_query_answer(operation, body)
    elif protocol in ("json", "rest-json"):
        _json_answer(operation, body)


# -- parsed answers --------------------------------------------------------------------------


def _field(answer: Mapping[str, Any], path: str, kind: type | tuple[type, ...]) -> Any:
    value: Any = answer
    for name in path.split("."):
        if not isinstance(value, Mapping) or name not in value:
            raise MalformedAnswer(f"the answer has no {path}")
        value = value[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise MalformedAnswer(f"the answer's {path} is not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {dict: "map", list: "list", str: "string", bool: "boolean"}.get(k, k.__name__)
        for k in kinds
    )


def _non_empty(answer: Mapping[str, Any], path: str, kind: type) -> Any:
    value = _field(answer, path, kind)
    if not value:
        raise MalformedAnswer(f"the answer's {path} is empty")
    return value


def _policy_document(answer: Mapping[str, Any]) -> None:
    """GetBucketPolicy / GetKeyPolicy: a JSON object with ``Statement`` (IAM grammar)."""
    text = _non_empty(answer, "Policy", str)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise MalformedAnswer(f"the policy is not JSON: {exc}") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise MalformedAnswer("the policy is not a JSON object with a Statement")


def _fields(*specs: tuple[str, type | tuple[type, ...]]) -> Callable[[Mapping[str, Any]], None]:
    def check(answer: Mapping[str, Any]) -> None:
        for path, kind in specs:
            _field(answer, path, kind)

    return check


def _rules(path: str) -> Callable[[Mapping[str, Any]], None]:
    return lambda answer: _non_empty(answer, path, list) and None


#: What each parsed answer always holds, by operation (API references: the
#: members documented as always present in a success response). Operations
#: whose success answer may be empty (GetBucketVersioning, GetBucketLogging,
#: GetBucketLocation for us-east-1) are judged by their XML root alone.
REQUIRED: Mapping[str, Callable[[Mapping[str, Any]], None]] = {
    # S3
    "ListBuckets": _fields(("Buckets", list), ("Owner", dict)),
    "GetBucketEncryption": _rules("ServerSideEncryptionConfiguration.Rules"),
    "GetBucketPolicy": _policy_document,
    "GetPublicAccessBlock": _fields(("PublicAccessBlockConfiguration", dict)),
    "GetBucketAcl": _fields(("Owner", dict), ("Grants", list)),
    "GetBucketOwnershipControls": _rules("OwnershipControls.Rules"),
    "GetObjectLockConfiguration": _fields(("ObjectLockConfiguration", dict)),
    "GetBucketReplication": _rules("ReplicationConfiguration.Rules"),
    "GetBucketLifecycleConfiguration": _rules("Rules"),
    "ListObjectsV2": _fields(("IsTruncated", bool)),
    "HeadObject": _fields(("ContentLength", int), ("ETag", str)),
    # STS, KMS
    "GetCallerIdentity": lambda a: _non_empty(a, "Account", str) and None,
    "GetKeyRotationStatus": _fields(("KeyRotationEnabled", bool)),
    "GetKeyPolicy": _policy_document,
    "ListAliases": _fields(("Aliases", list)),
    # monitoring
    "DescribeTrails": _fields(("trailList", list)),
    "GetTrailStatus": _fields(("IsLogging", bool)),
    # An answer without selectors reads as "management events only": it must be the trail's.
    "GetEventSelectors": lambda a: _non_empty(a, "TrailARN", str) and None,
    "ListDetectors": _fields(("DetectorIds", list)),
    "GetDetector": _fields(("Status", str)),
    "DescribeConfigurationRecorders": _fields(("ConfigurationRecorders", list)),
    "DescribeConfigurationRecorderStatus": _fields(("ConfigurationRecordersStatus", list)),
    "DescribeHub": lambda a: _non_empty(a, "HubArn", str) and None,
    # Organizations
    "ListAccounts": _fields(("Accounts", list)),
}


def check_answer(operation: str, answer: Any) -> None:
    """Raise :class:`MalformedAnswer` if a parsed answer lacks what ``operation`` always returns."""
    if not isinstance(answer, Mapping):
        raise MalformedAnswer(f"{operation} answered {type(answer).__name__}, not a map")
    check = REQUIRED.get(operation)
    if check is None:
        return
    try:
        check(answer)
    except MalformedAnswer as exc:
        raise MalformedAnswer(f"{operation}: {exc}") from None
