"""Key options for client-side encryption, ``keygen`` and ``inspect``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from securestore.errors import ConfigurationError, KeyUnavailableError
from securestore.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    DecryptionMaterials,
    DiscoveryFilter,
    EncryptedDataKey,
    EncryptionMaterials,
    Keyring,
    MultiKeyring,
    RawAesKeyring,
    RawRsaKeyring,
    generate_aes_key_file,
    generate_rsa_key_files,
    load_aes_key_file,
    load_rsa_private_key_file,
    load_rsa_public_key_file,
)
from securestore.location import S3Url
from securestore.message import HeaderLimits
from securestore.message.header import DEFAULT_MAX_ENCRYPTED_DATA_KEYS
from securestore.transport import Connection

from .errors import require_stdout
from .main import CliContext
from .text import printable

#: The raw keyrings' key namespace; the key name defaults to ``default`` (``--key-name``).
KEY_NAMESPACE = "securestore"
DEFAULT_KEY_NAME = "default"

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
    """Raw AES and RSA keyrings from key files (permissions checked)."""
    keyrings: list[Keyring] = []
    for path in key_files:
        keyrings.append(RawAesKeyring(KEY_NAMESPACE, key_name, load_aes_key_file(path)))
    for path in rsa_keys:
        if reading:
            keyrings.append(
                RawRsaKeyring(KEY_NAMESPACE, key_name, private_key=load_rsa_private_key_file(path))
            )
        else:
            keyrings.append(
                RawRsaKeyring(KEY_NAMESPACE, key_name, public_key=load_rsa_public_key_file(path))
            )
    return keyrings


def kms_keyrings(connection: Connection, key_ids: Sequence[str]) -> list[Keyring]:
    """Strict KMS keyrings, each using a client in its key's region."""
    keyrings: list[Keyring] = []
    for key_id in key_ids:
        if key_id.startswith("arn:"):
            # The key's own region, taken from its ARN.
            factory = lambda region: connection.client("kms", region)  # noqa: E731
            keyrings.append(AwsKmsKeyring(key_id, client_factory=factory))
        else:
            keyrings.append(AwsKmsKeyring(key_id, client=connection.client("kms")))
    return keyrings


def combine(keyrings: Sequence[Keyring]) -> Keyring:
    """One keyring from several: the first generates the data key, all wrap it."""
    if not keyrings:
        raise ConfigurationError("no key given")
    if len(keyrings) == 1:
        return keyrings[0]
    return MultiKeyring(generator=keyrings[0], children=keyrings[1:])


class AccountDiscoveryKeyring:
    """KMS discovery limited to the caller's own account (looked up on first use).

    Used by ``get --client-side`` when no key is named: it decrypts data keys wrapped by any
    KMS key of the caller's account, and never a key of another account.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._inner: AwsKmsDiscoveryKeyring | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "AccountDiscoveryKeyring()"

    def _keyring(self) -> AwsKmsDiscoveryKeyring:
        with self._lock:
            if self._inner is None:
                try:
                    arn = self._connection.client("sts").get_caller_identity()["Arn"]
                except Exception as exc:
                    raise KeyUnavailableError(
                        "cannot look up your AWS account for KMS discovery",
                        hint="name the key with --kms-key-id, --key-file or --rsa-private-key",
                    ) from exc
                parts = str(arn).split(":")
                self._inner = AwsKmsDiscoveryKeyring(
                    client_factory=lambda region: self._connection.client("kms", region),
                    discovery_filter=DiscoveryFilter(parts[1], [parts[4]]),
                )
            return self._inner

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise ConfigurationError("KMS discovery can only decrypt")

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        return self._keyring().unwrap(materials, encrypted_data_keys)


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
