"""Global options before or after the command (as aws-cli users type them); after wins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from securestore_cli.main import COMMANDS, main_group

from tests.conftest import Endpoint
from tests.support.cli import Run

CLOSED = "https://127.0.0.1:9"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    return path


@pytest.mark.parametrize("flag", ["--quiet", "-q"])
def test_quiet_after_the_command(run: Run, bucket: str, src: Path, flag: str) -> None:
    result = run("put", str(src), f"s3://{bucket}/k", flag)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    loud = run("put", str(src), f"s3://{bucket}/k")
    assert loud.stderr.startswith("put: ")


def test_endpoint_and_ca_bundle_after_the_command(
    run: Run, tls_endpoint: Endpoint, bucket: str, src: Path
) -> None:
    """Without the variables the command has no endpoint: the options after it give one."""
    unset = {"AWS_ENDPOINT_URL": "", "AWS_CA_BUNDLE": ""}
    result = run(
        "put",
        str(src),
        f"s3://{bucket}/after",
        "--endpoint-url",
        tls_endpoint.url,
        "--ca-bundle",
        tls_endpoint.ca_bundle,
        "--region",
        tls_endpoint.env["AWS_REGION"],
        "--quiet",
        **unset,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    listed = run(
        "ls",
        f"s3://{bucket}",
        "--endpoint-url",
        tls_endpoint.url,
        "--ca-bundle",
        tls_endpoint.ca_bundle,
        **unset,
    )
    assert listed.exit_code == 0, listed.stderr
    assert "after" in listed.stdout


def test_the_value_after_the_command_wins(run: Run, tls_endpoint: Endpoint, bucket: str) -> None:
    # A closed port before the command, the real endpoint after it: the listing works.
    good = run("--endpoint-url", CLOSED, "ls", f"s3://{bucket}", "--endpoint-url", tls_endpoint.url)
    assert good.exit_code == 0, good.stderr
    # And the other way round it fails: the one after the command is the one used.
    bad = run("--endpoint-url", tls_endpoint.url, "ls", f"s3://{bucket}", "--endpoint-url", CLOSED)
    assert bad.exit_code == 4
    assert bad.stderr.startswith("error:")
    region = run(
        "--region", tls_endpoint.env["AWS_REGION"], "ls", f"s3://{bucket}", "--region", "x y"
    )
    assert region.exit_code == 2
    assert "invalid AWS region 'x y'" in region.stderr


def test_the_value_before_the_command_still_works_and_wins_over_the_environment(
    run: Run, bucket: str
) -> None:
    result = run("--region", "x y", "ls", f"s3://{bucket}")
    assert result.exit_code == 2
    assert "invalid AWS region 'x y'" in result.stderr


def test_every_command_accepts_the_global_options_after_it() -> None:
    ctx = main_group.make_context("securestore", ["ls"])
    for name in COMMANDS:
        command = main_group.get_command(ctx, name)
        assert command is not None
        commands = list(command.commands.values()) if hasattr(command, "commands") else [command]
        for leaf in commands:
            flags = {flag for param in leaf.params for flag in getattr(param, "opts", ())}
            assert {"--endpoint-url", "--ca-bundle", "--profile", "--region", "-q"} <= flags, name


def test_a_command_option_of_the_same_name_is_left_to_the_command(run: Run) -> None:
    """audit --region means the audit's own region: it is not replaced by the global one."""
    help_text = run("audit", "--help").stdout
    assert len(re.findall(r"--region(?![\w-])", help_text)) == 1  # not --regions (--org)
    assert "Region for listing and account-level calls." in help_text


def test_global_options_after_the_command_are_in_its_help(run: Run) -> None:
    help_text = run("put", "--help").stdout
    assert "--endpoint-url" in help_text and "global option" in help_text
    assert "_global_" not in help_text and "[default:" not in help_text.split("--endpoint-url")[1]
