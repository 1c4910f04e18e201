"""Least-privilege IAM documents for one securestore store (pure: no AWS calls).

For a bucket, an optional prefix, an encryption mode and a KMS key this builds
the three documents a deployment needs:

* the **identity policy** of the principal that runs securestore: exactly the S3
  and KMS actions the library calls for the chosen access, on the bucket, the
  prefix and the key;
* the **key-policy statement** to add to the KMS key's policy;
* the **bucket-policy statements**: TLS only, no SSE-C, and (for KMS modes) no
  upload under another encryption or key.

What each action is for (the calls in :mod:`securestore.bucket`,
:mod:`securestore.writing`, :mod:`securestore.reading` and the keyrings):

* ``s3:ListBucket`` - ``list`` (ListObjectsV2) and telling a missing bucket from a
  missing key (HeadBucket);
* ``s3:GetObject`` - GetObject, ranged GETs and HeadObject;
* ``s3:PutObject`` - PutObject, CreateMultipartUpload, UploadPart,
  CompleteMultipartUpload (and UploadPartCopy on the destination for ``rewrap``);
* ``s3:AbortMultipartUpload`` - clean-up of failed uploads and the one-off check
  that the server honours a server-side mode before the first single-part write;
* ``s3:DeleteObject`` - ``delete`` and the undo of a write the server stored
  under another encryption than asked;
* SSE-KMS/DSSE-KMS through S3: ``kms:GenerateDataKey`` (writes), ``kms:Decrypt``
  (reads, and every multipart upload: S3 decrypts the data key for each part),
  pinned with ``kms:ViaService`` and the ``aws:s3:arn`` encryption context that
  S3 sends (the object ARN, or the bucket ARN with S3 Bucket Keys);
* client-side KMS keyrings call KMS directly, so ``kms:ViaService`` does not
  apply: ``kms:GenerateDataKey`` (writes), ``kms:Decrypt`` (reads) are pinned with
  the message's encryption context, ``securestore:bucket`` and ``securestore:key``;
* ``kms:DescribeKey`` - the check that a named key exists and is enabled before
  any data is sent (optional: denied, securestore lets S3 refuse instead).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from securestore.audit import permissions
from securestore.audit.iam.document import partition_for_region
from securestore.audit.statements import (
    sse_c_statement,
    tls_statement,
    tls_version_statement,
    upload_encryption_statements,
)
from securestore.clientside import CONTEXT_BUCKET, CONTEXT_KEY
from securestore.errors import ConfigurationError
from securestore.location import validate_bucket_name

_VERSION = "2012-10-17"
_KEY_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):key/[A-Za-z0-9-]+$")


class Mode(enum.StrEnum):
    """How objects are encrypted (the names ``put --sse`` and ``--client-side`` use)."""

    SSE_S3 = "sse-s3"
    SSE_KMS = "sse-kms"
    DSSE_KMS = "dsse-kms"
    CLIENT_SIDE = "client-side"


class Access(enum.StrEnum):
    """What the principal may do with the objects."""

    READ_WRITE = "read-write"
    READ_ONLY = "read-only"
    WRITE_ONLY = "write-only"
    #: ``rewrap``: read the old message, write the new one (body copied by S3).
    REWRAP = "rewrap"


_ALGORITHM = {Mode.SSE_S3: "AES256", Mode.SSE_KMS: "aws:kms", Mode.DSSE_KMS: "aws:kms:dsse"}


@dataclass(frozen=True)
class PolicyRequest:
    """What to generate documents for.

    Args:
        bucket: the bucket name.
        mode: the encryption mode the store writes and reads.
        region: the bucket's region (the partition and ``kms:ViaService`` follow it).
        prefix: limit everything to keys starting with this prefix.
        kms_key_arn: the KMS key: required for ``sse-kms``, ``dsse-kms`` and a
            client-side KMS keyring; a key ARN, since IAM matches resources by ARN.
        access: read and write, read only, write only, or re-wrap.
        bucket_key: SSE-KMS with S3 Bucket Keys (the KMS context is the bucket ARN).
        principal: the principal the key-policy statement names; by default the
            key's account, which delegates to identity policies.
        delete: allow ``delete`` (and the undo of a misreported write) with write access.
    """

    bucket: str
    mode: Mode
    region: str = "us-east-1"
    prefix: str = ""
    kms_key_arn: str | None = None
    access: Access = Access.READ_WRITE
    bucket_key: bool = False
    principal: str | None = None
    delete: bool = True

    def __post_init__(self) -> None:
        validate_bucket_name(self.bucket)
        if self.mode in (Mode.SSE_KMS, Mode.DSSE_KMS) and not self.kms_key_arn:
            raise ConfigurationError(
                f"{self.mode} needs the KMS key",
                hint="pass --kms-key-id with the key's ARN",
            )
        if self.kms_key_arn is not None:
            found = _KEY_ARN.match(self.kms_key_arn)
            if not found:
                raise ConfigurationError(
                    f"not a KMS key ARN: {self.kms_key_arn!r}",
                    hint="IAM matches keys by key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); "
                    "resolve an alias with 'aws kms describe-key'",
                )
            if self.mode in (Mode.SSE_KMS, Mode.DSSE_KMS) and found.group(2) != self.region:
                raise ConfigurationError(
                    f"the KMS key is in {found.group(2)}, the bucket in {self.region}",
                    hint="S3 only uses KMS keys in the bucket's own region",
                )
        if self.bucket_key and self.mode is not Mode.SSE_KMS:
            raise ConfigurationError("S3 Bucket Keys apply to sse-kms only")
        if any(ch in self.prefix for ch in "*?$"):
            raise ConfigurationError(
                f"the prefix {self.prefix!r} contains a wildcard or policy variable",
                hint="give a literal key prefix such as 'reports/'",
            )

    @property
    def partition(self) -> str:
        """The ARN partition of the bucket's region."""
        return partition_for_region(self.region)

    @property
    def bucket_arn(self) -> str:
        """The bucket's ARN."""
        return f"arn:{self.partition}:s3:::{self.bucket}"

    @property
    def objects_arn(self) -> str:
        """The ARN pattern of the objects the principal may touch."""
        return f"{self.bucket_arn}/{self.prefix}*"

    @property
    def reads(self) -> bool:
        """Whether the access includes reading objects."""
        return self.access is not Access.WRITE_ONLY

    @property
    def writes(self) -> bool:
        """Whether the access includes writing objects."""
        return self.access is not Access.READ_ONLY


@dataclass(frozen=True)
class PolicyDocuments:
    """The generated documents, as JSON-ready dicts."""

    identity_policy: dict[str, Any]
    key_policy_statements: list[dict[str, Any]]
    bucket_policy: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """One JSON object with the three documents and the notes."""
        return {
            "identity_policy": self.identity_policy,
            "key_policy_statements": self.key_policy_statements,
            "bucket_policy": self.bucket_policy,
            "notes": list(self.notes),
        }


def s3_actions(request: PolicyRequest) -> tuple[list[str], list[str]]:
    """The bucket-level and object-level S3 actions for the request's access."""
    bucket = ["s3:ListBucket"] if request.reads else []
    objects: list[str] = []
    if request.reads:
        objects.append("s3:GetObject")
    if request.writes:
        objects += ["s3:PutObject", "s3:AbortMultipartUpload"]
        if request.delete and request.access is not Access.REWRAP:
            objects.append("s3:DeleteObject")
    return bucket, sorted(objects)


def kms_actions(request: PolicyRequest) -> list[str]:
    """The KMS actions on the key, for the request's mode and access."""
    if request.kms_key_arn is None:
        return []
    actions = {"kms:DescribeKey"}
    if request.reads:
        actions.add("kms:Decrypt")
    if request.writes:
        actions.add("kms:GenerateDataKey")
        if request.mode is not Mode.CLIENT_SIDE:
            # S3 decrypts the multipart upload's data key for every part.
            actions.add("kms:Decrypt")
    if request.access is Access.REWRAP:
        # rewrap re-wraps an existing data key: Encrypt, not GenerateDataKey.
        actions.discard("kms:GenerateDataKey")
        actions.add("kms:Encrypt")
    return sorted(actions)


def _kms_conditions(request: PolicyRequest) -> dict[str, Any]:
    if request.mode is Mode.CLIENT_SIDE:
        return {
            "StringEquals": {f"kms:EncryptionContext:{CONTEXT_BUCKET}": request.bucket},
            "StringLike": {f"kms:EncryptionContext:{CONTEXT_KEY}": f"{request.prefix}*"},
        }
    suffix = ".amazonaws.com.cn" if request.partition == "aws-cn" else ".amazonaws.com"
    context = "kms:EncryptionContext:aws:s3:arn"
    via = {"kms:ViaService": f"s3.{request.region}{suffix}"}
    if request.bucket_key:
        return {"StringEquals": {**via, context: request.bucket_arn}}
    return {"StringEquals": via, "StringLike": {context: request.objects_arn}}


def identity_policy(request: PolicyRequest) -> dict[str, Any]:
    """The identity policy of the principal that runs securestore."""
    bucket_actions, object_actions = s3_actions(request)
    statements: list[dict[str, Any]] = []
    if bucket_actions:
        listing: dict[str, Any] = {
            "Sid": "ListObjects",
            "Effect": "Allow",
            "Action": bucket_actions,
            "Resource": request.bucket_arn,
        }
        if request.prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{request.prefix}*"]}}
        statements.append(listing)
    statements.append(
        {
            "Sid": "UseObjects",
            "Effect": "Allow",
            "Action": object_actions,
            "Resource": request.objects_arn,
        }
    )
    if request.kms_key_arn:
        use = [a for a in kms_actions(request) if a != "kms:DescribeKey"]
        statements.append(
            {
                "Sid": "UseKmsKey",
                "Effect": "Allow",
                "Action": use,
                "Resource": request.kms_key_arn,
                "Condition": _kms_conditions(request),
            }
        )
        statements.append(
            {
                "Sid": "DescribeKmsKey",
                "Effect": "Allow",
                "Action": "kms:DescribeKey",
                "Resource": request.kms_key_arn,
            }
        )
    return {"Version": _VERSION, "Statement": statements}


def key_policy_statements(request: PolicyRequest) -> list[dict[str, Any]]:
    """The statements to add to the KMS key's policy (empty without a key)."""
    if request.kms_key_arn is None:
        return []
    found = _KEY_ARN.match(request.kms_key_arn)
    assert found is not None  # checked by PolicyRequest
    principal = request.principal or f"arn:{found.group(1)}:iam::{found.group(3)}:root"
    use = [a for a in kms_actions(request) if a != "kms:DescribeKey"]
    return [
        {
            "Sid": f"SecurestoreUse{request.bucket.replace('.', '').replace('-', '')[:40]}",
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": use,
            "Resource": "*",
            "Condition": _kms_conditions(request),
        }
    ]


def bucket_policy(request: PolicyRequest) -> dict[str, Any]:
    """The bucket-policy statements: TLS only, no SSE-C, and for the KMS modes no
    upload under another encryption or key."""
    arn = request.bucket_arn
    statements = [tls_statement(arn), tls_version_statement(arn), sse_c_statement(arn)]
    if request.mode in (Mode.SSE_KMS, Mode.DSSE_KMS):
        statements += upload_encryption_statements(
            arn, _ALGORITHM[request.mode], request.kms_key_arn
        )
    return {"Version": _VERSION, "Statement": statements}


def generate(request: PolicyRequest) -> PolicyDocuments:
    """All three documents for ``request``, with notes on what they assume."""
    notes = [
        "bucket policy: apply with 'securestore harden' or merge by hand; header-less "
        "uploads get the bucket's default encryption, so set it to the same mode",
    ]
    if request.mode is Mode.CLIENT_SIDE and request.kms_key_arn is None:
        notes.append("client-side with raw keys: no KMS permissions are needed")
    if request.mode is Mode.CLIENT_SIDE and request.kms_key_arn:
        notes.append(
            "client-side KMS calls do not go through S3: the key is pinned with the "
            f"message's encryption context ({CONTEXT_BUCKET}, {CONTEXT_KEY}), not kms:ViaService"
        )
    if request.writes and not request.delete:
        notes.append(
            "without s3:DeleteObject a write that S3 stored under another encryption "
            "cannot be undone; securestore then reports what is left"
        )
    return PolicyDocuments(
        identity_policy=identity_policy(request),
        key_policy_statements=key_policy_statements(request),
        bucket_policy=bucket_policy(request),
        notes=notes,
    )


def _statement(sid: str, actions: frozenset[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}


def _tool_scope(
    buckets: list[str] | None, region: str, kms_key_arns: list[str] | None
) -> tuple[str, str | list[str], str | list[str], str | list[str]]:
    partition = partition_for_region(region)
    for name in buckets or ():
        validate_bucket_name(name)
    for arn in kms_key_arns or ():
        if not _KEY_ARN.match(arn):
            raise ConfigurationError(f"not a KMS key ARN: {arn!r}")
    bucket_arns: str | list[str] = (
        [f"arn:{partition}:s3:::{b}" for b in buckets] if buckets else f"arn:{partition}:s3:::*"
    )
    object_arns: str | list[str] = (
        [f"arn:{partition}:s3:::{b}/*" for b in buckets] if buckets else f"arn:{partition}:s3:::*/*"
    )
    keys: str | list[str] = list(kms_key_arns) if kms_key_arns else "*"
    return partition, bucket_arns, object_arns, keys


def audit_policy(
    *,
    region: str,
    buckets: list[str] | None = None,
    kms_key_arns: list[str] | None = None,
    sample_objects: bool = False,
) -> dict[str, Any]:
    """The identity policy ``securestore audit`` needs: the reads in
    :mod:`securestore.audit.permissions`, on ``buckets`` (all when ``None``) and the
    keys they use (all when ``None``); object reads only with ``sample_objects``."""
    _, bucket_arns, object_arns, keys = _tool_scope(buckets, region, kms_key_arns)
    statements = [
        _statement("AccountReads", permissions.ACCOUNT_READS | permissions.KEY_LISTING, "*"),
        _statement("BucketReads", permissions.BUCKET_READS, bucket_arns),
        _statement("KeyReads", permissions.KEY_READS, keys),
    ]
    if sample_objects:
        statements.append(_statement("SampleList", permissions.OBJECT_SAMPLE_BUCKET, bucket_arns))
        statements.append(_statement("SampleHeads", permissions.OBJECT_SAMPLE_OBJECTS, object_arns))
    return {"Version": _VERSION, "Statement": statements}


def harden_policy(
    *, region: str, buckets: list[str] | None = None, kms_key_arns: list[str] | None = None
) -> dict[str, Any]:
    """The identity policy ``securestore harden`` needs: the bucket reads it plans from
    and the writes it applies (:mod:`securestore.audit.permissions`)."""
    _, bucket_arns, _, keys = _tool_scope(buckets, region, kms_key_arns)
    return {
        "Version": _VERSION,
        "Statement": [
            _statement("ListAliases", permissions.KEY_LISTING, "*"),
            _statement(
                "BucketReadsAndFixes",
                permissions.BUCKET_READS | permissions.HARDEN_BUCKET_WRITES,
                bucket_arns,
            ),
            _statement(
                "KeyReadsAndRotation", permissions.KEY_READS | permissions.HARDEN_KEY_WRITES, keys
            ),
        ],
    }


__all__ = [
    "Access",
    "audit_policy",
    "harden_policy",
    "Mode",
    "PolicyDocuments",
    "PolicyRequest",
    "bucket_policy",
    "generate",
    "identity_policy",
    "key_policy_statements",
    "kms_actions",
    "s3_actions",
]
