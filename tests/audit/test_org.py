"""``securestore audit --org`` end to end on the embedded endpoint, plus its pure parts.

The organization lives on an endpoint of its own (a fresh moto in a child
process): the management account, three member accounts with the audit role
(deployed from docs/roles/audit-role.yaml through CloudFormation in each
account), and one member account without it. Buckets are created with each
account's own assumed-role credentials, so they belong to that account.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from securestore_cli.audit import audit_command

from securestore import Connection
from securestore.audit import AuditOptions, EncryptionRequirement, Registry
from securestore.audit.org import (
    Account,
    OrgAudit,
    RateLimitedClients,
    TokenBucket,
    active_accounts,
    org_report,
    parse_account_list,
    role_arn,
)
from securestore.audit.org_checkpoint import AccountRecord, Checkpoint, audit_fingerprint
from securestore.audit.reports import renderer_for
from securestore.audit.runner import EXIT_AUDIT_FAILED, evaluate, exit_status, selected_checks
from securestore.errors import ConfigurationError
from tests.support.endpoints import endpoint_process

from ..conftest import ROOT, Endpoint
from .builders import compliant

EXTERNAL_ID = "securestore-test-external-id"
TEMPLATE = ROOT / "docs" / "roles" / "audit-role.yaml"
MANAGEMENT = "123456789012"


@pytest.fixture(scope="module")
def org_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """A fresh embedded endpoint (its own moto state) in a child process."""
    state = tmp_path_factory.mktemp("org-endpoint-state")
    with endpoint_process("tests.support.endpoint_server", state) as (_, env):
        yield Endpoint(env["AWS_ENDPOINT_URL"], env["AWS_CA_BUNDLE"], env)


def as_account(management: Connection, account_id: str, role: str) -> Connection:
    """A connection signed by ``role`` assumed in ``account_id``."""
    creds = management.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role}",
        RoleSessionName="test-setup",
        ExternalId=EXTERNAL_ID,
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    return management.with_session(session)


def deploy_audit_role(connection: Connection, *, object_sample: bool = False) -> None:
    """Deploy the shipped template in the account of ``connection`` (moto CloudFormation)."""
    connection.client("cloudformation").create_stack(
        StackName="securestore-audit-role",
        TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
        Parameters=[
            {"ParameterKey": "TrustedAccountId", "ParameterValue": MANAGEMENT},
            {"ParameterKey": "ExternalId", "ParameterValue": EXTERNAL_ID},
            {"ParameterKey": "ObjectSample", "ParameterValue": str(object_sample).lower()},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )


@dataclass(frozen=True)
class Organization:
    """The test organization: who has the role, who does not, and whose buckets are whose."""

    management: Connection
    audited: tuple[str, ...]  # accounts with the role (management included)
    no_role: str
    buckets: dict[str, str]  # bucket -> owning account

    @property
    def all_accounts(self) -> tuple[str, ...]:
        return tuple(sorted((*self.audited, self.no_role)))


@pytest.fixture(scope="module")
def organization(org_endpoint: Endpoint) -> Organization:
    management = org_endpoint.connection()
    org = management.client("organizations")
    org.create_organization(FeatureSet="ALL")
    members = [
        org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"][
            "AccountId"
        ]
        for name in ("alpha", "beta", "gamma", "no-role")
    ]
    deploy_audit_role(management)
    buckets = {f"mgmt-{MANAGEMENT}": MANAGEMENT}
    management.client("s3").create_bucket(Bucket=f"mgmt-{MANAGEMENT}")
    for index, account in enumerate(members):
        admin = as_account(management, account, "OrganizationAccountAccessRole")
        if index < 3:
            deploy_audit_role(admin)
        s3 = admin.client("s3")
        for n in range(2):
            name = f"org-{account}-{n}"
            s3.create_bucket(Bucket=name)
            buckets[name] = account
        if index == 0:
            key = admin.client("kms").create_key(Description="alpha")["KeyMetadata"]["Arn"]
            s3.put_bucket_encryption(
                Bucket=f"org-{account}-0",
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": key,
                            },
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
            )
    return Organization(management, (MANAGEMENT, *members[:3]), members[3], buckets)


class AssumeRoleCounter:
    """Counts the AssumeRole calls a connection's STS client sends."""

    def __init__(self, connection: Connection) -> None:
        self.calls: list[str] = []
        connection.client("sts").meta.events.register(
            "before-parameter-build.sts.AssumeRole", self._seen, unique_id=f"count-{id(self)}"
        )
        self._connection = connection

    def _seen(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(str(params.get("RoleArn", "")))

    def close(self) -> None:
        self._connection.client("sts").meta.events.unregister(
            "before-parameter-build.sts.AssumeRole", unique_id=f"count-{id(self)}"
        )


def invoke(connection: Connection, *args: str) -> tuple[int, str]:
    obj = SimpleNamespace(connection=connection, progress_enabled=lambda: False)
    result = CliRunner().invoke(audit_command, list(args), obj=obj, catch_exceptions=False)
    # A report is parsed from stdout alone: stderr carries the error: line of an audit
    # that could not run. Without a report (a usage error), the error text is returned.
    return result.exit_code, result.stdout or result.output


def fresh(endpoint: Endpoint) -> Connection:
    """A new management connection (its own clients, so hooks do not leak between tests)."""
    return endpoint.connection()


# -- end to end ------------------------------------------------------------------------------


def test_org_audit_reports_every_account_and_an_unassumable_one_as_error(
    org_endpoint: Endpoint, organization: Organization
) -> None:
    code, out = invoke(
        fresh(org_endpoint), "--org", "--external-id", EXTERNAL_ID, "--format", "json"
    )
    assert code == EXIT_AUDIT_FAILED
    doc = json.loads(out)
    accounts = {a["account_id"]: a for a in doc["accounts"]}
    assert set(accounts) == set(organization.all_accounts)
    failed = accounts.pop(organization.no_role)
    assert failed["status"] == "error" and "AssumeRole" in failed["error"]
    assert all(
        a["status"] == "audited" and a["buckets"] == (1 if i == MANAGEMENT else 2)
        for i, a in accounts.items()
    )
    assert any(organization.no_role in e and "AccessDenied" in e for e in doc["errors"])
    # Every other account's buckets are reported, each result under its owner.
    expected = {b for b, a in organization.buckets.items() if a != organization.no_role}
    assert {r["bucket"] for r in doc["results"]} == expected
    assert all(r["account"] == organization.buckets[r["bucket"]] for r in doc["results"])
    # The KMS key of alpha's bucket was described in alpha's account, by alpha's role.
    alpha_key = next(
        r
        for r in doc["results"]
        if r["check_id"] == "S3.ENC.3" and r["bucket"].endswith("-0") and r["status"] == "PASS"
    )
    assert alpha_key["account"] in alpha_key["message"]


def test_wrong_external_id_makes_every_account_an_error(
    org_endpoint: Endpoint, organization: Organization
) -> None:
    code, out = invoke(
        fresh(org_endpoint), "--org", "--external-id", "not-the-id", "--format", "json"
    )
    assert code == EXIT_AUDIT_FAILED
    doc = json.loads(out)
    assert {a["status"] for a in doc["accounts"]} == {"error"}
    assert doc["results"] == []


def test_every_report_format_names_the_account(
    org_endpoint: Endpoint, organization: Organization
) -> None:
    registry = Registry.builtin()
    auditor = OrgAudit(fresh(org_endpoint), registry=registry, external_id=EXTERNAL_ID)
    report = org_report(auditor.run(auditor.list_accounts()), registry=registry)
    assert exit_status(report) == EXIT_AUDIT_FAILED
    alpha = organization.audited[1]
    bucket = f"org-{alpha}-1"

    table = renderer_for("table").render(report)
    assert "Accounts" in table and organization.no_role in table and alpha in table
    markdown = renderer_for("markdown").render(report)
    assert "### Accounts" in markdown and f"| `{alpha}` |" in markdown
    csv_rows = renderer_for("csv").render(report).splitlines()
    assert csv_rows[0].endswith(",account")
    assert any(row.startswith(bucket) and row.endswith(f",{alpha}") for row in csv_rows)
    sarif = json.loads(renderer_for("sarif").render(report))
    assert {r["properties"]["account"] for r in sarif["runs"][0]["results"]} >= {alpha}
    ocsf = json.loads(renderer_for("ocsf").render(report))
    assert any(f.get("cloud", {}).get("account", {}).get("uid") == alpha for f in ocsf)
    junit = ET.fromstring(renderer_for("junit").render(report))  # noqa: S314 - our own report
    names = {s.get("name") for s in junit.iter("testsuite")}
    assert f"{alpha}/{bucket}" in names and f"account {organization.no_role}" in names


def test_interrupted_run_resumes_without_redoing_finished_accounts(
    org_endpoint: Endpoint, organization: Organization, tmp_path: Path
) -> None:
    registry = Registry.builtin()
    checks = selected_checks(registry, None)
    fingerprint = audit_fingerprint(
        options=AuditOptions(),
        check_ids=[c.id for c in checks],
        framework=None,
        role_name="SecureStoreAudit",
        regions=(),
        tool_version="0.1.0",
    )
    path = tmp_path / "org.checkpoint.json"
    accounts = [Account(a) for a in organization.all_accounts]

    def auditor(connection: Connection) -> OrgAudit:
        return OrgAudit(
            connection,
            registry=registry,
            external_id=EXTERNAL_ID,
            max_accounts_in_flight=1,
            checkpoint=Checkpoint.open(path, fingerprint=fingerprint, checks=checks),
            shard_dir=tmp_path / "shards",
        )

    def interrupt(record: AccountRecord, done: int, total: int) -> None:
        if record.error is None:
            raise KeyboardInterrupt  # as Ctrl-C after the first finished account

    with pytest.raises(KeyboardInterrupt):
        auditor(fresh(org_endpoint)).run(accounts, on_account=interrupt)
    saved = json.loads(path.read_text())
    assert len(saved["accounts"]) == 1
    (finished,) = saved["accounts"]

    resumed_connection = fresh(org_endpoint)
    counter = AssumeRoleCounter(resumed_connection)
    resumed = auditor(resumed_connection).run(accounts)
    assert len(counter.calls) == len(accounts) - 1
    assert not any(f"::{finished}:" in arn for arn in counter.calls)
    assert len(json.loads(path.read_text())["accounts"]) == len(organization.audited)

    # The resumed report equals an uninterrupted one (apart from the call counts).
    straight = OrgAudit(fresh(org_endpoint), registry=registry, external_id=EXTERNAL_ID)
    documents = [
        json.loads(renderer_for("json").render(org_report(records, registry=registry)))
        for records in (resumed, straight.run(accounts))
    ]
    for doc in documents:
        doc.pop("generated_at")
        doc.pop("api_calls")
        doc["summary"].pop("api_calls")
    assert documents[0] == documents[1]

    # A run after everything finished assumes only the role that keeps failing.
    again = fresh(org_endpoint)
    counter = AssumeRoleCounter(again)
    auditor(again).run(accounts)
    assert counter.calls == [f"arn:aws:iam::{organization.no_role}:role/SecureStoreAudit"]


def test_cli_checkpoint_and_jsonl_shards(
    org_endpoint: Endpoint, organization: Organization, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "cp.json"
    shards = tmp_path / "shards"
    args = ["--org", "--external-id", EXTERNAL_ID, "--checkpoint", str(checkpoint)]
    code, first = invoke(fresh(org_endpoint), *args, "--jsonl-dir", str(shards), "--format", "json")
    assert code == EXIT_AUDIT_FAILED
    assert sorted(p.stem for p in shards.glob("*.jsonl")) == list(organization.all_accounts)
    lines = [
        json.loads(x) for x in (shards / f"{organization.no_role}.jsonl").read_text().splitlines()
    ]
    assert lines == [
        {
            "type": "account",
            "account": organization.no_role,
            "name": "no-role",
            "status": "error",
            "error": lines[0]["error"],
            "errors": [],
            "buckets": [],
        }
    ]
    alpha = organization.audited[1]
    alpha_lines = [json.loads(x) for x in (shards / f"{alpha}.jsonl").read_text().splitlines()]
    assert alpha_lines[0]["status"] == "audited"
    assert {r["account"] for r in alpha_lines[1:]} == {alpha} and len(alpha_lines) > 1

    connection = fresh(org_endpoint)
    counter = AssumeRoleCounter(connection)
    code, second = invoke(connection, *args, "--format", "json")
    assert code == EXIT_AUDIT_FAILED
    assert len(counter.calls) == 1  # only the account that could not be assumed
    assert json.loads(second)["results"] == json.loads(first)["results"]

    # The same checkpoint under other options is refused, not mixed in.
    with pytest.raises(ConfigurationError, match="other options"):
        invoke(fresh(org_endpoint), *args, "--require", "kms")


def test_accounts_file_and_regions(
    org_endpoint: Endpoint, organization: Organization, tmp_path: Path
) -> None:
    alpha, beta = organization.audited[1:3]
    listed = tmp_path / "accounts.txt"
    listed.write_text(f"# two of them\n{alpha} alpha\n\n{beta}\n")
    eu = as_account(organization.management, beta, "OrganizationAccountAccessRole").client(
        "s3", region_name="eu-west-1"
    )
    eu.create_bucket(
        Bucket=f"eu-{beta}", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    try:
        code, out = invoke(
            fresh(org_endpoint),
            "--org",
            "--external-id",
            EXTERNAL_ID,
            "--accounts",
            str(listed),
            "--regions",
            "eu-west-1",
            "--format",
            "json",
        )
    finally:
        eu.delete_bucket(Bucket=f"eu-{beta}")
    doc = json.loads(out)
    assert [a["account_id"] for a in doc["accounts"]] == sorted([alpha, beta])
    assert {r["bucket"] for r in doc["results"]} == {f"eu-{beta}"}
    assert code == 1  # findings, no audit error


def test_org_options_need_org(org_endpoint: Endpoint) -> None:
    connection = fresh(org_endpoint)
    code, out = invoke(connection, "some-bucket", "--role-name", "X")
    assert code == 2 and "--role-name needs --org" in out
    code, out = invoke(connection, "--all-buckets", "--checkpoint", "cp.json")
    assert code == 2 and "--checkpoint needs --org" in out
    code, out = invoke(connection, "--org", "some-bucket")
    assert code == 2


# -- pure parts ------------------------------------------------------------------------------


def test_account_list_parsing() -> None:
    accounts = parse_account_list("111122223333 prod\n# comment\n\n444455556666\n111122223333\n")
    assert accounts == (Account("111122223333", "prod"), Account("444455556666"))
    with pytest.raises(ConfigurationError, match="line 2"):
        parse_account_list("111122223333\n12345\n")
    with pytest.raises(ConfigurationError, match="no account"):
        parse_account_list("# nothing\n")


def test_only_active_accounts_from_every_page() -> None:
    pages = [
        {"Accounts": [{"Id": "222222222222", "Name": "b", "Status": "ACTIVE"}]},
        {
            "Accounts": [
                {"Id": "111111111111", "Name": "a", "State": "ACTIVE"},
                {"Id": "333333333333", "Name": "c", "Status": "SUSPENDED"},
                {"Id": "444444444444", "Name": "d", "State": "PENDING_CLOSURE"},
            ]
        },
    ]
    assert active_accounts(pages) == (Account("111111111111", "a"), Account("222222222222", "b"))


def test_role_arn_validates_its_parts() -> None:
    assert role_arn("111122223333", "Audit") == "arn:aws:iam::111122223333:role/Audit"
    with pytest.raises(ConfigurationError):
        role_arn("11112222333", "Audit")
    with pytest.raises(ConfigurationError):
        role_arn("111122223333", "path/Audit")


def test_token_bucket_spaces_requests_beyond_the_burst() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2.0, burst=2, clock=lambda: now[0], sleep=sleep)
    assert [bucket.acquire() for _ in range(4)] == [0.0, 0.0, 0.5, 0.5]
    now[0] += 10  # idle: the bucket refills to its burst, not beyond
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.5]
    assert waits == [0.5, 0.5, 0.5]


def test_checkpoint_round_trips_results_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    registry = Registry.builtin()
    checks = selected_checks(registry, None)
    results = evaluate([compliant()], registry=registry)
    path = tmp_path / "cp.json"
    Checkpoint.open(path, fingerprint="f1", checks=checks).record(
        AccountRecord("111122223333", "x", buckets=("example-bucket",), results=results)
    )
    loaded = Checkpoint.open(path, fingerprint="f1", checks=checks).finished("111122223333")
    assert loaded is not None and loaded.results == results
    with pytest.raises(ConfigurationError, match="other options"):
        Checkpoint.open(path, fingerprint="f2", checks=checks)
    path.write_text("[]")
    with pytest.raises(ConfigurationError, match="not a securestore"):
        Checkpoint.open(path, fingerprint="f1", checks=checks)


def test_fingerprint_follows_the_options() -> None:
    base = {
        "check_ids": ["S3.ENC.1"],
        "framework": None,
        "role_name": "R",
        "regions": (),
        "tool_version": "0.1.0",
    }
    one = audit_fingerprint(options=AuditOptions(), **base)  # type: ignore[arg-type]
    kms = AuditOptions(require=EncryptionRequirement.parse("kms"))
    assert one == audit_fingerprint(options=AuditOptions(), **base)  # type: ignore[arg-type]
    assert one != audit_fingerprint(options=kms, **base)  # type: ignore[arg-type]


def test_rate_limited_clients_take_a_token_per_request(
    org_endpoint: Endpoint, organization: Organization
) -> None:
    taken: list[float] = []

    class Counting(TokenBucket):
        def acquire(self) -> float:
            taken.append(super().acquire())
            return taken[-1]

    clients = RateLimitedClients(fresh(org_endpoint), {"s3": Counting(1000.0)})
    s3 = clients.client("s3")
    assert clients.client("s3") is s3  # cached: limited once, not twice
    s3.list_buckets()
    s3.head_bucket(Bucket=f"mgmt-{MANAGEMENT}")
    clients.client("sts").get_caller_identity()  # no limit for sts here
    assert len(taken) == 2


def test_assumed_role_connection_keeps_tls_settings_and_retries_adaptively(
    org_endpoint: Endpoint, organization: Organization
) -> None:
    management = fresh(org_endpoint)
    derived = management.with_session(boto3.Session(region_name="eu-west-1"), retry_mode="adaptive")
    assert (derived.endpoint_url, derived.ca_bundle, derived.region) == (
        management.endpoint_url,
        management.ca_bundle,
        management.region,
    )
    assert derived.client("s3").meta.config.retries["mode"] == "adaptive"
    assert management.client("s3").meta.config.retries["mode"] == "standard"


def _interrupt_after_first_account(
    org_endpoint: Endpoint, args: list[str], checkpoint: Path, signal_name: str
) -> tuple[int, bool]:
    """Run the org audit, signal it once the checkpoint exists: (exit code, ended first).

    "Ended first": the child finished every account before the signal reached it
    (it exited already, or it wrote its report and the incomplete-audit error, not
    the "interrupted" line). The accounts with errors are never checkpointed, so
    the checkpoint alone cannot tell a finished run from an interrupted one.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "securestore_cli", "audit", *args, "--max-accounts-in-flight", "1"],
        cwd=ROOT,
        env={**os.environ, **org_endpoint.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        ended_first = proc.poll() is not None
        if not ended_first:
            proc.send_signal(getattr(signal, signal_name))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if signal_name == "SIGINT" and proc.returncode == EXIT_AUDIT_FAILED:
        ended_first = ended_first or b"interrupted" not in err
    return proc.returncode, ended_first


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_killed_cli_run_resumes_from_its_checkpoint(
    org_endpoint: Endpoint, organization: Organization, tmp_path: Path, signal_name: str
) -> None:
    checkpoint = tmp_path / "cp.json"
    args = ["--org", "--external-id", EXTERNAL_ID, "--checkpoint", str(checkpoint)]
    # The signal must land between the first account and the last: on a loaded
    # machine the child may finish them all before this process runs again, so a
    # run that was over before the signal is tried again (it proves nothing).
    for _attempt in range(8):
        checkpoint.unlink(missing_ok=True)
        code, ended_first = _interrupt_after_first_account(
            org_endpoint, args, checkpoint, signal_name
        )
        if not ended_first:
            break
    else:
        pytest.skip("the child audited every account before each signal reached it")
    assert code == (130 if signal_name == "SIGINT" else -signal.SIGKILL)
    recorded = json.loads(checkpoint.read_text())["accounts"]
    assert 1 <= len(recorded) < len(organization.audited)  # interrupted mid-way

    connection = fresh(org_endpoint)
    counter = AssumeRoleCounter(connection)
    code, out = invoke(connection, *args, "--format", "json")
    assert code == EXIT_AUDIT_FAILED
    assert len(counter.calls) == len(organization.all_accounts) - len(recorded)
    assert not any(f"::{account}:" in arn for account in recorded for arn in counter.calls)
    doc = json.loads(out)
    assert {r["bucket"] for r in doc["results"]} == {
        b for b, a in organization.buckets.items() if a != organization.no_role
    }
