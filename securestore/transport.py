"""TLS-only boto3 clients and translation of botocore errors.

Every AWS call securestore makes goes through a client created by
:class:`Connection`. Such a client

* only talks to ``https://`` endpoints: a plain-HTTP endpoint is refused when the
  connection is configured, and every request URL (including one rewritten by a
  redirect) is checked again just before it is sent;
* always verifies the server certificate, against the system/certifi bundle or a
  caller-supplied CA bundle (there is no way to turn verification off);
* negotiates TLS 1.2 or newer.

Botocore exceptions are translated into :mod:`securestore.errors` at this
boundary by :func:`translate_error` (in :mod:`securestore.transport_errors`,
re-exported here), with the original chained as ``__cause__``.
"""

from __future__ import annotations

import collections
import datetime
import os
import re
import ssl
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
import botocore.utils
from botocore.config import Config
from botocore.httpsession import URLLib3Session, create_urllib3_context
from botocore.parsers import ResponseParserFactory
from urllib3.util.ssl_ import ALPN_PROTOCOLS

from securestore import arguments as args
from securestore.errors import ConfigurationError, TransportSecurityError
from securestore.transport_errors import translate_error

__all__ = ["ChecksumMode", "Connection", "parse_timestamp", "translate_error"]

ChecksumMode = Literal["when_supported", "when_required"]

#: The oldest protocol version any securestore connection accepts.
MINIMUM_TLS_VERSION = ssl.TLSVersion.TLSv1_2


def _check_https(url: str) -> None:
    if urlsplit(url).scheme.lower() != "https":
        raise TransportSecurityError(
            f"refusing to send a request over {urlsplit(url).scheme or 'an unknown scheme'}://: "
            "securestore only uses HTTPS",
            hint="use an https:// endpoint; for a local server give it a certificate "
            "(securestore local does) and pass its CA with --ca-bundle",
        )


class _PoolContext(ssl.SSLContext):
    """A connection pool's client context, whose ALPN list is set once, before any connection.

    urllib3 calls ``set_alpn_protocols`` on the pool's shared context before every new
    connection, while other threads may be opening theirs. CPython runs ``SSL_new``
    (which copies the context's ALPN buffer into the new connection) without the GIL,
    so that call can free the buffer mid-copy (python/cpython#141012): the ClientHello
    then carries freed bytes and the server rejects it with a ``decode_error`` alert.
    Setting the list that is already set is therefore skipped.
    """

    _alpn: tuple[str, ...] | None = None

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        protocols = tuple(alpn_protocols)
        if protocols != self._alpn:
            super().set_alpn_protocols(protocols)
            self._alpn = protocols


def _pool_context() -> ssl.SSLContext:
    """botocore's client context (TLS 1.2+), safe to share between connecting threads."""
    context: ssl.SSLContext = create_urllib3_context()
    # The same object, botocore's settings and all, with the guarded ALPN setter: the
    # subclass adds no C-level state (ssl has no way to copy a context's settings).
    context.__class__ = _PoolContext
    context.minimum_version = MINIMUM_TLS_VERSION
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context


class _TlsOnlySession(URLLib3Session):
    """A botocore HTTP session that cannot speak plain HTTP or TLS below 1.2."""

    def _get_ssl_context(self) -> ssl.SSLContext:
        return _pool_context()

    def send(self, request: Any) -> Any:
        # Checked here, outside botocore's catch-all that would turn it into a retried
        # HTTPClientError; _setup_ssl_cert below is the second line of defence.
        _check_https(request.url)
        return super().send(request)

    def _setup_ssl_cert(self, conn: Any, url: str, verify: Any) -> None:
        _check_https(url)
        # ``verify`` is always a CA bundle path or True here; never let a falsy value through.
        super()._setup_ssl_cert(conn, url, verify or True)  # type: ignore[misc]


#: botocore's rule for region names (a DNS label that is not all digits), checked here so
#: that a bad region is a usage error when the connection is made, not a failure later.
#: Clients kept per connection, one per (service, region): enough for every region in use.
_MAX_CLIENTS = 32
_REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")


def _check_region(region: str) -> str:
    if not _REGION.fullmatch(region):
        raise ConfigurationError(
            f"invalid AWS region {region!r}",
            hint="give a region name such as us-east-1 (--region, AWS_REGION)",
        )
    return region


def _check_endpoint(url: str) -> str:
    """Refuse an endpoint URL that is not ``https://host[:port][/]``.

    A path would be prefixed to every request, so objects would land under
    other keys than the ones printed; a query, fragment or user name has no
    meaning for an endpoint and is most likely a mistake.
    """
    hint = "give the endpoint as https://HOST[:PORT]"
    parts = urlsplit(url)
    # Not a URL at all (no scheme://) is a usage error; a URL of another scheme than
    # https (http://) stays the transport security refusal below.
    if not parts.scheme or not url.lower().startswith(f"{parts.scheme.lower()}://"):
        raise ConfigurationError(f"invalid endpoint URL {url!r}: no scheme://", hint=hint)
    _check_https(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(
            f"invalid port in endpoint URL {url!r}: expected a number from 1 to 65535",
            hint=hint,
        ) from None
    if port == 0 or not parts.hostname:
        raise ConfigurationError(f"invalid endpoint URL {url!r}", hint=hint)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigurationError(
            f"endpoint URL {url!r} has a path, query or fragment; it would be prefixed to "
            "every request",
            hint=hint,
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("the endpoint URL contains a user name or password", hint=hint)
    return url


def _check_ca_bundle(bundle: str) -> None:
    """Refuse a CA bundle that holds no PEM certificate (empty or another kind of file)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=bundle)
    except (ssl.SSLError, OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"CA bundle {bundle} is not a PEM bundle (no certificate could be loaded from it)",
            hint="pass a file of -----BEGIN CERTIFICATE----- blocks (--ca-bundle, AWS_CA_BUNDLE)",
        ) from exc


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
#: The two forms S3 sends: ISO 8601 in XML bodies (``LastModified`` of a listing) and
#: RFC 7231's IMF-fixdate in headers (``Last-Modified``), always in UTC.
_ISO_UTC = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", re.ASCII)
_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ("
    + "|".join(_MONTHS)
    + r") (\d{4}) (\d\d):(\d\d):(\d\d) GMT",
    re.ASCII,
)

#: The zone botocore gives S3's timestamps (dateutil's ``tzutc``), taken from its own parser.
_UTC = botocore.utils.parse_timestamp("Thu, 01 Jan 1970 00:00:00 GMT").tzinfo


def parse_timestamp(value: Any) -> datetime.datetime:
    """Parse a timestamp of an AWS response exactly as botocore does, faster for S3's forms.

    botocore hands every timestamp string to ``dateutil.parser``, about 0.2 ms
    each: two per small object of a tree transfer (its listing entry and its
    GET's ``Last-Modified``), as much as signing the request. S3's two fixed UTC
    forms are read here (in 10 µs), anything else and any invalid date by
    botocore's parser. The result is the same instant, with digits below the
    microsecond cut as dateutil does, always in ``tzutc`` (dateutil gives
    ``tzlocal()`` for ``Z`` on a machine whose zone is UTC).
    """
    if isinstance(value, str):
        try:
            iso = _ISO_UTC.fullmatch(value)
            if iso is not None:
                year, month, day, hour, minute, second, fraction = iso.groups()
                return datetime.datetime(
                    int(year),
                    int(month),
                    int(day),
                    int(hour),
                    int(minute),
                    int(second),
                    int(fraction.ljust(6, "0")[:6]) if fraction else 0,
                    tzinfo=_UTC,
                )
            imf = _IMF_FIXDATE.fullmatch(value)
            if imf is not None:
                day, month, year, hour, minute, second = imf.groups()
                return datetime.datetime(
                    int(year),
                    _MONTHS[month],
                    int(day),
                    int(hour),
                    int(minute),
                    int(second),
                    tzinfo=_UTC,
                )
        except ValueError:
            pass  # not a real date (February 30th): botocore's parser says what is wrong
    parsed: datetime.datetime = botocore.utils.parse_timestamp(value)
    return parsed


def _fast_timestamps(client: Any) -> None:
    """Give ``client``'s endpoint a parser factory that uses :func:`parse_timestamp`.

    Per client: the session's factory (shared with the caller's other clients)
    is left alone, and parser defaults the caller set on it are kept (a
    ``timestamp_parser`` of their own too).
    """
    endpoint = client._endpoint
    inner = endpoint._response_parser_factory
    factory = ResponseParserFactory()
    factory.set_parser_defaults(
        **{"timestamp_parser": parse_timestamp, **getattr(inner, "_defaults", {})}
    )
    endpoint._response_parser_factory = factory


def _refuse_plain_http(request: Any, **_: Any) -> None:
    _check_https(request.url)


class _AccountHostPrefix:
    """Undo S3 Control's ``{account}.host`` addressing on a custom endpoint.

    AWS serves S3 Control at per-account host names; an S3-compatible endpoint
    is one host, and ``123456789012.127.0.0.1`` does not resolve.
    """

    def __init__(self, netloc: str) -> None:
        self._netloc = netloc

    def __call__(self, request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        prefix, _, rest = parts.netloc.partition(".")
        if prefix.isdigit() and len(prefix) == 12 and rest == self._netloc:
            request.url = parts._replace(netloc=rest).geturl()


def _no_region_redirects(context: dict[str, Any], **_: Any) -> None:
    # botocore's redirectors skip requests they believe were redirected already.
    context.setdefault("s3_redirect", {})["redirected"] = True
    context["s3_redirected"] = True


#: The checks of Connection's arguments (a wrong type fails here, not in botocore).
_CHECKS: dict[str, args.Check] = {
    "session": args.optional(
        args.instance_of(boto3.Session, "a boto3.Session", hint="boto3.Session(...)")
    ),
    "profile": args.optional(args.text),
    "region": args.optional(args.text),
    "endpoint_url": args.optional(args.text),
    "ca_bundle": args.optional(args.path),
    "checksum": args.optional(args.choice("when_supported", "when_required")),
    "max_attempts": args.positive,
    "retry_mode": args.choice("standard", "adaptive"),
    "connect_timeout": args.seconds,
    "read_timeout": args.seconds,
    "max_pool_connections": args.positive,
    "environ": args.optional(args.mapping),
}


class Connection:
    """Creates TLS-only boto3 clients that share one session and configuration.

    Every argument is optional and follows boto3's conventions: credentials come
    from the usual chain (environment, ``AWS_PROFILE``, config files, instance
    roles); ``region`` defaults to ``AWS_REGION``/``AWS_DEFAULT_REGION``;
    ``endpoint_url`` to ``AWS_ENDPOINT_URL_<SERVICE>`` or ``AWS_ENDPOINT_URL``;
    ``ca_bundle`` to ``AWS_CA_BUNDLE``.

    Args:
        session: a ready boto3 session (wins over ``profile``).
        profile: a named profile from the AWS config files.
        region: the default region for clients.
        endpoint_url: an ``https://`` URL of an S3-compatible (and KMS) endpoint.
        ca_bundle: path of a PEM file of CA certificates to trust instead of the
            default bundle. Verification itself can never be disabled.
        checksum: ``request_checksum_calculation``. ``None`` keeps botocore's
            default (``when_supported``) on AWS and uses ``when_required`` on a
            custom endpoint, because several S3-compatible servers reject the
            aws-chunked uploads that ``when_supported`` implies.
        max_attempts: total attempts per request, with botocore's standard retries.
        retry_mode: botocore's retry mode: ``standard``, or ``adaptive``, which
            also slows the client down after throttling answers.
        connect_timeout: seconds to wait for a connection.
        read_timeout: seconds to wait for data on an open connection.
        max_pool_connections: connections kept per client (size it to the
            transfer concurrency).
        environ: the environment to read defaults from (for tests).

    Raises:
        TransportSecurityError: the endpoint is not ``https://``.
        ConfigurationError: the endpoint URL has a path, query, fragment, user name
            or invalid port; the CA bundle does not exist or holds no PEM
            certificate (or ``AWS_CA_BUNDLE`` is set but empty); the region is not
            a valid region name; or another argument is invalid.
    """

    @args.checked(_CHECKS)
    def __init__(
        self,
        *,
        session: boto3.Session | None = None,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        checksum: ChecksumMode | None = None,
        max_attempts: int = 5,
        retry_mode: Literal["standard", "adaptive"] = "standard",
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_pool_connections: int = 32,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        # Kept for with_session(): a derived connection is configured exactly alike.
        self._settings: dict[str, Any] = {
            "region": region,
            "endpoint_url": endpoint_url,
            "ca_bundle": ca_bundle,
            "checksum": checksum,
            "max_attempts": max_attempts,
            "retry_mode": retry_mode,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "max_pool_connections": max_pool_connections,
            "environ": environ,
        }
        self._env = env
        self._endpoint_url = endpoint_url or env.get("AWS_ENDPOINT_URL") or None
        if self._endpoint_url is not None:
            _check_endpoint(self._endpoint_url)
        if ca_bundle is None and env.get("AWS_CA_BUNDLE") == "":
            # Set but empty: falling back to the default trust store would hide the mistake.
            raise ConfigurationError(
                "AWS_CA_BUNDLE is set but empty (is a variable unset?)",
                hint="point it at a PEM file of CA certificates, or unset it",
            )
        bundle = ca_bundle or env.get("AWS_CA_BUNDLE") or None
        if bundle is not None and not os.path.isfile(bundle):
            raise ConfigurationError(
                f"CA bundle not found: {os.fspath(bundle)}",
                hint="pass the PEM file that signed the endpoint's certificate",
            )
        if bundle is not None:
            _check_ca_bundle(os.fspath(bundle))
        self._verify: str | bool = os.fspath(bundle) if bundle is not None else True
        try:
            self._session = session or boto3.Session(profile_name=profile)
        except botocore.exceptions.ProfileNotFound as exc:
            raise ConfigurationError(
                f"AWS profile not found: {profile}",
                hint="list your profiles with `aws configure list-profiles`",
            ) from exc
        self._region = _check_region(region or self._session.region_name or "us-east-1")
        if (
            checksum is None
            and self._endpoint_url is not None
            and "AWS_REQUEST_CHECKSUM_CALCULATION" not in env
        ):
            checksum = "when_required"
        self._timeouts = (connect_timeout, read_timeout)
        self._pool_size = max_pool_connections
        self._config = Config(
            retries={"total_max_attempts": max_attempts, "mode": retry_mode},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max_pool_connections,
            request_checksum_calculation=checksum,
            response_checksum_validation="when_required" if checksum == "when_required" else None,
            s3={"addressing_style": "path"} if self._endpoint_url else None,
        )
        # Bounded: region names can come from hostile message headers (KMS discovery).
        self._clients: collections.OrderedDict[tuple[str, str], Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def with_session(
        self,
        session: boto3.Session,
        *,
        retry_mode: Literal["standard", "adaptive"] | None = None,
    ) -> Connection:
        """A connection configured like this one whose clients sign with ``session``.

        For credentials obtained at run time (an assumed role): the endpoint, CA
        bundle, TLS policy, retries and timeouts stay those of this connection
        (``retry_mode``, when given, replaces its retry mode).
        """
        settings = {**self._settings, "region": self._region}
        if retry_mode is not None:
            settings["retry_mode"] = retry_mode
        return Connection(session=session, **settings)

    @property
    def region(self) -> str:
        """The default region of clients made by this connection."""
        return self._region

    @property
    def endpoint_url(self) -> str | None:
        """The custom endpoint, or ``None`` for AWS's own endpoints."""
        return self._endpoint_url

    @property
    def ca_bundle(self) -> str | None:
        """The CA bundle in use, or ``None`` for the default trust store."""
        return self._verify if isinstance(self._verify, str) else None

    def _service_endpoint(self, service: str) -> str | None:
        specific = self._env.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}")
        url = specific or self._endpoint_url
        if url is not None:
            _check_endpoint(url)
        return url

    def client(self, service: str, region_name: str | None = None) -> Any:
        """Return a (cached, thread-safe) TLS-only boto3 client for ``service``."""
        region = _check_region(region_name) if region_name else self._region
        with self._lock:
            cached = self._clients.get((service, region))
            if cached is not None:
                self._clients.move_to_end((service, region))
                return cached
            client = self._session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=self._service_endpoint(service),
                verify=self._verify,
                config=self._config,
            )
            _harden(client, self._verify, self._timeouts, self._pool_size)
            _fast_timestamps(client)
            endpoint = self._service_endpoint(service)
            if service == "s3control" and endpoint is not None:
                client.meta.events.register(
                    "before-sign.s3-control", _AccountHostPrefix(urlsplit(endpoint).netloc)
                )
            if service == "s3" and endpoint is not None:
                # S3's region redirects only make sense on AWS; a custom endpoint
                # answering 301 without a region would send botocore round in circles.
                client.meta.events.register("before-call.s3", _no_region_redirects)
            self._clients[(service, region)] = client
            while len(self._clients) > _MAX_CLIENTS:
                self._clients.popitem(last=False)
            return client


def _harden(client: Any, verify: str | bool, timeouts: tuple[float, float], pool_size: int) -> None:
    """Swap the client's HTTP session for a TLS-only one and guard every send."""
    endpoint = client._endpoint
    old = endpoint.http_session
    endpoint.http_session = _TlsOnlySession(
        verify=verify,  # type: ignore[arg-type]  # botocore's stub says bool; a path is valid
        timeout=timeouts,  # type: ignore[arg-type]
        max_pool_connections=pool_size,
        proxies=old._proxy_config._proxies,
    )
    old.close()
    client.meta.events.register_first("before-send", _refuse_plain_http)
    _check_https(endpoint.host)
