"""Start-up cost of the ``securestore`` command, against ``aws --version`` when aws exists.

``python -m benchmarks.startup [--repeat N]`` runs each case N times as a whole
process (interleaved, the best kept: the machine is noisy) and prints the CPU
time (user + system, of the child) of each and its ratio to ``aws --version``.
Target from issue 10: ``--help``, ``keygen --help`` and a usage error at most
0.15 s of CPU. Nothing here asserts a time; tests/cli/test_startup.py asserts what
is imported instead.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys

#: The cases: a label and the arguments after ``securestore``.
CASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("securestore --help", ("--help",)),
    ("securestore keygen --help", ("keygen", "--help")),
    ("securestore put --help", ("put", "--help")),
    ("securestore put (usage error)", ("put",)),
    ("securestore --version", ("--version",)),
)
TARGET_CPU_S = 0.15


def cpu_seconds(argv: list[str]) -> float:
    """CPU seconds (user + system) that one run of ``argv`` took in its own process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(repeat: int) -> dict[str, float]:
    """Best CPU time of each case, interleaved ``repeat`` times."""
    command = [sys.executable, "-m", "securestore_cli"]
    cases = {label: command + list(args) for label, args in CASES}
    aws = shutil.which("aws")
    if aws:
        cases["aws --version"] = [aws, "--version"]
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for label, argv in cases.items():
            best[label] = min(best[label], cpu_seconds(argv))
    return best


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case (best kept)")
    args = parser.parse_args(argv)
    best = measure(args.repeat)
    baseline = best.get("aws --version")
    print(f"{'case':34} {'CPU s':>7} {'vs aws --version':>17}  target <= {TARGET_CPU_S} s")
    for label, seconds in best.items():
        ratio = f"{seconds / baseline:.2f}x" if baseline else "-"
        print(f"{label:34} {seconds:7.3f} {ratio:>17}")
    if baseline is None:
        print("(aws not found: no ratio)")


if __name__ == "__main__":
    main()
