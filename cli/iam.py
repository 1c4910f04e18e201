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
@click.option("--bucket", required=True, help="The bucket.")
@click.option("--prefix", default="", help="Limit the documents to keys under this prefix.")
@click.option(
    "--mode",
    type=click.Choice(["sse-s3", "sse-kms", "dsse-kms", "client-side"]),
    required=True,
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
    bucket: str,
    prefix: str,
    mode: str,
    kms_key_id: str | None,
    access: str | None,
    no_delete: bool,
    bucket_key: bool,
    principal: str | None,
    fmt: str,
) -> None:
    """Print the least-privilege identity, KMS key and bucket policies for a store.

    The identity policy, the KMS key-policy statement and the bucket-policy
    statements that a store on BUCKET needs, and nothing more.

    The region is the global --region (the bucket's region: the ARN partition and
    kms:ViaService follow it).
    """
    from securestore.iam_policy import Access, Mode, PolicyRequest, generate
    from securestore.iam_render import render

    if obj.region is None:
        raise click.UsageError("give the bucket's region with --region (or AWS_REGION)")
    request = PolicyRequest(
        bucket=bucket,
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
