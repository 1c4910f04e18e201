"""The KMS keys a bucket's default encryption uses: ``KMS.n``.

Each check looks at every key the bucket's rules name; a bucket without KMS
encryption is skipped. A definite failure on one key wins over a collection
error on another; the check is skipped only when it is skipped for every key.
A configured key that does not exist fails KMS.2 (every write under it fails)
and is skipped by the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from securestore.audit.check import check
from securestore.audit.model import (
    CROSS_ACCOUNT,
    BucketSnapshot,
    CollectionError,
    KeySnapshot,
    Outcome,
    Severity,
    Status,
    Unavailable,
)
from securestore.audit.options import AuditOptions
from securestore.audit.policy import account_wide_key_use, parse_policy, public_statements
from securestore.errors import ConfigurationError

__all__ = ["CHECKS"]

_DOC_ROTATION = "https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html"
_DOC_DELETION = "https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html"
_DOC_POLICY = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html"

# A verdict on one key: (status, message).
_Verdict = tuple[Status, str]


def _per_key(
    snapshot: BucketSnapshot,
    judge: Callable[[KeySnapshot], _Verdict],
    *,
    missing: _Verdict | None = None,
) -> Outcome:
    refs = snapshot.kms_key_references()
    if not refs:
        return Outcome(Status.SKIP, "default encryption does not use KMS")
    verdicts: dict[str, dict[str, str]] = {}
    errors: list[str] = []
    failures: list[str] = []
    passes: list[str] = []
    skips: list[str] = []
    for ref in refs:
        try:
            key = snapshot.key(ref)
            if not key.exists:
                status, message = missing or (Status.SKIP, "the key does not exist (see KMS.2)")
            else:
                status, message = judge(key)
        except Unavailable as exc:
            if exc.error.code == CROSS_ACCOUNT:
                status, message = Status.SKIP, f"not readable here: {exc.error.message}"
            else:
                status, message = Status.ERROR, f"could not evaluate: {exc.error}"
        except ConfigurationError as exc:
            status, message = Status.ERROR, f"could not evaluate: {exc.message}"
        verdicts[ref] = {"status": status.value, "message": message}
        group = {Status.FAIL: failures, Status.ERROR: errors, Status.SKIP: skips}.get(
            status, passes
        )
        group.append(f"{ref}: {message}")
    details: dict[str, Any] = {"keys": verdicts}
    if failures:
        return Outcome(Status.FAIL, "; ".join(failures), details)
    if errors:
        return Outcome(Status.ERROR, "; ".join(errors), details)
    if not passes:
        return Outcome(Status.SKIP, "; ".join(skips), details)
    return Outcome(Status.PASS, "; ".join(passes + skips), details)


_NO_ROTATION_ORIGINS = {
    "EXTERNAL": "imported key material",
    "AWS_CLOUDHSM": "a CloudHSM key store",
    "EXTERNAL_KEY_STORE": "an external key store",
}


def _rotation(key: KeySnapshot) -> _Verdict:
    if not key.customer_managed:
        return Status.PASS, "AWS managed key (rotated by AWS every year)"
    if key.origin in _NO_ROTATION_ORIGINS:
        return (
            Status.SKIP,
            f"KMS cannot rotate keys with {_NO_ROTATION_ORIGINS[key.origin]} "
            f"(origin {key.origin}): rotate it manually",
        )
    if key.key_spec != "SYMMETRIC_DEFAULT" or key.origin != "AWS_KMS":
        return Status.SKIP, f"automatic rotation is not available for {key.key_spec}/{key.origin}"
    if key.rotation_enabled.get():
        return Status.PASS, "automatic rotation enabled"
    return Status.FAIL, "automatic rotation is disabled"


@check(
    "KMS.1",
    title="KMS keys in use have automatic rotation enabled",
    severity=Severity.MEDIUM,
    rationale="""Rotation limits how much data one key version protects and how long a
        leaked key version stays useful; KMS keeps old versions to decrypt existing data.""",
    remediation="""Enable rotation: `securestore harden s3://BUCKET --sse kms --kms-key-id KEY`
        (for the key it configures) or `aws kms enable-key-rotation --key-id KEY`.""",
    references=(_DOC_ROTATION,),
)
def key_rotation(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when every customer managed symmetric key in use rotates automatically."""
    return _per_key(snapshot, _rotation)


def _state(key: KeySnapshot) -> _Verdict:
    if key.state == "PendingDeletion" or key.deletion_date is not None:
        when = f" on {key.deletion_date.date().isoformat()}" if key.deletion_date else ""
        return Status.FAIL, f"key is pending deletion{when}: data becomes unreadable"
    if key.state != "Enabled":
        return Status.FAIL, f"key state is {key.state}: reads and writes fail"
    return Status.PASS, "key enabled"


@check(
    "KMS.2",
    title="KMS keys in use are enabled and not pending deletion",
    severity=Severity.CRITICAL,
    rationale="""A disabled key makes every object under it unreadable and every write
        fail; a key pending deletion makes the data permanently unrecoverable once the
        waiting period ends.""",
    remediation="""Cancel the deletion (`aws kms cancel-key-deletion`) and enable the key
        (`aws kms enable-key`), or re-encrypt the data under another key first.""",
    references=(_DOC_DELETION,),
)
def key_state(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when every key in use is ``Enabled`` with no deletion scheduled; a key that
    does not exist fails."""
    missing = (Status.FAIL, "key does not exist: every write under it fails")
    return _per_key(snapshot, _state, missing=missing)


def _policy(key: KeySnapshot) -> _Verdict:
    text = key.policy.get()
    if not text:
        return Status.PASS, "no key policy returned"
    found = public_statements(parse_policy(text))
    if found:
        return Status.FAIL, "; ".join(reason for _, reason in found)
    return Status.PASS, "key policy is not public"


@check(
    "KMS.3",
    title="KMS key policies are not public",
    severity=Severity.CRITICAL,
    rationale="""A key policy that allows Principal "*" without a condition on the caller
        lets any AWS account use or manage the key, bypassing the protection the key was
        meant to add.""",
    remediation="""Name the principals in the key policy or restrict them with
        kms:CallerAccount / aws:PrincipalOrgID.""",
    references=(_DOC_POLICY,),
)
def key_policy_not_public(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when no key in use has an Allow for everyone without a restricting condition."""
    return _per_key(snapshot, _policy)


@check(
    "KMS.4",
    title="KMS keys in use belong to the audited account",
    severity=Severity.HIGH,
    rationale="""A key of another account stays under that account's control: it can
        disable the key, schedule its deletion or change its key policy, and every object
        under the key becomes unreadable. Its key policy cannot even be read from here
        (KMS.3 is skipped for it).""",
    remediation="""Encrypt the bucket under a key of its own account (`securestore harden
        s3://BUCKET --sse kms --kms-key-id KEY`), or record why the other account is
        trusted with a suppression.""",
    references=(_DOC_POLICY,),
)
def key_in_account(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when every key in use belongs to the audited account (the credentials')."""

    def judge(key: KeySnapshot) -> _Verdict:
        if snapshot.account_id is None:
            raise Unavailable(
                CollectionError("GetCallerIdentity", "NotCollected", "the audited account")
            )
        if key.account is None:
            raise Unavailable(CollectionError("DescribeKey", "NoArn", key.key_id))
        if key.account != snapshot.account_id:
            return (
                Status.FAIL,
                f"key belongs to account {key.account}, not {snapshot.account_id}: that "
                "account can disable it and make the data unreadable",
            )
        return Status.PASS, f"key belongs to account {key.account}"

    return _per_key(snapshot, judge)


_DOC_VIA_SERVICE = "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service"


@check(
    "KMS.5",
    title="KMS key policies limit the account's use of the key to S3 or an encryption context",
    severity=Severity.LOW,
    rationale="""A key policy that lets every principal of the account (Principal
        ACCOUNT or :root, which hands the decision to IAM policies, or "*" limited by
        kms:CallerAccount) call Decrypt or GenerateDataKey directly lets any role whose
        IAM policy is too broad (kms:* on *) decrypt the data outside S3. Least
        privilege limits data use to S3 (kms:ViaService s3.REGION.amazonaws.com) or
        to an encryption context (kms:EncryptionContext:aws:s3:arn), as the AWS
        managed key aws/s3 does.""",
    remediation="""Split the key policy: keep administration (kms:Describe*, kms:Put*,
        kms:Create*, ...) for the account, and allow kms:Decrypt, kms:Encrypt and
        kms:GenerateDataKey* only with `"StringEquals": {"kms:ViaService":
        "s3.REGION.amazonaws.com"}` or an encryption context condition, or to named
        roles.""",
    references=(_DOC_VIA_SERVICE, _DOC_POLICY),
)
def key_use_least_privilege(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when no key in use lets every principal of its account use it on data
    without a kms:ViaService or encryption context condition."""

    def judge(key: KeySnapshot) -> _Verdict:
        text = key.policy.get()
        if not text:
            return Status.PASS, "no key policy returned"
        account = key.account or snapshot.account_id
        if account is None:
            raise Unavailable(CollectionError("DescribeKey", "NoArn", key.key_id))
        found = account_wide_key_use(parse_policy(text), key.arn, account)
        if found:
            return Status.FAIL, "; ".join(reason for _, reason in found)
        return Status.PASS, "key use is limited to S3, an encryption context or named principals"

    return _per_key(snapshot, judge)


CHECKS = (key_rotation, key_state, key_policy_not_public, key_in_account, key_use_least_privilege)
