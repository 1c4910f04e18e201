"""``keygen`` (key files), ``inspect`` (a message header) and ``keys`` (branch keys)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from securestore.errors import ConfigurationError, KeyringError
from securestore.location import S3Url

from .context import CliContext
from .errors import require_stdout
from .keys import DEFAULT_MAX_ENCRYPTED_DATA_KEYS, max_data_keys_option, rsa_passphrase
from .streams import stdout
from .text import printable

F = TypeVar("F", bound=Callable[..., Any])


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
    from securestore.keyrings.keyfiles import (
        public_key_pem,
        read_passphrase_file,
        write_public_key_file,
    )

    if sum(x is not None for x in (aes_path, rsa_prefix, public_from)) != 1:
        raise ConfigurationError(
            "give exactly one of --aes FILE, --rsa PREFIX or --public-from PEM"
        )
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

        def unlock() -> bytes | None:
            return password or ask(str(public_from))

        try:
            if str(public) == "-":  # standard output, as encrypt/decrypt -o - is
                out = stdout()
                out.write(public_key_pem(public_from, password=unlock))
                out.flush()
                return
            write_public_key_file(public_from, public, password=unlock)
        except KeyringError as error:
            # keygen's own option, not the --rsa-passphrase-file of get/decrypt.
            error.hint = (
                f"check the first line of {passphrase_file} (--passphrase-file)"
                if passphrase_file is not None
                else "give --passphrase-file FILE (its first line), or run on a terminal "
                "to be asked"
            )
            raise
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

__all__ = ["COMMANDS", "inspect_command", "keygen_command", "keys_group"]
