"""Start-up: help and usage errors load no boto3, cryptography or auditor; the registry is true.

Times are measured by ``python -m benchmarks.startup``, never asserted here: what is
asserted is what gets imported, which is what a module-level import would change.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from securestore_cli import keys
from securestore_cli.main import COMMANDS, load_command, main_group

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "cryptography", "securestore.audit", "securestore.message", "rich")

PROBE = """
import json, sys
from securestore_cli.main import main_group
args, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["securestore", *args]
try:
    main_group.main(prog_name="securestore")  # main() itself ends the process (os._exit)
except SystemExit:
    pass
heavy = [name for name in watched if name in sys.modules]
sys.stderr.write("\\nLOADED=" + json.dumps(heavy) + "\\n")
"""


def loaded_by(*args: str) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running ``securestore ARGS``."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    marker = [line for line in result.stderr.splitlines() if line.startswith("LOADED=")]
    assert marker, result.stderr
    loaded: list[str] = json.loads(marker[-1].removeprefix("LOADED="))
    return loaded


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["keygen", "--help"],
        ["put", "--help"],
        ["get", "--help"],
        ["ls", "--help"],
        ["uploads", "abort", "--help"],
        ["put"],  # a usage error: missing arguments
        ["nosuch"],  # a usage error: no such command
        ["put", "f", "s3://b/k", "--sse", "rot13"],  # a usage error: bad choice
    ],
)
def test_help_and_usage_errors_import_nothing_heavy(args: list[str]) -> None:
    assert loaded_by(*args) == []


def test_help_lists_every_command_with_its_short_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "securestore_cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    ).stdout
    listing = out.split("Commands:", 1)[1]
    for name in COMMANDS:
        assert f"\n  {name} " in listing, name
    assert "Create a bucket." in listing


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_registry_entry_resolves_to_that_command_with_that_help(name: str) -> None:
    command = load_command(name)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert COMMANDS[name][1] == command.get_short_help_str(10_000)


def test_every_command_a_module_defines_is_registered() -> None:
    modules = {entry.partition(":")[0] for entry, _ in COMMANDS.values()}
    registered = {(entry.partition(":")[0], name) for name, (entry, _) in COMMANDS.items()}
    for module_name in modules:
        module = importlib.import_module(f"securestore_cli.{module_name}")
        for command in getattr(module, "COMMANDS", ()):
            assert (module_name, command.name) in registered, (module_name, command.name)


def test_unknown_command_is_a_usage_error() -> None:
    assert load_command("nosuch") is None
    assert main_group.get_command(click.Context(main_group), "nosuch") is None


@pytest.mark.parametrize(
    "module", ["keys", "commands", "reading", "lifecycle", "audit", "local", "context"]
)
def test_each_cli_module_imports_first_without_a_circle(module: str) -> None:
    """Importing a command module first once failed: it imported main, which imported it."""
    subprocess.run(
        [sys.executable, "-c", f"import securestore_cli.{module}"],
        cwd=ROOT,
        timeout=60,
        check=True,
    )


def test_context_imports_no_command_module() -> None:
    tree = ast.parse((ROOT / "cli" / "context.py").read_text())
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    assert relative == []


def test_help_defaults_match_the_library() -> None:
    from securestore.keyrings.options import DEFAULT_KEY_NAME
    from securestore.message.header import DEFAULT_MAX_ENCRYPTED_DATA_KEYS

    assert keys.DEFAULT_KEY_NAME == DEFAULT_KEY_NAME
    assert keys.DEFAULT_MAX_ENCRYPTED_DATA_KEYS == DEFAULT_MAX_ENCRYPTED_DATA_KEYS


def test_library_package_imports_its_names_on_first_use() -> None:
    probe = (
        "import sys, securestore; a = 'boto3' in sys.modules; securestore.SecureStore; "
        "print(a, 'boto3' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.split() == ["False", "True"]
