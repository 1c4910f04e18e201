"""Mistakes in the connection settings are usage errors when the connection is made:
bad regions, endpoint URLs with a path or a bad port, empty or non-PEM CA bundles."""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore import ConfigurationError, Connection, TransportSecurityError
from tests.conftest import Endpoint
from tests.transport.tls_servers import static_session


@pytest.mark.parametrize("region", ["x y", "us-east-1\n", "-bad", "123", "a" * 64, "é"])
def test_an_invalid_region_is_a_configuration_error(region: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid AWS region"):
        Connection(session=static_session(), region=region, environ={})


def test_an_invalid_region_for_one_client_is_a_configuration_error() -> None:
    connection = Connection(session=static_session(), environ={})
    with pytest.raises(ConfigurationError, match="invalid AWS region"):
        connection.client("kms", "us-east-1.attacker.example")


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("https://127.0.0.1:abc", "invalid port"),
        ("https://127.0.0.1:70000", "invalid port"),
        ("https://127.0.0.1:0", "invalid endpoint"),
        ("https://:443", "invalid endpoint"),
        ("https://s3.example.com/prefix", "path, query or fragment"),
        ("https://s3.example.com/prefix/", "path, query or fragment"),
        ("https://s3.example.com?x=1", "path, query or fragment"),
        ("https://s3.example.com/#frag", "path, query or fragment"),
        ("https://user:secret@s3.example.com", "user name or password"),
    ],
)
def test_a_bad_endpoint_url_is_a_configuration_error(url: str, what: str) -> None:
    with pytest.raises(ConfigurationError, match=what):
        Connection(session=static_session(), endpoint_url=url, environ={})
    with pytest.raises(ConfigurationError, match=what):
        Connection(session=static_session(), environ={"AWS_ENDPOINT_URL": url})
    per_service = Connection(session=static_session(), environ={"AWS_ENDPOINT_URL_S3": url})
    with pytest.raises(ConfigurationError, match=what):
        per_service.client("s3")


@pytest.mark.parametrize("url", ["https://s3.example.com", "https://s3.example.com:8443/"])
def test_a_plain_endpoint_url_is_accepted(url: str) -> None:
    assert Connection(session=static_session(), endpoint_url=url, environ={}).endpoint_url == url


def test_plain_http_stays_a_transport_security_error() -> None:
    with pytest.raises(TransportSecurityError):
        Connection(session=static_session(), endpoint_url="http://h/prefix", environ={})


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"\x00\xff" * 100])
def test_a_ca_bundle_without_certificates_is_not_a_pem_bundle(
    tmp_path: Path, content: bytes
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(content)
    with pytest.raises(ConfigurationError, match="not a PEM bundle"):
        Connection(session=static_session(), ca_bundle=bundle, environ={})
    with pytest.raises(ConfigurationError, match="not a PEM bundle"):
        Connection(session=static_session(), environ={"AWS_CA_BUNDLE": str(bundle)})


def test_an_empty_ca_bundle_variable_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="AWS_CA_BUNDLE is set but empty"):
        Connection(session=static_session(), environ={"AWS_CA_BUNDLE": ""})


def test_a_real_ca_bundle_is_accepted(tls_endpoint: Endpoint) -> None:
    connection = Connection(
        session=static_session(), endpoint_url=tls_endpoint.url, ca_bundle=tls_endpoint.ca_bundle
    )
    assert connection.ca_bundle == tls_endpoint.ca_bundle
