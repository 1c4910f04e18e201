"""``securestore audit --org``: the organization-wide audit behind the options of cli/audit.py.

Kept apart from the single-account flow so each stays readable; the options
themselves are declared with the other audit options.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from securestore.audit import AuditOptions, Registry
from securestore.audit.collect import ClientFactory, ProgressCallback
from securestore.audit.compliance import Framework
from securestore.audit.model import Suppression
from securestore.audit.org import (
    DEFAULT_ROLE_NAME,
    DEFAULT_SESSION_NAME,
    OrgAudit,
    org_report,
    parse_account_list,
)
from securestore.audit.org_checkpoint import AccountRecord, Checkpoint, audit_fingerprint
from securestore.audit.runner import AuditReport, selected_checks
from securestore.errors import ConfigurationError, LocalFileError
from securestore.transport import Connection

__all__ = ["TOOL_VERSION", "org_audit_report"]

#: The version written into reports and checkpoints (AuditReport's default).
TOOL_VERSION = "0.1.0"


def org_audit_report(
    connection: ClientFactory,
    settings: dict[str, Any],
    *,
    registry: Registry,
    options: AuditOptions,
    framework: Framework | None,
    suppressions: Sequence[Suppression],
    max_workers: int,
    collection_options: dict[str, Any],
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Every account's buckets in one report (see :mod:`securestore.audit.org`).

    ``settings`` holds the ``--org`` options (``role_name``, ``external_id``,
    ``session_name``, ``accounts_source``, ``regions``, ``checkpoint_file``,
    ``jsonl_dir``, ``max_accounts_in_flight``); ``progress`` is called after
    each account as ``progress("account ID", done, total)``.
    """
    if not isinstance(connection, Connection):
        raise ConfigurationError("--org needs the CLI's own AWS connection")
    role = settings["role_name"] or DEFAULT_ROLE_NAME
    checks = selected_checks(registry, framework)
    checkpoint = None
    if settings["checkpoint_file"] is not None:
        checkpoint = Checkpoint.open(
            settings["checkpoint_file"],
            fingerprint=audit_fingerprint(
                options=options,
                check_ids=[c.id for c in checks],
                framework=framework.id if framework else None,
                role_name=role,
                regions=settings["regions"],
                tool_version=TOOL_VERSION,
            ),
            checks=checks,
        )
    auditor = OrgAudit(
        connection,
        registry=registry,
        options=options,
        framework=framework,
        role_name=role,
        external_id=settings["external_id"],
        session_name=settings["session_name"] or DEFAULT_SESSION_NAME,
        regions=settings["regions"],
        max_accounts_in_flight=settings["max_accounts_in_flight"] or 4,
        max_workers=max_workers,
        collector_options=collection_options,
        checkpoint=checkpoint,
        shard_dir=settings["jsonl_dir"],
    )
    source = settings["accounts_source"] or "from-org"
    if source == "from-org":
        accounts = auditor.list_accounts()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise LocalFileError(f"cannot read {source}: {exc.strerror or exc}") from exc
        accounts = parse_account_list(text, source=source)

    def finished(record: AccountRecord, done: int, total: int) -> None:
        if progress is not None:
            progress(f"account {record.account_id}", done, total)

    records = auditor.run(accounts, on_account=finished)
    return org_report(
        records,
        registry=registry,
        options=options,
        framework=framework,
        suppressions=suppressions,
        management_calls=auditor.management_calls,
        tool_version=TOOL_VERSION,
    )
