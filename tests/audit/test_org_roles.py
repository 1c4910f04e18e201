"""The shipped IAM roles grant exactly what the code calls.

Each test records the operations botocore sends (a ``before-call`` hook on every
client the code is handed) during a real run on the embedded endpoint, maps them
to IAM actions, and compares that set with the template's actions both ways: a
call the template does not allow fails the test, and so does a permission no
call needs. An operation missing from :data:`IAM_ACTIONS` fails too, so a new
call cannot slip in without deciding its permission.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from securestore import Connection
from securestore.audit import AuditOptions, EncryptionRequirement, Registry
from securestore.audit.collect import Collector
from securestore.audit.harden import apply, plan_bucket
from securestore.audit.org import OrgAudit

from ..conftest import ROOT, Endpoint
from .test_org import org_endpoint

__all__ = ["org_endpoint"]

ROLES = ROOT / "docs" / "roles"

#: (botocore service name, operation) -> IAM action; None: no permission is needed.
IAM_ACTIONS: dict[tuple[str, str], str | None] = {
    ("sts", "GetCallerIdentity"): None,  # always allowed, cannot be denied
    ("sts", "AssumeRole"): "sts:AssumeRole",
    ("organizations", "ListAccounts"): "organizations:ListAccounts",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketLocation"): "s3:GetBucketLocation",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketPolicy"): "s3:GetBucketPolicy",
    ("s3", "PutBucketPolicy"): "s3:PutBucketPolicy",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
    ("s3", "GetBucketAcl"): "s3:GetBucketAcl",
    ("s3", "GetBucketOwnershipControls"): "s3:GetBucketOwnershipControls",
    ("s3", "GetBucketVersioning"): "s3:GetBucketVersioning",
    ("s3", "GetBucketLogging"): "s3:GetBucketLogging",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "GetObject"): "s3:GetObject",
    ("kms", "DescribeKey"): "kms:DescribeKey",
    ("kms", "GetKeyRotationStatus"): "kms:GetKeyRotationStatus",
    ("kms", "EnableKeyRotation"): "kms:EnableKeyRotation",
    ("kms", "GetKeyPolicy"): "kms:GetKeyPolicy",
    ("kms", "ListAliases"): "kms:ListAliases",
    ("guardduty", "ListDetectors"): "guardduty:ListDetectors",
    ("guardduty", "GetDetector"): "guardduty:GetDetector",
    ("cloudtrail", "DescribeTrails"): "cloudtrail:DescribeTrails",
    ("cloudtrail", "GetTrailStatus"): "cloudtrail:GetTrailStatus",
    ("cloudtrail", "GetEventSelectors"): "cloudtrail:GetEventSelectors",
    ("config", "DescribeConfigurationRecorders"): "config:DescribeConfigurationRecorders",
    ("config", "DescribeConfigurationRecorderStatus"): (
        "config:DescribeConfigurationRecorderStatus"
    ),
    ("securityhub", "DescribeHub"): "securityhub:DescribeHub",
}


class Recording:
    """A client factory that records every operation its clients send."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.operations: set[tuple[str, str]] = set()

    def client(self, service_name: str, region_name: str | None = None) -> Any:
        client = self._connection.client(service_name, region_name=region_name)
        self.watch(client)
        return client

    def watch(self, client: Any) -> None:
        client.meta.events.register("before-call", self._seen, unique_id=f"record-{id(self)}")

    def _seen(self, model: Any, **_: Any) -> None:
        self.operations.add((model.service_model.service_name, model.name))

    def actions(self) -> set[str]:
        unknown = sorted(op for op in self.operations if op not in IAM_ACTIONS)
        assert not unknown, f"decide the IAM action of {unknown} in IAM_ACTIONS"
        return {a for op in self.operations if (a := IAM_ACTIONS[op]) is not None}


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (``!Ref x`` -> ``{"Ref": x}``)."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _short_form)


def _resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """``node`` with ``Fn::If`` decided by ``conditions`` and ``AWS::NoValue`` dropped."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return _resolve(yes if conditions[name] else no, conditions)
        return {k: _resolve(v, conditions) for k, v in node.items()}
    if isinstance(node, list):
        items = [_resolve(v, conditions) for v in node]
        return [v for v in items if v != {"Ref": "AWS::NoValue"}]
    return node


def template_actions(name: str, conditions: dict[str, bool]) -> set[str]:
    """Every Allow action of every role policy in ``docs/roles/NAME`` (no Deny, no wildcard)."""
    doc = yaml.load((ROLES / name).read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506
    assert set(doc["Conditions"]) >= set(conditions)
    actions: set[str] = set()
    for resource in doc["Resources"].values():
        assert resource["Type"] == "AWS::IAM::Role"
        for policy in _resolve(resource["Properties"]["Policies"], conditions):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                listed = statement["Action"]
                actions.update([listed] if isinstance(listed, str) else listed)
    assert not any("*" in a for a in actions)
    return actions


@pytest.fixture(scope="module")
def estate(org_endpoint: Endpoint) -> dict[str, str]:
    """An account where every collection path has something to read."""
    connection = org_endpoint.connection()
    s3 = connection.client("s3")
    s3.create_bucket(Bucket="roles-data")
    s3.create_bucket(Bucket="roles-trail-logs")
    key = connection.client("kms").create_key(Description="roles")["KeyMetadata"]["Arn"]
    connection.client("kms").create_alias(AliasName="alias/roles", TargetKeyId=key)
    s3.put_bucket_encryption(
        Bucket="roles-data",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key,
                    }
                }
            ]
        },
    )
    s3.put_object(Bucket="roles-trail-logs", Key="plain.txt", Body=b"not encrypted by SSE")
    connection.client("guardduty").create_detector(Enable=True)
    connection.client("cloudtrail").create_trail(Name="roles", S3BucketName="roles-trail-logs")
    return {"key": key}


def full_audit(connection: Connection, *, sample: bool) -> Recording:
    recording = Recording(connection)
    options = AuditOptions(
        require=EncryptionRequirement.parse("kms"), sample_objects=5 if sample else 0
    )
    collection = Collector(
        recording, options=options, monitoring=True, trail_buckets=True, lifecycle=True
    ).collect(None)
    assert collection.snapshots
    return recording


def test_audit_role_grants_exactly_what_a_full_audit_calls(
    org_endpoint: Endpoint, estate: dict[str, str]
) -> None:
    recorded = full_audit(org_endpoint.connection(), sample=True).actions()
    allowed = template_actions(
        "audit-role.yaml", {"SamplesObjects": True, "HasTrustedPrincipal": False}
    )
    assert recorded - allowed == set(), "calls the role does not allow"
    assert allowed - recorded == set(), "permissions no call needs"


def test_audit_role_without_object_sample_grants_no_object_access(
    org_endpoint: Endpoint, estate: dict[str, str]
) -> None:
    recorded = full_audit(org_endpoint.connection(), sample=False).actions()
    allowed = template_actions(
        "audit-role.yaml", {"SamplesObjects": False, "HasTrustedPrincipal": False}
    )
    assert sorted(recorded ^ allowed) == []
    assert not {"s3:GetObject", "s3:ListBucket"} & allowed


def test_harden_role_grants_exactly_what_harden_calls(
    org_endpoint: Endpoint, estate: dict[str, str]
) -> None:
    connection = org_endpoint.connection()
    connection.client("s3").create_bucket(Bucket="roles-harden")
    recording = Recording(connection)
    planned = plan_bucket(recording, "roles-harden", sse="kms", kms_key_id=estate["key"])
    assert planned.changes and planned.complete
    apply(planned, recording)
    again = plan_bucket(recording, "roles-harden", sse="kms", kms_key_id=estate["key"])
    assert again.empty  # everything was changed, so every write path ran
    allowed = template_actions("harden-role.yaml", {"HasTrustedPrincipal": False})
    recorded = recording.actions()
    assert sorted(recorded - allowed) == [], "calls the role does not allow"
    assert sorted(allowed - recorded) == [], "permissions no call needs"


def test_caller_policy_grants_what_the_management_account_calls(
    org_endpoint: Endpoint, estate: dict[str, str], tmp_path: Path
) -> None:
    connection = org_endpoint.connection()
    connection.client("organizations").create_organization(FeatureSet="ALL")
    recording = Recording(connection)
    for service in ("organizations", "sts"):
        recording.watch(connection.client(service))
    auditor = OrgAudit(connection, registry=Registry.builtin())
    auditor.run(auditor.list_accounts())
    policy = json.loads((ROLES / "audit-caller-policy.json").read_text(encoding="utf-8"))
    allowed = {
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert sorted(recording.actions() ^ allowed) == []


def test_the_templates_grant_what_the_permissions_module_lists() -> None:
    """``iam-policy --audit/--harden`` print securestore.audit.permissions; the templates
    grant the same actions, and the tests above tie the templates to the real calls."""
    from securestore.audit.permissions import (
        AUDIT_ACTIONS,
        HARDEN_ACTIONS,
        OBJECT_SAMPLE_BUCKET,
        OBJECT_SAMPLE_OBJECTS,
    )

    sampled = template_actions(
        "audit-role.yaml", {"SamplesObjects": True, "HasTrustedPrincipal": False}
    )
    plain = template_actions(
        "audit-role.yaml", {"SamplesObjects": False, "HasTrustedPrincipal": False}
    )
    assert sampled == AUDIT_ACTIONS
    assert plain == AUDIT_ACTIONS - OBJECT_SAMPLE_BUCKET - OBJECT_SAMPLE_OBJECTS
    assert template_actions("harden-role.yaml", {"HasTrustedPrincipal": False}) == HARDEN_ACTIONS
