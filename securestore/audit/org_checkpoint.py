"""The checkpoint and the JSON Lines shards of an organization-wide audit.

A checkpoint is one JSON document, rewritten atomically (a temporary file in the
same folder, flushed to disk, then renamed over the old one) after each account
that finished::

    {"format": "securestore-org-checkpoint", "version": 1,
     "fingerprint": "<sha256 of what decides the results>",
     "accounts": {"111122223333": {<AccountRecord>}, ...}}

Only accounts that were audited are recorded: an account whose role could not be
assumed is tried again by the next run. The fingerprint covers the options,
framework, checks, role and regions; a checkpoint written by a different audit is
refused rather than mixed in. Results are stored before suppressions, which are
applied once to the whole organization when the report is assembled.

A shard (``DIR/ACCOUNT.jsonl``, written atomically as each account finishes)
holds one ``{"type": "account", ...}`` line, then one ``{"type": "result", ...}``
line per result (the JSON report's result record plus ``account``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securestore.audit.model import CheckMeta, Result, Severity, Status
from securestore.audit.options import AuditOptions
from securestore.errors import ConfigurationError, LocalFileError

__all__ = [
    "AccountRecord",
    "Checkpoint",
    "audit_fingerprint",
    "result_from_record",
    "result_to_record",
    "write_shard",
]

_FORMAT = "securestore-org-checkpoint"
_VERSION = 1


@dataclass(frozen=True)
class AccountRecord:
    """One account's part of an organization-wide audit (results before suppressions).

    ``error`` is set when the account could not be audited at all; ``errors``
    are the audit-level errors of its collection (an unreachable bucket...).
    """

    account_id: str
    name: str = ""
    buckets: tuple[str, ...] = ()
    results: tuple[Result, ...] = ()
    errors: tuple[str, ...] = ()
    api_calls: Mapping[str, int] = field(default_factory=dict)
    account_api_calls: int = 0
    error: str | None = None


def result_to_record(result: Result) -> dict[str, Any]:
    """A result (not suppressed) as a JSON object."""
    record: dict[str, Any] = {
        "check_id": result.check_id,
        "bucket": result.bucket,
        "account": result.account,
        "status": result.status.value,
        "message": result.message,
        "details": dict(result.details),
        "region": result.region,
        "arn": result.arn,
    }
    if result.severity_override is not None:
        record["severity"] = result.severity_override.value
    return record


def result_from_record(record: Mapping[str, Any], checks: Mapping[str, CheckMeta]) -> Result:
    """The result a :func:`result_to_record` object stands for.

    Raises:
        ConfigurationError: the record names a check not in ``checks``.
    """
    meta = checks.get(str(record["check_id"]))
    if meta is None:
        raise ConfigurationError(f"checkpoint names unknown check {record['check_id']!r}")
    severity = record.get("severity")
    return Result(
        check=meta,
        bucket=str(record["bucket"]),
        status=Status(record["status"]),
        message=str(record["message"]),
        details=dict(record.get("details") or {}),
        region=record.get("region"),
        arn=str(record.get("arn", "")),
        severity_override=Severity(severity) if severity is not None else None,
        account=record.get("account"),
    )


def _record_json(record: AccountRecord) -> dict[str, Any]:
    return {
        "account_id": record.account_id,
        "name": record.name,
        "buckets": list(record.buckets),
        "errors": list(record.errors),
        "api_calls": dict(record.api_calls),
        "account_api_calls": record.account_api_calls,
        "results": [result_to_record(r) for r in record.results],
    }


def _record_from_json(data: Mapping[str, Any], checks: Mapping[str, CheckMeta]) -> AccountRecord:
    return AccountRecord(
        account_id=str(data["account_id"]),
        name=str(data.get("name", "")),
        buckets=tuple(str(b) for b in data.get("buckets", [])),
        results=tuple(result_from_record(r, checks) for r in data.get("results", [])),
        errors=tuple(str(e) for e in data.get("errors", [])),
        api_calls={str(k): int(v) for k, v in (data.get("api_calls") or {}).items()},
        account_api_calls=int(data.get("account_api_calls", 0)),
    )


def audit_fingerprint(
    *,
    options: AuditOptions,
    check_ids: Sequence[str],
    framework: str | None,
    role_name: str,
    regions: Sequence[str],
    tool_version: str,
) -> str:
    """A digest of everything that decides an account's results."""
    material = {
        "require": options.require.value,
        "allowed_kms_keys": sorted(options.allowed_kms_keys),
        "require_vpc_endpoint": options.require_vpc_endpoint,
        "sample_objects": options.sample_objects,
        "checks": list(check_ids),
        "framework": framework,
        "role": role_name,
        "regions": sorted(regions),
        "tool_version": tool_version,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old or the new file, whole."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise LocalFileError(f"cannot write {path}: {exc.strerror or exc}") from exc


class Checkpoint:
    """The finished accounts of one audit, kept in a JSON file (see the module doc).

    Use :meth:`open`; :meth:`record` rewrites the file after each account.
    """

    def __init__(
        self,
        path: Path,
        fingerprint: str,
        checks: Mapping[str, CheckMeta],
        records: Mapping[str, AccountRecord],
    ) -> None:
        self._path = path
        self._fingerprint = fingerprint
        self._checks = checks
        self._records = dict(records)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, fingerprint: str, checks: Sequence[CheckMeta]
    ) -> Checkpoint:
        """Load ``path`` (a missing file is an empty checkpoint).

        Raises:
            ConfigurationError: the file is not a checkpoint, or one of another audit.
            LocalFileError: the file cannot be read.
        """
        where = Path(path)
        by_id = {c.id: c for c in checks}
        try:
            text = where.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(where, fingerprint, by_id, {})
        except OSError as exc:
            raise LocalFileError(f"cannot read checkpoint {where}: {exc.strerror or exc}") from exc
        hint = "give a new --checkpoint file, or delete this one to start over"
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
                raise ValueError("not a securestore organization checkpoint")
            if doc.get("version") != _VERSION:
                raise ValueError(f"unsupported checkpoint version {doc.get('version')!r}")
        except ValueError as exc:
            raise ConfigurationError(f"checkpoint {where}: {exc}", hint=hint) from exc
        if doc.get("fingerprint") != fingerprint:
            raise ConfigurationError(
                f"checkpoint {where} belongs to an audit with other options, checks, role "
                "or regions: its results cannot be reused",
                hint=hint,
            )
        try:
            records = {
                str(k): _record_from_json(v, by_id) for k, v in doc.get("accounts", {}).items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(f"checkpoint {where} is damaged: {exc}", hint=hint) from exc
        return cls(where, fingerprint, by_id, records)

    @property
    def path(self) -> Path:
        """The checkpoint file."""
        return self._path

    def finished(self, account_id: str) -> AccountRecord | None:
        """The recorded result of ``account_id``, or ``None`` if it is still to do."""
        return self._records.get(account_id)

    def record(self, record: AccountRecord) -> None:
        """Add a finished account and rewrite the file atomically.

        Raises:
            LocalFileError: the file cannot be written.
        """
        self._records[record.account_id] = record
        doc = {
            "format": _FORMAT,
            "version": _VERSION,
            "fingerprint": self._fingerprint,
            "accounts": {k: _record_json(v) for k, v in sorted(self._records.items())},
        }
        _write_atomically(self._path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def write_shard(directory: str | os.PathLike[str], record: AccountRecord) -> Path:
    """Write ``DIR/ACCOUNT.jsonl`` for one finished (or failed) account, atomically.

    Raises:
        LocalFileError: the folder cannot be created or the file written.
    """
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalFileError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    head = {
        "type": "account",
        "account": record.account_id,
        "name": record.name,
        "status": "error" if record.error is not None else "audited",
        "error": record.error,
        "errors": list(record.errors),
        "buckets": list(record.buckets),
    }
    lines = [json.dumps(head, ensure_ascii=False)]
    lines += [
        json.dumps({"type": "result", **result_to_record(r)}, ensure_ascii=False)
        for r in record.results
    ]
    path = folder / f"{record.account_id}.jsonl"
    _write_atomically(path, "\n".join(lines) + "\n")
    return path
