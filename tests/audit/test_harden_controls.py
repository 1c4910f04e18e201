"""harden for the 2026 S3 controls: SSE-C blocked (S3.ENC.6) merged into the rules a
bucket keeps, and the lifecycle rule aborting incomplete multipart uploads
(S3.DATA.6) merged into the existing rules, never removing one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from securestore_cli.main import main_group

from securestore import Connection
from securestore.audit import AuditOptions, Collected, EncryptionRule, Registry, Status
from securestore.audit.answers import lifecycle_rules
from securestore.audit.collect import Collector
from securestore.audit.harden import (
    ApplyOutcome,
    ChangeKind,
    EncryptionChange,
    HardenPlan,
    LifecycleChange,
    apply,
    plan,
    plan_bucket,
)
from securestore.audit.lifecycle import ABORT_RULE_ID, abort_rule, merge_abort_rule
from securestore.errors import ConfigurationError

from ..conftest import Endpoint, unique_bucket_name
from .builders import KEY_ARN, compliant
from .stub import StubEndpoint, StubRequest
from .test_harden import FakeClients
from .test_harden_endpoint import cli

EXPIRE_LOGS: dict[str, Any] = {
    "ID": "expire-logs",
    "Status": "Enabled",
    "Filter": {"Prefix": "logs/"},
    "Expiration": {"Days": 30},
}


def _only(p: HardenPlan, kind: type[Any]) -> Any:
    (change,) = [c for c in p.changes if isinstance(c, kind)]
    return change


def with_lifecycle(*rules: dict[str, Any]) -> Any:
    return compliant(lifecycle=Collected.ok(lifecycle_rules({"Rules": list(rules)})))


# --- SSE-C ------------------------------------------------------------------------------------


def test_sse_c_block_is_merged_into_kept_kms_rules() -> None:
    """sse=s3 keeps SSE-KMS (never weakens) but still blocks SSE-C in that rule."""
    snap = compliant(encryption=Collected.ok((EncryptionRule("aws:kms", KEY_ARN, True),)))
    p = plan(snap, sse="s3")
    assert [c.kind for c in p.changes] == [ChangeKind.ENCRYPTION]
    change = _only(p, EncryptionChange)
    assert change.configuration == {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": KEY_ARN,
                },
                "BucketKeyEnabled": True,
                "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
            }
        ]
    }
    assert "block SSE-C" in change.summary and '"SSE-C"' in change.diff()


def test_none_marker_is_replaced_by_the_block() -> None:
    rule = EncryptionRule("AES256", blocked_encryption_types=("NONE",))
    change = _only(plan(compliant(encryption=Collected.ok((rule,))), sse="s3"), EncryptionChange)
    assert change.configuration["Rules"][0]["BlockedEncryptionTypes"] == {
        "EncryptionType": ["SSE-C"]
    }


def test_blocked_bucket_plans_no_encryption_change() -> None:
    assert plan(compliant(), sse="s3").empty


# --- lifecycle --------------------------------------------------------------------------------


def test_lifecycle_rule_is_appended_keeping_every_rule() -> None:
    p = plan(with_lifecycle(EXPIRE_LOGS), sse="kms", kms_key_id=KEY_ARN)
    change = _only(p, LifecycleChange)
    after = json.loads(change.after)
    assert after["Rules"][0] == EXPIRE_LOGS
    assert after["Rules"][1] == abort_rule(7)
    assert '+      "ID": "AbortIncompleteMultipartUploads",' in change.diff()


def test_days_are_configurable_and_validated() -> None:
    p = plan(with_lifecycle(), sse="kms", kms_key_id=KEY_ARN, abort_multipart_days=2)
    assert _only(p, LifecycleChange).days == 2
    for bad in (0, -1, True):
        with pytest.raises(ConfigurationError, match="invalid number of days"):
            plan(with_lifecycle(), sse="s3", abort_multipart_days=bad)


def test_rule_id_does_not_collide() -> None:
    taken = {**EXPIRE_LOGS, "ID": ABORT_RULE_ID}
    merged = merge_abort_rule([taken])
    assert merged is not None and merged[-1]["ID"] == f"{ABORT_RULE_ID}2"


@pytest.mark.parametrize(
    "narrow",
    [
        {"Filter": {"Prefix": "tmp/"}},
        {"Prefix": "tmp/"},
        {"Filter": {}, "Status": "Disabled"},
    ],
    ids=["filter-prefix", "legacy-prefix", "disabled"],
)
def test_narrow_or_disabled_abort_rule_gets_a_whole_bucket_rule(narrow: dict[str, Any]) -> None:
    rule = {
        "ID": "partial",
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        **narrow,
    }
    merged = merge_abort_rule([rule])
    assert merged is not None and merged[0] == rule and len(merged) == 2


def test_covering_rule_means_no_change() -> None:
    covering = {**abort_rule(3), "ID": "mine", "Filter": {"Prefix": ""}}
    assert merge_abort_rule([EXPIRE_LOGS, covering]) is None
    p = plan(with_lifecycle(EXPIRE_LOGS, covering), sse="kms", kms_key_id=KEY_ARN)
    assert p.empty


def test_apply_merges_into_rules_added_after_planning() -> None:
    p = plan(with_lifecycle(), sse="kms", kms_key_id=KEY_ARN)
    clients = FakeClients()
    clients.s3.lifecycle = [EXPIRE_LOGS]
    (done,) = apply(p, clients)
    assert done.outcome is ApplyOutcome.APPLIED
    assert clients.s3.lifecycle == [EXPIRE_LOGS, abort_rule(7)]


def test_apply_skips_when_a_concurrent_rule_already_aborts() -> None:
    p = plan(with_lifecycle(), sse="kms", kms_key_id=KEY_ARN)
    clients = FakeClients()
    clients.s3.lifecycle = [{**abort_rule(1), "ID": "meanwhile"}]
    (done,) = apply(p, clients)
    assert done.outcome is ApplyOutcome.ALREADY_DONE
    assert "put_bucket_lifecycle_configuration" not in [n for n, _ in clients.calls]


# --- against the TLS endpoint -----------------------------------------------------------------


def test_endpoint_harden_keeps_rules_then_passes_and_is_idempotent(
    connection: Connection,
) -> None:
    name = unique_bucket_name("controls")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_lifecycle_configuration(
        Bucket=name, LifecycleConfiguration={"Rules": [EXPIRE_LOGS]}
    )
    registry = Registry.builtin()

    def status(check_id: str) -> Status:
        snap = Collector(connection).collect([name], account_level=False).snapshots[0]
        return registry.get(check_id).run(snap, AuditOptions()).status

    assert status("S3.ENC.6") is Status.FAIL and status("S3.DATA.6") is Status.FAIL
    apply(plan_bucket(connection, name, sse="s3", abort_multipart_days=3), connection)
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert [r["ID"] for r in rules] == ["expire-logs", ABORT_RULE_ID]
    assert rules[1]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}
    enc = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    assert status("S3.ENC.6") is Status.PASS and status("S3.DATA.6") is Status.PASS
    assert plan_bucket(connection, name, sse="s3").empty


def test_collector_skips_lifecycle_when_not_requested(connection: Connection) -> None:
    name = unique_bucket_name("controls")
    connection.client("s3").create_bucket(Bucket=name)
    full = Collector(connection).collect([name], account_level=False).snapshots[0]
    lean = Collector(connection, lifecycle=False).collect([name], account_level=False)
    snap = lean.snapshots[0]
    assert full.lifecycle.get() == () and snap.api_calls == full.api_calls - 1
    assert snap.lifecycle.error is not None and snap.lifecycle.error.code == "NotCollected"


def test_cli_abort_multipart_days(tls_endpoint: Endpoint, connection: Connection) -> None:
    name = unique_bucket_name("controls")
    connection.client("s3").create_bucket(Bucket=name)
    code, out, _ = cli(tls_endpoint, "harden", f"s3://{name}", "--abort-multipart-days", "3")
    assert code == 0 and "aborting incomplete multipart uploads after 3 days" in out
    rules = connection.client("s3").get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert rules[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}
    code, _, err = cli(tls_endpoint, "harden", f"s3://{name}", "--abort-multipart-days", "0")
    assert code == 2 and "abort-multipart-days" in err


def test_cli_audit_collects_lifecycle_only_for_checks_that_need_it(
    tls_endpoint: Endpoint, connection: Connection, tmp_path: Path
) -> None:
    name = unique_bucket_name("controls")
    connection.client("s3").create_bucket(Bucket=name)
    seen: list[StubRequest] = []

    def record(request: StubRequest) -> None:
        seen.append(request)

    with StubEndpoint(tls_endpoint.url, tls_endpoint.ca_bundle, tmp_path, record) as stub:
        env = {**tls_endpoint.env, "AWS_ENDPOINT_URL": stub.url}
        args = ["audit", name, "--framework", "aws-fsbp", "--format", "json"]
        result = CliRunner().invoke(main_group, args, env=env)
        assert result.exit_code in (0, 1), result.output
        assert not any("lifecycle" in r.query for r in seen)
        seen.clear()
        result = CliRunner().invoke(main_group, ["audit", name, "--format", "json"], env=env)
        assert any("lifecycle" in r.query for r in seen)
    checks = {r["check_id"] for r in json.loads(result.stdout)["results"]}
    assert {"S3.DATA.6", "MON.1"} <= checks
