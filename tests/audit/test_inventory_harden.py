"""``harden --inventory``: the configuration S3 accepts, idempotent on the endpoint, via the CLI."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator
from click.testing import CliRunner
from securestore_cli.main import main_group

from securestore import Connection
from securestore.audit.harden_inventory import (
    INVENTORY_ID,
    apply_inventory,
    inventory_configuration,
    plan_inventory,
)
from securestore.errors import ConfigurationError

from ..conftest import Endpoint, unique_bucket_name


def _validate(operation: str, params: dict[str, object]) -> None:
    model = botocore.session.get_session().get_service_model("s3")
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("kms", [None, "arn:aws:kms:us-east-1:111122223333:key/abcd"])
def test_configuration_validates_against_the_service_model(kms: str | None) -> None:
    config = inventory_configuration("s3://central/inventories/", kms_key_arn=kms)
    _validate(
        "PutBucketInventoryConfiguration",
        {"Bucket": "source", "Id": INVENTORY_ID, "InventoryConfiguration": config},
    )
    target = config["Destination"]["S3BucketDestination"]
    assert target["Format"] == "Parquet" and target["Prefix"] == "inventories"
    assert config["Schedule"] == {"Frequency": "Daily"}
    assert {"EncryptionStatus", "BucketKeyStatus", "Size", "LastModifiedDate"} <= set(
        config["OptionalFields"]
    )


def test_kms_key_must_be_an_arn() -> None:
    with pytest.raises(ConfigurationError):
        inventory_configuration("s3://central", kms_key_arn="alias/inventory")


def test_plan_apply_and_plan_again_is_empty(connection: Connection) -> None:
    source = unique_bucket_name("inv-harden")
    connection.client("s3").create_bucket(Bucket=source)
    change = plan_inventory(connection, source, "s3://central-bucket/prefix")
    assert change is not None and change.before == ""
    assert '"Format": "Parquet"' in change.diff()
    apply_inventory(connection, change)
    stored = connection.client("s3").get_bucket_inventory_configuration(
        Bucket=source, Id=INVENTORY_ID
    )["InventoryConfiguration"]
    assert "EncryptionStatus" in stored["OptionalFields"]
    assert plan_inventory(connection, source, "s3://central-bucket/prefix") is None
    other = plan_inventory(connection, source, "s3://elsewhere")
    assert other is not None and other.summary.startswith("replace")


def test_cli_dry_run_prints_and_changes_nothing(tls_endpoint: Endpoint) -> None:
    source = unique_bucket_name("inv-cli")
    tls_endpoint.connection().client("s3").create_bucket(Bucket=source)
    result = CliRunner().invoke(
        main_group,
        ["harden", f"s3://{source}", "--inventory", "s3://central/inv", "--dry-run"],
        env=tls_endpoint.env,
    )
    assert "daily Parquet inventory" in result.output, result.output
    assert '"Service": "s3.amazonaws.com"' in result.output
    assert "dry run: nothing was changed" in result.output
    s3 = tls_endpoint.connection().client("s3")
    assert (
        s3.list_bucket_inventory_configurations(Bucket=source).get("InventoryConfigurationList", [])
        == []
    )
