"""The options of the tree commands: filters, transfer options, and the
:class:`~securestore.tree.TreeOptions` they make (refusing those that do not fit
the direction of a transfer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from securestore.errors import ConfigurationError
from securestore.modes import EncryptionMode
from securestore.tree import DEFAULT_CONCURRENCY, Filters, Local, Remote, TreeOptions

from .context import CliContext
from .keys import allow_s3ec_option, s3ec_allowed
from .options import (
    ATTRIBUTE_NAMES,
    REQUIRE_CHOICES,
    attributes_from,
    parse_pairs,
    read_mode,
    upload_mode,
    upload_options,
)

__all__ = ["TreeCommand", "filter_options", "filters_of", "transfer_options", "tree_options"]

F = TypeVar("F", bound=Callable[..., Any])


def filter_options(func: F) -> F:
    """``--include``/``--exclude`` (order matters) and ``--dryrun``."""
    for option in reversed(
        [
            click.option(
                "--exclude",
                multiple=True,
                metavar="PATTERN",
                help="Leave out paths matching PATTERN (relative to the source; repeatable; "
                "the last matching --include/--exclude wins).",
            ),
            click.option(
                "--include",
                multiple=True,
                metavar="PATTERN",
                help="Put back paths matching PATTERN that an earlier --exclude left out.",
            ),
            click.option(
                "--dryrun", is_flag=True, help="Print what would be done; change nothing."
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(1, 64),
                default=DEFAULT_CONCURRENCY,
                show_default=True,
                metavar="N",
                help="Requests in flight at once, small objects and parts alike "
                "(aws-cli's max_concurrent_requests). More helps a distant endpoint.",
            ),
        ]
    ):
        func = option(func)
    return func


def transfer_options(func: F) -> F:
    """put's encryption options, get's read options, and object attributes."""
    for option in reversed(
        [
            click.option(
                "--rsa-private-key",
                "rsa_private_keys",
                multiple=True,
                metavar="PEM",
                help="Downloads: RSA private key file (mode 0600) to decrypt with (repeatable).",
            ),
            click.option(
                "--require",
                type=REQUIRE_CHOICES,
                help="Downloads and copies: refuse every object not stored with this mode.",
            ),
            click.option(
                "--allow-plaintext",
                is_flag=True,
                help="WEAKENS downloads: with a client-side read, accept objects that are "
                "not client-side messages, unauthenticated.",
            ),
            allow_s3ec_option(),
            click.option(
                "--metadata", multiple=True, metavar="K=V", help="User metadata pair (repeatable)."
            ),
            click.option(
                "--content-type",
                metavar="TYPE",
                help="Content-Type of every upload (default: guessed from the file name).",
            ),
            click.option("--force", is_flag=True, help="Downloads: replace read-only local files."),
        ]
    ):
        func = option(func)
    return upload_options(func)


def filters_of(ctx: click.Context) -> Filters:
    """The filters in command-line order (click groups repeated options by name)."""
    rules: list[tuple[str, str]] = []
    args = list(_raw_args(ctx))
    index = 0
    while index < len(args):
        arg = args[index]
        for kind in ("include", "exclude"):
            flag = f"--{kind}"
            if arg == flag and index + 1 < len(args):
                rules.append((kind, args[index + 1]))
                index += 1
            elif arg.startswith(flag + "="):
                rules.append((kind, arg[len(flag) + 1 :]))
        index += 1
    return Filters.of(rules)


def _raw_args(ctx: click.Context) -> list[str]:
    raw = ctx.meta.get("securestore.tree.args")
    return list(raw) if raw is not None else []


class TreeCommand(click.Command):
    """Keeps the raw arguments, so that the order of --include/--exclude is known."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["securestore.tree.args"] = tuple(args)
        return super().parse_args(ctx, args)


def tree_options(
    obj: CliContext, source: Local | Remote, destination: Local | Remote, given: dict[str, Any]
) -> TreeOptions:
    """TreeOptions from the CLI options, refusing those that do not fit the direction."""
    pairs = parse_pairs(given["context"], "context")
    encryption: EncryptionMode | None = None
    require: EncryptionMode | None = None
    if isinstance(destination, Remote):
        encryption = upload_mode(
            obj,
            sse=given["sse"],
            kms_key_ids=given["kms_key_ids"],
            pairs=pairs,
            no_bucket_key=given["no_bucket_key"],
            client_side=given["client_side"],
            key_files=given["key_files"],
            rsa_keys=given["rsa_keys"],
            key_name=given["key_name"],
            max_data_keys=given["max_data_keys"],
            sse_kms_key_id=given["sse_kms_key_id"],
            # A dry run sends listings only: the bucket's default encryption is not read.
            bucket=None if given["dryrun"] else destination.store.bucket,
        )
    else:
        for name, flag in (
            ("sse", "--sse"),
            ("rsa_keys", "--rsa-public-key"),
            ("sse_kms_key_id", "--sse-kms-key-id"),
            ("metadata", "--metadata"),
            ("content_type", "--content-type"),
            ("no_bucket_key", "--no-bucket-key"),
            *ATTRIBUTE_NAMES.items(),
        ):
            if given[name]:
                raise ConfigurationError(f"{flag} applies to uploads and copies, not downloads")
    if isinstance(source, Remote):
        if given["allow_plaintext"] and isinstance(destination, Remote):
            raise ConfigurationError(
                "--allow-plaintext applies to downloads, not S3 to S3 copies",
                hint="copy plain objects without a key option, or download them",
            )
        require = read_mode(
            obj,
            require=given["require"],
            kms_key_ids=given["kms_key_ids"] if isinstance(destination, Local) else (),
            key_files=given["key_files"],
            rsa_keys=given["rsa_private_keys"],
            key_name=given["key_name"],
            max_data_keys=given["max_data_keys"],
            client_side=given["client_side"] and isinstance(destination, Local),
            allow_plaintext=given["allow_plaintext"],
            pairs=(pairs or None) if isinstance(destination, Local) else None,
            relocated=False,
        )
    else:
        for name, flag in (
            ("require", "--require"),
            ("allow_plaintext", "--allow-plaintext"),
            ("rsa_private_keys", "--rsa-private-key"),
        ):
            if given[name]:
                raise ConfigurationError(f"{flag} applies to downloads and copies, not uploads")
        if s3ec_allowed():
            raise ConfigurationError("--allow-s3ec applies to downloads and copies, not uploads")
    return TreeOptions(
        encryption=encryption,
        metadata=parse_pairs(given["metadata"], "metadata"),
        content_type=given["content_type"],
        attributes=attributes_from(given),
        require=require,
        context=(pairs or None) if isinstance(destination, Local) else None,
        allow_plaintext=bool(given["allow_plaintext"]),
        overwrite_readonly=given["force"],
        allow_s3ec=s3ec_allowed(),
    )
