"""S3 Encryption Client content metadata: detection, parsing, refusal of mixed formats.

Follows ``awslabs/aws-encryption-sdk-specification`` ``s3-encryption/data-format/
content-metadata.md`` and ``metadata-strategy.md`` (docs/format.md, "S3 Encryption
Client objects"). Pure: no I/O. Mapkeys are given without the ``x-amz-meta-``
prefix (boto3's ``Metadata``), lower-cased.

Three format versions exist, told apart by their encrypted-data-key mapkey:
V1 ``x-amz-key``, V2 ``x-amz-key-v2``, V3 ``x-amz-3`` (compressed names). Anything
that mixes the mapkeys of two versions is refused: a writer never produces it,
and an attacker who can write metadata or an instruction file could otherwise
steer a reader from a committing V3 object to a non-committing V2 reading.
"""

from __future__ import annotations

import base64
import binascii
import email.header
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from securestore.errors import FormatError

__all__ = [
    "INSTRUCTION_SUFFIX",
    "S3EC_MAPKEYS",
    "ContentMetadata",
    "has_s3ec_metadata",
    "needs_instruction_file",
    "parse_content_metadata",
    "parse_instruction_file",
]

INSTRUCTION_SUFFIX = ".instruction"

KEY_V1 = "x-amz-key"
KEY_V2 = "x-amz-key-v2"
MATDESC = "x-amz-matdesc"
IV = "x-amz-iv"
WRAP_ALG = "x-amz-wrap-alg"
CEK_ALG = "x-amz-cek-alg"
TAG_LEN = "x-amz-tag-len"
UNENCRYPTED_LENGTH = "x-amz-unencrypted-content-length"
INSTRUCTION_MARKER = "x-amz-crypto-instr-file"
CONTENT_CIPHER_V3 = "x-amz-c"
ENCRYPTED_DATA_KEY_V3 = "x-amz-3"
MAT_DESC_V3 = "x-amz-m"
ENCRYPTION_CONTEXT_V3 = "x-amz-t"
WRAP_ALG_V3 = "x-amz-w"
KEY_COMMITMENT_V3 = "x-amz-d"
MESSAGE_ID_V3 = "x-amz-i"

_V1_V2_SHARED = frozenset({MATDESC, IV})
_V1_ONLY = frozenset({KEY_V1})
_V2_ONLY = frozenset({KEY_V2, WRAP_ALG, CEK_ALG, TAG_LEN})
_V3_ONLY = frozenset(
    {
        CONTENT_CIPHER_V3,
        ENCRYPTED_DATA_KEY_V3,
        MAT_DESC_V3,
        ENCRYPTION_CONTEXT_V3,
        WRAP_ALG_V3,
        KEY_COMMITMENT_V3,
        MESSAGE_ID_V3,
    }
)
#: Every mapkey an S3EC writer uses (an instruction file may hold nothing else).
S3EC_MAPKEYS = (
    _V1_V2_SHARED | _V1_ONLY | _V2_ONLY | _V3_ONLY | {UNENCRYPTED_LENGTH, INSTRUCTION_MARKER}
)
#: V3 content metadata that must stay in the object metadata (metadata-strategy.md).
_V3_OBJECT_ONLY = frozenset({CONTENT_CIPHER_V3, KEY_COMMITMENT_V3, MESSAGE_ID_V3})
#: V3's two-digit wrapping algorithm codes (content-metadata.md, ``x-amz-w``).
_WRAP_CODES = {"02": "AES/GCM", "12": "kms+context", "22": "RSA-OAEP-SHA1"}
MAX_INSTRUCTION_FILE = 64 * 1024
_MAX_VALUE = 16 * 1024


@dataclass(frozen=True)
class ContentMetadata:
    """What an S3EC object needs for decryption, whatever version and strategy stored it.

    ``content_cipher`` is ``AES/GCM/NoPadding``, ``AES/CBC/PKCS5Padding`` or ``115``
    (the committing suite 0x0073). ``context`` is the KMS encryption context
    (V2 ``x-amz-matdesc`` with ``kms+context``, V3 ``x-amz-t``); ``description``
    the raw keyrings' material description (V1/V2 ``x-amz-matdesc``, V3 ``x-amz-m``).
    """

    version: int
    wrap_alg: str
    encrypted_key: bytes = field(repr=False)
    content_cipher: str
    iv: bytes = b""
    context: Mapping[str, str] = field(default_factory=dict)
    description: Mapping[str, str] = field(default_factory=dict)
    commitment: bytes = b""
    message_id: bytes = b""
    instruction_file: bool = False


def has_s3ec_metadata(metadata: Mapping[str, str]) -> bool:
    """Whether any S3EC mapkey is present (the object claims to be S3EC-encrypted)."""
    return any(name.lower() in S3EC_MAPKEYS for name in metadata)


def needs_instruction_file(metadata: Mapping[str, str]) -> bool:
    """Whether the data key lives in ``KEY.instruction`` rather than in the object metadata.

    True for V3 content metadata without ``x-amz-3`` and for objects that carry no
    encrypted data key at all (V1/V2 instruction files hold everything).
    """
    names = {name.lower() for name in metadata}
    return not names & {KEY_V1, KEY_V2, ENCRYPTED_DATA_KEY_V3}


def parse_instruction_file(body: bytes) -> dict[str, str]:
    """The mapkeys of an instruction file: one JSON object of S3EC mapkeys and strings."""
    if len(body) > MAX_INSTRUCTION_FILE:
        raise FormatError("the S3EC instruction file is implausibly large")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FormatError("the S3EC instruction file is not JSON") from None
    if not isinstance(parsed, dict):
        raise FormatError("the S3EC instruction file is not a JSON object")
    unknown = sorted(name for name in parsed if str(name).lower() not in S3EC_MAPKEYS)
    if unknown:
        raise FormatError(
            "the S3EC instruction file holds mapkeys no S3EC writes: "
            + ", ".join(repr(name[:40]) for name in unknown[:5])
        )
    if not all(isinstance(value, str) for value in parsed.values()):
        raise FormatError("the S3EC instruction file holds a value that is not a string")
    return {str(name).lower(): value for name, value in parsed.items()}


def parse_content_metadata(
    object_metadata: Mapping[str, str], instruction: Mapping[str, str] | None = None
) -> ContentMetadata:
    """Parse and check the content metadata of one object.

    ``instruction`` holds the mapkeys of its instruction file when one was read.

    Raises:
        FormatError: a required mapkey is missing or malformed, mapkeys of two format
            versions are mixed, or the instruction file holds what must stay in the
            object metadata.
    """
    own = {
        name.lower(): value
        for name, value in object_metadata.items()
        if name.lower() in S3EC_MAPKEYS
    }
    merged = dict(own)
    if instruction is not None:
        forbidden = sorted(set(instruction) & _V3_OBJECT_ONLY)
        if forbidden:
            raise FormatError(
                "the S3EC instruction file holds " + ", ".join(forbidden) + ", which V3 keeps "
                "in the object metadata only: it may have been tampered with"
            )
        if not own.keys() <= _V3_OBJECT_ONLY | {INSTRUCTION_MARKER, UNENCRYPTED_LENGTH}:
            raise FormatError(
                "the object carries S3EC content metadata and an instruction file as well: "
                "an illegal combination (one of them may have been tampered with)"
            )
        merged.update(instruction)
    merged.pop(INSTRUCTION_MARKER, None)
    versions = {
        version
        for version, exclusive in ((1, _V1_ONLY), (2, _V2_ONLY), (3, _V3_ONLY))
        if merged.keys() & exclusive
    }
    if len(versions) > 1:
        raise FormatError(
            "the object's S3EC metadata mixes format versions "
            + " and ".join(f"V{v}" for v in sorted(versions))
            + ": no writer produces that (it may have been tampered with)"
        )
    if versions & {3} and merged.keys() & _V1_V2_SHARED:
        raise FormatError("the object's S3EC metadata mixes V3 with legacy (V1/V2) mapkeys")
    for name, value in merged.items():
        if len(value) > _MAX_VALUE:
            raise FormatError(f"the S3EC mapkey {name} is implausibly long")
    found = instruction is not None
    if versions == {3}:
        return _v3(merged, found)
    if versions == {2}:
        return _v2(merged, found)
    if versions == {1}:
        return _v1(merged, found)
    raise FormatError("the object's S3EC metadata has no encrypted data key")


def _require(metadata: Mapping[str, str], name: str) -> str:
    value = metadata.get(name)
    if value is None:
        raise FormatError(f"the S3EC metadata lacks the required mapkey {name}")
    return value


def _base64(metadata: Mapping[str, str], name: str) -> bytes:
    try:
        return base64.b64decode(_require(metadata, name), validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"the S3EC mapkey {name} is not base64") from None


def _json_map(metadata: Mapping[str, str], name: str) -> dict[str, str]:
    """A JSON string map, after undoing S3's RFC 2047 encoding of non-ASCII metadata."""
    text = metadata.get(name)
    if text is None:
        return {}
    if "=?" in text:
        try:
            text = str(email.header.make_header(email.header.decode_header(text)))
        except (ValueError, LookupError):
            raise FormatError(f"the S3EC mapkey {name} has a malformed RFC 2047 encoding") from None
    try:
        parsed = json.loads(text)
    except ValueError:
        raise FormatError(f"the S3EC mapkey {name} is not JSON") from None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
    ):
        raise FormatError(f"the S3EC mapkey {name} is not a map of strings")
    return parsed


def _v3(metadata: Mapping[str, str], instruction: bool) -> ContentMetadata:
    code = _require(metadata, WRAP_ALG_V3)
    wrap = _WRAP_CODES.get(code)
    if wrap is None:
        raise FormatError(f"unknown S3EC V3 wrapping algorithm code {code[:8]!r}")
    return ContentMetadata(
        version=3,
        wrap_alg=wrap,
        encrypted_key=_base64(metadata, ENCRYPTED_DATA_KEY_V3),
        content_cipher=_require(metadata, CONTENT_CIPHER_V3),
        context=_json_map(metadata, ENCRYPTION_CONTEXT_V3),
        description=_json_map(metadata, MAT_DESC_V3),
        commitment=_base64(metadata, KEY_COMMITMENT_V3),
        message_id=_base64(metadata, MESSAGE_ID_V3),
        instruction_file=instruction,
    )


def _v2(metadata: Mapping[str, str], instruction: bool) -> ContentMetadata:
    wrap = _require(metadata, WRAP_ALG)
    cipher = _require(metadata, CEK_ALG)
    tag = metadata.get(TAG_LEN)
    if cipher == "AES/GCM/NoPadding" and tag != "128":
        raise FormatError("an S3EC V2 AES-GCM object must declare x-amz-tag-len 128")
    if cipher != "AES/GCM/NoPadding" and tag is not None:
        raise FormatError("an S3EC V2 object declares x-amz-tag-len for a cipher without tags")
    matdesc = _json_map(metadata, MATDESC)
    kms = wrap in ("kms+context", "kms")
    return ContentMetadata(
        version=2,
        wrap_alg=wrap,
        encrypted_key=_base64(metadata, KEY_V2),
        content_cipher=cipher,
        iv=_base64(metadata, IV),
        context=matdesc if kms else {},
        description={} if kms else matdesc,
        instruction_file=instruction,
    )


def _v1(metadata: Mapping[str, str], instruction: bool) -> ContentMetadata:
    matdesc = _json_map(metadata, MATDESC)
    return ContentMetadata(
        version=1,
        # V1 did not record the wrap: a KMS data key has ``kms_cmk_id`` in its matdesc.
        wrap_alg="kms" if "kms_cmk_id" in matdesc else "legacy",
        encrypted_key=_base64(metadata, KEY_V1),
        content_cipher="AES/CBC/PKCS5Padding",
        iv=_base64(metadata, IV),
        context=matdesc if "kms_cmk_id" in matdesc else {},
        description=matdesc,
        instruction_file=instruction,
    )
