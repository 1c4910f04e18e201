"""Render :class:`~securestore.iam_policy.PolicyDocuments` as JSON, Terraform or
CloudFormation (pure: no AWS calls)."""

from __future__ import annotations

import json
import re
from typing import Any

from securestore.iam_policy import PolicyDocuments, PolicyRequest

FORMATS = ("json", "terraform", "cloudformation")


def _name(request: PolicyRequest) -> str:
    """A resource name made of the bucket name (Terraform and CloudFormation rules)."""
    return re.sub(r"[^A-Za-z0-9]", "_", request.bucket)


def _hcl(document: Any) -> str:
    # JSON is valid in an HCL2 expression; "${" and "%{" would start a template.
    text = json.dumps(document, indent=2)
    return text.replace("${", "$${").replace("%{", "%%{")


def render_json(documents: PolicyDocuments) -> str:
    """The three documents and the notes as one JSON object."""
    return json.dumps(documents.as_dict(), indent=2) + "\n"


def render_terraform(request: PolicyRequest, documents: PolicyDocuments) -> str:
    """An ``aws_iam_policy``, an ``aws_s3_bucket_policy`` and the key-policy statements
    as a local value to merge into the key's ``policy``."""
    name = _name(request)
    notes = "".join(f"# {note}\n" for note in documents.notes)
    return (
        f"# securestore least-privilege documents for s3://{request.bucket}/{request.prefix}\n"
        f"# mode {request.mode}, access {request.access}\n{notes}\n"
        f'resource "aws_iam_policy" "securestore_{name}" {{\n'
        f'  name   = "securestore-{request.bucket}-{request.access}"\n'
        f"  policy = jsonencode({_indent(_hcl(documents.identity_policy))})\n}}\n\n"
        f'resource "aws_s3_bucket_policy" "securestore_{name}" {{\n'
        f'  bucket = "{request.bucket}"\n'
        f"  policy = jsonencode({_indent(_hcl(documents.bucket_policy))})\n}}\n\n"
        "# Merge into the KMS key's policy document (aws_kms_key.policy).\n"
        f"locals {{\n  securestore_{name}_key_policy_statements = "
        f"{_indent(_hcl(documents.key_policy_statements))}\n}}\n"
    )


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def render_cloudformation(request: PolicyRequest, documents: PolicyDocuments) -> str:
    """A template with the managed policy and the bucket policy; the key-policy
    statements are an output (CloudFormation cannot amend another stack's key)."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"securestore least-privilege documents for s3://{request.bucket}/{request.prefix} "
            f"(mode {request.mode}, access {request.access})"
        ),
        "Resources": {
            "SecurestoreIdentityPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": documents.identity_policy},
            },
            "SecurestoreBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": request.bucket,
                    "PolicyDocument": documents.bucket_policy,
                },
            },
        },
        "Outputs": {
            "KeyPolicyStatements": {
                "Description": "Statements to add to the KMS key's policy",
                "Value": json.dumps(documents.key_policy_statements),
            },
            "SecurestoreIdentityPolicyArn": {"Value": {"Ref": "SecurestoreIdentityPolicy"}},
        },
    }
    return json.dumps(template, indent=2) + "\n"


def render(request: PolicyRequest, documents: PolicyDocuments, fmt: str) -> str:
    """The documents in ``fmt``: one of :data:`FORMATS`."""
    if fmt == "terraform":
        return render_terraform(request, documents)
    if fmt == "cloudformation":
        return render_cloudformation(request, documents)
    return render_json(documents)


__all__ = ["FORMATS", "render", "render_cloudformation", "render_json", "render_terraform"]
