"""Batch jobs and inventory configurations use the partition they run in (aws-cn,
aws-us-gov): ARNs of another partition are refused there."""

from __future__ import annotations

import json

import pytest

from securestore.audit.harden_inventory import (
    destination_policy_statement,
    inventory_configuration,
)
from securestore.batch import reencrypt_request, validate_request
from securestore.errors import ConfigurationError


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_job_arns_follow_the_role_partition(partition: str) -> None:
    request = reencrypt_request(
        "data-bucket",
        "copy",
        kms_key_arn=None,
        account_id="123456789012",
        role_arn=f"arn:{partition}:iam::123456789012:role/batch",
        manifest_bucket="manifests",
        manifest_key="m.csv",
        manifest_etag="0" * 32,
        report_bucket="manifests",
    )
    validate_request(request)
    arns = [
        request["Report"]["Bucket"],
        request["Manifest"]["Location"]["ObjectArn"],
        request["Operation"]["S3PutObjectCopy"]["TargetResource"],
    ]
    assert all(arn.startswith(f"arn:{partition}:s3:::") for arn in arns), arns


def test_a_role_that_is_not_an_arn_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        reencrypt_request(
            "data-bucket", "copy", kms_key_arn=None, account_id="123456789012",
            role_arn="batch-role", manifest_bucket="m-bucket", manifest_key="m.csv",
            manifest_etag="0" * 32, report_bucket="m-bucket",
        )  # fmt: skip


def test_inventory_configuration_and_delivery_policy_follow_the_partition() -> None:
    config = inventory_configuration("s3://central/inv", partition="aws-cn")
    assert config["Destination"]["S3BucketDestination"]["Bucket"] == "arn:aws-cn:s3:::central"
    statement = destination_policy_statement(
        "s3://central/inv", source_bucket="data", source_account=None, partition="aws-us-gov"
    )
    assert "arn:aws:" not in json.dumps(statement)
