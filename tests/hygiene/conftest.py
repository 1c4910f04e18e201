"""Fixtures for the secret-hygiene tests: DEBUG log capture, recording keyrings, key material."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.message.materials import DecryptionMaterials, EncryptionMaterials
from tests.conftest import Endpoint
from tests.hygiene.scanner import SecretScanner

#: Every logger the library or its dependencies may write key material to.
LOGGERS = ("", "securestore", "botocore", "boto3", "urllib3", "aws_encryption_sdk", "s3transfer")

_FORMAT = "%(name)s %(levelname)s %(message)s"


class DebugLogs:
    """Everything logged at DEBUG and above, through caplog and a root handler of our own."""

    def __init__(self, caplog: pytest.LogCaptureFixture, stream: io.StringIO) -> None:
        self._caplog = caplog
        self._stream = stream

    @property
    def records(self) -> list[logging.LogRecord]:
        """The records caplog captured."""
        return self._caplog.records

    def clear(self) -> None:
        """Forget everything captured so far."""
        self._caplog.clear()
        self._stream.seek(0)
        self._stream.truncate()

    def texts(self, *, only: str | None = None) -> list[tuple[str, str]]:
        """``(where, text)`` pairs to scan; ``only`` keeps records of one logger tree."""
        if only is not None:
            formatter = logging.Formatter(_FORMAT)
            lines = [
                formatter.format(r)
                for r in self._caplog.records
                if r.name == only or r.name.startswith(only + ".")
            ]
            return [(f"logs of {only}", "\n".join(lines))]
        return [("caplog", self._caplog.text), ("root handler", self._stream.getvalue())]


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[DebugLogs]:
    """Capture the root logger and every library logger at DEBUG for one test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    root.addHandler(handler)
    try:
        yield DebugLogs(caplog, stream)
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


class Recording:
    """Mixin for keyring subclasses: remembers every plaintext data key it produces or unwraps.

    The copy is taken at once: the library wipes its data-key buffers after use.
    """

    scanner: SecretScanner

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        result: EncryptionMaterials = super().wrap(materials)  # type: ignore[misc]
        self._remember(result.data_key)
        return result

    def unwrap(self, materials: DecryptionMaterials, encrypted_data_keys: Any) -> Any:
        result = super().unwrap(materials, encrypted_data_keys)  # type: ignore[misc]
        self._remember(result.data_key)
        return result

    def _remember(self, data_key: bytearray | None) -> None:
        if data_key is not None and any(data_key):
            self.scanner.add_data_key(bytes(data_key))


def recording(cls: type, scanner: SecretScanner, *args: Any, **kwargs: Any) -> Any:
    """An instance of a recording subclass of keyring class ``cls``."""
    sub = type(f"Recording{cls.__name__}", (Recording, cls), {})
    keyring = sub(*args, **kwargs)
    keyring.scanner = scanner
    return keyring


@pytest.fixture
def scanner(tls_endpoint: Endpoint) -> SecretScanner:
    """A scanner that already knows the endpoint's secret access key."""
    found = SecretScanner()
    found.add("AWS secret access key", tls_endpoint.env["AWS_SECRET_ACCESS_KEY"])
    return found


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[tuple[rsa.RSAPrivateKey, bytes], tuple[rsa.RSAPrivateKey, bytes]]:
    """Two RSA-2048 private keys with their PEM text (one right, one wrong)."""
    out = []
    for _ in range(2):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        out.append((key, pem))
    return out[0], out[1]
