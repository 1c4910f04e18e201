"""``securestore audit --inventory``/``--metadata-table``: every object's encryption from
S3 Inventory reports and S3 Metadata live inventory tables.

The options are added to ``audit`` by :func:`inventory_options` (one decorator
there) and handled by :func:`run_inventory_audit`; ``--require``,
``--allowed-kms-key``, ``--format``, ``--output``, ``--fail-on`` and
``--suppress`` mean what they mean for bucket audits. Exit codes as for bucket
audits: 1 when objects fall short, 4 when the inventory cannot be read (the
report is still rendered, with the reason as an audit error), 2 when DuckDB is
not installed (with the command that installs it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from securestore.audit import AuditOptions, Severity, exit_status, load_suppressions
from securestore.audit.harden_inventory import (
    INVENTORY_ID,
    apply_inventory,
    destination_policy_statement,
    plan_inventory,
)
from securestore.audit.inventory import audit_inventory, audit_metadata_table
from securestore.audit.inventory_athena import athena_script
from securestore.audit.inventory_fetch import read_manifest
from securestore.audit.inventory_report import InventoryCounts, build_report
from securestore.audit.metadata_table import DEFAULT_NAMESPACE, DEFAULT_TABLE, is_table_bucket_arn
from securestore.audit.runner import AuditReport
from securestore.audit.suppress import apply_suppressions
from securestore.errors import StorageError

from .options import grouped_options
from .reporting import write_report, write_text

__all__ = [
    "InventoryArgs",
    "harden_inventory_options",
    "harden_inventory_step",
    "inventory_options",
    "run_inventory_audit",
]


@dataclass(frozen=True)
class InventoryArgs:
    """The inventory options of one ``audit`` invocation."""

    manifests: tuple[str, ...] = ()
    metadata_tables: tuple[str, ...] = ()
    namespace: str = DEFAULT_NAMESPACE
    table: str = DEFAULT_TABLE
    depth: int = 1
    top: int = 20
    athena: bool = False

    @property
    def requested(self) -> bool:
        """True when the audit is an inventory audit."""
        return bool(self.manifests or self.metadata_tables)


#: Adds the inventory options; the command receives them as ``inventory=InventoryArgs``.
inventory_options = grouped_options(
    "inventory",
    InventoryArgs,
    {
        "inv_manifests": "manifests",
        "inv_metadata": "metadata_tables",
        "inv_namespace": "namespace",
        "inv_table": "table",
        "inv_depth": "depth",
        "inv_top": "top",
        "inv_athena": "athena",
    },
    [
        click.option(
            "--inventory",
            "inv_manifests",
            multiple=True,
            metavar="MANIFEST",
            help="Audit every object an S3 Inventory report lists: its manifest.json, "
            "s3://BUCKET/.../manifest.json or a local path (repeatable).",
        ),
        click.option(
            "--metadata-table",
            "inv_metadata",
            multiple=True,
            metavar="ARN|METADATA|PATH",
            help="Audit every object an S3 Metadata live inventory table lists: a table "
            "bucket ARN (arn:aws:s3tables:...:bucket/NAME), the Iceberg table's "
            "*.metadata.json (s3:// or local), or a Parquet export (file or folder); "
            "it carries KMS key ARNs for --allowed-kms-key (repeatable).",
        ),
        click.option(
            "--metadata-namespace",
            "inv_namespace",
            default=DEFAULT_NAMESPACE,
            show_default=True,
            help="With a table bucket ARN: the namespace of the live inventory table.",
        ),
        click.option(
            "--metadata-table-name",
            "inv_table",
            default=DEFAULT_TABLE,
            show_default=True,
            help="With a table bucket ARN: the name of the live inventory table.",
        ),
        click.option(
            "--prefix-depth",
            "inv_depth",
            type=click.IntRange(0, 16),
            default=1,
            show_default=True,
            help="Inventory audits: key path components that make a prefix (0: per bucket).",
        ),
        click.option(
            "--top",
            "inv_top",
            type=click.IntRange(1, 10_000),
            default=20,
            show_default=True,
            help="Inventory audits: largest offending objects listed per prefix.",
        ),
        click.option(
            "--athena",
            "inv_athena",
            is_flag=True,
            help="Inventory audits: print the Athena DDL and queries computing the same "
            "report, instead of running it.",
        ),
    ],
)


def run_inventory_audit(
    ctx: click.Context,
    args: InventoryArgs,
    *,
    options: AuditOptions,
    clients: Callable[[], Any],
    fmt: str,
    output: Path | None,
    fail_on: str,
    suppress_file: Path | None,
    show_all: bool,
) -> None:
    """Run (or, with ``--athena``, print) the inventory audit and exit with its code."""
    needs_s3 = any(m.startswith("s3://") for m in args.manifests) or any(
        t.startswith("s3://") or is_table_bucket_arn(t) for t in args.metadata_tables
    )
    factory = clients() if needs_s3 else None
    if args.athena:
        if not args.manifests:
            raise click.UsageError("--athena needs --inventory MANIFEST")
        manifests = [read_manifest(m, clients=factory) for m in args.manifests]
        write_text(
            athena_script(manifests, require=options.require, depth=args.depth, top=args.top),
            output,
        )
        ctx.exit(0)
    report: AuditReport
    try:
        if args.manifests and args.metadata_tables:
            raise click.UsageError("give --inventory or --metadata-table, not both")
        if args.manifests:
            report = audit_inventory(
                args.manifests, clients=factory, options=options, depth=args.depth, top=args.top
            )
        else:
            report = audit_metadata_table(
                args.metadata_tables,
                clients=factory,
                namespace=args.namespace,
                table=args.table,
                options=options,
                depth=args.depth,
                top=args.top,
            )
    except StorageError as exc:  # the inventory could not be read: exit 4, with a report
        detail = f"{exc} (hint: {exc.hint})" if exc.hint else str(exc)
        report = build_report(InventoryCounts(groups=()), options=options, errors=(detail,))
    if suppress_file is not None:
        results, states = apply_suppressions(
            report.results, load_suppressions(suppress_file), today=report.generated_at.date()
        )
        report = AuditReport(
            results=results,
            checks=report.checks,
            buckets=report.buckets,
            generated_at=report.generated_at,
            options=report.options,
            suppressions=states,
            errors=report.errors,
            api_calls=report.api_calls,
        )
    write_report(report, fmt, output, show_all=show_all)
    ctx.exit(exit_status(report, Severity(fail_on)))


def harden_inventory_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--inventory`` and ``--inventory-kms-key`` to ``harden``."""
    command = click.option(
        "--inventory-kms-key",
        metavar="KEY_ARN",
        help="Encrypt the delivered inventory with SSE-KMS under this key (default SSE-S3).",
    )(command)
    return click.option(
        "--inventory",
        "inventory_destination",
        metavar="s3://CENTRAL[/PREFIX]",
        help="Also configure a daily Parquet S3 Inventory with the encryption fields, "
        "delivered to this bucket (for 'audit --inventory').",
    )(command)


def harden_inventory_step(
    factory: Any,
    bucket: str,
    destination: str,
    *,
    kms_key_arn: str | None,
    region: str | None,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Plan (and unless ``dry_run`` apply) the inventory configuration, saying what it does."""
    change = plan_inventory(factory, bucket, destination, region=region, kms_key_arn=kms_key_arn)
    show = dry_run or not quiet
    from securestore.audit.iam.document import partition_for_region

    statement = destination_policy_statement(
        destination,
        source_bucket=bucket,
        source_account=None,
        partition=partition_for_region(region or factory.region),
    )
    if change is None:
        if show:
            click.echo(f"s3://{bucket}: inventory {INVENTORY_ID} already configured")
        return
    if show:
        click.echo(f"# {change.summary}")
        click.echo(change.diff(), nl=False)
        click.echo(
            "note: the destination bucket's policy must let S3 deliver there; it needs: "
            + json.dumps(statement, sort_keys=True)
        )
    if dry_run:
        return
    apply_inventory(factory, change, region=region)
    click.echo(f"applied: {change.summary}", err=quiet)
