"""Formats of sampled objects: ``S3.OBJ.2`` (legacy S3EC modes), ``S3.OBJ.3`` (instruction files).

Inventory reports cannot see client-side encryption; only the objects' metadata
can (:mod:`securestore.audit.object_format` classifies it). Both checks are
opt-in with ``--sample-objects N``, like ``S3.OBJ.1``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from securestore.audit.check import check
from securestore.audit.checks.objects import (
    counts_as_client_side,
    coverage_note,
    meets_requirement,
    partial_outcome,
)
from securestore.audit.model import BucketSnapshot, Outcome, Severity, Status
from securestore.audit.object_format import Classification, classify
from securestore.audit.options import AuditOptions
from securestore.audit.samples import ObjectSample

__all__ = ["CHECKS", "object_findings"]

_SPEC = "https://github.com/awslabs/aws-encryption-sdk-specification/tree/master/s3-encryption"
_MIGRATE = "https://docs.aws.amazon.com/amazon-s3-encryption-client/latest/developerguide/what-is-s3-encryption-client.html"
_MAX_LISTED = 20
_SKIP = "object sampling not requested (--sample-objects N)"


def object_findings(
    sample: ObjectSample, classification: Classification, options: AuditOptions
) -> tuple[str, ...]:
    """The ids of the ``S3.OBJ.n`` checks one inspected object fails (what the Batch
    Operations scan records per object; the sampled checks apply the same rules)."""
    found = []
    if not meets_requirement(sample, options) and not counts_as_client_side(sample, options):
        found.append("S3.OBJ.1")
    if classification.legacy or classification.format == "s3ec-invalid":
        found.append("S3.OBJ.2")
    orphaned = (
        classification.format == "instruction-file"
        and sample.parent_exists is not None
        and sample.parent_exists.is_ok
        and sample.parent_exists.value is False
    )
    if classification.instruction_missing or orphaned:
        found.append("S3.OBJ.3")
    return tuple(found)


def _classified(
    snapshot: BucketSnapshot,
) -> tuple[list[tuple[ObjectSample, Classification]], list[ObjectSample]]:
    """(inspected samples with their format, samples that could not be inspected)."""
    samples = snapshot.objects.get() if snapshot.objects is not None else ()
    ok = [(s, classify(s)) for s in samples if s.error is None]
    return ok, [s for s in samples if s.error is not None]


@check(
    "S3.OBJ.2",
    title="Sampled S3 Encryption Client objects use authenticated encryption",
    severity=Severity.HIGH,
    rationale="""Objects written by the AWS S3 Encryption Client in its legacy modes are
        encrypted with AES-CBC, which nothing authenticates (whoever can write the object
        can change the plaintext undetected), or their data keys are wrapped with legacy
        algorithms (AESWrap, KMS without encryption context, V1's unrecorded AES/ECB or RSA
        PKCS#1 v1.5). Current S3 Encryption Clients refuse to read them unless legacy
        modes are enabled, and securestore reads them only with
        --allow-legacy-unauthenticated (and, like every S3 Encryption Client object,
        --allow-s3ec; migrate needs only the first). Metadata that no S3EC writer produces (mixed
        format versions) is reported here too.""",
    remediation="""Re-encrypt the listed objects while they can still be read:
        `securestore migrate s3://B/prefix --to-client-side --kms-key-id K
        --allow-legacy-unauthenticated` rewrites them as authenticated securestore
        messages (or re-encrypt them with a current S3 Encryption Client), then disable
        legacy decryption in every client.""",
    references=(_SPEC, _MIGRATE),
)
def legacy_client_side_objects(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """SKIP unless sampling was requested; FAIL listing S3EC objects in a legacy mode
    or with invalid metadata; ERROR when some could not be inspected or the scan was
    cut short and nothing was found."""
    if snapshot.objects is None:
        return Outcome(Status.SKIP, _SKIP)
    inspected, failed = _classified(snapshot)
    formats = Counter(c.format for _, c in inspected)
    legacy = [{"key": s.key, "reasons": list(c.legacy)} for s, c in inspected if c.legacy]
    invalid = [
        {"key": s.key, "problem": c.problem or ""}
        for s, c in inspected
        if c.format == "s3ec-invalid"
    ]
    unknown = [
        f"{s.key}: {c.problem}"
        for s, c in inspected
        if c.format == "s3ec" and not c.instruction_missing
    ]
    errors = [f"{s.key}: {s.error}" for s in failed] + unknown
    details: dict[str, Any] = {
        "sampled": len(inspected) + len(failed),
        "formats": dict(sorted(formats.items())),
        "legacy": legacy[:_MAX_LISTED],
        "invalid": invalid[:_MAX_LISTED],
        "errors": errors[:_MAX_LISTED],
    }
    findings = len(legacy) + len(invalid)
    if findings:
        parts = []
        if legacy:
            parts.append(f"{len(legacy)} in a legacy unauthenticated mode or key wrap")
        if invalid:
            parts.append(f"{len(invalid)} with S3EC metadata no writer produces")
        return Outcome(
            Status.FAIL,
            "sampled S3 Encryption Client objects: " + ", ".join(parts) + coverage_note(snapshot),
            details,
        )
    if errors:
        return Outcome(
            Status.ERROR,
            f"{len(errors)} sampled objects could not be classified; "
            "no legacy S3EC object among the others",
            details,
        )
    s3ec = sum(n for name, n in formats.items() if name.startswith("s3ec"))
    what = f"no legacy S3EC object among {len(inspected)} sampled ({s3ec} S3EC)"
    return partial_outcome(snapshot, what, details) or Outcome(
        Status.PASS, what + coverage_note(snapshot), details
    )


@check(
    "S3.OBJ.3",
    title="S3 Encryption Client instruction files and their objects are complete",
    severity=Severity.MEDIUM,
    rationale="""An S3 Encryption Client object whose data key is stored in an instruction
        file (KEY.instruction) cannot be decrypted by anyone once that file is gone, and
        an instruction file whose object was deleted is left-over key material (a
        wrapped data key) that lifecycle rules and deletions missed.""",
    remediation="""Restore missing instruction files from a previous object version or a
        backup (or accept the loss and delete the object); delete orphaned instruction
        files, and delete or move instruction files together with their objects.""",
    references=(_SPEC,),
)
def instruction_files(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """SKIP unless sampling was requested; FAIL listing orphaned instruction files and
    S3EC objects whose instruction file is missing."""
    if snapshot.objects is None:
        return Outcome(Status.SKIP, _SKIP)
    inspected, failed = _classified(snapshot)
    orphaned = [
        s.key
        for s, c in inspected
        if c.format == "instruction-file"
        and s.parent_exists is not None
        and s.parent_exists.is_ok
        and s.parent_exists.value is False
    ]
    missing = [s.key for s, c in inspected if c.instruction_missing]
    errors = [f"{s.key}: {s.error}" for s in failed]
    errors += [
        f"{s.key}: {s.parent_exists.error}"
        for s, _ in inspected
        if s.parent_exists is not None and not s.parent_exists.is_ok
    ]
    errors += [
        f"{s.key}: {s.instruction.error}"
        for s, _ in inspected
        if s.instruction is not None and not s.instruction.is_ok
    ]
    with_files = sum(
        1 for _, c in inspected if c.instruction_file or c.format == "instruction-file"
    )
    details: dict[str, Any] = {
        "sampled": len(inspected) + len(failed),
        "instruction_files_checked": with_files,
        "orphaned_instruction_files": orphaned[:_MAX_LISTED],
        "missing_instruction_files": missing[:_MAX_LISTED],
        "errors": errors[:_MAX_LISTED],
    }
    if orphaned or missing:
        parts = []
        if orphaned:
            parts.append(f"{len(orphaned)} instruction files whose object is gone")
        if missing:
            parts.append(f"{len(missing)} S3EC objects whose instruction file is missing")
        return Outcome(Status.FAIL, ", ".join(parts) + coverage_note(snapshot), details)
    if errors:
        return Outcome(
            Status.ERROR,
            f"{len(errors)} sampled objects or instruction files could not be checked",
            details,
        )
    what = f"{with_files} sampled objects use instruction files, all complete"
    return partial_outcome(snapshot, what, details) or Outcome(
        Status.PASS, what + coverage_note(snapshot), details
    )


CHECKS = (legacy_client_side_objects, instruction_files)
