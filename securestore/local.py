"""An embedded AWS endpoint (moto: S3, KMS, STS, Organizations...) over TLS on loopback.

It exists for trying securestore and for integration tests: it speaks the real
S3 and KMS HTTP APIs over HTTPS with a certificate issued by a private CA that
is generated on first use and kept in a state folder. Data lives in memory and
is gone when the endpoint stops.

moto is an optional dependency (``pip install 'securestore[local]'``); it is
imported only when an endpoint starts.
"""

from __future__ import annotations

import contextvars
import datetime
import html
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from securestore.errors import ConfigurationError, StorageError

__all__ = ["LocalCertificates", "LocalEndpoint", "default_state_dir", "ensure_certificates"]

#: Dummy credentials the embedded endpoint accepts (moto accepts any).
LOCAL_ACCESS_KEY = "securestore-local"
LOCAL_SECRET_KEY = "securestore-local-secret"  # noqa: S105 - not a secret: a local test endpoint


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/securestore/local`` (``~/.local/state/...`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "securestore" / "local"


@dataclass(frozen=True)
class LocalCertificates:
    """Paths of the private CA certificate and the server's certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by its owner only."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _certificate_valid(path: Path, hosts: tuple[str, ...]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc - now < datetime.timedelta(days=7):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    names = set(san.get_values_for_type(x509.DNSName)) | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }
    return set(hosts) <= names


def ensure_certificates(
    state_dir: Path, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> LocalCertificates:
    """Create (once) a private CA and a server certificate for ``hosts``.

    The CA is reused across runs so that an exported ``AWS_CA_BUNDLE`` stays
    valid; the server certificate is re-issued when it expires or does not
    cover ``hosts``. Private keys are written with mode 0600.
    """
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    certs = LocalCertificates(
        state_dir / "ca.pem", state_dir / "server.pem", state_dir / "server-key.pem"
    )
    ca_key_path = state_dir / "ca-key.pem"
    now = datetime.datetime.now(datetime.UTC)
    if certs.ca_cert.exists() and ca_key_path.exists() and _certificate_valid_ca(certs.ca_cert):
        ca_cert = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ConfigurationError(f"unexpected CA key type in {ca_key_path}")
        ca_key = loaded
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securestore local CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(
            ca_key_path,
            ca_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        certs.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        certs.server_cert.unlink(missing_ok=True)
    if not (certs.server_key.exists() and _certificate_valid(certs.server_cert, hosts)):
        issue_certificate(ca_cert, ca_key, hosts, certs.server_cert, certs.server_key)
    return certs


def _certificate_valid_ca(path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(
        days=30
    )


def issue_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: tuple[str, ...],
    cert_path: Path,
    key_path: Path,
    *,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> None:
    """Issue a server certificate for ``hosts`` signed by ``ca_cert``/``ca_key``."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after or now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


#: The TLS version (``"1.2"``, ``"1.3"``) of the request this thread serves, set
#: only while the embedded endpoint serves one.
_REQUEST_TLS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "securestore_local_tls", default=None
)
_TRANSPORT_KEYS = ("aws:securetransport", "s3:tlsversion")


def _transport_aware_policy(policy_text: str, tls_version: str) -> str | None:
    """The bucket policy as moto should judge a request over TLS ``tls_version``.

    moto evaluates no Bool or Numeric condition (it treats a Deny with one as
    unconditional, so a TLS-only bucket refuses everything). Here the
    ``aws:SecureTransport`` (always true: the endpoint serves TLS only) and
    ``s3:TlsVersion`` conditions are decided by securestore's IAM evaluator: a
    statement whose transport condition fails is dropped, and a holding one is
    removed from the statement, which moto then judges as before. ``None``: no
    statement is left.
    """
    from securestore.audit.iam import condition_holds, parse_policy

    document = json.loads(policy_text)
    raw = document.get("Statement", [])
    context = {"aws:securetransport": ("true",), "s3:tlsversion": (tls_version,)}
    kept: list[Any] = []
    for statement in [raw] if isinstance(raw, dict) else raw:
        applies = True
        rest: dict[str, dict[str, Any]] = {}
        for operator, block in (statement.get("Condition") or {}).items():
            for key, values in block.items():
                if key.lower() not in _TRANSPORT_KEYS:
                    rest.setdefault(operator, {})[key] = values
                    continue
                probe = {"Effect": "Deny", "Action": "*", "Condition": {operator: {key: values}}}
                (cond,) = parse_policy({"Statement": [probe]}).statements[0].conditions
                applies = applies and condition_holds(cond, context)
        if applies:
            narrowed = {k: v for k, v in statement.items() if k != "Condition"}
            if rest:
                narrowed["Condition"] = rest
            kept.append(narrowed)
    return json.dumps({**document, "Statement": kept}) if kept else None


def _honour_transport_conditions(app: Callable[..., Any]) -> Callable[..., Any]:
    """Make moto's bucket policy evaluation honour the transport conditions for the
    requests ``app`` serves (see :func:`_transport_aware_policy`); returns the
    wrapped WSGI app. Other users of moto in this process (``mock_aws``) are not
    affected: the patched method defers to moto's unless a request of this
    endpoint is being served.
    """
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    original = FakeBucket.get_permission
    if not getattr(original, "_securestore_transport", False):

        def get_permission(bucket: Any, action: str, resource: str) -> Any:
            tls = _REQUEST_TLS.get()
            if tls is None or bucket.policy is None:
                return original(bucket, action, resource)
            try:
                policy = _transport_aware_policy(bucket.policy.decode(), tls)
            except (ValueError, TypeError, AttributeError):
                return original(bucket, action, resource)
            if policy is None:
                return PermissionResult.NEUTRAL
            return IAMPolicy(policy).is_action_permitted(action, resource)

        get_permission._securestore_transport = True  # type: ignore[attr-defined]
        FakeBucket.get_permission = get_permission  # type: ignore[method-assign,assignment]

    _keep_blocked_encryption_types()
    versions = {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        version = str(getattr(environ.get("werkzeug.socket"), "version", lambda: None)())
        # The endpoint refuses anything older than TLS 1.2 (see start()).
        token = _REQUEST_TLS.set(versions.get(version, "1.2"))
        try:
            result: Iterable[bytes] = app(environ, start_response)
            return result
        finally:
            _REQUEST_TLS.reset(token)

    return serve


def _keep_blocked_encryption_types() -> None:
    """Make GetBucketEncryption return the rule's ``BlockedEncryptionTypes`` (SSE-C
    blocked), which moto stores but leaves out of its answer, for the requests this
    endpoint serves: else a bucket hardened here would never show SSE-C blocked."""
    from moto.s3.responses import S3Response

    original = S3Response.get_bucket_encryption
    if getattr(original, "_securestore_blocked", False):
        return

    def get_bucket_encryption(response: Any) -> Any:
        answer = original(response)
        if _REQUEST_TLS.get() is None or not isinstance(answer, tuple) or len(answer) != 3:
            return answer
        status, headers, body = answer
        text = body.decode() if isinstance(body, bytes) else body
        if not isinstance(text, str):
            return answer
        stored = response.backend.get_bucket_encryption(response.bucket_name) or {}
        blocked = (stored.get("Rule") or {}).get("BlockedEncryptionTypes") or {}
        types = blocked.get("EncryptionType") or []
        types = [types] if isinstance(types, str) else list(types)
        if not types or "</Rule>" not in text:
            return answer
        element = "<BlockedEncryptionTypes>" + "".join(
            f"<EncryptionType>{html.escape(str(t))}</EncryptionType>" for t in types
        )
        text = text.replace("</Rule>", element + "</BlockedEncryptionTypes></Rule>", 1)
        return status, headers, text.encode() if isinstance(body, bytes) else text

    get_bucket_encryption._securestore_blocked = True  # type: ignore[attr-defined]
    S3Response.get_bucket_encryption = get_bucket_encryption  # type: ignore[method-assign,assignment]


def _report_dsse_key_ids() -> None:
    """Make moto report the KMS key of DSSE-KMS objects, as S3 does.

    moto keeps the key id of a DSSE-KMS write but sends
    ``x-amz-server-side-encryption-aws-kms-key-id`` for SSE-KMS objects only, so a
    read or write that demands a DSSE key could not be confirmed (and is refused).
    This wraps the response headers of moto's stored objects, in this process only.
    """
    from moto.s3.models import FakeKey

    original: Any = vars(FakeKey)["response_dict"]  # the property object itself
    if getattr(original.fget, "reports_dsse_key", False):
        return

    def response_dict(self: Any) -> dict[str, Any]:
        headers: dict[str, Any] = original.fget(self)
        if self.encryption == "aws:kms:dsse" and self.kms_key_id is not None:
            headers.setdefault("x-amz-server-side-encryption-aws-kms-key-id", self.kms_key_id)
        return headers

    response_dict.reports_dsse_key = True  # type: ignore[attr-defined]
    setattr(FakeKey, "response_dict", property(response_dict))  # noqa: B010


def _check_assumed_roles() -> None:
    """Make AssumeRole refuse, as AWS does, a role that does not exist in its account,
    or an external id its trust policy does not name, for the requests this endpoint
    serves. moto hands out credentials for any role ARN, so an organization-wide
    audit could never meet an account whose role is missing. The trust policy's
    principals are not evaluated.
    """
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role
    if getattr(original, "_securestore_checked", False):
        return

    def assume_role(backend: Any, **kwargs: Any) -> Any:
        if _REQUEST_TLS.get() is None:
            return original(backend, **kwargs)
        arn = str(kwargs.get("role_arn") or "")
        account, _, name = arn.partition(":iam::")[2].partition(":role/")
        denied = STSClientError(
            "AccessDenied", f"User is not authorized to perform: sts:AssumeRole on resource: {arn}"
        )
        try:
            role = iam_backends[account]["global"].get_role(name.rsplit("/", 1)[-1])
        except Exception:
            raise denied from None
        try:
            trust = json.loads(role.assume_role_policy_document or "{}")
        except ValueError:
            raise denied from None
        required: list[set[str]] = []
        statements = trust.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            equals = (statement.get("Condition") or {}).get("StringEquals") or {}
            ids = equals.get("sts:ExternalId")
            required.append({ids} if isinstance(ids, str) else set(ids or []))
        if required and all(required) and not any(kwargs.get("external_id") in r for r in required):
            raise denied
        return original(backend, **kwargs)

    assume_role._securestore_checked = True  # type: ignore[attr-defined]
    STSBackend.assume_role = assume_role  # type: ignore[method-assign,assignment]


#: The oldest moto with everything :meth:`LocalEndpoint.start` uses (``MotoRequestHandler``
#: first appears in 5.2.5); keep in step with the ``local`` extra in pyproject.toml.
MOTO_FLOOR = "5.2.5"


def _moto_parts(module: Any) -> tuple[Any, Any, Any]:
    """The three names the endpoint needs from moto, or an error naming the missing one."""
    names = ("DomainDispatcherApplication", "MotoRequestHandler", "create_backend_app")
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("moto")
        except PackageNotFoundError:
            installed = "unknown"
        raise ConfigurationError(
            f"the installed moto {installed} lacks moto.moto_server.werkzeug_app."
            f"{missing[0]}: the embedded endpoint needs moto {MOTO_FLOOR} or newer",
            hint=f"pip install 'moto[server]>={MOTO_FLOOR}'",
        )
    dispatcher, handler, create_app = (getattr(module, name) for name in names)
    return dispatcher, handler, create_app


def _check_port_free(host: str, port: int) -> None:
    """Refuse a busy port with a typed error (werkzeug would print and ``sys.exit(1)``)."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise StorageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="stop the program using that port, or choose another with --port",
        ) from exc
    finally:
        probe.close()


class LocalEndpoint:
    """moto's S3 and KMS served over HTTPS on loopback, in a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
        host: the address to listen on (loopback only by design).
        port: the port; 0 picks a free one.
        state_dir: where the CA and server certificate are kept.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, state_dir: Path | None = None
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ConfigurationError("the embedded endpoint only listens on loopback addresses")
        self._host = host
        self._port = port
        self._state_dir = state_dir or default_state_dir()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.certificates: LocalCertificates | None = None

    def start(self) -> LocalEndpoint:
        """Start serving; returns ``self`` once the socket is listening."""
        try:
            from moto.moto_server import werkzeug_app
            from werkzeug.serving import make_server
        except ImportError as exc:
            raise ConfigurationError(
                "the embedded endpoint needs moto",
                hint="pip install 'securestore[local]'",
            ) from exc
        dispatcher, request_handler, create_backend_app = _moto_parts(werkzeug_app)
        _report_dsse_key_ids()
        _check_assumed_roles()
        self.certificates = ensure_certificates(self._state_dir, hosts=(self._host, "localhost"))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certificates.server_cert, self.certificates.server_key)
        app = _honour_transport_conditions(dispatcher(create_backend_app))
        # One line per request on stderr would drown the CLI's own output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if self._port:
            _check_port_free(self._host, self._port)
        try:
            self._server = make_server(
                self._host,
                self._port,
                app,
                threaded=True,
                request_handler=request_handler,
                ssl_context=context,
            )
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {self._host}:{self._port}: {exc}") from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="securestore-local", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint's ``https://`` URL."""
        if self._server is None:
            raise ConfigurationError("the endpoint is not running")
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    def environment(self, *, region: str = "us-east-1") -> dict[str, str]:
        """The environment variables that point boto3 and securestore at this endpoint."""
        assert self.certificates is not None
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_CA_BUNDLE": str(self.certificates.ca_cert),
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_REGION": region,
            # aws-cli v1 and boto3.Session().region_name read only this one.
            "AWS_DEFAULT_REGION": region,
        }
