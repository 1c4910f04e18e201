"""Connection configuration: plain HTTP is refused, the CA bundle is honoured, and
there is no way to weaken verification or the protocol floor."""

from __future__ import annotations

import inspect
import re
import ssl
from pathlib import Path

import boto3
import botocore.exceptions
import botocore.session
import pytest
from botocore.credentials import CredentialResolver
from botocore.exceptions import NoCredentialsError

from securestore import (
    AccessDeniedError,
    ConfigurationError,
    Connection,
    NotFoundError,
    SecureStore,
    StorageError,
    TransportSecurityError,
)
from securestore.transport import MINIMUM_TLS_VERSION
from tests.conftest import Endpoint
from tests.transport.tls_servers import (
    PrivateCa,
    RecordedRequest,
    Reply,
    connect,
    server_context,
    serving,
    static_session,
)

PLAIN_URLS = ["http://127.0.0.1:9", "HTTP://127.0.0.1:9", "ftp://127.0.0.1:9"]


def test_an_endpoint_without_a_scheme_is_a_usage_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        Connection(session=static_session(), endpoint_url="127.0.0.1:9", environ={})
    assert not isinstance(info.value, TransportSecurityError)
    assert info.value.hint == "give the endpoint as https://HOST[:PORT]"


@pytest.mark.parametrize("url", PLAIN_URLS)
def test_plain_endpoint_url_is_refused_at_construction(url: str) -> None:
    with pytest.raises(TransportSecurityError) as info:
        Connection(session=static_session(), endpoint_url=url, environ={})
    assert "https" in str(info.value).lower()
    assert info.value.hint


@pytest.mark.parametrize("url", PLAIN_URLS[:2])
def test_plain_endpoint_from_environment_is_refused_at_construction(url: str) -> None:
    with pytest.raises(TransportSecurityError):
        Connection(session=static_session(), environ={"AWS_ENDPOINT_URL": url})


def test_plain_per_service_endpoint_is_refused_before_any_request() -> None:
    """``AWS_ENDPOINT_URL_S3`` is refused by the time an S3 client exists, with nothing sent."""
    with serving(None) as plain:
        environ = {"AWS_ENDPOINT_URL_S3": plain.url()}
        with pytest.raises(TransportSecurityError):
            Connection(session=static_session(), environ=environ).client("s3")
        with pytest.raises(TransportSecurityError):
            SecureStore(
                "bucket", connection=Connection(session=static_session(), environ=environ)
            ).put("key", b"body")
    assert plain.connections == 0


def test_per_service_plain_endpoint_wins_over_an_https_default(tls_endpoint: Endpoint) -> None:
    environ = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}
    connection = Connection(
        session=static_session(),
        endpoint_url=tls_endpoint.url,
        ca_bundle=tls_endpoint.ca_bundle,
        environ=environ,
    )
    with pytest.raises(TransportSecurityError):
        connection.client("s3")


def test_plain_endpoint_for_another_service_does_not_affect_s3(tls_endpoint: Endpoint) -> None:
    connection = Connection(
        session=static_session(),
        endpoint_url=tls_endpoint.url,
        ca_bundle=tls_endpoint.ca_bundle,
        environ={"AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:9"},
    )
    assert isinstance(connection.client("s3").list_buckets()["Buckets"], list)
    with pytest.raises(TransportSecurityError):
        connection.client("kms")


def test_plain_endpoint_that_boto3_finds_itself_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """boto3 reads ``AWS_ENDPOINT_URL_S3`` from the process environment on its own;
    the hardened client must refuse that endpoint too."""
    with serving(None) as plain:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", plain.url())
        monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
        connection = Connection(session=static_session(), environ={})
        with pytest.raises(TransportSecurityError):
            SecureStore("bucket", connection=connection).head("key")
    assert plain.connections == 0


def test_https_endpoint_is_accepted(tls_endpoint: Endpoint) -> None:
    connection = tls_endpoint.connection()
    assert connection.endpoint_url == tls_endpoint.url
    assert isinstance(connection.client("s3").list_buckets()["Buckets"], list)


# -- CA bundles ----------------------------------------------------------------------------


def test_custom_ca_bundle_is_used(tls_endpoint: Endpoint) -> None:
    connection = Connection(
        session=static_session(),
        endpoint_url=tls_endpoint.url,
        ca_bundle=Path(tls_endpoint.ca_bundle),
        environ={},
    )
    assert connection.ca_bundle == tls_endpoint.ca_bundle
    assert isinstance(connection.client("s3").list_buckets()["Buckets"], list)


def test_ca_bundle_from_environment_is_honoured(tls_endpoint: Endpoint) -> None:
    connection = Connection(
        session=static_session(),
        endpoint_url=tls_endpoint.url,
        environ={"AWS_CA_BUNDLE": tls_endpoint.ca_bundle},
    )
    assert connection.ca_bundle == tls_endpoint.ca_bundle
    assert isinstance(connection.client("s3").list_buckets()["Buckets"], list)


def test_ca_bundle_from_process_environment_is_honoured(
    tls_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", tls_endpoint.ca_bundle)
    connection = Connection(session=static_session(), endpoint_url=tls_endpoint.url)
    assert connection.ca_bundle == tls_endpoint.ca_bundle
    assert isinstance(connection.client("s3").list_buckets()["Buckets"], list)


def test_wrong_ca_bundle_from_environment_is_refused(
    tls_endpoint: Endpoint, rogue_ca: PrivateCa
) -> None:
    """Proves the environment's bundle is really the one used for verification."""
    connection = Connection(
        session=static_session(),
        endpoint_url=tls_endpoint.url,
        environ={"AWS_CA_BUNDLE": str(rogue_ca.cert_path)},
        max_attempts=1,
    )
    with pytest.raises(TransportSecurityError):
        SecureStore("bucket", connection=connection).head("key")


def test_explicit_ca_bundle_wins_over_environment(
    tls_endpoint: Endpoint, rogue_ca: PrivateCa
) -> None:
    connection = Connection(
        session=static_session(),
        endpoint_url=tls_endpoint.url,
        ca_bundle=tls_endpoint.ca_bundle,
        environ={"AWS_CA_BUNDLE": str(rogue_ca.cert_path)},
    )
    assert connection.ca_bundle == tls_endpoint.ca_bundle
    assert isinstance(connection.client("s3").list_buckets()["Buckets"], list)


def test_missing_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(ConfigurationError) as info:
        Connection(
            session=static_session(),
            endpoint_url="https://127.0.0.1:9",
            ca_bundle=missing,
            environ={},
        )
    assert str(missing) in str(info.value)
    assert not isinstance(info.value, TransportSecurityError)


def test_missing_ca_bundle_from_environment_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        Connection(
            session=static_session(),
            endpoint_url="https://127.0.0.1:9",
            environ={"AWS_CA_BUNDLE": str(tmp_path / "missing.pem")},
        )


def test_directory_as_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        Connection(session=static_session(), ca_bundle=tmp_path, environ={})


# -- no way to weaken TLS ------------------------------------------------------------------


_WEAKENING = re.compile(r"verify|insecure|ssl|tls|unsafe|skip|plain|http$|allow_http")


@pytest.mark.parametrize("target", [Connection.__init__, SecureStore.__init__])
def test_no_parameter_can_disable_verification(target: object) -> None:
    names = list(inspect.signature(target).parameters)  # type: ignore[arg-type]
    assert [n for n in names if _WEAKENING.search(n)] == []


def test_verify_keyword_is_rejected() -> None:
    with pytest.raises(TypeError):
        Connection(verify=False, environ={})  # type: ignore[call-arg]


@pytest.mark.parametrize("bundle", [True, False], ids=["custom-bundle", "default-bundle"])
def test_client_session_requires_tls_1_2_and_verification(
    tls_endpoint: Endpoint, bundle: bool
) -> None:
    connection = Connection(
        session=static_session(),
        endpoint_url=tls_endpoint.url,
        ca_bundle=tls_endpoint.ca_bundle if bundle else None,
        environ={},
    )
    for service in ("s3", "kms"):
        http = connection.client(service)._endpoint.http_session
        context = http._manager.connection_pool_kw["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert http._get_ssl_context().minimum_version >= ssl.TLSVersion.TLSv1_2
        assert http._verify == (tls_endpoint.ca_bundle if bundle else True)
    assert ssl.TLSVersion.TLSv1_2 <= MINIMUM_TLS_VERSION


def test_clients_are_cached_per_service_and_region(tls_endpoint: Endpoint) -> None:
    connection = tls_endpoint.connection()
    assert connection.client("s3") is connection.client("s3")
    assert connection.client("s3") is not connection.client("s3", region_name="eu-west-1")
    assert connection.client("s3") is not connection.client("kms")


def test_max_attempts_below_one_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        Connection(session=static_session(), max_attempts=0, environ={})


def _server_error(_: RecordedRequest) -> Reply:
    return Reply(
        500,
        {"Content-Type": "application/xml"},
        b"<Error><Code>InternalError</Code><Message>boom</Message></Error>",
    )


@pytest.mark.parametrize("attempts", [1, 2])
def test_max_attempts_counts_total_attempts(private_ca: PrivateCa, attempts: int) -> None:
    cert = private_ca.issue("attempts", ("127.0.0.1",))
    with serving(server_context(cert), _server_error) as server:
        connection = connect(server.url(), private_ca.cert_path, max_attempts=attempts)
        with pytest.raises(botocore.exceptions.ClientError):
            connection.client("s3").get_object(Bucket="bucket", Key="key")
    assert len(server.requests) == attempts


def test_server_errors_are_retried_then_typed(private_ca: PrivateCa) -> None:
    cert = private_ca.issue("retried", ("127.0.0.1",))
    with serving(server_context(cert), _server_error) as server:
        store = SecureStore("bucket", connection=connect(server.url(), private_ca.cert_path))
        with pytest.raises(StorageError) as info:
            store.put("key", b"body")
    assert info.value.code == "InternalError"
    assert type(info.value) is StorageError
    assert len(server.requests) >= 1


# -- credentials ---------------------------------------------------------------------------


def _session_without_credentials() -> boto3.Session:
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver(providers=[]))
    return boto3.Session(botocore_session=core, region_name="us-east-1")


def test_missing_credentials_are_access_denied_and_nothing_is_sent(private_ca: PrivateCa) -> None:
    cert = private_ca.issue("no-credentials", ("127.0.0.1",))
    with serving(server_context(cert)) as server:
        connection = Connection(
            session=_session_without_credentials(),
            endpoint_url=server.url(),
            ca_bundle=private_ca.cert_path,
            environ={},
            max_attempts=1,
        )
        store = SecureStore("bucket", connection=connection)
        with pytest.raises(AccessDeniedError) as info:
            store.put("key", b"secret body")
    assert isinstance(info.value.__cause__, NoCredentialsError)
    assert info.value.hint
    assert server.requests == []


def test_store_errors_chain_the_botocore_error(tls_endpoint: Endpoint, bucket: str) -> None:
    store = SecureStore(bucket, connection=tls_endpoint.connection())
    with pytest.raises(NotFoundError) as info:
        store.get("missing")
    cause = info.value.__cause__
    assert isinstance(cause, botocore.exceptions.ClientError)
    assert cause.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert (info.value.bucket, info.value.key) == (bucket, "missing")


def test_client_cache_is_bounded() -> None:
    """Regions can come from hostile message headers: the per-region cache has a bound."""
    from securestore import transport

    conn = Connection(region="us-east-1")
    first = conn.client("kms", "us-east-1")
    for n in range(transport._MAX_CLIENTS + 5):
        conn.client("kms", f"xx-test-{n}")
    assert len(conn._clients) == transport._MAX_CLIENTS
    assert conn.client("kms", "us-east-1") is not first  # evicted, built anew
