"""The checks of :class:`~securestore.store.SecureStore`'s arguments, by parameter name.

Applied by :func:`securestore.arguments.checked` to each facade method, so that a
wrong type is a :class:`~securestore.errors.ConfigurationError` naming the argument
before anything is sent.
"""

from __future__ import annotations

import securestore.arguments as args
from securestore.attributes import ObjectAttributes
from securestore.message import HeaderLimits
from securestore.transfer import TransferConfig
from securestore.transport import Connection

__all__ = ["ARGUMENTS", "checked", "kms_key_arn_checked", "rewrap_checked"]


def _store(name: str, value: object) -> None:
    from securestore.store import SecureStore  # the module that uses this table

    if not isinstance(value, SecureStore):
        raise args.refuse(name, "a SecureStore", value)


def _location(name: str, value: object) -> None:
    if not (
        isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)
    ):
        raise args.refuse(name, "a (bucket, key) pair of str", value)
    args.key(f"{name}'s key", value[1])


_optional_mode = args.optional(args.mode)
_optional_text = args.optional(args.text)
_optional_mapping = args.optional(args.mapping)

#: Every facade argument's check, by parameter name (:func:`securestore.arguments.checked`).
ARGUMENTS: dict[str, args.Check] = {
    "bucket": args.text,
    "key": args.key,
    "dest_key": args.key,
    "body": args.body,
    "path": args.path,
    "destination": _store,
    "encryption": _optional_mode,
    "require": _optional_mode,
    "metadata": _optional_mapping,
    "context": _optional_mapping,
    "expect_context": _optional_mapping,
    "content_type": _optional_text,
    "version_id": _optional_text,
    "etag": _optional_text,
    "prefix": args.text,
    "progress": args.optional(args.callback),
    "expected_size": args.optional(args.count),
    "first": args.count,
    "last": args.count,
    "mode": args.optional(args.count),
    "attributes": args.optional(args.instance_of(ObjectAttributes, "an ObjectAttributes")),
    "limits": args.optional(args.instance_of(HeaderLimits, "a HeaderLimits")),
    "connection": args.optional(args.instance_of(Connection, "a Connection")),
    "transfer": args.optional(args.instance_of(TransferConfig, "a TransferConfig")),
    "keyring": args.optional(args.keyring),
    "add": args.keyrings,
    "remove": args.keyrings,
    "remove_kms_keys": args.strings,
    "remove_context": args.strings,
    "keys": args.strings,
    **dict.fromkeys(args.FLAGS, args.flag),
}

#: The decorator of the facade's methods.
checked = args.checked(ARGUMENTS)
#: ``kms_key_arn(mode)``: there ``mode`` is an encryption mode, not permission bits.
kms_key_arn_checked = args.checked({"mode": args.mode})
#: ``rewrap(destination=...)``: there ``destination`` is a (bucket, key) pair.
rewrap_checked = args.checked({**ARGUMENTS, "destination": args.optional(_location)})
