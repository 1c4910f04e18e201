"""``iam-policy``: print the least-privilege IAM documents for one store."""

from __future__ import annotations

import click

from securestore.errors import ConfigurationError

from .context import CliContext

__all__ = ["COMMANDS"]


def _key_arn(obj: CliContext, key_id: str | None) -> str | None:
    """The key's ARN: given as one, or looked up (DescribeKey) for an id or alias."""
    if key_id is None or (key_id.startswith("arn:") and ":key/" in key_id):
        return key_id
    from securestore.bucket import BucketAccess  # needs boto3: only when looking a key up
    from securestore.transfer import TransferConfig

    arn = BucketAccess("iam-policy", obj.connection, TransferConfig()).resolve_key_arn(key_id)
    if arn is None:
        raise ConfigurationError(
            f"cannot look up the ARN of {key_id} (kms:DescribeKey denied)",
            hint="pass the key ARN: IAM policies name keys by ARN",
        )
    return arn


@click.command("iam-policy")
@click.option(
    "--bucket",
    "buckets",
    multiple=True,
    help="The bucket (with --audit/--harden repeatable; none: every bucket).",
)
@click.option("--prefix", default="", help="Limit the documents to keys under this prefix.")
@click.option(
    "--mode",
    type=click.Choice(["sse-s3", "sse-kms", "dsse-kms", "client-side"]),
    help="How the store encrypts (as put --sse / --client-side).",
)
@click.option(
    "--kms-key-id",
    metavar="ARN",
    help="The KMS key of sse-kms/dsse-kms, or of a client-side KMS keyring "
    "(an id or alias is looked up with DescribeKey).",
)
@click.option("--read-only", "access", flag_value="read-only", help="Only get/open/list/head.")
@click.option("--write-only", "access", flag_value="write-only", help="Only put/upload.")
@click.option("--rewrap", "access", flag_value="rewrap", help="What 'securestore rewrap' needs.")
@click.option(
    "--audit", "tool", flag_value="audit", help="What 'securestore audit' needs (reads only)."
)
@click.option("--harden", "tool", flag_value="harden", help="What 'securestore harden' needs.")
@click.option(
    "--sample-objects", is_flag=True, help="--audit: also the object reads of --sample-objects."
)
@click.option("--no-delete", is_flag=True, help="Leave s3:DeleteObject out of write access.")
@click.option("--bucket-key", is_flag=True, help="sse-kms with S3 Bucket Keys.")
@click.option(
    "--principal",
    metavar="ARN",
    help="Principal for the key-policy statement (default: the key's account).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "terraform", "cloudformation"]),
    default="json",
    show_default=True,
)
@click.pass_obj
def iam_policy_command(
    obj: CliContext,
    buckets: tuple[str, ...],
    prefix: str,
    mode: str | None,
    kms_key_id: str | None,
    access: str | None,
    tool: str | None,
    sample_objects: bool,
    no_delete: bool,
    bucket_key: bool,
    principal: str | None,
    fmt: str,
) -> None:
    """Print the least-privilege identity, KMS key and bucket policies for a store.

    The identity policy, the KMS key-policy statement and the bucket-policy
    statements that a store on BUCKET needs, and nothing more.

    With --audit or --harden: the identity policy those commands need instead.
    The region is the global --region (the bucket's region: the ARN partition and
    kms:ViaService follow it).
    """
    import json

    from securestore.iam_policy import (
        Access,
        Mode,
        PolicyRequest,
        audit_policy,
        generate,
        harden_policy,
    )
    from securestore.iam_render import render

    if obj.region is None:
        raise click.UsageError("give the bucket's region with --region (or AWS_REGION)")
    if tool is not None:
        if mode or access or prefix or bucket_key or principal or no_delete or fmt != "json":
            raise click.UsageError(
                f"--{tool} prints one identity policy as JSON: it takes --bucket, "
                "--kms-key-id and --sample-objects only"
            )
        keys = [k for k in [_key_arn(obj, kms_key_id)] if k]
        document = (
            audit_policy(
                region=obj.region,
                buckets=list(buckets) or None,
                kms_key_arns=keys or None,
                sample_objects=sample_objects,
            )
            if tool == "audit"
            else harden_policy(
                region=obj.region, buckets=list(buckets) or None, kms_key_arns=keys or None
            )
        )
        click.echo(json.dumps(document, indent=2))
        return
    if sample_objects:
        raise click.UsageError("--sample-objects goes with --audit")
    if mode is None or len(buckets) != 1:
        raise click.UsageError("give --mode and one --bucket (or --audit / --harden)")
    request = PolicyRequest(
        bucket=buckets[0],
        mode=Mode(mode),
        region=obj.region,
        prefix=prefix,
        kms_key_arn=_key_arn(obj, kms_key_id),
        access=Access(access or "read-write"),
        bucket_key=bucket_key,
        principal=principal,
        delete=not no_delete,
    )
    click.echo(render(request, generate(request), fmt), nl=False)


COMMANDS = (iam_policy_command,)
