"""Search captured text for key material in every encoding it is likely to be printed in.

A :class:`SecretScanner` holds labelled secrets. Each secret is searched as raw
text (bytes decoded as latin-1), as the escaped body of a Python ``bytes`` repr,
as lower- and upper-case hex, and as standard and URL-safe base64 with and
without padding; a PEM private key is also searched line by line (every full
body line) and as its DER bytes and private exponent. Needles shorter than
:data:`MIN_NEEDLE` characters are refused: they would match by chance.

Known blind spot: base64 of a secret embedded at an offset that is not a
multiple of three inside a longer base64 blob is not found.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.message.derivation import content_key
from securestore.message.suites import AlgorithmSuite

__all__ = ["MIN_NEEDLE", "Leak", "SecretInLogsError", "SecretScanner", "encodings"]

#: The shortest needle searched for.
MIN_NEEDLE = 12


class SecretInLogsError(AssertionError):
    """A secret was found in captured log output (told apart from repr and error leaks)."""


@dataclass(frozen=True)
class Leak:
    """One secret found in one captured text."""

    label: str
    form: str
    where: str
    offset: int
    excerpt: str

    def __str__(self) -> str:
        return f"{self.label} ({self.form}) in {self.where} at {self.offset}: ...{self.excerpt}..."


def encodings(value: bytes) -> dict[str, str]:
    """Every printable form of ``value`` the scanner looks for, by form name."""
    forms = {
        "raw": value.decode("latin-1"),
        "bytes-repr": repr(value)[2:-1],
        "hex": value.hex(),
        "HEX": value.hex().upper(),
        "base64": base64.b64encode(value).decode(),
        "base64-unpadded": base64.b64encode(value).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(value).decode(),
        "base64url-unpadded": base64.urlsafe_b64encode(value).decode().rstrip("="),
    }
    return {name: needle for name, needle in forms.items() if len(needle) >= MIN_NEEDLE}


def pem_body_lines(pem: bytes) -> list[str]:
    """The full base64 body lines of a PEM document (the short last line is skipped)."""
    lines = [line.strip() for line in pem.decode("ascii").splitlines()]
    body = [line for line in lines if line and not line.startswith("-----")]
    return [line for line in body if len(line) >= 48]


class SecretScanner:
    """Labelled secrets and a search of captured text for any form of any of them."""

    def __init__(self) -> None:
        self._needles: dict[str, tuple[str, str]] = {}
        #: Plaintext data keys seen (see :meth:`add_data_key`).
        self.data_keys: set[bytes] = set()

    def __len__(self) -> int:
        return len({label for label, _ in self._needles.values()})

    def add(self, label: str, value: bytes | bytearray | str) -> None:
        """A secret given as bytes (every encoding) or as text (searched as written)."""
        if isinstance(value, str):
            self.add_text(label, value)
            value = value.encode("utf-8")
        for form, needle in encodings(bytes(value)).items():
            self._needles.setdefault(needle, (label, form))

    def add_data_key(self, key: bytes) -> None:
        """A plaintext data key, remembered so content keys can be derived later."""
        self.data_keys.add(key)
        self.add("data key", key)

    def add_content_keys(self, suite: AlgorithmSuite, message_id: bytes) -> None:
        """The content keys every known data key derives for message ``message_id``."""
        for key in list(self.data_keys):
            if len(key) == suite.key_length:
                self.add("content key", content_key(suite, key, message_id))

    def add_text(self, label: str, text: str, form: str = "text") -> None:
        """A secret searched exactly as written."""
        if len(text) < MIN_NEEDLE:
            raise ValueError(f"secret {label!r} is too short to search for reliably")
        self._needles.setdefault(text, (label, form))

    def add_rsa_private_key(self, label: str, key: rsa.RSAPrivateKey, pem: bytes | None) -> None:
        """An RSA private key: its PEM body lines, DER bytes and private exponent."""
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.add(f"{label} (DER)", der)
        for line in pem_body_lines(pem or b""):
            self.add_text(f"{label} (PEM line)", line, "pem-line")
        numbers = key.private_numbers()
        d = numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")
        self.add(f"{label} (d)", d)
        self.add_text(f"{label} (d)", str(numbers.d), "decimal")
        for name, prime in (("p", numbers.p), ("q", numbers.q)):
            self.add_text(f"{label} ({name})", str(prime), "decimal")
            self.add(f"{label} ({name})", prime.to_bytes((prime.bit_length() + 7) // 8, "big"))

    def find(self, text: str | bytes, where: str) -> list[Leak]:
        """Every (secret, form) found in ``text``; bytes are decoded as latin-1."""
        haystack = text.decode("latin-1") if isinstance(text, bytes) else text
        leaks = []
        for needle, (label, form) in self._needles.items():
            offset = haystack.find(needle)
            if offset >= 0:
                before = haystack[max(0, offset - 60) : offset]
                after = haystack[offset + len(needle) : offset + len(needle) + 20]
                excerpt = f"{before}<<{label}/{form}>>{after}".replace("\n", "\\n")
                leaks.append(Leak(label, form, where, offset, excerpt))
        return leaks

    def find_all(self, texts: Iterable[tuple[str, str | bytes]]) -> list[Leak]:
        """:meth:`find` over ``(where, text)`` pairs."""
        return [leak for where, text in texts for leak in self.find(text, where)]

    def assert_clean(
        self,
        texts: Iterable[tuple[str, str | bytes]],
        *,
        error: type[AssertionError] = AssertionError,
    ) -> None:
        """Raise ``error`` listing every leak found in ``texts``."""
        leaks = self.find_all(texts)
        if leaks:
            raise error(f"{len(leaks)} secret(s) leaked:\n" + "\n".join(map(str, leaks[:20])))
