"""Bucket-policy statements that securestore writes (pure: no AWS calls).

``harden`` merges them into a bucket's policy and ``iam-policy`` prints them, so
both say exactly the same thing; the auditor's policy evaluator
(:mod:`securestore.audit.policy`) is what judges them.
"""

from __future__ import annotations

from typing import Any

#: The Sid of the TLS-only statement (a number is appended if it is taken).
TLS_SID = "DenyInsecureTransport"

#: The Sid of the minimum-TLS-version statement (numbered likewise).
TLS_VERSION_SID = "DenyOutdatedTls"

#: The condition key S3 sets when a request carries an SSE-C key.
SSE_C_KEY = "s3:x-amz-server-side-encryption-customer-algorithm"


def tls_statement(bucket_arn: str, sid: str = TLS_SID) -> dict[str, Any]:
    """The TLS-only Deny for ``bucket_arn``: every principal, every S3 action, the
    bucket and its objects, when ``aws:SecureTransport`` is false."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_version_statement(bucket_arn: str, sid: str = TLS_VERSION_SID) -> dict[str, Any]:
    """The Deny of TLS older than 1.2 for ``bucket_arn`` (plain HTTP carries no
    ``s3:TlsVersion``, so this complements :func:`tls_statement`, never replaces it)."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
    }


def upload_encryption_statements(
    bucket_arn: str, algorithm: str, kms_key_arn: str | None
) -> list[dict[str, Any]]:
    """Deny uploads that ask for another encryption than ``algorithm`` (``AES256``,
    ``aws:kms``, ``aws:kms:dsse``) or, with ``kms_key_arn``, another KMS key.

    Each Deny has a ``Null ... false`` companion: it applies only when the request
    carries the header. A plain ``StringNotEquals`` would also match requests
    without it, such as every UploadPart of a multipart upload (authorised as
    s3:PutObject, never carrying SSE headers), and break large uploads; header-less
    uploads get the bucket's default encryption instead.
    """
    header = "s3:x-amz-server-side-encryption"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyOtherEncryption",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {
                "StringNotEquals": {header: algorithm},
                "Null": {header: "false"},
            },
        }
    ]
    if kms_key_arn:
        key_header = "s3:x-amz-server-side-encryption-aws-kms-key-id"
        statements.append(
            {
                "Sid": "DenyOtherKmsKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringNotEquals": {key_header: kms_key_arn},
                    "Null": {key_header: "false"},
                },
            }
        )
        # With the algorithm header but no key id S3 uses the AWS managed aws/s3 key.
        statements.append(
            {
                "Sid": "DenyKmsWithoutKeyId",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringEquals": {header: ["aws:kms", "aws:kms:dsse"]},
                    "Null": {key_header: "true"},
                },
            }
        )
    return statements


def sse_c_statement(bucket_arn: str) -> dict[str, Any]:
    """Deny uploads that carry a customer-provided key (SSE-C): S3 keeps no copy of
    it, so nothing in AWS can audit, rotate or revoke it."""
    return {
        "Sid": "DenySseC",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn}/*",
        "Condition": {"Null": {SSE_C_KEY: "false"}},
    }


__all__ = [
    "SSE_C_KEY",
    "TLS_SID",
    "TLS_VERSION_SID",
    "sse_c_statement",
    "tls_statement",
    "tls_version_statement",
    "upload_encryption_statements",
]
