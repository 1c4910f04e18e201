"""Report formats: one small class per format, each with ``render(report) -> str``.

=========  =====================================================================
table      rich table for terminals (failures by default, ``show_all`` for all)
json       versioned JSON (schema shipped as ``audit-report.schema.json``)
sarif      SARIF 2.1.0 for code-scanning tools
ocsf       OCSF Compliance Finding (class_uid 2003) JSON array
junit      JUnit XML (one suite per bucket) for CI test reporters
markdown   GitHub-flavoured Markdown for pull-request comments
csv        one row per result
=========  =====================================================================
"""

from __future__ import annotations

from typing import Protocol

from securestore.audit.reports.csv_report import CsvReport
from securestore.audit.reports.json_report import SCHEMA_VERSION, JsonReport, load_schema
from securestore.audit.reports.junit import JunitReport
from securestore.audit.reports.markdown import MarkdownReport
from securestore.audit.reports.ocsf import OcsfReport
from securestore.audit.reports.sarif import SarifReport
from securestore.audit.reports.table import TableReport
from securestore.audit.runner import AuditReport
from securestore.errors import ConfigurationError

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "CsvReport",
    "JsonReport",
    "JunitReport",
    "MarkdownReport",
    "OcsfReport",
    "Renderer",
    "SarifReport",
    "TableReport",
    "load_schema",
    "renderer_for",
]


class Renderer(Protocol):
    """What every report format provides."""

    def render(self, report: AuditReport) -> str:
        """The whole report as text."""
        ...


#: Format name (as given to ``--format``) to renderer class.
FORMATS: dict[str, type[Renderer]] = {
    "table": TableReport,
    "json": JsonReport,
    "sarif": SarifReport,
    "ocsf": OcsfReport,
    "junit": JunitReport,
    "markdown": MarkdownReport,
    "csv": CsvReport,
}


def renderer_for(name: str) -> Renderer:
    """A renderer with default settings for format ``name``.

    Raises:
        ConfigurationError: unknown format.
    """
    try:
        return FORMATS[name]()
    except KeyError:
        raise ConfigurationError(
            f"unknown report format {name!r}", hint="choose one of: " + ", ".join(FORMATS)
        ) from None
