"""Fixes from the reliability review of stop 19 (review 1), CLI side."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from securestore_cli.main import main_group

from securestore import Connection
from securestore.bucket import abort_upload
from tests.conftest import Endpoint

Run = Callable[..., Result]


@pytest.fixture
def run(tls_endpoint: Endpoint) -> Run:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main_group, list(args), env=dict(tls_endpoint.env))

    return invoke


def test_a_failed_abort_is_an_escaped_warning_line(
    run: Run, connection: Connection, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("ls", f"s3://{bucket}/").exit_code in (0, 1)  # the CLI's logging is set up
    capsys.readouterr()
    # An upload id the server does not know: the abort fails, as on a lost connection.
    abort_upload(
        connection.client("s3"), bucket, "esc\x1b[31mRED", "no-such-upload", interrupted=False
    )
    err = capsys.readouterr().err
    assert err.startswith("warning: could not abort multipart upload no-such-upload"), err
    assert "esc\\x1b[31mRED" in err and "\x1b" not in err
    assert err.count("\n") == 1
