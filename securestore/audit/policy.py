"""The questions the checks and harden ask of a policy, answered by IAM semantics.

Every answer comes from the evaluator in :mod:`securestore.audit.iam`, which
reasons over classes of requests rather than over statement shapes:

* :func:`tls_only`: is every plain-HTTP request, by every principal, to every S3
  action on the bucket and every object, denied? (``S3.TLS.1``, harden)
* :func:`minimum_tls`: is every request over TLS older than 1.2 denied? (``S3.TLS.2``)
* :func:`tls_locks`: does a transport condition deny requests over good TLS too,
  locking the bucket? (``S3.TLS.3``)
* :func:`vpc_restriction`: is every request from outside the named VPC endpoints
  or VPCs denied? (``S3.NET.1``)
* :func:`public_statements`: which Allows are public by S3's definition of
  "public" (Block Public Access documentation)? (``S3.PUBLIC.5``, ``KMS.3``)
* :func:`upload_encryption`: is every PutObject whose encryption header is not
  the required one denied? (``S3.ENC.7``)
* :func:`account_wide_key_use`: may any principal of the key's account use the
  key for data without ``kms:ViaService`` or an encryption context? (``KMS.5``)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from securestore.audit.iam import (
    Condition,
    Coverage,
    Policy,
    Principal,
    RequestClass,
    Statement,
    arn_partition,
    condition_holds,
    deny_coverage,
    parse_policy,
    probe_values,
    wildcard_match,
)

__all__ = [
    "BUCKET_ACTIONS",
    "KEY_USE_ACTIONS",
    "OBJECT_ACTIONS",
    "RESTRICTING_KEYS",
    "S3_ACTIONS",
    "TRANSPORT_KEYS",
    "Condition",
    "Coverage",
    "Policy",
    "Principal",
    "Statement",
    "account_wide_key_use",
    "minimum_tls",
    "parse_policy",
    "public_statements",
    "tls_locks",
    "tls_only",
    "upload_encryption",
    "vpc_restriction",
    "wildcard_match",
]

#: Object-level S3 actions, the most used first: only used to name what a Deny
#: leaves open (the evaluator never needs a list of actions).
OBJECT_ACTIONS: tuple[str, ...] = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ReplicateObject",
    "s3:BypassGovernanceRetention",
    "s3:AbortMultipartUpload",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:ListMultipartUploadParts",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:ReplicateDelete",
    "s3:ReplicateTags",
    "s3:RestoreObject",
)

#: Bucket-level S3 actions, the most used first (likewise only for messages).
BUCKET_ACTIONS: tuple[str, ...] = (
    "s3:ListBucket",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicy",
    "s3:GetEncryptionConfiguration",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:PutBucketAcl",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutReplicationConfiguration",
)

#: Both catalogues, sorted.
S3_ACTIONS: tuple[str, ...] = tuple(sorted({*OBJECT_ACTIONS, *BUCKET_ACTIONS}))

#: Condition keys that describe the transport.
TRANSPORT_KEYS = frozenset({"aws:securetransport", "s3:tlsversion"})


def tls_only(policy: Policy | None, bucket_arn: str) -> Coverage:
    """Is every plain-HTTP request to the bucket and its objects denied?

    A plain-HTTP request has ``aws:SecureTransport`` false and no
    ``s3:TlsVersion`` key at all, so ``NumericLessThan s3:TlsVersion 1.2`` alone
    does not deny it (``NumericLessThanIfExists`` does).
    """
    klass = RequestClass(
        bucket_arn,
        {"aws:securetransport": ("false",), "s3:tlsversion": None},
        description="plain-HTTP requests",
    )
    return deny_coverage(
        policy, klass, bucket_actions=BUCKET_ACTIONS, object_actions=OBJECT_ACTIONS
    )


def minimum_tls(policy: Policy | None, bucket_arn: str) -> Coverage:
    """Is every request over TLS 1.0 or 1.1 denied?"""
    parts = [
        deny_coverage(
            policy,
            RequestClass(
                bucket_arn,
                {"aws:securetransport": ("true",), "s3:tlsversion": (version,)},
                description="requests over TLS older than 1.2",
                explain=frozenset({"s3:tlsversion"}),
            ),
            bucket_actions=BUCKET_ACTIONS,
            object_actions=OBJECT_ACTIONS,
        )
        for version in ("1.0", "1.1")
    ]
    return Coverage(
        all(p.denied for p in parts),
        tuple(dict.fromkeys(s for p in parts for s in p.statements)),
        tuple(dict.fromkeys(g for p in parts if not p.denied for g in p.gaps)),
        tuple(dict.fromkeys(r for p in parts for r in p.reasons)),
    )


def tls_locks(policy: Policy | None) -> tuple[tuple[Statement, str], ...]:
    """Denies whose transport conditions also hold over TLS 1.3: they refuse the
    requests a TLS-only policy means to let through (the bucket locks itself)."""
    best = {"aws:securetransport": ("true",), "s3:tlsversion": ("1.3",)}
    found: list[tuple[Statement, str]] = []
    for st in policy.statements if policy else ():
        transport = [c for c in st.conditions if c.key in TRANSPORT_KEYS]
        if not st.is_deny or not transport:
            continue
        if all(condition_holds(c, best) for c in transport):
            shown = "; ".join(c.describe() for c in transport)
            found.append(
                (
                    st,
                    f"statement {st.label} denies requests over TLS 1.3 as well ({shown}): "
                    "every request it covers is refused, HTTPS included",
                )
            )
    return tuple(found)


_VPC_KEYS = ("aws:sourcevpce", "aws:sourcevpc")


def vpc_restriction(policy: Policy | None, bucket_arn: str) -> Coverage:
    """Is every request from outside the VPC endpoints/VPCs the Denies name refused?

    Two classes must both be denied: requests that come through no VPC endpoint
    (the keys are absent) and requests through an endpoint and VPC the policy
    does not name. Only Denies that test ``aws:SourceVpce``/``aws:SourceVpc``
    make it a VPC restriction (an unconditional Deny of everything is not one).
    """
    statements = policy.statements if policy else ()
    if not any(st.is_deny and any(c.key in _VPC_KEYS for c in st.conditions) for st in statements):
        return Coverage(False, (), ("no Deny tests aws:SourceVpce or aws:SourceVpc",), ())
    classes = (
        RequestClass(
            bucket_arn,
            {"aws:sourcevpce": None, "aws:sourcevpc": None},
            description="requests that do not come through a VPC endpoint",
        ),
        RequestClass(
            bucket_arn,
            {
                "aws:sourcevpce": ("vpce-0securestoreprobe",),
                "aws:sourcevpc": ("vpc-0securestoreprobe",),
            },
            description="requests through other VPC endpoints",
        ),
    )
    parts = [
        deny_coverage(policy, k, bucket_actions=BUCKET_ACTIONS, object_actions=OBJECT_ACTIONS)
        for k in classes
    ]
    vpc_statements = {
        st.label for st in statements if any(c.key in _VPC_KEYS for c in st.conditions)
    }
    return Coverage(
        all(p.denied for p in parts),
        tuple(dict.fromkeys(s for p in parts for s in p.statements if s in vpc_statements)),
        tuple(dict.fromkeys(g for p in parts if not p.denied for g in p.gaps)),
        tuple(dict.fromkeys(r for p in parts for r in p.reasons)),
    )


# --- upload encryption -----------------------------------------------------------------------

_SSE_HEADER = "s3:x-amz-server-side-encryption"
_KMS_KEY_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"


def upload_encryption(
    policy: Policy | None,
    bucket_arn: str,
    *,
    weaker: Sequence[str] = (),
    pinned: Sequence[str] = (),
    headerless: bool = False,
) -> Coverage:
    """Is every PutObject (also CopyObject and CreateMultipartUpload, which S3
    authorises as ``s3:PutObject``) that would use the wrong encryption denied?

    The classes asked about, each of which every principal must be refused:
    uploads whose ``x-amz-server-side-encryption`` is one of ``weaker``; for each
    KMS algorithm in ``pinned``, uploads naming another key in
    ``x-amz-server-side-encryption-aws-kms-key-id`` and uploads naming none (S3
    then uses the AWS managed key aws/s3); with ``headerless``, uploads without
    the header (default encryption then decides). ``gaps`` name the classes
    that are not denied.
    """
    probe = f"arn:{arn_partition(bucket_arn)}:kms:us-east-1:000000000000:key/securestore-probe"
    classes: list[tuple[dict[str, tuple[str, ...] | None], str]] = [
        ({_SSE_HEADER: (alg,), _KMS_KEY_HEADER: None}, f"uploads with {alg}") for alg in weaker
    ]
    for alg in pinned:
        classes.append(
            (
                {_SSE_HEADER: (alg,), _KMS_KEY_HEADER: (probe,)},
                f"uploads with {alg} under another key",
            )
        )
        classes.append(
            (
                {_SSE_HEADER: (alg,), _KMS_KEY_HEADER: None},
                f"uploads with {alg} and no key id (S3 then uses aws/s3)",
            )
        )
    if headerless:
        classes.append(
            ({_SSE_HEADER: None, _KMS_KEY_HEADER: None}, "uploads without an encryption header")
        )
    parts = [
        (
            deny_coverage(
                policy,
                RequestClass(
                    bucket_arn,
                    fixed,
                    description=description,
                    actions=("s3:PutObject",),
                    objects_only=True,
                ),
            ),
            description,
        )
        for fixed, description in classes
    ]
    return Coverage(
        all(p.denied for p, _ in parts),
        tuple(dict.fromkeys(s for p, _ in parts for s in p.statements)),
        tuple(description for p, description in parts if not p.denied),
        tuple(dict.fromkeys(r for p, _ in parts for r in p.reasons)),
    )


# --- public access ---------------------------------------------------------------------------

#: Condition keys that, tested with fixed values, limit who can use an Allow
#: (S3's list in "The meaning of public", plus the organisation keys and
#: KMS's kms:CallerAccount).
RESTRICTING_KEYS = frozenset(
    {
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceip",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:sourceowner",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:userid",
        "kms:calleraccount",
        "s3:dataaccesspointaccount",
        "s3:dataaccesspointarn",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
    }
)

_POSITIVE_OPERATORS = frozenset(
    {"arnequals", "arnlike", "ipaddress", "stringequals", "stringequalsignorecase", "stringlike"}
)


def _fixed(value: str) -> bool:
    """S3's "fixed value": no wildcard and no policy variable."""
    return bool(value.strip()) and not any(mark in value for mark in ("*", "?", "${"))


def _covers_address_space(values: Sequence[str]) -> bool:
    """True if the CIDRs together cover every IPv4 or every IPv6 address (or do not parse)."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for value in values:
        try:
            net = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            return True
        if isinstance(net, ipaddress.IPv4Network):
            v4.append(net)
        else:
            v6.append(net)
    every4, every6 = ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")
    return list(ipaddress.collapse_addresses(v4)) == [every4] or list(
        ipaddress.collapse_addresses(v6)
    ) == [every6]


def restriction_problem(cond: Condition) -> str | None:
    """Why ``cond`` does not restrict who can use an Allow, or None if it does."""
    if cond.key not in RESTRICTING_KEYS:
        return f"{cond.key} does not identify the caller or its network"
    if cond.base not in _POSITIVE_OPERATORS:
        return f"{cond.operator} matches every value but the listed ones"
    if cond.if_exists or cond.set_operator == "ForAllValues":
        return f"{cond.operator} also matches requests without {cond.key}"
    loose = [v for v in cond.values if not _fixed(v)]
    if loose:
        return f"{cond.key} value {loose[0]!r} is a wildcard or policy variable, not a fixed value"
    if cond.key == "aws:sourceip" and _covers_address_space(cond.values):
        return "the aws:SourceIp ranges together cover the whole address space"
    return None


def public_statements(policy: Policy | None) -> tuple[tuple[Statement, str], ...]:
    """Allow statements open to every principal without a restricting condition.

    Returns each with a one-line reason. ``NotPrincipal`` in an Allow grants
    every principal except those listed, so it counts as public.
    """
    found: list[tuple[Statement, str]] = []
    for st in policy.statements if policy else ():
        if st.is_deny:
            continue
        if st.not_principal is not None:
            who = f"every principal except {st.not_principal.describe()} (NotPrincipal)"
        elif st.principal is not None and st.principal.everyone:
            who = 'Principal "*"'
        else:
            continue
        problems = [restriction_problem(c) for c in st.conditions]
        if st.conditions and not all(problems):
            continue
        if st.actions is not None:
            actions = ", ".join(sorted(st.actions))
        else:
            actions = "everything but NotAction " + ", ".join(sorted(st.not_actions or ()))
        reason = f"statement {st.label} allows {actions} to {who} without a restricting condition"
        if st.conditions:
            reason += " (" + "; ".join(p for p in problems if p) + ")"
        found.append((st, reason))
    return tuple(found)


# --- KMS key use -----------------------------------------------------------------------------

#: The KMS actions that use a key on data (S3's SSE-KMS calls the first three).
KEY_USE_ACTIONS: tuple[str, ...] = (
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:Encrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)

_CONTEXT_PREFIX = "kms:encryptioncontext"


def _key_use_context(account: str, caller: str) -> dict[str, tuple[str, ...] | None]:
    """A direct call by an arbitrary role of ``account``: no kms:ViaService, no
    encryption context, not on behalf of a service."""
    return {
        "kms:viaservice": None,
        "kms:calleraccount": (account,),
        "aws:principalaccount": (account,),
        "aws:principalarn": (caller,),
        "aws:userid": ("AROASECURESTOREPROBE:securestore-probe",),
        "aws:sourcearn": None,
        "aws:sourceaccount": None,
        "kms:grantisforawsresource": None,
    }


def _holds(cond: Condition, fixed: dict[str, tuple[str, ...] | None], *, every: bool) -> bool:
    """Does ``cond`` hold for the class (``every``: for all of its requests, else
    for some)? Fixed keys have their value; encryption context keys are absent."""
    if cond.key in fixed or cond.key.startswith(_CONTEXT_PREFIX):
        value = fixed.get(cond.key)
        return condition_holds(cond, {cond.key: value} if value is not None else {})
    outcomes = (
        condition_holds(cond, {cond.key: v} if v is not None else {}) for v in probe_values(cond)
    )
    return all(outcomes) if every else any(outcomes)


def account_wide_key_use(
    policy: Policy | None, key_arn: str, account: str
) -> tuple[tuple[Statement, str], ...]:
    """Allows that let any principal of ``account`` use the key on data
    (:data:`KEY_USE_ACTIONS`) without ``kms:ViaService`` or an encryption context.

    The question asked of the policy: may a role of the account that the policy
    does not name, calling KMS directly (no ``kms:ViaService``) without an
    encryption context, use the key? ``Principal`` ``ACCOUNT`` or
    ``arn:...:root`` names every principal of the account (the key policy then
    leaves the decision to IAM policies), as does ``"*"`` limited by
    ``kms:CallerAccount``. Conditions on other keys count as met when some value
    meets them; a Deny that refuses every such request takes its actions back.
    """
    caller = f"arn:{arn_partition(key_arn)}:iam::{account}:role/securestore-probe"
    who = ("AWS", caller, account)
    fixed = _key_use_context(account, caller)
    statements = policy.statements if policy else ()

    def applies(st: Statement, action: str) -> bool:
        return (
            st.matches_principal(who)
            and st.matches_action(action)
            and (st.matches_resource(key_arn) or st.matches_resource("*"))
        )

    denied = {
        action
        for st in statements
        if st.is_deny
        for action in KEY_USE_ACTIONS
        if applies(st, action) and all(_holds(c, fixed, every=True) for c in st.conditions)
    }
    found: list[tuple[Statement, str]] = []
    for st in statements:
        if st.is_deny:
            continue
        actions = [a for a in KEY_USE_ACTIONS if a not in denied and applies(st, a)]
        if not actions or not all(_holds(c, fixed, every=False) for c in st.conditions):
            continue
        if st.principal is not None and st.principal.everyone:
            whom = 'Principal "*"'
        elif st.not_principal is not None:
            whom = f"NotPrincipal {st.not_principal.describe()}"
        else:
            whom = f"the account {account} (IAM policies decide)"
        found.append(
            (
                st,
                f"statement {st.label} lets any principal of {account} ({whom}) call "
                f"{', '.join(actions)} without kms:ViaService or an encryption context",
            )
        )
    return tuple(found)
