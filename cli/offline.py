"""Local commands, no S3: ``encrypt`` and ``decrypt`` files, streams and directories."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO, cast

import click

from securestore.errors import ConfigurationError, LocalFileError
from securestore.keyrings import Keyring, MultiKeyring
from securestore.message import Header
from securestore.message.header import DEFAULT_MAX_ENCRYPTED_DATA_KEYS
from securestore.offline import (
    DEFAULT_SUFFIX,
    decrypt_file,
    decrypt_tree,
    encrypt_file,
    encrypt_tree,
)

from .commands import _stdout, parse_pairs, say
from .context import CliContext
from .keys import combine, key_options, kms_keyrings, raw_keyrings, reading_keyring
from .streams import Prefixed
from .text import printable

_KMS_HELP = "KMS key id, ARN or alias that wraps the data key (repeatable: any one decrypts)."


def _stdin() -> BinaryIO:
    if sys.stdin is None:  # started with stdin closed (<&-)
        raise LocalFileError("standard input is closed", hint="redirect it, or give a file")
    return sys.stdin.buffer


def _encrypt_input(source: str, output: str, allow_empty: bool) -> BinaryIO | None:
    """stdin for ``encrypt -``, refused if empty when it would replace an existing file.

    As ``put -``: a producer that failed looks like an empty stream, and the message of
    an empty stream would silently replace the file's earlier contents.
    """
    if source != "-":
        return None
    stream = _stdin()
    if allow_empty or output == "-" or not Path(output).is_file():
        return stream
    first = stream.read(1)
    if not first:
        raise LocalFileError(
            f"standard input was empty: refusing to replace {output} with an empty message",
            hint="if a producer failed, check it (set -o pipefail); to encrypt an empty "
            "stream anyway, add --allow-empty",
        )
    # _Counting only calls read().
    return cast(BinaryIO, Prefixed(first, stream))


def _check_keys(kms_key_ids: tuple[str, ...]) -> None:
    if any(not key_id.strip() for key_id in kms_key_ids):
        raise ConfigurationError("an empty --kms-key-id was given (is a variable unset?)")


def _check_recursive(recursive: bool, source: str, output: str) -> None:
    if recursive and "-" in (source, output):
        raise ConfigurationError("--recursive needs a directory and an output directory, not -")
    if not recursive and source != "-" and Path(source).is_dir():
        raise LocalFileError(f"is a directory: {source}", hint="add --recursive")


def _describe(header: Header) -> str:
    return f"suite 0x{header.suite.value:04X}, {len(header.encrypted_data_keys)} data key(s)"


common = [
    click.argument("source", metavar="FILE|DIR|-"),
    click.option(
        "-o",
        "--output",
        required=True,
        metavar="OUT|-",
        help="Output file (- for stdout), or with --recursive the output directory.",
    ),
    click.option(
        "--context",
        "context",
        multiple=True,
        metavar="K=V",
        help="Encryption context pair (repeatable).",
    ),
    click.option(
        "-r", "--recursive", is_flag=True, help="Every file under the directory FILE|DIR."
    ),
    click.option(
        "--suffix",
        default=DEFAULT_SUFFIX,
        show_default=True,
        help="With --recursive: the suffix encrypted files get (and decrypt removes).",
    ),
    click.option(
        "--force",
        is_flag=True,
        help="Replace an output file even if it is read-only (as cp -f does).",
    ),
]


def _common(func: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(common):
        func = option(func)
    return func


@click.command("encrypt")
@_common
@click.option("--kms-key-id", "kms_key_ids", multiple=True, metavar="ID", help=_KMS_HELP)
@key_options(reading=False)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="With FILE -: let an empty stdin replace an existing output file (refused by "
    "default: a producer that failed looks like an empty stream).",
)
@click.pass_obj
def encrypt_command(
    obj: CliContext,
    source: str,
    output: str,
    context: tuple[str, ...],
    recursive: bool,
    suffix: str,
    force: bool,
    kms_key_ids: tuple[str, ...],
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    allow_empty: bool,
) -> None:
    """Encrypt a local file, stdin or a directory tree (AWS Encryption SDK message format).

    No S3 is involved; a KMS key (--kms-key-id) is the only network use. What it
    writes decrypts with `securestore decrypt`, aws-encryption-cli and any ESDK.
    """
    _check_keys(kms_key_ids)
    _check_recursive(recursive, source, output)
    pairs = parse_pairs(context, "context")
    raw = raw_keyrings(key_files, rsa_keys, key_name, reading=False)
    # The connection (boto3) only when a KMS key is named.
    kms = kms_keyrings(obj.connection, kms_key_ids) if kms_key_ids else []
    keyring = combine(kms + raw)
    stdin = _encrypt_input(source, output, allow_empty)
    _run(obj, "encrypt", encrypt_tree, encrypt_file, source, output, keyring, recursive=recursive,
         suffix=suffix, pairs=pairs, limit=max_data_keys, force=force, stdin=stdin)  # fmt: skip


@click.command("decrypt")
@_common
@click.option(
    "--kms-key-id",
    "kms_key_ids",
    multiple=True,
    metavar="ID",
    help="KMS key(s) that may decrypt the data key (repeatable).",
)
@key_options(reading=True)
@click.option(
    "--discovery",
    is_flag=True,
    help="Without a key option: decrypt by KMS discovery limited to your own account.",
)
@click.pass_obj
def decrypt_command(
    obj: CliContext,
    source: str,
    output: str,
    context: tuple[str, ...],
    recursive: bool,
    suffix: str,
    force: bool,
    kms_key_ids: tuple[str, ...],
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    discovery: bool,
) -> None:
    """Decrypt a local message file, stdin or a tree of *.encrypted files.

    An output file is replaced only after the whole message authenticated (a new one
    is created 0600). To stdout (-o -), each frame is written only after it
    authenticated, but a tampered or truncated message releases its authenticated
    prefix before exit 3: trust the output only if the command exited 0. --context
    pairs must be in the message with these values.
    """
    _check_keys(kms_key_ids)
    _check_recursive(recursive, source, output)
    pairs = parse_pairs(context, "context") or None
    keyring: Keyring | None
    if kms_key_ids or discovery:
        keyring = reading_keyring(
            obj.connection, kms_key_ids, key_files, rsa_keys, key_name, discovery=discovery
        )
    else:
        raw = raw_keyrings(key_files, rsa_keys, key_name, reading=True)
        keyring = (raw[0] if len(raw) == 1 else MultiKeyring(children=raw)) if raw else None
    if keyring is None:
        raise ConfigurationError(
            "no key given",
            hint="name one with --key-file, --rsa-private-key or --kms-key-id "
            "(or --discovery for KMS keys of your account)",
        )
    _run(obj, "decrypt", decrypt_tree, decrypt_file, source, output, keyring, recursive=recursive,
         suffix=suffix, pairs=pairs, limit=max_data_keys, force=force)  # fmt: skip


def _warn_skipped(path: Path, reason: str) -> None:
    # cp --recursive's wording, on stderr even with --quiet: a skipped file is not encrypted.
    click.echo(printable(f"warning: skipped {path}: {reason}"), err=True)


def _run(
    obj: CliContext,
    verb: str,
    tree: Callable[..., Iterable[Any]],
    one: Callable[..., Header],
    source: str,
    output: str,
    keyring: Keyring,
    *,
    recursive: bool,
    suffix: str,
    pairs: dict[str, str] | None,
    limit: int | None,
    force: bool,
    stdin: BinaryIO | None = None,
) -> None:
    """encrypt and decrypt alike: a tree file by file, else one file or stream."""
    max_data_keys = limit or DEFAULT_MAX_ENCRYPTED_DATA_KEYS
    if recursive:
        count = 0
        for entry in tree(
            source,
            output,
            keyring,
            suffix=suffix,
            context=pairs,
            max_data_keys=max_data_keys,
            overwrite_readonly=force,
            on_skip=_warn_skipped,
        ):
            count += 1
            say(obj, f"{verb}: {entry.source} -> {entry.destination} ({entry.size} bytes)")
        say(obj, f"{verb}: {count} file(s) from {source} into {output}")
        return
    out = _stdout() if output == "-" else None
    header = one(
        (stdin or _stdin()) if source == "-" else source,
        # _Stdout.write takes any buffer (it is typed bytes for get's callers).
        cast(Any, out) if out is not None else output,
        keyring,
        context=pairs,
        max_data_keys=max_data_keys,
        overwrite_readonly=force,
    )
    if out is not None:
        out.flush()
    say(obj, f"{verb}: {source} -> {output} ({_describe(header)})")


COMMANDS = (encrypt_command, decrypt_command)

__all__ = ["COMMANDS"]
