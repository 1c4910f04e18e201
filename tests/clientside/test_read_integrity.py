"""What decides whether a read decrypts, and what a second fetch of a signed message may release.

The caller's configuration (a keyring in play or not) decides, never the
object's ``securestore-*`` metadata, which anyone who can write to the bucket
controls. Signed messages are verified in one pass and read from later GETs:
every later frame must be the very frame the signature covered.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody

from securestore import (
    AuthenticationError,
    Connection,
    FormatError,
    IntegrityError,
    KeyringError,
    SecureStore,
)
from securestore.clientside import CONTEXT_BUCKET, CONTEXT_KEY, ClientSide
from securestore.keyrings import MultiKeyring, RawAesKeyring
from securestore.message import DecryptionMaterials, HeaderLimits, parse
from securestore.message.derivation import content_key
from securestore.message.frames import REGULAR_FRAME_OVERHEAD, FrameCipher
from tests.clientside.conftest import (
    AES_KEY,
    AES_NAME,
    NAMESPACE,
    CountingKeyring,
    MiB,
    Raw,
    assert_rejected,
    flip,
)
from tests.conftest import SMALL_TRANSFER, Endpoint
from tests.message import esdk

F = 4096
KEY = "integrity/object.bin"
PLAIN = b"the attacker's replacement, stored without any marker\n" * 50


@pytest.fixture(params=["client-side-store", "sse-store-with-keyring", "require-client-side"])
def keyring_store(
    request: pytest.FixtureRequest,
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
) -> tuple[SecureStore, dict[str, Any]]:
    """The three ways a keyring is in play for a read, with the read options each needs."""
    if request.param == "client-side-store":
        return make_store(encryption=ClientSide(aes_keyring)), {}
    if request.param == "sse-store-with-keyring":
        return make_store(keyring=aes_keyring), {}
    return make_store(), {"require": ClientSide(aes_keyring)}


@pytest.fixture
def written(make_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring) -> bytes:
    plaintext = os.urandom(3 * F + 11)
    make_store(encryption=ClientSide(aes_keyring, frame_length=F)).put(KEY, plaintext)
    return plaintext


# -- the metadata marker decides nothing --------------------------------------------------------


def test_plaintext_substituted_for_a_client_side_object_is_refused(
    keyring_store: tuple[SecureStore, dict[str, Any]],
    written: bytes,
    raw: Raw,
    tmp_path: Path,
) -> None:
    store, read = keyring_store
    raw.put(KEY, PLAIN, marker=False)  # what anyone with s3:PutObject can do
    caught = assert_rejected(store, KEY, tmp_path, FormatError, **read)
    assert (caught.bucket, caught.key) == (store.bucket, KEY)
    assert "not a valid client-side message" in caught.message
    assert caught.hint is not None and "allow_plaintext" in caught.hint
    # Forging the marker as well changes nothing.
    raw.put(KEY, PLAIN, marker=True)
    assert_rejected(store, KEY, tmp_path, FormatError, **read)


def test_allow_plaintext_returns_a_non_message_as_stored(
    keyring_store: tuple[SecureStore, dict[str, Any]], raw: Raw, tmp_path: Path
) -> None:
    store, read = keyring_store
    raw.put(KEY, PLAIN, marker=False)
    assert store.get(KEY, allow_plaintext=True, **read) == PLAIN
    with store.open(KEY, allow_plaintext=True, **read) as reader:
        assert reader.read_range(5, 10) == PLAIN[5:15]
    store.download_file(KEY, tmp_path / "plain.bin", allow_plaintext=True, **read)
    assert (tmp_path / "plain.bin").read_bytes() == PLAIN
    raw.put(KEY, b"", marker=False)
    assert store.get(KEY, allow_plaintext=True, **read) == b""


def test_allow_plaintext_still_decrypts_and_authenticates_messages(
    keyring_store: tuple[SecureStore, dict[str, Any]],
    written: bytes,
    raw: Raw,
    tmp_path: Path,
) -> None:
    store, read = keyring_store
    assert store.get(KEY, allow_plaintext=True, **read) == written
    message = raw.get(KEY)
    raw.put(KEY, flip(message, len(message) - 20), marker=False)
    assert_rejected(store, KEY, tmp_path, AuthenticationError, allow_plaintext=True, **read)
    raw.put(KEY, message[: len(message) - 40], marker=False)  # truncated: never returned raw
    assert_rejected(store, KEY, tmp_path / "t", IntegrityError, allow_plaintext=True, **read)


def test_client_side_object_with_stripped_metadata_is_decrypted(
    keyring_store: tuple[SecureStore, dict[str, Any]],
    written: bytes,
    raw: Raw,
    tmp_path: Path,
) -> None:
    store, read = keyring_store
    raw.put(KEY, raw.get(KEY), marker=False)
    assert store.get(KEY, **read) == written
    with store.open(KEY, **read) as reader:
        assert reader.read() == written
    store.download_file(KEY, tmp_path / "out.bin", **read)
    assert (tmp_path / "out.bin").read_bytes() == written


@pytest.mark.parametrize("marker", [True, False], ids=["marked", "stripped"])
def test_read_without_keyring_refuses_a_client_side_message(
    make_store: Callable[..., SecureStore],
    written: bytes,
    raw: Raw,
    marker: bool,
    tmp_path: Path,
) -> None:
    raw.put(KEY, raw.get(KEY), marker=marker)
    caught = assert_rejected(make_store(), KEY, tmp_path, KeyringError)
    assert "client-side encrypted" in caught.message
    assert caught.hint is not None
    assert "--client-side" in caught.hint and "aws s3 cp" in caught.hint


def test_read_without_keyring_returns_plain_objects(
    make_store: Callable[..., SecureStore], raw: Raw, tmp_path: Path
) -> None:
    """Bytes that only start like a message, or nothing at all, are plain objects."""
    store = make_store()
    for body in (b"", b"\x02", b"\x02\x04\x78" + bytes(200), PLAIN):
        raw.put(KEY, body, marker=True)
        assert store.get(KEY) == body
        store.download_file(KEY, tmp_path / "o.bin")
        assert (tmp_path / "o.bin").read_bytes() == body


# -- signed messages: the second fetch is bound to the verifying pass ---------------------------


def _serve_forged_after(connection: Connection, forged: bytes, honest: int) -> list[str]:
    """Answer every GetObject after the first ``honest`` ones with ``forged``'s bytes.

    The ETag stays the same, as from an endpoint (or proxy) that lies.
    """
    served: list[str] = []
    events = connection.client("s3").meta.events

    def remember_range(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["securestore-test-range"] = params["headers"].get("Range", "")

    def forge(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        served.append("honest" if len(served) < honest else "forged")
        if served[-1] == "honest":
            return
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", context["securestore-test-range"])
        assert match is not None
        start = int(match.group(1))
        end = int(match.group(2)) + 1 if match.group(2) else len(forged)
        data = forged[start:end]
        parsed["Body"].close()
        parsed["Body"] = StreamingBody(io.BytesIO(data), len(data))
        parsed["ContentLength"] = len(data)

    events.register("before-call.s3.GetObject", remember_range)
    events.register("after-call.s3.GetObject", forge)
    return served


def _insider_forgery(message: bytes, seq: int, plaintext: bytes) -> bytes:
    """Replace frame ``seq`` by one that a holder of the data key can make.

    Its GCM tag verifies under the message's own content key: only the signature
    (and its binding to later reads) tells it apart.
    """
    header = parse(message)
    keyring = RawAesKeyring(NAMESPACE, AES_NAME, AES_KEY)
    materials = keyring.unwrap(
        DecryptionMaterials(header.suite, header.encryption_context), header.encrypted_data_keys
    )
    assert materials.data_key is not None
    key = content_key(header.suite, materials.data_key, header.message_id)
    cipher = FrameCipher(header.suite, key, header.message_id, header.frame_length)
    lo = header.length + (seq - 1) * (header.frame_length + REGULAR_FRAME_OVERHEAD)
    hi = lo + header.frame_length + REGULAR_FRAME_OVERHEAD
    frame = cipher.encrypt_frame(seq, plaintext, final=False)
    assert len(frame) == hi - lo
    return message[:lo] + bytes(frame) + message[hi:]


def _stream(store: SecureStore, out: bytearray) -> None:
    """Like ``get`` to stdout: release each piece as soon as the reader hands it out."""
    with store.open(KEY) as reader:
        for piece in reader:
            out += piece


def _seek_read(store: SecureStore, out: bytearray) -> None:
    with store.open(KEY) as reader:
        reader.seek(F + 3)
        out += reader.read(5)


def _download(store: SecureStore, out: bytearray, folder: Path) -> None:
    store.download_file(KEY, folder / "out.bin")
    out += (folder / "out.bin").read_bytes()


#: Each read path of a signed message (it adds what it releases to ``out``), and the
#: plaintext slice it releases.
READS_OF_SIGNED: dict[str, tuple[Callable[[SecureStore, bytearray, Path], None], slice]] = {
    "read": (lambda store, out, _: out.extend(store.open(KEY).read()), slice(None)),
    "read_range": (
        lambda store, out, _: out.extend(store.open(KEY).read_range(F, 10)),
        slice(F, F + 10),
    ),
    "seek-read": (lambda store, out, _: _seek_read(store, out), slice(F + 3, F + 8)),
    "stream": (lambda store, out, _: _stream(store, out), slice(None)),
    "get": (lambda store, out, _: out.extend(store.get(KEY)), slice(None)),
    "download_file": (lambda store, out, tmp: _download(store, out, tmp), slice(None)),
}


@pytest.fixture
def signed(raw: Raw, bucket: str) -> tuple[bytes, bytes]:
    # Over 1 MiB: a streaming reader hands out a first 1 MiB piece before the end.
    plaintext = os.urandom(2 * MiB + 7)
    message = esdk.esdk_encrypt(
        plaintext,
        esdk.aes_master_key(NAMESPACE, AES_NAME, AES_KEY),
        frame_length=F,
        algorithm=esdk.COMMITTING_SIGNED,
        context={CONTEXT_BUCKET: bucket, CONTEXT_KEY: KEY},
    )
    raw.put(KEY, message, marker=False)
    return plaintext, message


@pytest.mark.parametrize("read", sorted(READS_OF_SIGNED))
def test_signed_message_frames_fetched_after_verification_must_be_the_signed_ones(
    tls_endpoint: Endpoint,
    bucket: str,
    aes_keyring: RawAesKeyring,
    signed: tuple[bytes, bytes],
    read: str,
    tmp_path: Path,
) -> None:
    plaintext, message = signed
    forged_plain = b"F" * F
    forged = _insider_forgery(message, 2, forged_plain)
    fault_connection = tls_endpoint.connection()  # its own client: handlers stay here
    store = SecureStore(
        bucket,
        encryption=ClientSide(aes_keyring),
        connection=fault_connection,
        transfer=SMALL_TRANSFER,
    )
    do_read, expected = READS_OF_SIGNED[read]
    # Control: without forgery the read returns the plaintext.
    released = bytearray()
    do_read(store, released, tmp_path)
    assert released == plaintext[expected]
    (tmp_path / "out.bin").unlink(missing_ok=True)
    # The probe and the verifying pass see the signed message; later GETs the forgery.
    served = _serve_forged_after(fault_connection, forged, honest=2)
    released = bytearray()
    with pytest.raises(AuthenticationError):
        do_read(store, released, tmp_path)
    assert "forged" in served
    assert forged_plain[:5] not in released
    assert list(tmp_path.iterdir()) == []


def test_signed_message_is_unwrapped_once_per_open(
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    signed: tuple[bytes, bytes],
) -> None:
    plaintext, _ = signed
    counting = CountingKeyring(aes_keyring)
    store = make_store(encryption=ClientSide(counting))
    with store.open(KEY) as reader:
        assert reader.read() == plaintext
        reader.seek(0)  # backwards: no second pass, no second unwrap
        assert reader.read(F + 1) == plaintext[: F + 1]
        assert reader.read_range(2 * F, 9) == plaintext[2 * F : 2 * F + 9]
    assert counting.unwraps == 1


def test_header_over_the_readers_limits_keeps_its_own_wording(
    make_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring
) -> None:
    """A well-formed message past the reader's limits is not called a non-message."""
    other = RawAesKeyring(NAMESPACE, "second", bytes(32))
    writer = make_store(
        encryption=ClientSide(MultiKeyring(generator=aes_keyring, children=[other]))
    )
    writer.put(KEY, b"two data keys")
    strict = make_store(encryption=ClientSide(aes_keyring, limits=HeaderLimits(1)))
    with pytest.raises(FormatError) as caught:
        strict.get(KEY)
    assert "limit is 1" in caught.value.message
    assert "not a valid client-side message" not in caught.value.message
    with pytest.raises(FormatError):
        strict.get(KEY, allow_plaintext=True)  # never returned as ciphertext
