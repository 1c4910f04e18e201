"""Who can read plaintext, by resource policy: the question behind ``S3.IAM.1``.

Reading an object's plaintext takes ``s3:GetObject`` and, under SSE-KMS or a
client-side KMS keyring, ``kms:Decrypt``. Identity policies are not collected, so
the answer covers what the bucket policy and the key policies grant by
themselves: the principals they name, and whether the grant carries the
conditions ``securestore iam-policy`` would have added (``kms:ViaService`` or a
``kms:EncryptionContext:*`` key on Decrypt). Pure: parsed policies in, findings out.
"""

from __future__ import annotations

from dataclasses import dataclass

from securestore.audit.iam import Policy, Statement

__all__ = ["Reader", "bucket_readers", "key_decrypters"]

#: Condition keys that pin key use to S3 or to a context (lower case, as parsed).
_PINNING = ("kms:viaservice", "kms:encryptioncontext:")


@dataclass(frozen=True)
class Reader:
    """One grant: where it is, to whom, and what is missing from it."""

    source: str
    statement: str
    principals: str
    note: str

    def describe(self) -> str:
        """``source statement: principals (note)``."""
        return f"{self.source} {self.statement}: {self.principals} ({self.note})"


def _who(statement: Statement) -> str:
    if statement.not_principal is not None:
        return f"everyone but {statement.not_principal.describe()}"
    if statement.principal is None:
        return "no principal"
    return statement.principal.describe()


def bucket_readers(policy: Policy | None, bucket_arn: str) -> tuple[Reader, ...]:
    """The Allows of a bucket policy that grant ``s3:GetObject`` on the bucket's objects."""
    probe = f"{bucket_arn}/securestore-probe"
    found = []
    for statement in policy.statements if policy else ():
        if statement.is_deny or not statement.matches_action("s3:GetObject"):
            continue
        if not statement.matches_resource(probe):
            continue
        note = (
            "with conditions: " + "; ".join(c.describe() for c in statement.conditions)
            if statement.conditions
            else "unconditional"
        )
        found.append(Reader("bucket policy", statement.label, _who(statement), note))
    return tuple(found)


def key_decrypters(policy: Policy | None, key_arn: str) -> tuple[Reader, ...]:
    """The Allows of a key policy that grant ``kms:Decrypt`` without ``kms:ViaService``
    or an encryption-context condition: usable outside S3, on any data under the key."""
    found = []
    for statement in policy.statements if policy else ():
        if statement.is_deny or not statement.matches_action("kms:Decrypt"):
            continue
        if not statement.matches_resource(key_arn):
            continue
        if any(c.key.startswith(_PINNING) for c in statement.conditions):
            continue
        found.append(
            Reader(
                f"key policy of {key_arn}",
                statement.label,
                _who(statement),
                "kms:Decrypt without kms:ViaService or an encryption-context condition",
            )
        )
    return tuple(found)
