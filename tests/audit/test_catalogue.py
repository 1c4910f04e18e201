"""The generated ``docs/audit.md``: committed text equals the generator's output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from securestore.audit import Outcome, Registry, Severity, Status, check
from securestore.audit.catalogue import render_catalogue
from securestore.audit.compliance import Framework, Requirement
from securestore.audit.reports import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "audit.md"


def test_committed_document_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == render_catalogue(), (
        "docs/audit.md is stale: run python -m securestore.audit.catalogue > docs/audit.md"
    )


def test_module_entry_point_prints_the_catalogue() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "securestore.audit.catalogue"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == render_catalogue()


def test_every_builtin_check_and_the_hand_written_sections_are_present() -> None:
    text = render_catalogue()
    for item in Registry.builtin():
        assert f"\n### {item.id}\n" in text
        assert item.meta.rationale in text
    for heading in (
        "## Running the audit in CI",
        "## Report formats",
        "## Suppressions",
        "## Harden",
        "## Check catalogue",
        "## Compliance frameworks",
    ):
        assert f"\n{heading}\n" in text
    assert f"`schema_version` is\n**{SCHEMA_VERSION}**" in text
    assert "upload-sarif" in text and "--fail-on" in text and "expires = 2027-06-30" in text


@check(
    "ACME.7",
    title="Widgets | gadgets",
    severity=Severity.LOW,
    rationale="Because.",
    remediation="Use ``widgets``.",
    references=("https://example.com/w",),
)
def _acme(snapshot, options):  # type: ignore[no-untyped-def]
    """PASS when ``options.require`` is met."""
    return Outcome(Status.PASS, "ok")


def test_check_entry_is_built_from_metadata_docstring_and_frameworks() -> None:
    framework = Framework(
        "acme-fw",
        "Acme Framework",
        "1",
        "https://example.com/fw",
        (Requirement("R1", "Widgets are fine", ("ACME.7",)),),
    )
    text = render_catalogue(Registry([_acme]), [framework])
    assert "| [ACME.7](#acme7) | low | Widgets \\| gadgets |" in text
    entry = text[text.index("### ACME.7") :]
    assert entry.splitlines()[2:9] == [
        "**Widgets | gadgets** · severity **low**",
        "",
        "- **What:** PASS when `--require` is met.",
        "- **Why:** Because.",
        "- **How to fix:** Use `widgets`.",
        "- **References:** <https://example.com/w>",
        "- **Frameworks:**",
    ]
    assert "  - `acme-fw`: R1 (Widgets are fine)" in entry
    assert "1 built-in check (1 low)" in text
