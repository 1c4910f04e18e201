"""Key lifecycle commands: ``rewrap`` (add, remove or rotate the keys of client-side objects)."""

from __future__ import annotations

import json
from typing import Any

import click

from securestore.clientside import ClientSide
from securestore.errors import ConfigurationError, SecureStoreError
from securestore.location import S3Url
from securestore.message import Keyring
from securestore.rewrap import RewrapResult
from securestore.store import SecureStore

from .batchjobs import batch_options, check_batch, submit
from .commands import parse_pairs, say
from .context import CliContext
from .errors import exit_code_for, most_serious, report
from .jsonstream import ArrayWriter
from .keys import key_options, kms_keyrings, raw_keyrings, reading_keyring
from .listing import human_size

__all__ = ["COMMANDS"]


def _line(result: RewrapResult) -> str:
    where = f"s3://{result.bucket}/{result.key}"
    changes = f"+{len(result.added)} -{len(result.removed)} data keys" + (
        f", {len(result.rewrapped)} re-wrapped for the new context" if result.rewrapped else ""
    )
    if result.dry_run:
        return f"rewrap (dry run): {where}: would change {changes}; nothing written"
    assert result.method is not None
    text = (
        f"rewrap: {where} ({result.method.value}; {changes}; fetched "
        f"{human_size(result.bytes_fetched, aws_cli=False)}, "
        f"copied by S3 {human_size(result.bytes_copied, aws_cli=False)})"
    )
    if result.note:
        text += f"; {result.note}"
    return text


@click.command("rewrap")
@click.argument("url", metavar="s3://BUCKET/KEY")
@click.option("-r", "--recursive", is_flag=True, help="Every object under the prefix KEY.")
@click.option(
    "--kms-key-id",
    "kms_key_ids",
    multiple=True,
    metavar="ID",
    help="KMS key(s) that may unwrap the objects' current data key, to read them "
    "(default: KMS discovery in your own account); keys to add or remove are "
    "--add-kms-key-id/--remove-kms-key-id.",
)
@key_options(reading=True)
@click.option("--add-key-file", multiple=True, metavar="FILE", help="Add an AES-256 key file.")
@click.option("--add-rsa-public-key", multiple=True, metavar="PEM", help="Add an RSA public key.")
@click.option("--add-kms-key-id", multiple=True, metavar="ID", help="Add a KMS key.")
@click.option(
    "--add-key-name",
    metavar="NAME",
    help="Name of added raw AES/RSA keys inside the message (default: --key-name).",
)
@click.option(
    "--remove-key-file",
    multiple=True,
    metavar="FILE",
    help="Remove the data keys this AES key file unwraps.",
)
@click.option(
    "--remove-rsa-key",
    multiple=True,
    metavar="PEM",
    help="Remove the data keys this RSA private key unwraps.",
)
@click.option(
    "--remove-kms-key-id",
    multiple=True,
    metavar="ARN",
    help="Remove the data keys wrapped by this KMS key ARN.",
)
@click.option("--context", "set_context", multiple=True, metavar="K=V", help="Set a context pair.")
@click.option("--remove-context", multiple=True, metavar="K", help="Remove a context key.")
@click.option(
    "--expect-context",
    multiple=True,
    metavar="K=V",
    help="A context pair the object must carry already (as get --context).",
)
@click.option(
    "--relocated",
    is_flag=True,
    help="Accept an object copied from another key; it is re-bound to where it is now.",
)
@click.option(
    "--delete-old-versions",
    is_flag=True,
    help="Versioned buckets: delete the version that was re-wrapped (default: keep it).",
)
@click.option("--dryrun", "--dry-run", "dry_run", is_flag=True, help="Change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@batch_options
@click.option(
    "--batch-function",
    metavar="ARN",
    help="--batch: the Lambda function running securestore.batch.handler (LambdaInvoke).",
)
@click.pass_obj
def rewrap_command(
    obj: CliContext,
    url: str,
    recursive: bool,
    kms_key_ids: tuple[str, ...],
    key_files: tuple[str, ...],
    rsa_keys: tuple[str, ...],
    key_name: str,
    max_data_keys: int | None,
    add_key_file: tuple[str, ...],
    add_rsa_public_key: tuple[str, ...],
    add_kms_key_id: tuple[str, ...],
    add_key_name: str | None,
    remove_key_file: tuple[str, ...],
    remove_rsa_key: tuple[str, ...],
    remove_kms_key_id: tuple[str, ...],
    set_context: tuple[str, ...],
    remove_context: tuple[str, ...],
    expect_context: tuple[str, ...],
    relocated: bool,
    delete_old_versions: bool,
    dry_run: bool,
    as_json: bool,
    batch: bool,
    batch_role: str | None,
    batch_bucket: str | None,
    batch_function: str | None,
) -> int:
    """Re-wrap client-side objects server-side: the body stays, S3 copies it.

    Adds or removes data keys (rotate an AES key: --add-key-file NEW
    --remove-key-file OLD; move KMS keys: --add-kms-key-id B --remove-kms-key-id A)
    and changes the encryption context. Only the new header and the first 5 MiB
    pass through the client. Refuses to remove the last key and signed messages.
    """
    location = S3Url.parse(url, require_key=not recursive)
    for value in (*kms_key_ids, *add_kms_key_id, *remove_kms_key_id):
        if not value.strip():
            raise ConfigurationError("an empty KMS key id was given (is a variable unset?)")
    if check_batch(batch, batch_role, batch_bucket) or batch_function:
        others = (key_files, rsa_keys, add_key_file, add_rsa_public_key, remove_key_file,
                  remove_rsa_key, set_context, remove_context, expect_context)  # fmt: skip
        if not (batch and batch_function):
            raise ConfigurationError("--batch needs --batch-function (and it needs --batch)")
        if any(others) or relocated or delete_old_versions:
            raise ConfigurationError(
                "--batch re-wraps with KMS keys only: --add-kms-key-id / --remove-kms-key-id",
                hint="the job's Lambda function unwraps with the KMS keys its role may use",
            )
        if not (add_kms_key_id or remove_kms_key_id):
            raise ConfigurationError(
                "nothing to change: give --add-kms-key-id or --remove-kms-key-id"
            )
        assert batch_role is not None and batch_bucket is not None
        return _batch(obj, location, recursive, batch_role, batch_bucket, batch_function,
                      add_kms_key_id, remove_kms_key_id, dry_run)  # fmt: skip
    connection = obj.connection
    # No key option: unwrap with KMS discovery in your own account (as get --client-side).
    unwrap = reading_keyring(connection, kms_key_ids, key_files, rsa_keys, key_name, discovery=True)
    assert unwrap is not None
    name = add_key_name or key_name
    add: list[Keyring] = kms_keyrings(connection, add_kms_key_id) + raw_keyrings(
        add_key_file, add_rsa_public_key, name, reading=False
    )
    remove = raw_keyrings(remove_key_file, remove_rsa_key, key_name, reading=True)
    changes: dict[str, Any] = {
        "add": add,
        "remove": remove,
        "remove_kms_keys": remove_kms_key_id,
        "context": parse_pairs(set_context, "context") or None,
        "remove_context": remove_context,
        "expect_context": parse_pairs(expect_context, "context") or None,
        "relocated": relocated,
        "delete_old_versions": delete_old_versions,
        "dry_run": dry_run,
    }
    if not (add or remove or remove_kms_key_id or set_context or remove_context or relocated):
        raise ConfigurationError(
            "nothing to change: give --add-*, --remove-*, --context or --remove-context"
        )
    # A client-side mode only to carry the header limits (--max-data-keys) to rewrap.
    mode = ClientSide(unwrap, max_data_keys=max_data_keys)
    store = SecureStore(location.bucket, connection=connection, encryption=mode)
    if not recursive:
        result = store.rewrap(location.key, **changes)
        if as_json:
            click.echo(json.dumps(result.to_dict(), indent=2))
        else:
            say(obj, _line(result))
        return 0
    return _recursive(obj, store, location.key, changes, as_json)


def _recursive(
    obj: CliContext, store: SecureStore, prefix: str, changes: dict[str, Any], as_json: bool
) -> int:
    """Re-wrap every client-side object under ``prefix`` on the transfer pool; go on
    after a failure. Lines print as objects finish; ``--json`` streams one JSON list
    of them, in the order they finish (a prefix of millions is never held)."""
    from securestore.prefix_rewrap import SkippedObject, rewrap_prefix

    writer = ArrayWriter() if as_json else None

    def entry(item: dict[str, Any]) -> None:
        assert writer is not None
        writer.add(item)

    def done(result: RewrapResult) -> None:
        if as_json:
            entry(result.to_dict())
        else:
            say(obj, _line(result))

    def skipped(skip: SkippedObject) -> None:
        if as_json:
            entry({"key": skip.key, "skipped": skip.reason, "hint": skip.hint})
        why = f"{skip.reason}; {skip.hint}" if skip.hint else skip.reason
        say(obj, f"rewrap: skipped s3://{store.bucket}/{skip.key}: {why}")

    def failed(key: str, exc: SecureStoreError) -> None:
        if as_json:
            entry({"key": key, "error": str(exc), "exit_code": exit_code_for(exc)})
        report(str(exc), exc.hint)

    outcome = rewrap_prefix(
        store, prefix, on_result=done, on_skip=skipped, on_failure=failed, **changes
    )
    if writer is not None:  # a failed listing leaves it unclosed: never taken as complete
        writer.close()
    # outcome.failed keeps the first failure of each error type: the most serious is there.
    return most_serious(exc for _, exc in outcome.failed)


def _batch(
    obj: CliContext,
    location: S3Url,
    recursive: bool,
    role: str,
    bucket: str,
    function: str,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    dry_run: bool,
) -> int:
    """rewrap as a Batch Operations job invoking securestore.batch.handler per object."""
    from securestore import batch as jobs

    for arn in (*add, *remove):
        if not (arn.startswith("arn:") and ":key/" in arn):
            raise ConfigurationError(f"--batch needs KMS key ARNs, not {arn!r}")
    arguments = {"add_kms_keys": ",".join(add), "remove_kms_keys": ",".join(remove)}

    def build(account: str, manifest_bucket: str, key: str, etag: str) -> dict[str, Any]:
        return jobs.create_job_request(
            account_id=account,
            operation=jobs.lambda_operation(function, arguments),
            manifest_bucket=manifest_bucket,
            manifest_key=key,
            manifest_etag=etag,
            role_arn=role,
            report_bucket=manifest_bucket,
            description=f"securestore rewrap s3://{location.bucket}/{location.key}",
        )

    return submit(
        obj,
        location,
        recursive=recursive,
        batch_bucket=bucket,
        build=build,
        dry_run=dry_run,
        what="rewrap",
    )


COMMANDS = (rewrap_command,)
