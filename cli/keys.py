"""Key options for client-side encryption, ``keygen``, ``inspect`` and ``keys`` (branch keys)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from securestore.errors import ConfigurationError
from securestore.location import S3Url

from .context import CliContext
from .errors import require_stdout
from .text import printable

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


@click.command("keygen")
@click.option(
    "--aes",
    "aes_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Create a raw AES-256 key file (mode 0600).",
)
@click.option(
    "--rsa",
    "rsa_prefix",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Create PREFIX.pem (private, 0600) and PREFIX.pub.pem (public).",
)
@click.option(
    "--public-from",
    "public_from",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PEM",
    help="Write the public key of the RSA private key PEM (NAME.pem -> NAME.pub.pem, or --output).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="With --rsa: encrypt the private key (PKCS#8) with the first line of FILE "
    "(mode 0600); with --public-from: the passphrase of the private key.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PUB",
    help="With --public-from: where to write the public key.",
)
@click.option(
    "--bits",
    type=click.Choice(["3072", "4096"]),
    default="3072",
    show_default=True,
    help="RSA key size.",
)
@click.pass_obj
def keygen_command(
    obj: CliContext,
    aes_path: Path | None,
    rsa_prefix: Path | None,
    public_from: Path | None,
    passphrase_file: Path | None,
    output: Path | None,
    bits: str,
) -> None:
    """Create new key files for client-side encryption (never overwrites a file)."""
    from securestore.keyrings import generate_aes_key_file, generate_rsa_key_files
    from securestore.keyrings.keyfiles import read_passphrase_file, write_public_key_file

    if sum(x is not None for x in (aes_path, rsa_prefix, public_from)) != 1:
        raise ConfigurationError("give exactly one of --aes FILE or --rsa PREFIX")
    if passphrase_file is not None and aes_path is not None:
        raise ConfigurationError("--passphrase-file goes with --rsa or --public-from")
    if output is not None and public_from is None:
        raise ConfigurationError("--output goes with --public-from")
    if aes_path is not None:
        generate_aes_key_file(aes_path)
        if not obj.quiet:
            click.echo(f"created {aes_path} (AES-256, mode 0600)", err=True)
        return
    password = read_passphrase_file(passphrase_file) if passphrase_file else None
    if public_from is not None:
        public = output or _public_name(public_from)
        ask = rsa_passphrase()
        write_public_key_file(
            public_from, public, password=password or (lambda: ask(str(public_from)))
        )
        if not obj.quiet:
            click.echo(f"created {public} (public key of {public_from})", err=True)
        return
    assert rsa_prefix is not None
    private = rsa_prefix.with_name(rsa_prefix.name + ".pem")
    public = rsa_prefix.with_name(rsa_prefix.name + ".pub.pem")
    generate_rsa_key_files(private, public, bits=int(bits), password=password)
    if not obj.quiet:
        protected = ", passphrase-protected" if password else ""
        click.echo(
            f"created {private} (RSA-{bits} private key{protected}, mode 0600) and {public}",
            err=True,
        )


def _public_name(private: Path) -> Path:
    """``backup.pem`` -> ``backup.pub.pem``; any other name gets ``.pub.pem`` appended."""
    stem = private.name.removesuffix(".pem")
    return private.with_name(stem + ".pub.pem")


@click.command("inspect")
@click.argument("url", metavar="s3://BUCKET/KEY")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@max_data_keys_option()
@click.pass_obj
def inspect_command(obj: CliContext, url: str, as_json: bool, max_data_keys: int | None) -> None:
    """Show a client-side object's message header without decrypting it."""
    from securestore.message import HeaderLimits
    from securestore.store import SecureStore

    require_stdout()
    location = S3Url.parse(url, require_key=True)
    limits = HeaderLimits(max_encrypted_data_keys=max_data_keys or DEFAULT_MAX_ENCRYPTED_DATA_KEYS)
    header = SecureStore(location.bucket, connection=obj.connection).inspect(
        location.key, limits=limits
    )
    edks = [edk.describe() for edk in header.encrypted_data_keys]
    data: dict[str, Any] = {
        "format": f"AWS Encryption SDK message v{header.version}",
        "suite": f"0x{header.suite.value:04X} {header.suite.name}",
        "frame_length": header.frame_length,
        "message_id": header.message_id.hex(),
        "encrypted_data_keys": edks,
        "encryption_context": dict(header.encryption_context),
    }
    if as_json:
        click.echo(json.dumps({**data, "verified": False}, indent=2))
        return
    # inspect never decrypts, so nothing below is authenticated: whoever can write the
    # object chose every field. Escaped, and labelled as such.
    lines = [
        "verified:       no (header shown without decrypting: every field is unauthenticated)",
        f"format:         {data['format']}",
        f"suite:          {data['suite']}",
        f"frame length:   {header.frame_length}",
        f"message id:     {data['message_id']}",
        *(f"data key for:   {edk} (unverified)" for edk in edks),
        *(
            f"context:        {name}={value} (unverified)"
            for name, value in sorted(header.encryption_context.items())
        ),
    ]
    for line in lines:
        click.echo(printable(line))


@click.group("keys")
def keys_group() -> None:
    """Create, rotate and show branch keys of AWS KMS Hierarchical keyrings (DynamoDB + KMS)."""


def _store_options(*, kms_required: bool) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        func = click.option(
            "--key-store-kms-key",
            metavar="ARN",
            required=kms_required,
            help="KMS key ARN (not an alias) that wraps the branch keys.",
        )(func)
        return click.option(
            "--key-store-table",
            metavar="NAME",
            required=True,
            help="DynamoDB table of the branch key store.",
        )(func)

    return decorate


@keys_group.command("create-branch-key")
@_store_options(kms_required=True)
@click.option(
    "--branch-key-id",
    metavar="ID",
    help="The new branch key's id (default: a random UUID); needs --context.",
)
@click.option(
    "--context",
    multiple=True,
    metavar="K=V",
    help="Custom encryption context bound to every version of the branch key (repeatable).",
)
@click.pass_obj
def create_branch_key_command(
    obj: CliContext,
    key_store_table: str,
    key_store_kms_key: str,
    branch_key_id: str | None,
    context: tuple[str, ...],
) -> None:
    """Create a branch key (and the key store table if missing); print its id."""
    from securestore.keyrings.options import branch_key_store

    from .commands import parse_pairs

    pairs = parse_pairs(context, "--context")
    store = branch_key_store(obj.connection, key_store_table, kms_key_arn=key_store_kms_key)
    store.create_table()
    created = store.create_branch_key(branch_key_id, encryption_context=pairs)
    version = store.get_active_branch_key(created).version
    click.echo(created)
    if not obj.quiet:
        click.echo(
            f"created branch key {created} (version {version}) in {key_store_table}", err=True
        )


@keys_group.command("rotate-branch-key")
@_store_options(kms_required=True)
@click.option("--branch-key-id", metavar="ID", required=True, help="The branch key to rotate.")
@click.pass_obj
def rotate_branch_key_command(
    obj: CliContext, key_store_table: str, key_store_kms_key: str, branch_key_id: str
) -> None:
    """Make a new version of a branch key active; print it (old versions still decrypt)."""
    from securestore.keyrings.options import branch_key_store

    store = branch_key_store(obj.connection, key_store_table, kms_key_arn=key_store_kms_key)
    version = store.version_branch_key(branch_key_id)
    click.echo(version)
    if not obj.quiet:
        click.echo(f"branch key {printable(branch_key_id)}: version {version} is active", err=True)


@keys_group.command("show-branch-key")
@_store_options(kms_required=False)
@click.option("--branch-key-id", metavar="ID", required=True, help="The branch key to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show_branch_key_command(
    obj: CliContext,
    key_store_table: str,
    key_store_kms_key: str | None,
    branch_key_id: str,
    as_json: bool,
) -> None:
    """Show a branch key's active version and context (decrypted by KMS, so verified)."""
    from securestore.keyrings.options import branch_key_store

    store = branch_key_store(obj.connection, key_store_table, kms_key_arn=key_store_kms_key)
    active = store.get_active_branch_key(branch_key_id)
    data = {
        "branch_key_id": active.branch_key_id,
        "active_version": active.version,
        "encryption_context": dict(active.encryption_context),
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(printable(f"branch key:     {active.branch_key_id}"))
    click.echo(f"active version: {active.version}")
    for name, value in sorted(active.encryption_context.items()):
        click.echo(printable(f"context:        {name}={value}"))


COMMANDS = (keygen_command, inspect_command, keys_group)

__all__ = [
    "COMMANDS",
    "PASSPHRASE_ENV",
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
]
