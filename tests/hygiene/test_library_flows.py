"""No key material in logs, reprs or errors, in any library flow, with every logger at DEBUG.

Each mode runs the whole facade against the TLS endpoint (put, get, open with
ranges and seeks, upload_file, download_file, head, list, inspect) and its
failure paths (missing object, wrong key, tampering, relocation, context
mismatch, unknown KMS key, ``require`` mismatch). The secrets searched for are
the endpoint's secret access key, every raw AES and RSA key in play, every
plaintext data key a keyring produced or unwrapped (recorded by a subclass of
the keyring) and the content keys derived from them.

Checks run in order of how much they say about securestore itself: reprs,
``str``/``repr``/hint/traceback of every error, then the library's own loggers,
then every log record (including botocore's).
"""

from __future__ import annotations

import os
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from securestore import (
    ClientSide,
    Connection,
    DsseKms,
    IntegrityError,
    KeyringError,
    KeyUnavailableError,
    NotFoundError,
    PolicyError,
    SecureStore,
    SseKms,
    SseS3,
)
from securestore.clientside import message_context
from securestore.clientside_reader import ClientSideReader
from securestore.errors import AuthenticationError, SecureStoreError
from securestore.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    DiscoveryFilter,
    MultiKeyring,
    RawAesKeyring,
    RawRsaKeyring,
)
from securestore.message import DEFAULT_SUITE, Encryptor
from securestore.message.materials import DecryptionMaterials, EncryptionMaterials, Keyring
from tests.conftest import SMALL_TRANSFER
from tests.hygiene.conftest import DebugLogs, recording
from tests.hygiene.scanner import SecretInLogsError, SecretScanner

DATA = random.Random(20261128).randbytes(20_000)
FRAME = 4096
AES_KEY = bytes(range(7, 39))
OTHER_AES_KEY = bytes(range(101, 133))
UNKNOWN_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000"

MODES = [
    pytest.param("sse-s3", id="sse-s3"),
    pytest.param("sse-kms", id="sse-kms"),
    pytest.param("dsse-kms", id="dsse-kms"),
    pytest.param("client-side-aes", id="client-side-aes+sse-kms"),
    pytest.param("client-side-rsa", id="client-side-rsa"),
    pytest.param("client-side-kms", id="client-side-kms"),
    pytest.param("client-side-multi", id="client-side-multi"),
]


@pytest.fixture(scope="module")
def other_kms_key(connection: Connection) -> str:
    arn: str = connection.client("kms").create_key(Description="hygiene, wrong key")["KeyMetadata"][
        "Arn"
    ]
    return arn


@dataclass
class Flow:
    """What one flow touched: objects whose repr is checked, errors it raised."""

    objects: list[tuple[str, object]] = field(default_factory=list)
    errors: list[tuple[str, SecureStoreError]] = field(default_factory=list)

    def expect(self, label: str, call: Callable[[], Any], kind: type[SecureStoreError]) -> None:
        """Run ``call``, which must raise ``kind``; keep the error for scanning."""
        with pytest.raises(SecureStoreError) as info:
            call()
        assert isinstance(info.value, kind), f"{label}: {info.value!r} is not a {kind.__name__}"
        self.errors.append((label, info.value))

    def texts(self) -> list[tuple[str, str]]:
        out = []
        for label, obj in self.objects:
            out += [(f"repr({label})", repr(obj)), (f"str({label})", str(obj))]
        for label, exc in self.errors:
            out += [
                (f"str({label})", str(exc)),
                (f"repr({label})", repr(exc)),
                (f"{label}.hint", exc.hint or ""),
                (f"vars({label})", repr(vars(exc))),
                (f"traceback({label})", "".join(traceback.format_exception(exc))),
            ]
        return out


@dataclass
class Setup:
    mode: Any
    keyrings: list[tuple[str, object]]
    wrong: Keyring | None


def _setup(
    name: str,
    scanner: SecretScanner,
    connection: Connection,
    kms_key: str,
    other_kms_key: str,
    rsa_keys: Any,
) -> Setup:
    (rsa_key, rsa_pem), (other_rsa, other_pem) = rsa_keys
    scanner.add("raw AES key", AES_KEY)
    scanner.add("other raw AES key", OTHER_AES_KEY)
    scanner.add_rsa_private_key("RSA private key", rsa_key, rsa_pem)
    scanner.add_rsa_private_key("other RSA private key", other_rsa, other_pem)
    kms = connection.client("kms")
    context = {"team": "hygiene"}
    if name == "sse-s3":
        return Setup(SseS3(), [], None)
    if name == "sse-kms":
        return Setup(SseKms(kms_key, context=context), [], None)
    if name == "dsse-kms":
        return Setup(DsseKms(kms_key, context=context), [], None)
    keyring: Any
    wrong: Keyring
    if name == "client-side-aes":
        keyring = recording(RawAesKeyring, scanner, "securestore", "default", AES_KEY)
        wrong = RawAesKeyring("securestore", "default", OTHER_AES_KEY)
        sse: Any = SseKms(kms_key)
    elif name == "client-side-rsa":
        keyring = recording(RawRsaKeyring, scanner, "securestore", "default", private_key=rsa_key)
        wrong = RawRsaKeyring("securestore", "default", private_key=other_rsa)
        sse = None
    elif name == "client-side-kms":
        keyring = recording(AwsKmsKeyring, scanner, kms_key, client=kms)
        wrong = MultiKeyring(
            children=[
                AwsKmsKeyring(other_kms_key, client=kms),
                AwsKmsDiscoveryKeyring(
                    client_factory=lambda region: kms,
                    discovery_filter=DiscoveryFilter("aws", ["999999999999"]),
                ),
            ]
        )
        sse = SseS3()
    else:
        keyring = recording(
            MultiKeyring,
            scanner,
            generator=RawAesKeyring("securestore", "default", AES_KEY),
            children=[
                AwsKmsKeyring(kms_key, client=kms),
                RawRsaKeyring("securestore", "rsa", public_key=rsa_key.public_key()),
            ],
        )
        wrong = MultiKeyring(
            children=[
                RawAesKeyring("securestore", "default", OTHER_AES_KEY),
                RawRsaKeyring("securestore", "rsa", private_key=other_rsa),
            ]
        )
        sse = None
    mode = ClientSide(keyring, sse=sse, context=context, frame_length=FRAME)
    return Setup(mode, [("keyring", keyring), ("wrong keyring", wrong)], wrong)


def _run_flow(store: SecureStore, setup: Setup, scanner: SecretScanner, tmp: Path) -> Flow:
    flow = Flow(
        objects=[
            ("store", store),
            ("connection", store.connection),
            ("mode", store.encryption),
            *setup.keyrings,
        ]
    )
    s3 = store.connection.client("s3")
    client_side = isinstance(setup.mode, ClientSide)

    flow.objects.append(("put ObjectInfo", store.put("obj", DATA, metadata={"purpose": "x"})))
    assert store.get("obj") == DATA
    with store.open("obj") as reader:
        assert reader.read_range(5000, 3000) == DATA[5000:8000]
        reader.seek(12_345)
        assert reader.read(100) == DATA[12_345:12_445]
        flow.objects.append(("reader", reader))
        if isinstance(reader, ClientSideReader):
            flow.objects += [("decryptor", reader.decryptor), ("header", reader.header)]
    source = tmp / "source.bin"
    source.write_bytes(DATA)
    flow.objects.append(("upload ObjectInfo", store.upload_file(source, "file")))
    flow.objects.append(("download ObjectInfo", store.download_file("file", tmp / "out.bin")))
    assert (tmp / "out.bin").read_bytes() == DATA
    flow.objects.append(("head ObjectInfo", store.head("obj")))
    flow.objects += [(f"summary {s.key}", s) for s in store.list()]

    flow.expect("missing get", lambda: store.get("missing"), NotFoundError)
    flow.expect("missing head", lambda: store.head("missing"), NotFoundError)
    flow.expect(
        "missing download", lambda: store.download_file("missing", tmp / "x"), NotFoundError
    )
    if not client_side:
        other = SseS3() if isinstance(setup.mode, DsseKms) else DsseKms()
        flow.expect("require mismatch", lambda: store.get("obj", require=other), PolicyError)
        flow.expect(
            "unknown KMS key",
            lambda: store.put("x", b"x", encryption=SseKms("alias/hygiene-missing")),
            KeyUnavailableError,
        )
        return flow

    mode = setup.mode
    header = store.inspect("obj")
    flow.objects.append(("inspected header", header))
    for h in (header, store.inspect("file")):
        scanner.add_content_keys(h.suite, h.message_id)
    ctx = message_context(store.bucket, "obj", mode.context)
    encryptor = Encryptor(mode.keyring, encryption_context=ctx, frame_length=FRAME)
    scanner.add_content_keys(encryptor.suite, encryptor.header.message_id)
    materials = mode.keyring.wrap(EncryptionMaterials(DEFAULT_SUITE, ctx))
    unwrapped = mode.keyring.unwrap(
        DecryptionMaterials(DEFAULT_SUITE, ctx), materials.encrypted_data_keys
    )
    flow.objects += [
        ("encryptor", encryptor),
        ("frame cipher", encryptor._cipher),
        ("encryption materials", materials),
        ("decryption materials", unwrapped),
        *[(f"edk {i}", edk) for i, edk in enumerate(materials.encrypted_data_keys)],
    ]
    assert scanner.data_keys, "the recording keyring saw no data key"

    wrong = SecureStore(
        store.bucket,
        encryption=ClientSide(setup.wrong, context=mode.context),
        connection=store.connection,
    )
    flow.expect("wrong key", lambda: wrong.get("obj"), KeyringError)
    flow.expect(
        "context mismatch", lambda: store.get("obj", context={"team": "other"}), IntegrityError
    )
    s3.copy_object(
        Bucket=store.bucket, Key="copy", CopySource={"Bucket": store.bucket, "Key": "obj"}
    )
    flow.expect("relocated copy", lambda: store.get("copy"), IntegrityError)
    body = bytearray(s3.get_object(Bucket=store.bucket, Key="obj")["Body"].read())
    body[-40] ^= 0x01
    s3.put_object(Bucket=store.bucket, Key="obj", Body=bytes(body))
    flow.expect("tampered", lambda: store.get("obj"), AuthenticationError)
    flow.expect(
        "tampered download",
        lambda: store.download_file("obj", tmp / "tampered.bin"),
        AuthenticationError,
    )
    unknown = ClientSide(AwsKmsKeyring(UNKNOWN_KEY_ARN, client=store.connection.client("kms")))
    flow.expect(
        "unknown KMS key", lambda: store.put("x", b"x", encryption=unknown), KeyUnavailableError
    )
    return flow


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", MODES)
def test_flow_leaks_no_secret(
    name: str,
    debug_logs: DebugLogs,
    scanner: SecretScanner,
    make_store: Callable[..., SecureStore],
    connection: Connection,
    kms_key: str,
    other_kms_key: str,
    rsa_keys: Any,
    tmp_path: Path,
) -> None:
    setup = _setup(name, scanner, connection, kms_key, other_kms_key, rsa_keys)
    store = make_store(encryption=setup.mode, transfer=SMALL_TRANSFER)
    flow = _run_flow(store, setup, scanner, tmp_path)

    assert debug_logs.records, "nothing was captured: logging is not at DEBUG"
    assert any(r.name.startswith("botocore") for r in debug_logs.records)
    scanner.assert_clean(flow.texts())
    scanner.assert_clean(debug_logs.texts(only="securestore"))
    scanner.assert_clean(debug_logs.texts(), error=SecretInLogsError)


@pytest.mark.parametrize("operation", ["GenerateDataKey", "Encrypt", "Decrypt"])
def test_kms_keyring_calls_keep_data_keys_out_of_debug_logs(
    operation: str,
    debug_logs: DebugLogs,
    scanner: SecretScanner,
    connection: Connection,
    kms_key: str,
) -> None:
    """One KMS keyring call at DEBUG: botocore logs KMS request and response bodies
    (``Plaintext`` of GenerateDataKey, Encrypt, Decrypt) unless securestore redacts them."""
    keyring = recording(AwsKmsKeyring, scanner, kms_key, client=connection.client("kms"))
    ctx = {"purpose": "hygiene"}
    if operation == "Encrypt":
        data_key = bytearray(os.urandom(32))
        scanner.add_data_key(bytes(data_key))
        start = EncryptionMaterials(DEFAULT_SUITE, ctx, data_key)
    else:
        start = EncryptionMaterials(DEFAULT_SUITE, ctx)
    debug_logs.clear()
    wrapped = keyring.wrap(start)
    if operation == "Decrypt":
        debug_logs.clear()
        keyring.unwrap(DecryptionMaterials(DEFAULT_SUITE, ctx), wrapped.encrypted_data_keys)
    logged = {r.name for r in debug_logs.records}
    assert "botocore.endpoint" in logged
    scanner.assert_clean(debug_logs.texts(only="securestore"))
    scanner.assert_clean(
        [("caplog", "\n".join(r.getMessage() for r in debug_logs.records))],
        error=SecretInLogsError,
    )


@pytest.mark.parametrize("client_side", [False, True], ids=["sse-s3", "client-side"])
def test_object_plaintext_stays_out_of_debug_logs(
    client_side: bool, debug_logs: DebugLogs, make_store: Callable[..., SecureStore]
) -> None:
    """botocore turns S3 bodies into file objects before logging, and streams responses."""
    payload = b"CONFIDENTIAL-PAYLOAD-0123456789-" * 64
    watch = SecretScanner()
    watch.add_text("object plaintext", payload[:48].decode(), "plaintext")
    keyring = RawAesKeyring("securestore", "default", AES_KEY)
    store = make_store(encryption=ClientSide(keyring) if client_side else SseS3())
    store.put("plain", payload)
    with store.open("plain") as reader:
        assert reader.read_range(100, 200) == payload[100:300]
    assert store.get("plain") == payload
    assert any(r.name.startswith("botocore") for r in debug_logs.records)
    watch.assert_clean(debug_logs.texts())
