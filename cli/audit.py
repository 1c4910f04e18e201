"""``securestore audit`` and ``securestore harden``: the auditor on the command line.

``audit`` exit codes: 0 nothing at or above ``--fail-on`` failed; 1 findings; 4 the
audit itself could not run (raised library errors are mapped by the main group;
audit-level errors in the report exit 4 here). ``harden`` exits 0 when the bucket
is hardened (or would be, with ``--dry-run``), 1 when a step was not possible (the
other changes are still made); its errors are library errors. The changes harden
applied are always reported, on standard error under ``--quiet``, so a failure
after them never hides what was changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from securestore.audit import (
    AuditOptions,
    EncryptionRequirement,
    Registry,
    Severity,
    available_frameworks,
    exit_status,
    load_framework,
    load_suppressions,
    run_checks,
)
from securestore.audit.check import needed_collection
from securestore.audit.collect import ClientFactory, Collection, Collector, ProgressCallback
from securestore.audit.harden import AppliedChange, ApplyOutcome, apply, plan_bucket
from securestore.audit.lifecycle import DEFAULT_ABORT_DAYS
from securestore.audit.org import DEFAULT_ROLE_NAME, DEFAULT_SESSION_NAME
from securestore.audit.reports import FORMATS
from securestore.errors import ConfigurationError, SecureStoreError
from securestore.location import S3Url, validate_bucket_name

from .audit_org import org_audit_report
from .batchjobs import ObjectScanArgs, object_scan_options, submit_object_scan
from .errors import report as report_error
from .inventory import (
    InventoryArgs,
    harden_inventory_options,
    harden_inventory_step,
    inventory_options,
    run_inventory_audit,
)
from .reporting import write_report
from .text import printable

__all__ = ["COMMANDS", "audit_command", "harden_command"]

_SEVERITIES = ("low", "medium", "high", "critical")


def _client_factory(ctx: click.Context) -> ClientFactory:
    """The one place that knows how the CLI context provides clients.

    Assumes ``ctx.obj.connection`` with ``client(name, region_name=None)`` (the main
    group's ``CliContext``).
    """
    connection = getattr(ctx.obj, "connection", None)
    if connection is None:
        raise ConfigurationError(
            "no AWS connection configured for the audit",
            hint="run it as 'securestore audit' so the global options are applied",
        )
    factory: ClientFactory = connection
    return factory


def _progress_enabled(ctx: click.Context) -> bool:
    enabled = getattr(ctx.obj, "progress_enabled", None)
    return bool(enabled()) if callable(enabled) else False


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[ProgressCallback | None]:
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("auditing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}", markup=False),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task("", total=None)

        def update(bucket: str, done: int, total: int) -> None:
            # The name came from ListBuckets (any endpoint's answer): escaped, no markup.
            bar.update(task, completed=done, total=total, description=printable(bucket))

        yield update


@click.command("audit")
@click.argument("buckets", nargs=-1)
@click.option("--all-buckets", is_flag=True, help="Audit every bucket the credentials can list.")
@click.option("--region", help="Region for listing and account-level calls.")
@click.option(
    "--require",
    # The same names as put --sse and get --require (s3, kms, dsse-kms) and their sse- forms.
    type=click.Choice(["s3", "sse-s3", "kms", "sse-kms", "dsse-kms"], case_sensitive=False),
    default="sse-s3",
    show_default=True,
    help="Weakest default encryption accepted.",
)
@click.option(
    "--allowed-kms-key",
    "allowed_keys",
    multiple=True,
    metavar="KEY",
    help="A KMS key id, ARN or alias buckets may use (repeatable).",
)
@click.option(
    "--require-vpc-endpoint",
    is_flag=True,
    help="Fail buckets whose policy does not restrict access to VPC endpoints.",
)
@click.option(
    "--framework",
    type=click.Choice(available_frameworks()),
    help="Run the checks a compliance framework maps and group the report by it.",
)
@click.option(
    "--format", "fmt", type=click.Choice(list(FORMATS)), default="table", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "--fail-on",
    type=click.Choice(_SEVERITIES),
    default="low",
    show_default=True,
    help="Exit 1 when a check of this severity or higher fails.",
)
@click.option(
    "--sample-objects",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Inspect up to N objects per bucket, spread over its listing (S3.OBJ.n).",
)
@object_scan_options
@click.option(
    "--suppress",
    "suppress_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON or TOML file of accepted findings (listed in the report).",
)
@click.option(
    "--max-workers",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Buckets audited concurrently.",
)
@click.option("--show-all", is_flag=True, help="Table format: list passing results too.")
@inventory_options
# -- organization-wide audit (--org): keep these options together ---------------------------
@click.option(
    "--org",
    "org",
    is_flag=True,
    help="Audit every account of the AWS Organization through a read-only role in each.",
)
@click.option(
    "--role-name",
    metavar="NAME",
    help=f"--org: the role to assume in each account [default: {DEFAULT_ROLE_NAME}].",
)
@click.option("--external-id", metavar="ID", help="--org: the external id the role demands.")
@click.option(
    "--session-name",
    metavar="NAME",
    help=f"--org: the role session name [default: {DEFAULT_SESSION_NAME}].",
)
@click.option(
    "--accounts",
    "accounts_source",
    metavar="FILE|from-org",
    help="--org: account ids to audit, one per line, or from-org (ListAccounts) "
    "[default: from-org].",
)
@click.option(
    "--regions",
    "regions",
    multiple=True,
    metavar="R1,R2",
    help="--org: report only buckets in these regions (comma-separated, repeatable).",
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="--org: record finished accounts in FILE and skip them when run again.",
)
@click.option(
    "--jsonl-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="--org: write one JSON Lines shard per account to DIR as each finishes.",
)
@click.option(
    "--max-accounts-in-flight",
    type=click.IntRange(1, 32),
    help="--org: accounts audited concurrently (each with --max-workers buckets) [default: 4].",
)
@click.pass_context
def audit_command(
    ctx: click.Context,
    buckets: tuple[str, ...],
    all_buckets: bool,
    region: str | None,
    require: str,
    allowed_keys: tuple[str, ...],
    require_vpc_endpoint: bool,
    framework: str | None,
    fmt: str,
    output: Path | None,
    fail_on: str,
    sample_objects: int,
    objects: ObjectScanArgs,
    suppress_file: Path | None,
    max_workers: int,
    show_all: bool,
    inventory: InventoryArgs,
    org: bool,
    role_name: str | None,
    external_id: str | None,
    session_name: str | None,
    accounts_source: str | None,
    regions: tuple[str, ...],
    checkpoint_file: Path | None,
    jsonl_dir: Path | None,
    max_accounts_in_flight: int | None,
) -> None:
    """Audit S3 buckets' encryption, TLS, public access and data protection.

    With --inventory (or --metadata-table), audit every object an S3 Inventory
    report lists instead (see docs/audit-inventory.md). With --org, audit the
    buckets of every account of an AWS Organization, through a read-only role
    assumed in each (docs/roles/audit-role.yaml).
    """
    org_settings: dict[str, Any] = {
        "role_name": role_name,
        "external_id": external_id,
        "session_name": session_name,
        "accounts_source": accounts_source,
        "regions": tuple(r.strip() for item in regions for r in item.split(",") if r.strip()),
        "checkpoint_file": checkpoint_file,
        "jsonl_dir": jsonl_dir,
        "max_accounts_in_flight": max_accounts_in_flight,
    }
    given = [k for k, v in org_settings.items() if v]
    if objects.batch_given:
        if inventory.requested or org or all_buckets or sample_objects:
            raise click.UsageError("--objects-batch classifies the named BUCKETs only")
        for name in buckets:
            validate_bucket_name(name)
        ctx.exit(submit_object_scan(ctx.obj, buckets, objects, require=require))
    if (objects.object_budget is not None or objects.object_seconds) and not sample_objects:
        raise click.UsageError("--object-budget and --object-time-budget need --sample-objects")
    if inventory.requested:
        if buckets or all_buckets or org or given:
            raise click.UsageError("give BUCKETs, --all-buckets, --org or --inventory, not several")
        if framework or sample_objects or require_vpc_endpoint:
            # Options about bucket configuration would be silently ignored: refuse them.
            raise click.UsageError(
                "--framework, --sample-objects and --require-vpc-endpoint are for bucket "
                "audits, not --inventory"
            )
        run_inventory_audit(
            ctx,
            inventory,
            options=AuditOptions(
                require=EncryptionRequirement.parse(require),
                allowed_kms_keys=frozenset(allowed_keys),
            ),
            clients=lambda: _client_factory(ctx),
            fmt=fmt,
            output=output,
            fail_on=fail_on,
            suppress_file=suppress_file,
            show_all=show_all,
        )
        return
    if org and (buckets or all_buckets):
        raise click.UsageError("--org audits every account's buckets: name no BUCKET")
    if not org and given:
        option = "--" + given[0].replace("_source", "").replace("_file", "").replace("_", "-")
        raise click.UsageError(f"{option} needs --org")
    if not org and bool(buckets) == all_buckets:
        raise click.UsageError("name one or more BUCKETs or give --all-buckets, not both")
    for name in buckets:
        validate_bucket_name(name)
    options = AuditOptions(
        require=EncryptionRequirement.parse(require),
        allowed_kms_keys=frozenset(allowed_keys),
        require_vpc_endpoint=require_vpc_endpoint,
        sample_objects=sample_objects,
        object_budget=objects.object_budget,
        object_seconds=objects.object_seconds,
    )
    suppressions = load_suppressions(suppress_file) if suppress_file else ()
    chosen = load_framework(framework) if framework else None
    registry = Registry.default()
    needs = needed_collection(c for c in registry if chosen is None or c.id in chosen.check_ids)
    collection_options: dict[str, Any] = {
        "region": region,
        "trail_buckets": chosen is not None
        and any(r.applies_to == "cloudtrail-buckets" for r in chosen.requirements),
        "lifecycle": "lifecycle" in needs,
        "monitoring": "monitoring" in needs,
    }
    if org:
        with _progress(_progress_enabled(ctx)) as cb:
            report = org_audit_report(
                _client_factory(ctx),
                org_settings,
                registry=registry,
                options=options,
                framework=chosen,
                suppressions=suppressions,
                max_workers=max_workers,
                collection_options=collection_options,
                progress=cb,
            )
    else:
        with _progress(_progress_enabled(ctx)) as cb:
            collector = Collector(
                _client_factory(ctx),
                options=options,
                max_workers=max_workers,
                progress=cb,
                **collection_options,
            )
            try:
                collection = collector.collect(list(buckets) if buckets else None)
            except SecureStoreError as exc:
                if buckets:
                    raise
                # --all-buckets and even ListBuckets failed: still a report in the asked
                # format (CI reads it), with the error and exit 4, never an empty PASS.
                collection = Collection(snapshots=(), errors=(str(exc),))
        report = run_checks(
            collection.snapshots,
            registry=registry,
            options=options,
            suppressions=suppressions,
            framework=chosen,
            errors=collection.errors,
            account_api_calls=collection.account_api_calls,
        )
    write_report(report, fmt, output, show_all=show_all)
    if report.errors:
        # The report lists them; stderr gets the CLI's one error: line, like every command.
        more = f" (and {len(report.errors) - 1} more, listed in the report)"
        report_error(
            f"the audit could not run completely: {report.errors[0]}"
            + (more if len(report.errors) > 1 else ""),
            "check the endpoint, credentials, region and bucket names",
        )
    ctx.exit(exit_status(report, Severity(fail_on)))


@click.command("harden")
@click.argument("url", metavar="s3://BUCKET")
@click.option(
    "--sse",
    type=click.Choice(["s3", "kms"]),
    help="Default encryption to configure: SSE-S3, or SSE-KMS with a bucket key "
    "[default: kms with --kms-key-id, else s3].",
)
@click.option(
    "--kms-key-id",
    metavar="KEY",
    help="Customer managed KMS key (id, ARN or alias) of the bucket's default SSE-KMS "
    "encryption (--sse kms); its rotation is enabled.",
)
@click.option(
    "--abort-multipart-days",
    type=click.IntRange(min=1),
    default=DEFAULT_ABORT_DAYS,
    show_default=True,
    help="Days after which the added lifecycle rule aborts incomplete multipart uploads.",
)
@click.option("--dry-run", is_flag=True, help="Print the changes without making them.")
@harden_inventory_options
@click.pass_context
def harden_command(
    ctx: click.Context,
    url: str,
    sse: str | None,
    kms_key_id: str | None,
    abort_multipart_days: int,
    dry_run: bool,
    inventory_destination: str | None,
    inventory_kms_key: str | None,
) -> None:
    """Fix a bucket's encryption, TLS-only policy and public access block.

    Prints the changes as diffs, then applies them (unless --dry-run): default
    encryption (SSE-KMS with the S3 Bucket Key, or SSE-S3), rotation of the KMS
    key, a TLS-only Deny merged into the bucket policy (no statement is removed),
    all four bucket public access block settings, SSE-C blocked in the default
    encryption, and a lifecycle rule aborting incomplete multipart uploads (merged
    into the existing rules). Running it again changes nothing. The account-level
    public access block is left alone. With --inventory, it also configures a daily
    Parquet S3 Inventory with the encryption fields to a central bucket.
    """
    location = S3Url.parse(url)
    if location.key:
        raise ConfigurationError(f"harden takes a bucket, not an object: {url}")
    mode = sse or ("kms" if kms_key_id else "s3")
    factory = _client_factory(ctx)
    quiet = bool(getattr(ctx.obj, "quiet", False))
    region = getattr(ctx.obj, "region", None)
    if inventory_destination:
        harden_inventory_step(
            factory,
            location.bucket,
            inventory_destination,
            kms_key_arn=inventory_kms_key,
            region=region,
            dry_run=dry_run,
            quiet=quiet,
        )
    planned = plan_bucket(
        factory,
        location.bucket,
        sse="kms" if mode == "kms" else "s3",
        kms_key_id=kms_key_id,
        region=region,
        abort_multipart_days=abort_multipart_days,
    )
    show = dry_run or not quiet
    # Notes, summaries and diffs quote the server's configuration (policy Sids, key
    # ARNs, error texts): escaped line by line (cli/text.py).
    for note in planned.notes if show else ():
        click.echo(printable(f"note: {note}"))
    for reason in planned.not_possible:
        click.echo(printable(f"not possible: {reason}"), err=True)
    if planned.empty:
        if show and planned.complete:
            click.echo(f"{location}: already hardened, nothing to change")
        ctx.exit(0 if planned.complete else 1)
    if show:
        count = len(planned.changes)
        click.echo(f"{location}: {count} change{'s' if count != 1 else ''}")
        for change in planned.changes:
            click.echo(printable(f"# {change.summary}"))
            for line in change.diff().splitlines():
                click.echo(printable(line))
    if dry_run:
        click.echo("dry run: nothing was changed")
        ctx.exit(0 if planned.complete else 1)

    def done(applied: AppliedChange) -> None:
        # Always said, even under -q: a later failure must not hide what changed.
        label = "applied" if applied.outcome is ApplyOutcome.APPLIED else applied.outcome
        click.echo(printable(f"{label}: {applied.message}"), err=quiet)

    results = apply(planned, factory, on_applied=done)
    made = sum(1 for r in results if r.outcome is not ApplyOutcome.ALREADY_DONE)
    if not quiet:
        partly = "" if planned.complete else "partly "
        click.echo(f"{location}: {partly}hardened ({made} of {len(results)} planned changes made)")
        click.echo(_OUT_OF_REACH)
    ctx.exit(0 if planned.complete else 1)


#: What harden never changes, so that a re-audit's remaining findings are no surprise.
_OUT_OF_REACH = (
    "note: harden changes this bucket only; account-level findings stay (S3.PUBLIC.2, the "
    "account's public access block: aws s3control put-public-access-block), and so do "
    "objects already stored (reencrypt, rewrap, migrate)"
)


#: The commands this module adds to ``securestore``.
COMMANDS = (audit_command, harden_command)
