"""``harden`` against moto over TLS: apply, re-audit, idempotence, dry run, the CLI.

These tests check configuration and policy content, not moto's enforcement of
it (test_harden_local.py covers the embedded endpoint's transport conditions),
and use a fresh bucket each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from securestore_cli.main import main_group

from securestore import Connection
from securestore.audit import (
    AuditOptions,
    EncryptionRequirement,
    Registry,
    Status,
    run_checks,
)
from securestore.audit.collect import Collector
from securestore.audit.harden import (
    POLICY_SIZE_LIMIT,
    TLS_SID,
    TLS_VERSION_SID,
    ApplyOutcome,
    ChangeKind,
    apply,
    plan_bucket,
    tls_statement,
    tls_version_statement,
)
from securestore.errors import KeyUnavailableError, NotFoundError

from ..conftest import Endpoint, unique_bucket_name
from .stub import Canned, StubEndpoint, StubRequest

OTHER: dict[str, Any] = {
    "Sid": "AllowAuditor",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:role/auditor"},
    "Action": "s3:GetBucketPolicy",
    "Resource": "arn:aws:s3:::{bucket}",
}


@pytest.fixture
def harden_key(connection: Connection) -> str:
    """A new customer managed key with rotation off (harden must turn it on)."""
    kms = connection.client("kms")
    arn: str = kms.create_key(Description="harden tests")["KeyMetadata"]["Arn"]
    assert kms.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is False
    return arn


@pytest.fixture
def fresh(connection: Connection) -> str:
    """A new bucket with one unrelated policy statement harden must keep."""
    name = unique_bucket_name("harden")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=name)
    statement = {**OTHER, "Resource": OTHER["Resource"].format(bucket=name)}
    s3.put_bucket_policy(
        Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    return name


def audit(connection: Connection, bucket: str, **options: Any) -> dict[str, Status]:
    opts = AuditOptions(**options)
    collection = Collector(connection, options=opts).collect([bucket], account_level=False)
    report = run_checks(collection.snapshots, registry=Registry.builtin(), options=opts)
    return {r.check_id: r.status for r in report.results}


def state(connection: Connection, bucket: str) -> dict[str, Any]:
    """The raw configuration harden touches, for before/after comparisons."""
    s3 = connection.client("s3")
    out: dict[str, Any] = {"policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])}
    for name, call in (
        ("encryption", s3.get_bucket_encryption),
        ("block", s3.get_public_access_block),
    ):
        try:
            response = call(Bucket=bucket)
        except s3.exceptions.ClientError as exc:
            out[name] = exc.response["Error"]["Code"]
        else:
            response.pop("ResponseMetadata", None)
            out[name] = response
    return out


def test_harden_kms_then_checks_pass_and_second_run_is_empty(
    connection: Connection, fresh: str, harden_key: str
) -> None:
    before = audit(connection, fresh)
    assert before["S3.TLS.1"] is Status.FAIL and before["S3.ENC.1"] is Status.FAIL

    planned = plan_bucket(connection, fresh, sse="kms", kms_key_id=harden_key)
    assert [c.kind for c in planned.changes] == [
        ChangeKind.ENCRYPTION,
        ChangeKind.KEY_ROTATION,
        ChangeKind.POLICY,
        ChangeKind.PUBLIC_ACCESS_BLOCK,
        ChangeKind.LIFECYCLE,
    ]
    done = apply(planned, connection)
    assert [a.outcome for a in done] == [ApplyOutcome.APPLIED] * 5

    after = audit(
        connection,
        fresh,
        require=EncryptionRequirement.KMS,
        allowed_kms_keys=frozenset({harden_key}),
    )
    for check_id in (
        "S3.ENC.1",
        "S3.ENC.2",
        "S3.ENC.3",
        "S3.ENC.4",
        "S3.ENC.5",
        "S3.TLS.1",
        "S3.TLS.2",
        "S3.ENC.6",
        "S3.PUBLIC.1",
        "S3.DATA.6",
        "KMS.1",
    ):
        assert after[check_id] is Status.PASS, check_id

    policy = state(connection, fresh)["policy"]
    assert policy["Statement"] == [
        {**OTHER, "Resource": f"arn:aws:s3:::{fresh}"},
        tls_statement(f"arn:aws:s3:::{fresh}"),
        tls_version_statement(f"arn:aws:s3:::{fresh}"),
    ]
    assert plan_bucket(connection, fresh, sse="kms", kms_key_id=harden_key).empty


def test_harden_sse_s3_passes_its_checks(connection: Connection, fresh: str) -> None:
    apply(plan_bucket(connection, fresh, sse="s3"), connection)
    after = audit(connection, fresh)
    for check_id in ("S3.ENC.1", "S3.ENC.2", "S3.TLS.1", "S3.PUBLIC.1"):
        assert after[check_id] is Status.PASS, check_id
    for check_id in ("S3.ENC.3", "S3.ENC.4", "KMS.1"):
        assert after[check_id] is Status.SKIP, check_id
    assert plan_bucket(connection, fresh, sse="s3").empty


def test_concurrent_policy_change_is_kept(connection: Connection, fresh: str) -> None:
    planned = plan_bucket(connection, fresh, sse="s3")
    s3 = connection.client("s3")
    current = json.loads(s3.get_bucket_policy(Bucket=fresh)["Policy"])
    added = {
        "Sid": "AddedMeanwhile",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteBucket",
        "Resource": f"arn:aws:s3:::{fresh}",
    }
    current["Statement"].append(added)
    s3.put_bucket_policy(Bucket=fresh, Policy=json.dumps(current))

    outcomes = {a.change.kind: a.outcome for a in apply(planned, connection)}
    assert outcomes[ChangeKind.POLICY] is ApplyOutcome.MERGED
    statements = state(connection, fresh)["policy"]["Statement"]
    assert [s["Sid"] for s in statements] == [
        "AllowAuditor",
        "AddedMeanwhile",
        TLS_SID,
        TLS_VERSION_SID,
    ]


def test_plan_errors_are_library_errors(connection: Connection, fresh: str) -> None:
    with pytest.raises(NotFoundError):
        plan_bucket(connection, unique_bucket_name("missing"), sse="s3")
    with pytest.raises(KeyUnavailableError, match="cannot be used"):
        plan_bucket(
            connection,
            fresh,
            sse="kms",
            kms_key_id="arn:aws:kms:us-east-1:123456789012:key/"
            "00000000-0000-0000-0000-000000000000",
        )


# --- the CLI ----------------------------------------------------------------------------------


def cli(endpoint: Endpoint, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main_group, list(args), env=endpoint.env)
    return result.exit_code, result.stdout, result.stderr


def test_cli_dry_run_changes_nothing(
    tls_endpoint: Endpoint, connection: Connection, fresh: str, harden_key: str
) -> None:
    before = state(connection, fresh)
    code, out, err = cli(
        tls_endpoint, "harden", f"s3://{fresh}", "--kms-key-id", harden_key, "--dry-run"
    )
    assert (code, err) == (0, "")
    assert state(connection, fresh) == before
    assert out.startswith(f"s3://{fresh}: 5 changes\n")
    assert f"--- s3://{fresh} bucket-policy (current)" in out
    assert '+      "Sid": "DenyInsecureTransport",' in out
    assert "+KeyRotationEnabled: true" in out
    assert out.endswith("dry run: nothing was changed\n")
    rotation = connection.client("kms").get_key_rotation_status(KeyId=harden_key)
    assert rotation["KeyRotationEnabled"] is False


def test_cli_applies_then_reports_nothing_to_do(
    tls_endpoint: Endpoint, connection: Connection, fresh: str, harden_key: str
) -> None:
    code, out, err = cli(
        tls_endpoint, "harden", f"s3://{fresh}", "--sse", "kms", "--kms-key-id", harden_key
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"s3://{fresh}: 5 changes"
    applied = [line for line in lines if line.startswith("applied: ")]
    assert applied == [
        f"applied: set default encryption to SSE-KMS with key {harden_key} and the S3 Bucket Key, "
        "blocking SSE-C",
        f"applied: enable automatic rotation of KMS key {harden_key}",
        f"applied: add TLS Deny statements {TLS_SID}, {TLS_VERSION_SID} to the bucket policy",
        "applied: turn on bucket public access block BlockPublicAcls, IgnorePublicAcls, "
        "BlockPublicPolicy, RestrictPublicBuckets",
        "applied: add lifecycle rule AbortIncompleteMultipartUploads aborting incomplete "
        "multipart uploads after 7 days (existing rules kept)",
    ]
    assert lines[-2] == f"s3://{fresh}: hardened (5 of 5 planned changes made)"
    # What a re-audit may still find is named: harden never touches the account.
    assert lines[-1].startswith("note: harden changes this bucket only; account-level")
    assert "S3.PUBLIC.2" in lines[-1]

    code, out, err = cli(tls_endpoint, "harden", f"s3://{fresh}", "--kms-key-id", harden_key)
    assert (code, out, err) == (0, f"s3://{fresh}: already hardened, nothing to change\n", "")


def test_cli_quiet_reports_applied_changes_on_stderr_only(
    tls_endpoint: Endpoint, fresh: str
) -> None:
    code, out, err = cli(tls_endpoint, "-q", "harden", f"s3://{fresh}")
    assert (code, out) == (0, "")
    assert err.splitlines() == [
        "applied: set default encryption to SSE-S3, blocking SSE-C",
        "applied: add TLS Deny statements DenyInsecureTransport, DenyOutdatedTls to the "
        "bucket policy",
        "applied: turn on bucket public access block BlockPublicAcls, IgnorePublicAcls, "
        "BlockPublicPolicy, RestrictPublicBuckets",
        "applied: add lifecycle rule AbortIncompleteMultipartUploads aborting incomplete "
        "multipart uploads after 7 days (existing rules kept)",
    ]
    assert cli(tls_endpoint, "harden", f"s3://{fresh}", "--sse", "s3")[1] == (
        f"s3://{fresh}: already hardened, nothing to change\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["s3://bad_bucket!"], 2, "error: invalid bucket name"),
        (["s3://some-bucket/key"], 2, "error: harden takes a bucket, not an object"),
        (["s3://some-bucket", "--sse", "kms"], 2, "error: SSE-KMS needs a key"),
        (
            ["s3://some-bucket", "--sse", "s3", "--kms-key-id", "k"],
            2,
            "error: a KMS key was given for SSE-S3",
        ),
        (["s3://some-bucket", "--sse", "dsse"], 2, "error: Invalid value for '--sse'"),
        (["s3://no-such-bucket-harden-1"], 4, "error: bucket does not exist"),
    ],
)
def test_cli_errors_exit_codes(
    tls_endpoint: Endpoint, args: list[str], code: int, message: str
) -> None:
    got, out, err = cli(tls_endpoint, "harden", *args)
    assert got == code
    assert out == ""
    assert err.startswith(message), err
    assert "\nhint: " in err or code == 2


def test_cli_missing_key_exits_four(tls_endpoint: Endpoint, fresh: str) -> None:
    code, out, err = cli(
        tls_endpoint, "harden", f"s3://{fresh}", "--kms-key-id", "alias/no-such-key"
    )
    assert (code, out) == (4, "")
    assert err.startswith("error: KMS key alias/no-such-key cannot be used")
    assert "hint: check the key id" in err


# --- partial hardening, failures after changes, keys of another region ----------------------


def test_cli_quiet_failure_still_reports_what_was_applied(
    tls_endpoint: Endpoint, fresh: str, tmp_path: Path
) -> None:
    """S3 refuses the last step: the changes made before it are on stderr under -q."""

    def refuse_block(request: StubRequest) -> Canned | None:
        if request.method == "PUT" and "publicAccessBlock" in request.query:
            return Canned(
                403,
                b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                {"Content-Type": "application/xml"},
            )
        return None

    with StubEndpoint(tls_endpoint.url, tls_endpoint.ca_bundle, tmp_path, refuse_block) as stub:
        env = {**tls_endpoint.env, "AWS_ENDPOINT_URL": stub.url}
        result = CliRunner().invoke(main_group, ["-q", "harden", f"s3://{fresh}"], env=env)
    assert result.exit_code == 4 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "applied: set default encryption to SSE-S3, blocking SSE-C"
    assert lines[1].startswith("applied: add TLS Deny statements")
    assert lines[2].startswith("error: PutPublicAccessBlock failed")


def test_cli_policy_over_the_size_limit_applies_the_rest_and_exits_one(
    tls_endpoint: Endpoint, connection: Connection
) -> None:
    name = unique_bucket_name("harden-big")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=name)
    statements = [
        {
            "Sid": f"S{i}",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{name}/{'x' * 200}/{i}",
        }
        for i in range(POLICY_SIZE_LIMIT // 300)
    ]
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    s3.put_bucket_policy(Bucket=name, Policy=document)
    code, out, err = cli(tls_endpoint, "harden", f"s3://{name}")
    assert code == 1
    assert err.startswith("not possible: the TLS statements would make the bucket policy")
    assert "applied: set default encryption to SSE-S3, blocking SSE-C" in out
    assert f"s3://{name}: partly hardened (3 of 3 planned changes made)" in out
    after = state(connection, name)
    assert "ServerSideEncryptionConfiguration" in after["encryption"]
    assert after["block"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert s3.get_bucket_policy(Bucket=name)["Policy"] == document  # untouched


def test_cli_kms_key_of_another_region_is_refused(
    tls_endpoint: Endpoint, connection: Connection, fresh: str
) -> None:
    other = connection.client("kms", region_name="us-west-2")
    arn = other.create_key(Description="other region")["KeyMetadata"]["Arn"]
    before = state(connection, fresh)
    code, out, err = cli(tls_endpoint, "harden", f"s3://{fresh}", "--kms-key-id", arn)
    assert (code, out) == (2, "")
    assert "needs a key in the bucket's region" in err and "\nhint: " in err
    assert state(connection, fresh) == before


def test_cli_notes_escape_the_policy_sids(
    tls_endpoint: Endpoint, connection: Connection, fresh: str
) -> None:
    """A statement's Sid is the server's text (any S3-compatible endpoint returns what it
    likes): the note that names it is escaped, never replayed on the terminal."""
    public = {
        "Sid": "A\x1b]0;owned\x07B",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{fresh}/*",
    }
    connection.client("s3").put_bucket_policy(
        Bucket=fresh, Policy=json.dumps({"Version": "2012-10-17", "Statement": [public]})
    )
    code, out, _ = cli(tls_endpoint, "harden", f"s3://{fresh}", "--sse", "s3", "--dry-run")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "note: bucket policy statement A\\x1b]0;owned\\x07B allows public access" in out
