"""KMS key metadata for audit collection: DescribeKey, rotation, key policy and aliases."""

from __future__ import annotations

from typing import Any

from securestore.audit.answers import alias_arns, arn_account, key_metadata, map_answer
from securestore.audit.calls import CallCounter, record_call
from securestore.audit.collected import Collected, CollectionError
from securestore.audit.snapshot import CROSS_ACCOUNT, KeySnapshot

__all__ = ["describe_key"]

# Key origins whose key material KMS cannot rotate automatically.
_NO_ROTATION_ORIGINS = frozenset({"EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"})


def describe_key(
    kms: Any, counter: CallCounter, reference: str, *, caller: Collected[str]
) -> Collected[KeySnapshot]:
    """The metadata of the key ``reference`` names, through the KMS client ``kms``.

    ``caller`` is the audited account: KMS serves key policies and aliases only to
    the key's own account, so for another account's key they are not asked for.
    """
    described = record_call(counter, "DescribeKey", kms.describe_key, KeyId=reference)
    if described.error is not None and described.error.code == "NotFoundException":
        return Collected.ok(KeySnapshot.not_found(reference))
    meta = map_answer(described, key_metadata)
    if not meta.is_ok:
        return Collected.failed(meta.error)  # type: ignore[arg-type]
    m = meta.get()
    arn = str(m["Arn"])
    manager = str(m.get("KeyManager", "CUSTOMER"))
    origin = str(m.get("Origin", "AWS_KMS"))
    spec = str(m.get("KeySpec", "SYMMETRIC_DEFAULT"))
    # The ARN, never the bare key id: a bare id is resolved in the caller's
    # account, so a key of another account would be looked up in the wrong one.
    if manager != "CUSTOMER":
        rotation: Collected[bool] = Collected.ok(True)
    elif spec != "SYMMETRIC_DEFAULT" or origin in _NO_ROTATION_ORIGINS:
        rotation = Collected.ok(False)  # KMS.1 skips such keys by their spec/origin
    else:
        rotation = map_answer(
            record_call(counter, "GetKeyRotationStatus", kms.get_key_rotation_status, KeyId=arn),
            lambda r: bool(r["KeyRotationEnabled"]),
        )
    owner = arn_account(arn)
    local = caller.is_ok and owner == caller.value
    if caller.is_ok and not local:
        policy: Collected[str | None] = Collected.failed(
            CollectionError(
                "GetKeyPolicy",
                CROSS_ACCOUNT,
                f"the key belongs to account {owner}; KMS serves key policies "
                "only to the key's own account",
            )
        )
        aliases: Collected[tuple[str, ...]] = Collected.ok(())
    else:
        policy = map_answer(
            record_call(
                counter,
                "GetKeyPolicy",
                kms.get_key_policy,
                KeyId=arn,
                PolicyName="default",
            ),
            lambda r: r.get("Policy"),
        )
        aliases = map_answer(
            record_call(counter, "ListAliases", kms.list_aliases, KeyId=str(m["KeyId"])),
            alias_arns,
        )
    return Collected.ok(
        KeySnapshot(
            key_id=str(m["KeyId"]),
            arn=arn,
            manager=manager,
            state=str(m.get("KeyState", "Enabled" if m.get("Enabled") else "Disabled")),
            deletion_date=m.get("DeletionDate"),
            key_spec=spec,
            origin=origin,
            # Unreadable aliases only cost alias matches (S3.ENC.5 then fails closed).
            aliases=(aliases.value or ()) if aliases.is_ok else (),
            rotation_enabled=rotation,
            policy=policy,
        )
    )
