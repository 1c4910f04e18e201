"""translate_error: each botocore failure maps to the securestore error it stands for."""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

import botocore.exceptions
import pytest

from securestore import (
    AccessDeniedError,
    ConfigurationError,
    EndpointUnreachableError,
    KeyUnavailableError,
    LocalFileError,
    NotFoundError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
    TransportSecurityError,
)
from securestore.transport import translate_error
from tests.conftest import Endpoint


def client_error(
    code: str, status: int = 400, message: str = ""
) -> botocore.exceptions.ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message or f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "GetObject")  # type: ignore[arg-type]


def status_only(status: int) -> botocore.exceptions.ClientError:
    """A HEAD error: no body, so botocore reports the status as the code."""
    response: dict[str, Any] = {
        "Error": {"Code": str(status), "Message": ""},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "HeadObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, NotFoundError),
        ("NoSuchBucket", 404, NotFoundError),
        ("NoSuchUpload", 404, NotFoundError),
        ("NoSuchVersion", 404, NotFoundError),
        ("AccessDenied", 403, AccessDeniedError),
        ("InvalidAccessKeyId", 403, AccessDeniedError),
        ("SignatureDoesNotMatch", 403, AccessDeniedError),
        ("ExpiredToken", 400, AccessDeniedError),
        ("KMS.NotFoundException", 400, KeyUnavailableError),
        ("KMS.DisabledException", 400, KeyUnavailableError),
        ("KMS.KMSInvalidStateException", 400, KeyUnavailableError),
        ("KMS.SomethingNew", 400, KeyUnavailableError),
        ("NotFoundException", 400, KeyUnavailableError),
        ("DisabledException", 400, KeyUnavailableError),
        ("KMSInvalidStateException", 400, KeyUnavailableError),
        ("InvalidKeyUsageException", 400, KeyUnavailableError),
        ("PreconditionFailed", 412, PreconditionFailedError),
        ("ConditionalRequestConflict", 409, PreconditionFailedError),
        ("InvalidBucketName", 400, ConfigurationError),
        ("InvalidArgument", 400, ConfigurationError),
        ("KeyTooLongError", 400, ConfigurationError),
        ("SlowDown", 503, StorageError),
        ("InternalError", 500, StorageError),
    ],
)
def test_client_error_codes(code: str, status: int, expected: type[SecureStoreError]) -> None:
    error = translate_error(client_error(code, status), bucket="b", key="k", action="get")
    assert type(error) is expected
    assert error.bucket == "b"
    assert str(error).startswith("get failed")


@pytest.mark.parametrize(
    ("status", "key", "expected"),
    [
        (404, "k", NotFoundError),
        (404, None, NotFoundError),
        (403, "k", AccessDeniedError),
        (412, "k", PreconditionFailedError),
        (500, "k", StorageError),
    ],
)
def test_status_only_errors(status: int, key: str | None, expected: type[Exception]) -> None:
    error = translate_error(status_only(status), bucket="b", key=key)
    assert type(error) is expected


def test_missing_bucket_message_names_the_bucket_only() -> None:
    error = translate_error(client_error("NoSuchBucket", 404), bucket="b", key="k")
    assert isinstance(error, NotFoundError)
    assert error.key is None
    assert str(error).endswith("(s3://b)")
    assert error.code == "NoSuchBucket"


def test_storage_errors_keep_the_code_and_message() -> None:
    error = translate_error(client_error("SlowDown", 503, "Reduce your request rate"))
    assert isinstance(error, StorageError)
    assert error.code == "SlowDown"
    assert "SlowDown" in str(error) and "Reduce your request rate" in str(error)


def test_ssl_error_is_a_transport_security_error() -> None:
    exc = botocore.exceptions.SSLError(
        endpoint_url="https://127.0.0.1:1", error=ssl.SSLError("CERTIFICATE_VERIFY_FAILED")
    )
    error = translate_error(exc, bucket="b", key="k", action="put")
    assert type(error) is TransportSecurityError
    assert error.hint
    assert (error.bucket, error.key) == ("b", "k")


@pytest.mark.parametrize(
    "exc",
    [
        botocore.exceptions.NoCredentialsError(),
        botocore.exceptions.PartialCredentialsError(
            provider="env", cred_var="AWS_SECRET_ACCESS_KEY"
        ),
    ],
    ids=["none", "partial"],
)
def test_missing_credentials_are_access_denied(exc: Exception) -> None:
    error = translate_error(exc)
    assert type(error) is AccessDeniedError
    assert error.hint


@pytest.mark.parametrize(
    "exc",
    [
        botocore.exceptions.EndpointConnectionError(endpoint_url="https://127.0.0.1:1"),
        botocore.exceptions.ConnectTimeoutError(endpoint_url="https://127.0.0.1:1"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="https://127.0.0.1:1"),
    ],
)
def test_an_endpoint_that_cannot_be_reached_or_stalls_is_unreachable(exc: Exception) -> None:
    """A storage error (exit 4) of its own kind: a tree job stops once it keeps happening."""
    error = translate_error(exc)
    assert type(error) is EndpointUnreachableError and isinstance(error, StorageError)
    assert error.hint


def test_a_connection_closed_before_the_answer_is_a_broken_connection() -> None:
    """It was "put failed: ConnectionClosedError", a class name (a damaged TLS record the
    endpoint closed on, tests/reliability/test_tls_corruption.py)."""
    exc = botocore.exceptions.ConnectionClosedError(endpoint_url="https://host/k?sig=SECRET")
    error = translate_error(exc, bucket="b", key="k", action="put")
    assert type(error) is StorageError
    assert str(error).startswith("put failed: the TLS connection broke mid-request")
    assert "ConnectionClosedError" not in str(error) and "SECRET" not in str(error)
    assert error.hint


def test_other_failures_are_storage_errors() -> None:
    assert type(translate_error(RuntimeError("something else"))) is StorageError


def test_securestore_errors_pass_through_unchanged() -> None:
    original = NotFoundError("gone", bucket="b")
    assert translate_error(original) is original


def test_messages_do_not_carry_the_raw_exception_arguments() -> None:
    exc = botocore.exceptions.SSLError(
        endpoint_url="https://host/x?sig=SECRET", error=ssl.SSLError("x")
    )
    assert "SECRET" not in str(translate_error(exc))


@pytest.mark.parametrize(
    "code", ["KeyUnavailableException", "KMSInternalException", "DependencyTimeoutException"]
)
def test_kms_service_failures_are_key_unavailable(code: str) -> None:
    assert isinstance(translate_error(client_error(code, 500)), KeyUnavailableError)


@pytest.mark.parametrize("code", ["AccessDeniedException", "UnrecognizedClientException"])
def test_json_protocol_denials_are_typed(code: str) -> None:
    assert type(translate_error(client_error(code, 400))) is AccessDeniedError


def test_running_out_of_descriptors_is_not_a_certificate_problem(
    tls_endpoint: Endpoint, bucket: str
) -> None:
    """It was "TLS handshake failed (untrusted certificate, ...)": the CA bundle is the file
    a new connection could not open (a tree download under a low ``ulimit -n``)."""
    import os
    import resource

    from securestore import SecureStore

    connection = tls_endpoint.connection(max_attempts=1)
    connection.client("s3")  # its model files read now; no connection opened yet
    store = SecureStore(bucket, connection=connection)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512), hard))
    try:
        with contextlib.suppress(OSError):
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        with pytest.raises(SecureStoreError) as info:
            store.head("k")
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert type(info.value) is LocalFileError
    assert "too many open files" in str(info.value) and "certificate" not in str(info.value)
    assert info.value.hint and "ulimit" in info.value.hint


def test_a_ca_bundle_that_cannot_be_opened_for_lack_of_descriptors_is_local() -> None:
    """The chain a new TLS connection raised under a low ``ulimit -n`` (seen in a tree
    download): botocore's SSLError around urllib3's around OSError(EMFILE)."""
    import errno

    import urllib3.exceptions

    inner = urllib3.exceptions.SSLError(OSError(errno.EMFILE, "Too many open files"))
    exc = botocore.exceptions.SSLError(endpoint_url="https://127.0.0.1:1", error=inner)
    error = translate_error(exc, bucket="b", key="k", action="get")
    assert type(error) is LocalFileError
    assert str(error).startswith("get failed: too many open files")
