"""Fixes from the reliability review of stop 19 (review 1), CLI side."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from securestore_cli.main import main_group

from securestore import Connection, SecureStore, SecureStoreError, TransferConfig
from securestore.bucket import abort_upload
from tests.conftest import Endpoint
from tests.reliability.conftest import ProxyFactory, make_proxy  # noqa: F401 - a fixture
from tests.support.proxy import Rule, Stall

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


def test_a_stalled_endpoint_is_named_with_its_read_timeout(
    tls_endpoint: Endpoint,
    bucket: str,
    make_proxy: ProxyFactory,  # noqa: F811 - the fixture imported above
) -> None:
    store = SecureStore(bucket, connection=tls_endpoint.connection())
    store.put("stalled.bin", b"x" * 4096)
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(Rule(Stall(5), method="PUT", times=None))
    proxy.add(Rule(Stall(5, after=100), method="GET", times=None))
    through = SecureStore(
        bucket,
        connection=dataclasses.replace(tls_endpoint, url=proxy.url).connection(
            max_attempts=1, read_timeout=1
        ),
        transfer=TransferConfig(read_retries=0),
    )
    with pytest.raises(SecureStoreError) as upload:
        through.put("new.bin", b"data")
    assert "the endpoint stopped answering within the read timeout (1 s)" in str(upload.value)
    assert "ReadTimeoutError" not in str(upload.value)
    with pytest.raises(SecureStoreError) as download:
        through.get("stalled.bin")
    assert "stopped answering within the read timeout" in str(download.value)
    assert "ReadTimeoutError" not in str(download.value)
