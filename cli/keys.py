"""Key options for client-side encryption and the keyrings they build.

The commands that manage keys (``keygen``, ``inspect``, ``keys``) are in :mod:`.keycommands`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from securestore.errors import ConfigurationError

if TYPE_CHECKING:
    from securestore.keyrings import Keyring
    from securestore.transport import Connection

#: The defaults the options show in --help, written out so that printing help imports
#: neither the keyrings nor the message engine (cryptography);
#: tests/cli/test_startup.py checks them against the library's own constants.
DEFAULT_KEY_NAME = "default"  # securestore.keyrings.options.DEFAULT_KEY_NAME
DEFAULT_MAX_ENCRYPTED_DATA_KEYS = 10  # securestore.message.header.DEFAULT_MAX_ENCRYPTED_DATA_KEYS
DEFAULT_BRANCH_KEY_TTL = 300  # securestore.keyrings.options.DEFAULT_BRANCH_KEY_TTL

F = TypeVar("F", bound=Callable[..., Any])


def key_options(*, reading: bool) -> Callable[[F], F]:
    """The options that choose keyrings: KMS keys, raw AES key files, RSA key files."""

    def decorate(func: F) -> F:
        rsa = (
            click.option(
                "--rsa-private-key",
                "rsa_keys",
                multiple=True,
                metavar="PEM",
                help="RSA private key file (mode 0600) to decrypt with (repeatable).",
            )
            if reading
            else click.option(
                "--rsa-public-key",
                "rsa_keys",
                multiple=True,
                metavar="PEM",
                help="RSA public key file to encrypt for (repeatable).",
            )
        )
        for option in reversed(
            [
                click.option(
                    "--key-file",
                    "key_files",
                    multiple=True,
                    metavar="FILE",
                    help="Raw AES-256 key file (mode 0600) (repeatable).",
                ),
                rsa,
                *([passphrase_option()] if reading else []),
                click.option(
                    "--key-name",
                    default=DEFAULT_KEY_NAME,
                    show_default=True,
                    help="Name of the raw AES/RSA key inside the message.",
                ),
                max_data_keys_option(),
            ]
        ):
            func = option(func)
        return func

    return decorate


#: Where ``--rsa-passphrase-file`` is kept for the command (``click.Context.meta``): the
#: option is shared by every reading command without being one of their parameters.
_PASSPHRASE_META = "securestore.rsa_passphrase_file"  # noqa: S105 (a name, not a secret)
PASSPHRASE_ENV = "SECURESTORE_RSA_PASSPHRASE_FILE"  # noqa: S105


def _remember_passphrase_file(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    if value:
        ctx.meta[_PASSPHRASE_META] = str(value)


def passphrase_option() -> Callable[[F], F]:
    """``--rsa-passphrase-file FILE``: unlocks passphrase-protected RSA private keys.

    Never a passphrase on the command line (other users see it in ``ps``); without
    the option, a terminal is asked. The value is kept in the command's context and
    used by :func:`raw_keyrings` and :func:`reading_keyring`.
    """
    return click.option(
        "--rsa-passphrase-file",
        metavar="FILE",
        envvar=PASSPHRASE_ENV,
        expose_value=False,
        callback=_remember_passphrase_file,
        help="File (mode 0600) whose first line is the passphrase of encrypted RSA private "
        "keys; without it a terminal is asked. [env: SECURESTORE_RSA_PASSPHRASE_FILE]",
    )


#: Where ``--allow-s3ec`` is kept for the command (``click.Context.meta``), like
#: ``--rsa-passphrase-file``: one definition for every command that reads objects.
_S3EC_META = "securestore.allow_s3ec"


def _remember_s3ec(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    if value:
        ctx.meta[_S3EC_META] = True


def allow_s3ec_option() -> Callable[[F], F]:
    """``--allow-s3ec``: WEAKENS a client-side read to accept S3 Encryption Client objects.

    Their encryption binds them to no bucket and key: a valid one for the caller's
    key could have been written elsewhere and copied over the key being read. Read
    it back with :func:`s3ec_allowed`; :func:`securestore_cli.options.read_mode`
    refuses it on reads that are not client-side.
    """
    return click.option(
        "--allow-s3ec",
        is_flag=True,
        expose_value=False,
        callback=_remember_s3ec,
        help="WEAKENS the read: decrypt objects written by AWS's S3 Encryption Client "
        "instead of refusing them (exit 3). Their encryption does not bind them to this "
        "bucket and key, so one could have been moved here from anywhere (with "
        "--client-side: written by anyone who may encrypt under any KMS key of the "
        "account). Legacy modes also need --allow-legacy-unauthenticated. "
        "`securestore migrate` converts them in place.",
    )


def s3ec_allowed() -> bool:
    """Whether the running command was given ``--allow-s3ec``."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_S3EC_META))


def rsa_passphrase() -> Callable[[str], bytes | None]:
    """How the current command gets an RSA private key's passphrase (asked only if encrypted).

    The ``--rsa-passphrase-file`` of the running command if given (read once), else a
    prompt when stdin is a terminal, else none (loading the key then fails clearly).
    """
    ctx = click.get_current_context(silent=True)
    path = ctx.meta.get(_PASSPHRASE_META) if ctx is not None else None
    cached: list[bytes] = []

    def ask(key_path: str) -> bytes | None:
        if path is not None:
            if not cached:
                from securestore.keyrings.keyfiles import read_passphrase_file

                cached.append(read_passphrase_file(path))
            return cached[0]
        if sys.stdin is not None and sys.stdin.isatty():
            text = click.prompt(
                f"Passphrase for {key_path}",
                hide_input=True,
                err=True,
                default="",
                show_default=False,
            )
            return str(text).encode() or None
        return None

    return ask


def max_data_keys_option() -> Callable[[F], F]:
    """``--max-data-keys N``: the most encrypted data keys a message may carry."""
    return click.option(
        "--max-data-keys",
        type=click.IntRange(1, 0xFFFF),
        metavar="N",
        help="Client-side: the most wrapped data keys a message may carry (put refuses "
        f"more; get and inspect refuse headers with more). [default: "
        f"{DEFAULT_MAX_ENCRYPTED_DATA_KEYS}]",
    )


def raw_keyrings(
    key_files: Sequence[str], rsa_keys: Sequence[str], key_name: str, *, reading: bool
) -> list[Keyring]:
    """Raw AES and RSA keyrings from key files (see :mod:`securestore.keyrings.options`);
    RSA passphrases as :func:`rsa_passphrase`."""
    from securestore.keyrings import options

    return options.raw_keyrings(
        key_files,
        rsa_keys,
        key_name,
        reading=reading,
        rsa_passphrase=rsa_passphrase() if reading else None,
    )


def kms_keyrings(connection: Connection, key_ids: Sequence[str]) -> list[Keyring]:
    """Strict KMS keyrings (see :mod:`securestore.keyrings.options`)."""
    from securestore.keyrings import options

    return options.kms_keyrings(connection, key_ids)


def combine(keyrings: Sequence[Keyring]) -> Keyring:
    """One keyring from several (see :mod:`securestore.keyrings.options`)."""
    from securestore.keyrings import options

    return options.combine(keyrings)


#: Where the branch key options are kept for the command (``click.Context.meta``), like
#: ``--rsa-passphrase-file``: read by :func:`hierarchy_keyrings` wherever keyrings are built.
_BRANCH_KEY_META = "securestore.branch_key"


def _remember_branch_key(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_BRANCH_KEY_META, {})[param.name] = value


def branch_key_options() -> Callable[[F], F]:
    """``--branch-key-id``, ``--key-store-table``, ``--key-store-kms-key``, ``--branch-key-ttl``.

    Client-side encryption with an AWS KMS Hierarchical keyring (docs/format.md,
    "Hierarchical keyring"); any of them implies ``--client-side``.
    """

    def decorate(func: F) -> F:
        for option in reversed(
            [
                click.option(
                    "--branch-key-id",
                    metavar="ID",
                    expose_value=False,
                    callback=_remember_branch_key,
                    help="Branch key of an AWS KMS Hierarchical keyring that wraps the data "
                    "key (needs --key-store-table; implies --client-side).",
                ),
                click.option(
                    "--key-store-table",
                    metavar="NAME",
                    expose_value=False,
                    callback=_remember_branch_key,
                    help="DynamoDB table of the branch key store.",
                ),
                click.option(
                    "--key-store-kms-key",
                    metavar="ARN",
                    expose_value=False,
                    callback=_remember_branch_key,
                    help="KMS key ARN that wraps the branch keys (only items it wraps are "
                    "used); without it, the key each item names.",
                ),
                click.option(
                    "--branch-key-ttl",
                    type=click.FloatRange(min=0, min_open=True),
                    metavar="SECONDS",
                    expose_value=False,
                    callback=_remember_branch_key,
                    help="How long a fetched branch key is used before KMS is asked again. "
                    f"[default: {DEFAULT_BRANCH_KEY_TTL}]",
                ),
            ]
        ):
            func = option(func)
        return func

    return decorate


def branch_key_requested() -> bool:
    """Whether the running command was given any branch key option."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_BRANCH_KEY_META))


def hierarchy_keyrings(connection: Connection) -> list[Keyring]:
    """The hierarchical keyring the branch key options name, if any (else ``[]``)."""
    ctx = click.get_current_context(silent=True)
    given: dict[str, Any] = dict(ctx.meta.get(_BRANCH_KEY_META, {})) if ctx is not None else {}
    if not given:
        return []
    branch_key_id, table = given.get("branch_key_id"), given.get("key_store_table")
    if not branch_key_id or not table:
        raise ConfigurationError(
            "--branch-key-id and --key-store-table go together",
            hint="name the branch key and the DynamoDB table of its key store",
        )
    from securestore.keyrings import options

    return [
        options.hierarchical_keyring(
            connection,
            branch_key_id,
            table,
            kms_key_arn=given.get("key_store_kms_key"),
            ttl_seconds=given.get("branch_key_ttl", DEFAULT_BRANCH_KEY_TTL),
        )
    ]


def reading_keyring(
    connection: Connection,
    kms_key_ids: Sequence[str],
    key_files: Sequence[str],
    rsa_keys: Sequence[str],
    key_name: str,
    *,
    discovery: bool,
) -> Keyring | None:
    """The keyring ``get`` decrypts with, chosen from the options alone.

    The named keys; else, with ``discovery`` (``--client-side``), KMS discovery in
    your own account; else ``None``: a plain server-side read.
    """
    from securestore.keyrings import MultiKeyring
    from securestore.keyrings.options import AccountDiscoveryKeyring, decrypting_kms_keyrings

    keyrings = (
        decrypting_kms_keyrings(connection, kms_key_ids)
        + hierarchy_keyrings(connection)
        + raw_keyrings(key_files, rsa_keys, key_name, reading=True)
    )
    if not keyrings:
        return AccountDiscoveryKeyring(connection) if discovery else None
    return keyrings[0] if len(keyrings) == 1 else MultiKeyring(children=keyrings)


__all__ = [
    "DEFAULT_MAX_ENCRYPTED_DATA_KEYS",
    "PASSPHRASE_ENV",
    "allow_s3ec_option",
    "branch_key_options",
    "branch_key_requested",
    "combine",
    "hierarchy_keyrings",
    "key_options",
    "kms_keyrings",
    "passphrase_option",
    "raw_keyrings",
    "reading_keyring",
    "rsa_passphrase",
    "s3ec_allowed",
]
