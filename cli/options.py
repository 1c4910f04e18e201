"""The option builders the object and tree commands share: encryption, keys, attributes.

``put``, ``cp``, ``sync`` and ``mv`` take :func:`upload_options` (the mode and the
object attributes of what they write); :func:`upload_mode`, :func:`read_mode` and
:func:`attributes_from` turn the parsed options into library values.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from securestore.errors import ConfigurationError
from securestore.modes import EncryptionMode, parse_mode

from .context import CliContext
from .keys import (
    branch_key_options,
    branch_key_requested,
    combine,
    hierarchy_keyrings,
    key_options,
    kms_keyrings,
    raw_keyrings,
    reading_keyring,
    s3ec_allowed,
)

if TYPE_CHECKING:
    from securestore.attributes import ObjectAttributes

__all__ = [
    "ATTRIBUTE_NAMES",
    "REQUIRE_CHOICES",
    "SSE_CHOICES",
    "attributes_from",
    "build_sse",
    "grouped_options",
    "parse_pairs",
    "read_mode",
    "upload_mode",
    "upload_options",
]

#: put --sse, get --require and audit --require accept the same names (and the sse- forms).
SSE_CHOICES = click.Choice(["s3", "sse-s3", "kms", "sse-kms", "dsse-kms"], case_sensitive=False)
REQUIRE_CHOICES = click.Choice(
    ["s3", "sse-s3", "kms", "sse-kms", "dsse-kms", "client-side"], case_sensitive=False
)
#: The object attribute options of :func:`upload_options`: parameter name -> flag.
ATTRIBUTE_NAMES = {
    "storage_class": "--storage-class",
    "cache_control": "--cache-control",
    "content_encoding": "--content-encoding",
    "content_disposition": "--content-disposition",
    "content_language": "--content-language",
    "expires": "--expires",
}


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """Parse repeated ``K=V`` options into a dict; malformed pairs are usage errors."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigurationError(f"invalid {what} {pair!r}: expected KEY=VALUE")
        if name in result:
            raise ConfigurationError(f"{what} key {name!r} given twice")
        result[name] = value
    return result


def build_sse(
    sse: str | None, kms_key_id: str | None, context: dict[str, str], bucket_key: bool
) -> EncryptionMode:
    """The server-side mode chosen by ``--sse``/``--kms-key-id``/``--context``."""
    if sse is None:
        sse = "kms" if kms_key_id or context else "s3"
    return parse_mode(sse, kms_key_id=kms_key_id, bucket_key=bucket_key, context=context or None)


F = TypeVar("F", bound=Callable[..., Any])
Command = Callable[..., Any]


def grouped_options(
    keyword: str,
    group: Callable[..., Any],
    fields: Mapping[str, str],
    options: Sequence[Callable[[Command], Command]],
) -> Callable[[Command], Command]:
    """A decorator adding ``options`` to a command that receives their values as one object.

    The command gets ``keyword=group(**{field: value})``: ``fields`` maps each option's
    parameter name to the field of ``group`` (a dataclass) it fills, instead of one
    keyword argument per option.
    """

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs[keyword] = group(**{field: kwargs.pop(name) for name, field in fields.items()})
            return command(*args, **kwargs)

        decorated: Command = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate


def upload_options(func: F) -> F:
    """put's encryption and attribute options (also on cp, sync and mv).

    --sse ... --sse-kms-key-id choose the mode (:func:`upload_mode`); --storage-class,
    --cache-control, --content-encoding, --content-disposition, --content-language and
    --expires the object attributes (:func:`attributes_from`).
    """
    for option in reversed(
        [
            click.option(
                "--sse",
                type=SSE_CHOICES,
                help="Server-side encryption (default: the bucket's default encryption, "
                "SSE-S3 if it has none; kms with --kms-key-id, or --context where the "
                "default is not KMS; with --client-side: none unless given).",
            ),
            click.option(
                "--kms-key-id",
                "kms_key_ids",
                multiple=True,
                metavar="ID",
                help="KMS key id, ARN or alias. Without --client-side: the SSE-KMS/DSSE-KMS key "
                "S3 encrypts with. With --client-side: a key that wraps the message's data key "
                "(repeatable: any one of them decrypts), never the SSE layer's key (that is "
                "--sse-kms-key-id).",
            ),
            click.option(
                "--context",
                "context",
                multiple=True,
                metavar="K=V",
                help="Encryption context pair (repeatable): KMS context for SSE, the message's "
                "context for --client-side.",
            ),
            click.option(
                "--no-bucket-key", is_flag=True, help="Do not use an S3 Bucket Key with --sse kms."
            ),
            click.option(
                "--client-side",
                is_flag=True,
                help="Encrypt on this machine (AWS Encryption SDK format) before uploading. "
                "Implied by --key-file and --rsa-public-key.",
            ),
            key_options(reading=False),
            branch_key_options(),
            click.option(
                "--sse-kms-key-id",
                metavar="ID",
                help="With --client-side --sse kms/dsse-kms: the KMS key of the server-side "
                "layer (alias/aws/s3 for the AWS-managed key). Required there when "
                "--kms-key-id is given, so that the SSE layer's key is never a guess.",
            ),
            *_attribute_options(),
        ]
    ):
        func = option(func)
    return func


def _attribute_options() -> list[Callable[[F], F]]:
    return [
        click.option(
            "--storage-class",
            metavar="CLASS",
            help="S3 storage class: STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, "
            "GLACIER_IR, GLACIER, DEEP_ARCHIVE, ... (copies: default the source's).",
        ),
        click.option("--cache-control", metavar="TEXT", help="The object's Cache-Control."),
        click.option(
            "--content-encoding",
            metavar="TEXT",
            help="The Content-Encoding of the data (gzip, br, ...). With --client-side it is "
            "stored as metadata (securestore-content-encoding), not as the header: the stored "
            "bytes are ciphertext, which HTTP clients would otherwise try to decode.",
        ),
        click.option(
            "--content-disposition", metavar="TEXT", help="The object's Content-Disposition."
        ),
        click.option("--content-language", metavar="TEXT", help="The object's Content-Language."),
        click.option(
            "--expires",
            metavar="TIME",
            help="The object's Expires header, an ISO 8601 time (UTC unless it says otherwise).",
        ),
    ]


def attributes_from(given: dict[str, Any]) -> ObjectAttributes | None:
    """The :class:`ObjectAttributes` the options in ``given`` set (``None``: none given).

    Raises:
        ConfigurationError: an unknown storage class, a malformed time or header value.
    """
    from securestore.attributes import ObjectAttributes

    values: dict[str, Any] = {
        name: given[name] for name in ATTRIBUTE_NAMES if given.get(name) is not None
    }
    if not values:
        return None
    if "expires" in values:
        try:
            when = datetime.datetime.fromisoformat(values["expires"])
        except ValueError as exc:
            raise ConfigurationError(
                f"invalid --expires {values['expires']!r}",
                hint="give an ISO 8601 time, e.g. 2030-01-31T12:00:00Z",
            ) from exc
        values["expires"] = when if when.tzinfo else when.replace(tzinfo=datetime.UTC)
    return ObjectAttributes(**values)


def upload_mode(
    obj: CliContext,
    *,
    sse: str | None,
    kms_key_ids: tuple[str, ...],
    pairs: dict[str, str],
    no_bucket_key: bool,
    client_side: bool,
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    sse_kms_key_id: str | None,
    bucket: str | None = None,
) -> EncryptionMode:
    """The mode put's options (:func:`upload_options`) choose.

    Without ``--sse`` or ``--kms-key-id``, a server-side upload into ``bucket`` asks
    for what the bucket's default encryption applies, explicitly, with ``--context``
    if given (:func:`securestore.account.default_encryption`); ``None``: SSE-S3.
    """
    from securestore.clientside import ClientSide

    if any(not key_id.strip() for key_id in (*kms_key_ids, sse_kms_key_id or "x")):
        raise ConfigurationError("an empty --kms-key-id was given (is a variable unset?)")
    if client_side or key_files or rsa_keys or branch_key_requested():
        if kms_key_ids and sse_kms_key_id is None and _kms_layer(sse):
            # --kms-key-id wraps the data key here; the SSE layer would otherwise use the
            # AWS-managed key, which a reader of the command line would not guess.
            raise ConfigurationError(
                f"--sse {sse} with --client-side needs --sse-kms-key-id: --kms-key-id only "
                "wraps the client-side data key",
                hint="add --sse-kms-key-id with the same key for both layers, or "
                "--sse-kms-key-id alias/aws/s3 for the AWS-managed key",
            )
        if sse_kms_key_id and sse is None:  # (--sse s3 with a key: the mode refuses it)
            raise ConfigurationError("--sse-kms-key-id needs --sse kms or --sse dsse-kms")
        keyring = combine(
            kms_keyrings(obj.connection, kms_key_ids)
            + hierarchy_keyrings(obj.connection)
            + raw_keyrings(key_files, rsa_keys, key_name, reading=False)
        )
        layer = (
            parse_mode(sse, kms_key_id=sse_kms_key_id, bucket_key=not no_bucket_key)
            if sse
            else None
        )
        return ClientSide(keyring, sse=layer, context=pairs, max_data_keys=max_data_keys)
    if len(kms_key_ids) > 1:
        raise ConfigurationError("several --kms-key-id need --client-side")
    if sse_kms_key_id:
        raise ConfigurationError("--sse-kms-key-id goes with --client-side; use --kms-key-id")
    if max_data_keys is not None:
        raise ConfigurationError("--max-data-keys goes with --client-side")
    if sse is None and not kms_key_ids and bucket is not None:
        from securestore.account import default_encryption

        return default_encryption(
            obj.connection, bucket, bucket_key=not no_bucket_key, context=pairs or None
        )
    return build_sse(sse, kms_key_ids[0] if kms_key_ids else None, pairs, not no_bucket_key)


def read_mode(
    obj: CliContext,
    *,
    require: str | None,
    kms_key_ids: tuple[str, ...],
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    client_side: bool,
    allow_plaintext: bool,
    pairs: dict[str, str] | None,
    relocated: bool,
) -> EncryptionMode | None:
    """The mode get's options demand: ``None`` is a plain read (refuses client-side objects)."""
    from securestore.clientside import ClientSide

    if any(not key_id.strip() for key_id in kms_key_ids):
        raise ConfigurationError("an empty --kms-key-id was given (is a variable unset?)")
    sse: EncryptionMode | None = None
    if require not in (None, "client-side"):
        sse = parse_mode(require, kms_key_id=kms_key_ids[0] if kms_key_ids else None)
    # The options alone decide whether the object must decrypt, never its metadata
    # (anyone who can write to the bucket sets that). With --require kms/dsse-kms,
    # --kms-key-id names the server-side key, not a client-side one.
    client_kms_keys = kms_key_ids if sse is None else ()
    client_side_read = (
        client_side
        or require == "client-side"
        or bool(key_files or rsa_keys or client_kms_keys or pairs or relocated or max_data_keys)
        or branch_key_requested()
    )
    if allow_plaintext and require == "client-side":
        raise ConfigurationError(
            "--require client-side and --allow-plaintext contradict each other",
            hint="--require client-side refuses objects that are not messages; "
            "--allow-plaintext accepts them: give one",
        )
    if allow_plaintext and not client_side_read:
        raise ConfigurationError(
            "--allow-plaintext only applies to client-side reads",
            hint="add --client-side or a key option (a plain read returns objects as stored)",
        )
    if s3ec_allowed() and not client_side_read:
        raise ConfigurationError(
            "--allow-s3ec only applies to client-side reads",
            hint="add the key option that unwraps the object (--kms-key-id, --client-side, ...)",
        )
    if not client_side_read:
        return sse
    keyring = reading_keyring(
        obj.connection, client_kms_keys, key_files, rsa_keys, key_name, discovery=True
    )
    assert keyring is not None
    return ClientSide(keyring, sse=sse, max_data_keys=max_data_keys)


def _kms_layer(sse: str | None) -> bool:
    return sse is not None and sse.lower() in ("kms", "sse-kms", "dsse-kms")
