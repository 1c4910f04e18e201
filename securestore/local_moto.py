"""Where moto differs from AWS in ways the embedded endpoint (:mod:`securestore.local`) fixes.

Each fix patches moto in this process only, once, and (except
:func:`report_dsse_key_ids`) only for the requests the endpoint serves: other users
of moto here (``mock_aws``) keep moto's own behaviour. moto is imported inside the
functions, only when an endpoint starts.
"""

from __future__ import annotations

import contextvars
import datetime
import html
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "check_assumed_roles",
    "honour_transport_conditions",
    "list_uploads_in_s3_order",
    "report_default_encryption_on_create",
    "report_upload_initiation",
    "report_dsse_key_ids",
]

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


def honour_transport_conditions(app: Callable[..., Any]) -> Callable[..., Any]:
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


def report_dsse_key_ids() -> None:
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


def check_assumed_roles() -> None:
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


def list_uploads_in_s3_order() -> None:
    """Make ListMultipartUploads answer in S3's order, for the requests this endpoint
    serves: by key (UTF-8 bytes), then by initiation time.

    moto answers in creation order, which securestore's listing guard (right for S3)
    refuses as soon as two uploads were started out of key order, so ``uploads ls``
    and ``uploads abort`` would fail here. moto keeps a bucket's uploads in creation
    order, so a stable sort by key keeps the initiation order within a key.
    """
    from moto.s3.models import S3Backend

    original = S3Backend.list_multipart_uploads
    if getattr(original, "_securestore_ordered", False):
        return

    def list_multipart_uploads(backend: Any, bucket_name: str) -> dict[str, Any]:
        uploads: dict[str, Any] = original(backend, bucket_name)
        if _REQUEST_TLS.get() is None:
            return uploads
        ordered = sorted(uploads.items(), key=lambda item: item[1].key_name.encode())
        return dict(ordered)

    list_multipart_uploads._securestore_ordered = True  # type: ignore[attr-defined]
    S3Backend.list_multipart_uploads = list_multipart_uploads  # type: ignore[method-assign,assignment]


#: What moto answers as every upload's start, whenever it was started.
_MOTO_INITIATED = "2010-11-10T20:48:33.000Z"
_UPLOAD_INITIATED = re.compile(
    r"(<UploadId>([^<]*)</UploadId>(?:(?!</Upload>).)*?<Initiated>)"
    + re.escape(_MOTO_INITIATED)
    + "(</Initiated>)",
    re.DOTALL,
)


def report_upload_initiation() -> None:
    """Make ListMultipartUploads report when each upload was started, for the requests
    this endpoint serves.

    moto answers one fixed date from 2010 for every upload, so ``uploads abort
    --older-than 7d`` would abort an upload started a second ago.
    """
    from moto.s3.models import FakeMultipart
    from moto.s3.responses import S3Response

    original = S3Response.list_multipart_uploads
    if getattr(original, "_securestore_initiated", False):
        return
    started: dict[str, str] = {}
    create = FakeMultipart.__init__

    def init(upload: Any, *args: Any, **kwargs: Any) -> None:
        create(upload, *args, **kwargs)
        now = datetime.datetime.now(datetime.UTC)
        started[upload.id] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

    def list_multipart_uploads(response: Any) -> Any:
        status, headers, body = original(response)
        if _REQUEST_TLS.get() is None:
            return status, headers, body
        text = body.decode() if isinstance(body, bytes) else body

        def when(match: re.Match[str]) -> str:
            upload_id = html.unescape(match.group(2))
            return match.group(1) + started.get(upload_id, _MOTO_INITIATED) + match.group(3)

        text = _UPLOAD_INITIATED.sub(when, text)
        return status, headers, text.encode() if isinstance(body, bytes) else text

    list_multipart_uploads._securestore_initiated = True  # type: ignore[attr-defined]
    FakeMultipart.__init__ = init  # type: ignore[method-assign,assignment]
    S3Response.list_multipart_uploads = list_multipart_uploads  # type: ignore[method-assign,assignment]


def report_default_encryption_on_create() -> None:
    """Make CreateMultipartUpload report the bucket's default encryption it applies to a
    request that names none, as S3 does, for the requests this endpoint serves.

    moto applies the default when the upload completes but reports only the
    request's own headers when it is created, so an upload that asks for the
    bucket's default (:class:`securestore.modes.BucketDefault`) could not be
    confirmed before its data is sent. (A bucket without a default is left as moto
    has it: no encryption, where S3 applies SSE-S3.)
    """
    from moto.s3.responses import S3Response

    original = S3Response._key_response_post
    if getattr(original, "_securestore_default", False):
        return

    def key_response_post(
        response: Any, request: Any, body: bytes, bucket_name: str, query: Any, key_name: str
    ) -> Any:
        answer = original(response, request, body, bucket_name, query, key_name)
        creating = body == b"" and "uploads" in query
        if (
            _REQUEST_TLS.get() is None
            or not creating
            or request.headers.get("x-amz-server-side-encryption")
            or not isinstance(answer, tuple)
            or len(answer) != 3
        ):
            return answer
        stored = response.backend.get_bucket_encryption(bucket_name) or {}
        rule = stored.get("Rule") or {}
        applied = rule.get("ApplyServerSideEncryptionByDefault") or {}
        algorithm = applied.get("SSEAlgorithm")
        if algorithm:
            status, headers, text = answer
            headers = {**headers, "x-amz-server-side-encryption": algorithm}
            if applied.get("KMSMasterKeyID") and algorithm != "AES256":
                headers["x-amz-server-side-encryption-aws-kms-key-id"] = applied["KMSMasterKeyID"]
            if algorithm == "aws:kms" and str(rule.get("BucketKeyEnabled")).lower() == "true":
                headers["x-amz-server-side-encryption-bucket-key-enabled"] = "true"
            answer = status, headers, text
        return answer

    key_response_post._securestore_default = True  # type: ignore[attr-defined]
    S3Response._key_response_post = key_response_post  # type: ignore[method-assign,assignment]
