"""The auditor's documentation, generated.

Regenerate it with ``python -m securestore.audit.catalogue > docs/audit.md``.

The check catalogue comes from the registry (each check's metadata and the
docstring of its function) and the compliance data files, so the document
cannot drift from the code; ``tests/audit/test_catalogue.py`` fails when the
committed ``docs/audit.md`` differs from :func:`render_catalogue`'s output. The
hand-written sections (CI, report formats, suppressions, harden) live in
:mod:`securestore.audit.catalogue_text`: edit them there, never the generated file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence

from securestore.audit import catalogue_text as prose
from securestore.audit.check import Check
from securestore.audit.compliance import Framework, load_all_frameworks
from securestore.audit.model import Severity
from securestore.audit.registry import Registry
from securestore.audit.reports import FORMATS, SCHEMA_VERSION

__all__ = ["main", "render_catalogue"]

_OPTION_NAMES = {
    "options.require": "--require",
    "options.allowed_kms_keys": "--allowed-kms-key",
    "options.require_vpc_endpoint": "--require-vpc-endpoint",
    "options.sample_objects": "--sample-objects",
}


def _markdown(text: str) -> str:
    """Docstring text as one Markdown paragraph: reST literals become code spans."""
    text = " ".join(text.split())
    for name, flag in _OPTION_NAMES.items():
        text = text.replace(f"``{name}``", f"``{flag}``")
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _anchor(check_id: str) -> str:
    """GitHub's heading anchor for a heading that is just the check id."""
    return re.sub(r"[^a-z0-9 -]", "", check_id.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _formats_section() -> str:
    lines = ["## Report formats", "", "`--format` (default `table`), written to `--output FILE`"]
    lines[-1] += " or standard output:"
    lines += ["", "| Format | What it is |", "|--------|------------|"]
    for name, renderer in FORMATS.items():
        doc = (renderer.__doc__ or "").strip().split("\n\n")[0]
        lines.append(f"| `{name}` | {_cell(_markdown(doc))} |")
    return "\n".join(lines) + "\n\n" + prose.SCHEMA.format(version=SCHEMA_VERSION)


def _frameworks_section(frameworks: Sequence[Framework]) -> str:
    lines = [
        "## Compliance frameworks",
        "",
        "`--framework ID` runs only the checks a framework maps and groups the report by its",
        "requirements. The mappings are data files in `securestore/audit/compliance/`;",
        "requirement titles are paraphrases, ids are as the framework publishes them.",
        "",
        "A requirement is judged by its own definition, whatever the audit's options say:",
        "`aws-fsbp` S3.17 (KMS keys at rest) runs `S3.ENC.2` with `--require kms`, so an",
        "SSE-S3 bucket fails it even under the default `--require sse-s3`; `cis-aws-foundations`",
        "3.4 (access logging of the CloudTrail bucket) applies to the buckets a trail delivers",
        "its logs to (read with `cloudtrail:DescribeTrails`), and `S3.DATA.4` is skipped on the",
        "others. Where it cannot be told whether a bucket receives trail logs, it is judged.",
        "",
        "| Id | Framework | Version | Requirements |",
        "|----|-----------|---------|--------------|",
    ]
    for fw in frameworks:
        name = f"[{_cell(fw.name)}]({fw.url})" if fw.url else _cell(fw.name)
        lines.append(f"| `{fw.id}` | {name} | {_cell(fw.version)} | {len(fw.requirements)} |")
    return "\n".join(lines) + "\n"


def _mappings(check_id: str, frameworks: Iterable[Framework]) -> list[str]:
    out = []
    for fw in frameworks:
        reqs = fw.requirements_for(check_id)
        if reqs:
            listed = "; ".join(f"{r.id} ({r.title})" for r in reqs)
            out.append(f"`{fw.id}`: {listed}")
    return out


def _check_section(item: Check, frameworks: Sequence[Framework]) -> str:
    meta = item.meta
    what = _markdown(item.function.__doc__ or meta.title)
    lines = [
        f"### {meta.id}",
        "",
        f"**{meta.title}** · severity **{meta.severity.value}**",
        "",
        f"- **What:** {what}",
        f"- **Why:** {_markdown(meta.rationale)}",
        f"- **How to fix:** {_markdown(meta.remediation)}",
    ]
    if meta.references:
        lines.append("- **References:** " + ", ".join(f"<{url}>" for url in meta.references))
    mapped = _mappings(meta.id, frameworks)
    if mapped:
        lines.append("- **Frameworks:**")
        lines += [f"  - {m}" for m in mapped]
    else:
        lines.append("- **Frameworks:** none")
    return "\n".join(lines) + "\n"


def _catalogue_section(registry: Registry, frameworks: Sequence[Framework]) -> str:
    counts = {s: sum(1 for c in registry if c.meta.severity is s) for s in Severity}
    spread = ", ".join(f"{n} {s.value}" for s, n in reversed(counts.items()) if n)
    lines = [
        "## Check catalogue",
        "",
        f"{len(registry)} built-in check{'s' if len(registry) != 1 else ''} ({spread}). "
        "Ids are stable: a check keeps its id",
        "forever, and a retired id is never reused. Plug-in checks (entry point group",
        "`securestore.audit_checks`) are not listed here.",
        "",
        "| Id | Severity | Title |",
        "|----|----------|-------|",
    ]
    for item in registry:
        meta = item.meta
        lines.append(
            f"| [{meta.id}](#{_anchor(meta.id)}) | {meta.severity.value} | {_cell(meta.title)} |"
        )
    body = "\n".join(lines) + "\n"
    return body + "".join("\n" + _check_section(item, frameworks) for item in registry)


def render_catalogue(
    registry: Registry | None = None, frameworks: Sequence[Framework] | None = None
) -> str:
    """The whole ``docs/audit.md`` text (built-in checks and shipped frameworks by default)."""
    checks = registry if registry is not None else Registry.builtin()
    fws = tuple(frameworks) if frameworks is not None else load_all_frameworks()
    sections = [
        prose.INTRO,
        prose.CI,
        _formats_section(),
        prose.SUPPRESSIONS.format(),
        _frameworks_section(fws),
        prose.POLICIES,
        prose.HARDEN,
        prose.PERMISSIONS,
        _catalogue_section(checks, fws),
    ]
    return "\n".join(sections)


def main() -> None:
    """Write the catalogue to standard output."""
    sys.stdout.write(render_catalogue())


if __name__ == "__main__":
    main()
