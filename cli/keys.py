"""Key options for client-side encryption, ``keygen`` and ``inspect``."""

from __future__ import annotations

import json
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
    """Raw AES and RSA keyrings from key files (see :mod:`securestore.keyrings.options`)."""
    from securestore.keyrings import options

    return options.raw_keyrings(key_files, rsa_keys, key_name, reading=reading)


def kms_keyrings(connection: Connection, key_ids: Sequence[str]) -> list[Keyring]:
    """Strict KMS keyrings (see :mod:`securestore.keyrings.options`)."""
    from securestore.keyrings import options

    return options.kms_keyrings(connection, key_ids)


def combine(keyrings: Sequence[Keyring]) -> Keyring:
    """One keyring from several (see :mod:`securestore.keyrings.options`)."""
    from securestore.keyrings import options

    return options.combine(keyrings)


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
    from securestore.keyrings.options import AccountDiscoveryKeyring

    keyrings = kms_keyrings(connection, kms_key_ids) + raw_keyrings(
        key_files, rsa_keys, key_name, reading=True
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
    "--bits",
    type=click.Choice(["3072", "4096"]),
    default="3072",
    show_default=True,
    help="RSA key size.",
)
@click.pass_obj
def keygen_command(
    obj: CliContext, aes_path: Path | None, rsa_prefix: Path | None, bits: str
) -> None:
    """Create new key files for client-side encryption (never overwrites a file)."""
    from securestore.keyrings import generate_aes_key_file, generate_rsa_key_files

    if (aes_path is None) == (rsa_prefix is None):
        raise ConfigurationError("give exactly one of --aes FILE or --rsa PREFIX")
    if aes_path is not None:
        generate_aes_key_file(aes_path)
        if not obj.quiet:
            click.echo(f"created {aes_path} (AES-256, mode 0600)", err=True)
        return
    assert rsa_prefix is not None
    private = rsa_prefix.with_name(rsa_prefix.name + ".pem")
    public = rsa_prefix.with_name(rsa_prefix.name + ".pub.pem")
    generate_rsa_key_files(private, public, bits=int(bits))
    if not obj.quiet:
        click.echo(f"created {private} (RSA-{bits} private key, mode 0600) and {public}", err=True)


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


COMMANDS = (keygen_command, inspect_command)

__all__ = ["COMMANDS", "combine", "key_options", "kms_keyrings", "raw_keyrings", "reading_keyring"]
