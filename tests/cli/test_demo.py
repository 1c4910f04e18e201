"""``securestore demo`` is the README's first command: it must pass on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_every_step_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # nothing from the developer's AWS configuration
    result = subprocess.run(
        [sys.executable, "-m", "securestore_cli", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "demo complete: every step behaved as expected" in out
    for step in ("put report.csv", "--require kms", "inspect", "--range", "harden", "audit"):
        assert step in out, step
    assert "Traceback" not in out + result.stderr
    assert list(tmp_path.iterdir()) == [] or all(p.name.startswith(".") for p in tmp_path.iterdir())
