"""Results model, the console table and ``docs/benchmarks.md``."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass
class Table:
    """A titled table of already-formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Target:
    """One goal from the brief and whether this run met it."""

    name: str
    measured: str
    goal: str
    met: bool
    why: str = ""


@dataclass
class Section:
    """The outcome of one benchmark module."""

    key: str
    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- machine facts ------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def rclone_version(binary: str | None) -> str:
    """First line of ``rclone version``, or ``unavailable``."""
    if binary is None:
        return "unavailable"
    try:
        out = subprocess.run(
            [binary, "version"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unavailable"
    return out.splitlines()[0] if out else "unavailable"


def load_average() -> str:
    """The 1-minute load average, against the core count (others share this machine)."""
    try:
        return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def machine_facts(rclone: str | None, load_at_start: str) -> list[tuple[str, str]]:
    """What the numbers depend on."""
    from cryptography.hazmat.backends.openssl.backend import backend

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        ("date (UTC)", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")),
        ("CPU", _cpu_model()),
        ("cores", f"{os.cpu_count()} (usable by this process: {usable})"),
        ("memory", _memory_gib()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("cryptography", f"{_version('cryptography')} ({backend.openssl_version_text()})"),
        ("boto3 / botocore", f"{_version('boto3')} / {_version('botocore')}"),
        ("aws-encryption-sdk", _version("aws-encryption-sdk")),
        ("rclone", rclone_version(rclone)),
        ("load average (1 min) at start / end", f"{load_at_start} / {load_average()}"),
        ("command", " ".join(["python -m benchmarks", *sys.argv[1:]])),
    ]


# -- console --------------------------------------------------------------------------------


def _widths(table: Table) -> list[int]:
    cells = [table.columns, *table.rows]
    return [max(len(row[i]) for row in cells) for i in range(len(table.columns))]


def render_text(table: Table) -> str:
    """A plain-text table."""
    widths = _widths(table)
    lines = [table.title]
    lines.append("  ".join(c.ljust(w) for c, w in zip(table.columns, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    for row in table.rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def targets_table(sections: list[Section]) -> Table:
    """Every target of every section, one row each."""
    table = Table("Targets", ["benchmark", "target", "measured", "goal", "result"])
    for section in sections:
        for target in section.targets:
            result = "met" if target.met else "MISSED"
            if target.why:
                result += f" ({target.why})"
            table.rows.append([section.key, target.name, target.measured, target.goal, result])
    return table


def print_section(section: Section) -> None:
    """Print one section as soon as it is done."""
    print(f"\n== {section.title} ==")
    for table in section.tables:
        print()
        print(render_text(table))
    for note in section.notes:
        print(f"  note: {note}")
    sys.stdout.flush()


# -- markdown -------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown_table(table: Table) -> str:
    """A GitHub-flavoured markdown table."""
    lines = [
        "| " + " | ".join(_md_cell(c) for c in table.columns) + " |",
        "|" + "---|" * len(table.columns),
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


_PREAMBLE = """\
# Benchmarks

Generated by `python -m benchmarks` (`make bench`); do not edit by hand, re-run it.
The machine is shared and noisy (about ±20-40 % run to run), so **compare the
ratios**, which pit each measurement against a baseline measured in the same run;
absolute MB/s and milliseconds are only indicative. Throughputs are MB/s
(10^6 bytes/s) of plaintext, best of N interleaved repeats; sizes are MiB.
Measurements by hand and by the single harnesses (trees and large files against
aws-cli, start-up, streams), stop by stop: [benchmark-log.md](benchmark-log.md).
"""


def render_markdown(sections: list[Section], facts: list[tuple[str, str]]) -> str:
    """The whole ``docs/benchmarks.md``."""
    parts = [_PREAMBLE, "## Machine\n"]
    parts.append(render_markdown_table(Table("", ["fact", "value"], [list(f) for f in facts])))
    parts.append("\n## Summary of targets\n")
    parts.append(render_markdown_table(targets_table(sections)))
    for section in sections:
        parts.append(f"\n## {section.title}\n")
        for table in section.tables:
            parts.append(f"**{table.title}**\n")
            parts.append(render_markdown_table(table) + "\n")
        for note in section.notes:
            parts.append(f"- {note}")
    return "\n".join(parts).rstrip() + "\n"


def write_markdown(path: Path, sections: list[Section], facts: list[tuple[str, str]]) -> None:
    """Write the markdown report (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(render_markdown(sections, facts))
    os.replace(tmp, path)
