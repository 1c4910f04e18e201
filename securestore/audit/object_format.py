"""The format of one stored object, told from its HEAD metadata (and first bytes if read).

Pure: the same classifier serves the sampled scan (``securestore audit
--sample-objects``), its checks (``S3.OBJ.n``) and the S3 Batch Operations task
that classifies every object of a bucket (:mod:`securestore.batch_scan`). The
S3 Encryption Client's metadata is parsed by :mod:`securestore.s3ec.metadata`,
the decoder's own parser, so the auditor and the reader never disagree about
what an object is (docs/format.md, "S3 Encryption Client objects").

Formats: ``esdk`` (a securestore / AWS Encryption SDK message), ``s3ec-v1``,
``s3ec-v2``, ``s3ec-v3``, ``s3ec`` (an S3EC object whose version lives in an
instruction file that was missing or unreadable), ``s3ec-invalid`` (metadata no
S3EC writer produces: mixed versions, missing or malformed mapkeys),
``instruction-file`` (a ``KEY.instruction`` object) and ``plain`` (no
client-side encryption; server-side encryption, if any, is in the sample's
``sse``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from securestore.audit.samples import ObjectSample
from securestore.errors import FormatError
from securestore.s3ec.metadata import (
    INSTRUCTION_MARKER,
    INSTRUCTION_SUFFIX,
    S3EC_MAPKEYS,
    ContentMetadata,
    has_s3ec_metadata,
    needs_instruction_file,
    parse_content_metadata,
    parse_instruction_file,
)

__all__ = [
    "CRYPTO_METADATA_KEYS",
    "CURRENT_WRAPS",
    "Classification",
    "classify",
    "crypto_metadata",
    "is_esdk_header",
    "is_instruction_key",
]

#: securestore's own (informational) format marker, ``securestore.clientside.FORMAT_METADATA``.
_SECURESTORE_MARKER = "securestore-format"

#: The user-metadata names whose values the scan keeps: the S3EC mapkeys and the marker.
CRYPTO_METADATA_KEYS = S3EC_MAPKEYS | {_SECURESTORE_MARKER}

#: The wraps the current S3 Encryption Clients (V2 format and later) write; any
#: other (``AESWrap``, ``kms`` without context, V1's unrecorded AES/ECB or RSA
#: PKCS#1 v1.5 wrap) is a legacy wrap.
CURRENT_WRAPS = frozenset({"kms+context", "AES/GCM", "RSA-OAEP-SHA1"})

#: Suite ids of AWS Encryption SDK message format version 1 (after 0x01 0x80) ...
_ESDK_V1_SUITES = frozenset(
    {0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378}
)
#: ... and version 2 (after 0x02): the committing suites securestore writes.
_ESDK_V2_SUITES = frozenset({0x0478, 0x0578})

_UNAUTHENTICATED = "AES/CBC/PKCS5Padding"
#: The content ciphers each format version carries (as ``securestore.s3ec.content.suite_for``).
_CIPHERS = {1: {_UNAUTHENTICATED}, 2: {"AES/GCM/NoPadding", _UNAUTHENTICATED}, 3: {"115"}}
_LEGACY_WRAP_NAMES = {
    "legacy": "V1's unrecorded key wrap (AES/ECB or RSA PKCS#1 v1.5)",
    "kms": "kms (no encryption context)",
    "AESWrap": "AESWrap (RFC 3394, no key commitment to the cipher)",
}


@dataclass(frozen=True)
class Classification:
    """What one object is.

    ``legacy`` lists why an S3EC object uses a legacy mode: unauthenticated content
    encryption (AES-CBC) or a legacy key wrap. ``problem`` says why the format
    could not be established (malformed or mixed metadata, an instruction file
    missing or unreadable); ``instruction_missing`` is the case of an S3EC object
    whose ``KEY.instruction`` does not exist.
    """

    format: str
    content_cipher: str | None = None
    wrap_alg: str | None = None
    instruction_file: bool = False
    legacy: tuple[str, ...] = ()
    problem: str | None = None
    instruction_missing: bool = False

    @property
    def client_side(self) -> bool:
        """True for objects that claim client-side encryption (ESDK or any S3EC form)."""
        return self.format not in ("plain", "instruction-file")

    @property
    def s3ec(self) -> bool:
        """True for every S3 Encryption Client form (valid or not)."""
        return self.format.startswith("s3ec")

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible form, without empty fields (for reports and job results)."""
        out: dict[str, object] = {"format": self.format}
        for name in ("content_cipher", "wrap_alg", "problem"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.instruction_file:
            out["instruction_file"] = True
        if self.legacy:
            out["legacy"] = list(self.legacy)
        return out


def crypto_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The entries of ``metadata`` (boto3's ``Metadata``) the classifier reads, names
    lower-cased; everything else of the user metadata is left out."""
    return {
        name.lower(): value
        for name, value in metadata.items()
        if name.lower() in CRYPTO_METADATA_KEYS
    }


def is_esdk_header(head: bytes) -> bool:
    """True if ``head`` starts like an AWS Encryption SDK / securestore message."""
    if len(head) >= 4 and head[0] == 0x01 and head[1] == 0x80:
        return int.from_bytes(head[2:4], "big") in _ESDK_V1_SUITES
    if len(head) >= 3 and head[0] == 0x02:
        return int.from_bytes(head[1:3], "big") in _ESDK_V2_SUITES
    return False


def is_instruction_key(key: str, metadata: Mapping[str, str]) -> bool:
    """True for a ``KEY.instruction`` object: named so, and carrying no S3EC metadata but
    the instruction-file marker (an object of that name encrypted itself is not one)."""
    names = {name.lower() for name in metadata if name.lower() in S3EC_MAPKEYS}
    return (
        key.endswith(INSTRUCTION_SUFFIX)
        and len(key) > len(INSTRUCTION_SUFFIX)
        and names <= {INSTRUCTION_MARKER}
    )


def classify(sample: ObjectSample) -> Classification:
    """The format of the sampled object (see the module docstring for the names)."""
    metadata = sample.crypto_metadata
    if sample.head is not None and is_esdk_header(sample.head):
        return Classification("esdk")
    if is_instruction_key(sample.key, metadata):
        return Classification("instruction-file")
    found = sample.instruction
    if not has_s3ec_metadata(metadata):
        # V1/V2 objects whose metadata went to an instruction file carry no mapkey at all:
        # only the existence of KEY.instruction tells them apart.
        if found is not None and found.is_ok and found.value is not None:
            return _with_instruction(metadata, found.value)
        # The marker alone is informational: it counts only when the bytes were not read.
        claimed = sample.head is None and _SECURESTORE_MARKER in metadata
        return Classification("esdk" if claimed else "plain")
    instruction: dict[str, str] | None = None
    if needs_instruction_file(metadata):
        if found is None:
            return Classification(
                "s3ec", instruction_file=True, problem="instruction file not read"
            )
        if not found.is_ok:
            return Classification(
                "s3ec", instruction_file=True, problem=f"instruction file unreadable: {found.error}"
            )
        if found.value is None:
            return Classification(
                "s3ec",
                instruction_file=True,
                problem=f"instruction file {sample.key}{INSTRUCTION_SUFFIX} is missing",
                instruction_missing=True,
            )
        try:
            instruction = parse_instruction_file(found.value)
        except FormatError as exc:
            return Classification("s3ec-invalid", instruction_file=True, problem=exc.message)
    try:
        parsed = parse_content_metadata(metadata, instruction)
    except FormatError as exc:
        return Classification(
            "s3ec-invalid", instruction_file=instruction is not None, problem=exc.message
        )
    return _s3ec(parsed)


def _with_instruction(metadata: Mapping[str, str], body: bytes) -> Classification:
    try:
        parsed = parse_content_metadata(metadata, parse_instruction_file(body))
    except FormatError as exc:
        return Classification("s3ec-invalid", instruction_file=True, problem=exc.message)
    return _s3ec(parsed)


def _s3ec(parsed: ContentMetadata) -> Classification:
    if parsed.content_cipher not in _CIPHERS[parsed.version]:
        return Classification(
            "s3ec-invalid",
            instruction_file=parsed.instruction_file,
            problem=f"the content cipher {parsed.content_cipher[:40]!r} cannot appear in a "
            f"V{parsed.version} object",
        )
    legacy: list[str] = []
    if parsed.content_cipher == _UNAUTHENTICATED:
        legacy.append("unauthenticated content encryption AES/CBC/PKCS5Padding")
    if parsed.wrap_alg not in CURRENT_WRAPS:
        name = _LEGACY_WRAP_NAMES.get(parsed.wrap_alg, parsed.wrap_alg[:60])
        legacy.append(f"legacy key wrap {name}")
    return Classification(
        f"s3ec-v{parsed.version}",
        content_cipher=parsed.content_cipher,
        wrap_alg=parsed.wrap_alg,
        instruction_file=parsed.instruction_file,
        legacy=tuple(legacy),
    )
