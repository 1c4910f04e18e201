"""The compliance data files agree with the registry."""

from __future__ import annotations

import pytest

from securestore.audit import Registry, Status, available_frameworks, load_framework
from securestore.audit.compliance import load_all_frameworks, summarise
from securestore.errors import ConfigurationError

from .builders import compliant

EXPECTED = {
    "aws-fsbp",
    "cis-aws-foundations",
    "fedramp-moderate-r5",
    "hipaa-security-rule",
    "nist-800-53-r5",
    "pci-dss-4.0",
}


def test_shipped_frameworks() -> None:
    assert set(available_frameworks()) == EXPECTED


def test_every_referenced_check_exists() -> None:
    ids = set(Registry.builtin().ids)
    for fw in load_all_frameworks():
        assert fw.check_ids <= ids, (fw.id, sorted(fw.check_ids - ids))


def test_every_check_is_mapped_somewhere() -> None:
    mapped = set().union(*(fw.check_ids for fw in load_all_frameworks()))
    assert set(Registry.builtin().ids) <= mapped


def test_requirement_ids_unique_and_nonempty() -> None:
    for fw in load_all_frameworks():
        ids = [r.id for r in fw.requirements]
        assert len(ids) == len(set(ids)), fw.id
        assert all(r.checks for r in fw.requirements), fw.id


@pytest.mark.parametrize(
    ("framework", "requirement", "check_id"),
    [
        ("cis-aws-foundations", "2.1.1", "S3.TLS.1"),
        ("cis-aws-foundations", "2.1.4", "S3.PUBLIC.1"),
        ("cis-aws-foundations", "3.6", "KMS.1"),
        ("aws-fsbp", "S3.5", "S3.TLS.1"),
        ("aws-fsbp", "S3.1", "S3.PUBLIC.2"),
        ("aws-fsbp", "S3.8", "S3.PUBLIC.1"),
        ("aws-fsbp", "KMS.4", "KMS.1"),
        ("pci-dss-4.0", "4.2.1", "S3.TLS.1"),
        ("pci-dss-4.0", "3.5.1", "S3.ENC.2"),
        ("hipaa-security-rule", "164.312(e)(1)", "S3.TLS.1"),
        ("hipaa-security-rule", "164.312(a)(2)(iv)", "S3.ENC.1"),
        ("nist-800-53-r5", "SC-8(1)", "S3.TLS.1"),
        ("nist-800-53-r5", "SC-28(1)", "S3.ENC.2"),
        ("fedramp-moderate-r5", "SC-12", "KMS.1"),
    ],
)
def test_known_mappings(framework: str, requirement: str, check_id: str) -> None:
    fw = load_framework(framework)
    assert requirement in {r.id for r in fw.requirements_for(check_id)}


def test_unknown_framework() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_framework("sox")
    assert info.value.hint is not None and "aws-fsbp" in info.value.hint


def test_summary_status_per_requirement() -> None:
    registry = Registry.builtin()
    fw = load_framework("cis-aws-foundations")
    from securestore.audit import AuditOptions, Collected, Versioning

    snap = compliant(versioning=Collected.ok(Versioning("Enabled", None)))
    results = [c.run(snap, AuditOptions()) for c in registry]
    by_id = {s.requirement.id: s for s in summarise(fw, results)}
    assert by_id["2.1.1"].status is Status.PASS
    assert by_id["2.1.2"].status is Status.FAIL and by_id["2.1.2"].failed == 1
