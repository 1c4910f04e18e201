"""Round trips of client-side objects through the store, against the TLS endpoint.

Every keyring kind writes bodies at and around frame boundaries and across
multipart parts; every read path (get, open, ranged reads, download_file)
returns exactly the plaintext. Frames are 4 KiB here so that multi-frame
objects are small; multipart objects use 64 KiB frames (80 frames per 5 MiB part).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from securestore import (
    ConfigurationError,
    NoMatchingKeyError,
    SecureStore,
    SseKms,
)
from securestore.clientside import (
    CONTEXT_BUCKET,
    CONTEXT_KEY,
    FORMAT_METADATA,
    FORMAT_VALUE,
    LENGTH_METADATA,
    ClientSide,
)
from securestore.clientside_reader import ClientSideReader
from securestore.keyrings import AwsKmsKeyring, MultiKeyring, RawAesKeyring, RawRsaKeyring
from securestore.message import AlgorithmSuite
from securestore.message.sizes import ciphertext_length
from tests.clientside.conftest import PART, KiB, MiB, Raw, Unseekable, chunks

F = 4096
SMALL_SIZES = [0, 1, F - 1, F, F + 1, 2 * F + 1]
BIG_FRAME = 64 * KiB


@dataclass
class Case:
    """One keyring set-up: a store that writes, and stores that must each read alone."""

    writer: SecureStore
    readers: list[SecureStore]


KEYRING_CASES = ["raw-aes", "raw-rsa", "aws-kms", "multi-kms", "raw-aes+sse-kms"]


@pytest.fixture(params=KEYRING_CASES)
def case_factory(
    request: pytest.FixtureRequest, make_store: Callable[..., SecureStore]
) -> Callable[[int], Case]:
    """``factory(frame_length)`` builds the writer and reader stores of one keyring case."""

    def build(frame_length: int) -> Case:
        def store(keyring: object, **options: object) -> SecureStore:
            return make_store(
                encryption=ClientSide(keyring, frame_length=frame_length, **options)  # type: ignore[arg-type]
            )

        name = request.param
        if name == "raw-aes":
            aes: RawAesKeyring = request.getfixturevalue("aes_keyring")
            return Case(store(aes), [store(aes)])
        if name == "raw-rsa":
            public: RawRsaKeyring = request.getfixturevalue("rsa_public_keyring")
            private: RawRsaKeyring = request.getfixturevalue("rsa_private_keyring")
            return Case(store(public), [store(private)])
        if name == "aws-kms":
            kms: AwsKmsKeyring = request.getfixturevalue("kms_keyring")
            return Case(store(kms), [store(kms)])
        if name == "multi-kms":
            first: AwsKmsKeyring = request.getfixturevalue("kms_keyring")
            second: AwsKmsKeyring = request.getfixturevalue("second_kms_keyring")
            multi = MultiKeyring(generator=first, children=[second])
            return Case(store(multi), [store(multi), store(first), store(second)])
        aes = request.getfixturevalue("aes_keyring")
        kms_key: str = request.getfixturevalue("kms_key")
        return Case(store(aes, sse=SseKms(kms_key)), [store(aes)])

    return build


def read_everything(store: SecureStore, key: str, folder: Path) -> Iterator[tuple[str, bytes]]:
    """The plaintext as returned by each read path."""
    yield "get", store.get(key)
    with store.open(key) as reader:
        assert isinstance(reader, ClientSideReader)
        yield "open.read(1000)*", b"".join(chunks(reader, 1000))
        yield "open.read_range", reader.read_range(0, reader.size)
        reader.seek(0)
        yield "open.read", reader.read()
    target = folder / "out.bin"
    store.download_file(key, target)
    yield "download_file", target.read_bytes()


def assert_reads_back(store: SecureStore, key: str, plaintext: bytes, folder: Path) -> None:
    for how, got in read_everything(store, key, folder):
        assert len(got) == len(plaintext), how
        assert got == plaintext, how


def test_keyring_round_trip_at_frame_boundaries(
    case_factory: Callable[[int], Case], tmp_path: Path
) -> None:
    case = case_factory(F)
    bodies = {size: os.urandom(size) for size in SMALL_SIZES}
    for size, plaintext in bodies.items():
        info = case.writer.put(f"dir/ünï code-{size}.bin", plaintext)
        assert info.size == case.writer.head(f"dir/ünï code-{size}.bin").size
    first, *others = case.readers
    for size, plaintext in bodies.items():
        key = f"dir/ünï code-{size}.bin"
        if size in (0, 2 * F + 1):
            assert_reads_back(first, key, plaintext, tmp_path)
        else:
            assert first.get(key) == plaintext, size
    for reader in others:
        assert reader.get(f"dir/ünï code-{2 * F + 1}.bin") == bodies[2 * F + 1]


def test_keyring_round_trip_multipart(case_factory: Callable[[int], Case], tmp_path: Path) -> None:
    case = case_factory(BIG_FRAME)
    plaintext = os.urandom(PART + BIG_FRAME + 3)
    case.writer.put("multi", Unseekable(plaintext))
    for reader in case.readers:
        assert reader.get("multi") == plaintext
        with reader.open("multi") as stream:
            assert stream.read_range(PART - 5, 10) == plaintext[PART - 5 : PART + 5]
        reader.download_file("multi", tmp_path / "multi.bin")
        assert (tmp_path / "multi.bin").read_bytes() == plaintext


# -- write paths ------------------------------------------------------------------------------


def put_bytes(store: SecureStore, key: str, data: bytes, tmp: Path) -> None:
    store.put(key, data)


def put_unseekable(store: SecureStore, key: str, data: bytes, tmp: Path) -> None:
    store.put(key, Unseekable(data))


def put_iterable(store: SecureStore, key: str, data: bytes, tmp: Path) -> None:
    store.put(key, (data[i : i + 333_333] for i in range(0, len(data), 333_333)))


def upload_file(store: SecureStore, key: str, data: bytes, tmp: Path) -> None:
    source = tmp / "source.bin"
    source.write_bytes(data)
    store.upload_file(source, key)


WRITERS = [put_bytes, put_unseekable, put_iterable, upload_file]


@pytest.mark.parametrize("write", WRITERS, ids=lambda w: w.__name__)
@pytest.mark.parametrize("size", SMALL_SIZES)
def test_write_paths_at_frame_boundaries(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    raw: Raw,
    write: Callable[..., None],
    size: int,
    tmp_path: Path,
) -> None:
    store = cs_store(aes_keyring, frame_length=F)
    plaintext = os.urandom(size)
    write(store, "k", plaintext, tmp_path)
    stored = raw.stored("k")
    # We write n // F + 1 frames: the final one holds n % F bytes (empty for exact multiples,
    # as ESDK 3.x readers require).
    assert len(stored.data) == ciphertext_length(size, F, stored.header.length)
    assert stored.layout.frame_count == size // F + 1
    assert stored.layout.final_length == size % F
    assert size < 32 or plaintext[:32] not in stored.data
    assert store.get("k") == plaintext
    with store.open("k") as reader:
        assert reader.read() == plaintext


@pytest.mark.parametrize("size", SMALL_SIZES)
def test_read_paths_at_frame_boundaries(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, size: int, tmp_path: Path
) -> None:
    store = cs_store(aes_keyring, frame_length=F)
    plaintext = os.urandom(size)
    store.put("k", plaintext)
    assert_reads_back(store, "k", plaintext, tmp_path)


MULTIPART_CASES = [
    (put_bytes, 2 * PART),
    (put_unseekable, 2 * PART + BIG_FRAME + 1),
    (put_iterable, PART + 1),
    (upload_file, PART + 1),
    (upload_file, 2 * PART),
]


@pytest.mark.parametrize(
    ("write", "size"),
    MULTIPART_CASES,
    ids=[f"{write.__name__}-{size}" for write, size in MULTIPART_CASES],
)
def test_write_paths_multipart(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    raw: Raw,
    write: Callable[..., None],
    size: int,
    tmp_path: Path,
) -> None:
    store = cs_store(aes_keyring, frame_length=BIG_FRAME)
    plaintext = os.urandom(size)
    write(store, "mp", plaintext, tmp_path)
    head = raw.s3.head_object(Bucket=raw.bucket, Key="mp")
    # A multipart ETag ends with "-<parts>": the object really went up in parts.
    assert head["ETag"].strip('"').endswith(f"-{-(-size // PART)}")
    stored = raw.stored("mp")
    assert len(stored.data) == ciphertext_length(size, BIG_FRAME, stored.header.length)
    assert store.get("mp") == plaintext
    target = tmp_path / "mp.bin"
    store.download_file("mp", target)
    assert target.read_bytes() == plaintext


def test_multipart_with_frames_longer_than_half_a_part(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring
) -> None:
    store = cs_store(aes_keyring, frame_length=3 * MiB)
    plaintext = os.urandom(2 * PART)
    store.put("big-frames", plaintext)
    assert store.get("big-frames") == plaintext


def test_known_size_is_planned_within_10000_parts(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring
) -> None:
    # Planning only (the object would be 50 GiB): the private seam is the only way in.
    store = cs_store(aes_keyring, frame_length=100_000)
    size = 10_000 * PART
    plan = store._writes.plan("huge", store.encryption, size, {})
    assert -(-size // plan.part_size) <= 10_000


def test_progress_counts_plaintext_bytes(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, tmp_path: Path
) -> None:
    store = cs_store(aes_keyring, frame_length=BIG_FRAME)
    plaintext = os.urandom(PART + 12_345)
    sent: list[int] = []
    store.put("p", Unseekable(plaintext), progress=sent.append)
    assert sum(sent) == len(plaintext)
    received: list[int] = []
    store.download_file("p", tmp_path / "p.bin", progress=received.append)
    assert sum(received) == len(plaintext)


# -- ranged reads -----------------------------------------------------------------------------


def range_cases(size: int, frame: int) -> list[tuple[int, int]]:
    return [
        (0, 0),
        (0, 1),
        (frame - 1, 1),
        (frame - 1, 2),
        (frame, 1),
        (frame, frame),
        (frame - 1, frame + 2),
        (2 * frame, 3 * frame),
        (3, 3 * frame + 7),
        (size - 1, 1),
        (size - 1, 10),
        (size - frame - 3, frame + 3),
        (size, 0),
        (size, 5),
        (size + 100, 5),
        (0, size),
        (0, size + 1000),
        (7, 0),
    ]


def check_ranges(store: SecureStore, key: str, plaintext: bytes, frame: int) -> None:
    size = len(plaintext)
    with store.open(key) as reader:
        assert reader.size == size
        for start, length in range_cases(size, frame):
            want = plaintext[start : start + length]
            assert reader.read_range(start, length) == want, ("read_range", start, length)
            assert reader.seek(start) == start
            assert reader.read(length) == want, ("seek+read", start, length)
            assert reader.tell() == min(start + length, max(start, size)), (start, length)
        # Backwards and relative seeks, then the end.
        reader.seek(-5, io.SEEK_END)
        assert reader.read() == plaintext[-5:]
        assert reader.read() == b""
        reader.seek(frame + 1)
        reader.seek(-2, io.SEEK_CUR)
        assert reader.read(3) == plaintext[frame - 1 : frame + 2]
        reader.seek(0, io.SEEK_END)
        assert reader.read(1) == b""
        with pytest.raises(ValueError):
            reader.seek(-1)
        with pytest.raises(ConfigurationError):
            reader.read_range(-1, 5)
        with pytest.raises(ConfigurationError):
            reader.read_range(0, -1)


def test_ranges_at_and_across_frame_boundaries(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring
) -> None:
    store = cs_store(aes_keyring, frame_length=F)
    plaintext = os.urandom(5 * F + 17)
    store.put("r", plaintext)
    check_ranges(store, "r", plaintext, F)


def test_ranges_when_the_length_is_a_multiple_of_the_frame(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring
) -> None:
    store = cs_store(aes_keyring, frame_length=F)
    plaintext = os.urandom(4 * F)
    store.put("r", plaintext)
    check_ranges(store, "r", plaintext, F)


def test_ranges_across_multipart_parts(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring
) -> None:
    store = cs_store(aes_keyring, frame_length=BIG_FRAME)
    plaintext = os.urandom(PART + 100)
    store.put("r", Unseekable(plaintext))
    with store.open("r") as reader:
        for start, length in [
            (PART - 1, 2),
            (PART - BIG_FRAME - 3, 2 * BIG_FRAME + 6),
            (PART - 1, 102),
            (PART, 100),
            (PART + 99, 1),
            (PART + 100, 1),
        ]:
            want = plaintext[start : start + length]
            assert reader.read_range(start, length) == want, (start, length)
            reader.seek(start)
            assert reader.read(length) == want, (start, length)


def test_empty_object_reads(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, tmp_path: Path
) -> None:
    store = cs_store(aes_keyring, frame_length=F)
    store.put("empty", b"")
    with store.open("empty") as reader:
        assert reader.size == 0
        assert reader.read_range(0, 10) == b""
        assert reader.read_range(5, 10) == b""
        assert reader.read(10) == b""
        reader.seek(100)
        assert reader.read() == b""


# -- what is stored ---------------------------------------------------------------------------


def test_head_and_inspect_describe_the_message(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, bucket: str
) -> None:
    store = cs_store(aes_keyring, frame_length=F, context={"tenant": "t-1"})
    info = store.put("x/y.txt", b"hello", metadata={"owner": "me"})
    head = store.head("x/y.txt")
    assert info.encryption.client_side == head.encryption.client_side
    assert head.size == info.size == ciphertext_length(5, F, store.inspect("x/y.txt").length)
    assert head.encryption.client_side is not None
    assert head.encryption.client_side[FORMAT_METADATA] == FORMAT_VALUE
    assert head.encryption.client_side[LENGTH_METADATA] == "5"
    assert head.metadata["owner"] == "me"
    header = store.inspect("x/y.txt")
    assert header.suite is AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    assert header.frame_length == F
    assert dict(header.encryption_context) == {
        CONTEXT_BUCKET: bucket,
        CONTEXT_KEY: "x/y.txt",
        "tenant": "t-1",
    }
    assert [edk.provider_id for edk in header.encrypted_data_keys] == [aes_keyring.namespace]


def test_stream_writes_do_not_claim_a_length(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring
) -> None:
    store = cs_store(aes_keyring, frame_length=F)
    store.put("s", Unseekable(b"abc"))
    assert store.get("s") == b"abc"
    marker = store.head("s").encryption.client_side
    assert marker is not None and LENGTH_METADATA not in marker


def test_sse_kms_under_client_side(
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    kms_key: str,
    tmp_path: Path,
) -> None:
    store = make_store(encryption=ClientSide(aes_keyring, sse=SseKms(kms_key), frame_length=F))
    plaintext = os.urandom(3 * F + 5)
    store.put("both", plaintext)
    head = store.head("both")
    assert head.encryption.algorithm == "aws:kms"
    assert head.encryption.kms_key_id == kms_key
    assert head.encryption.client_side is not None
    assert head.encryption.client_side[FORMAT_METADATA] == FORMAT_VALUE
    assert head.encryption.describe().startswith("client-side + sse-kms")
    # Demanding the server-side layer on read still decrypts the client-side one.
    assert store.get("both", require=SseKms(kms_key)) == plaintext
    # So does a server-side store that was given the keyring.
    sse_reader = make_store(keyring=aes_keyring)
    assert sse_reader.get("both", require=SseKms(kms_key)) == plaintext
    sse_reader.download_file("both", tmp_path / "both.bin")
    assert (tmp_path / "both.bin").read_bytes() == plaintext


def test_sse_store_with_require_client_side_decrypts(
    make_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring
) -> None:
    make_store(encryption=ClientSide(aes_keyring, frame_length=F)).put("c", b"secret")
    plain_store = make_store()
    assert plain_store.get("c", require=ClientSide(aes_keyring)) == b"secret"


def test_large_context_makes_a_header_longer_than_one_probe(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, tmp_path: Path
) -> None:
    context = {f"k{i}": "v" * 1500 for i in range(8)}
    store = cs_store(aes_keyring, frame_length=F, context=context)
    plaintext = os.urandom(2 * F + 3)
    store.put("long-header", plaintext)
    assert store.inspect("long-header").length > 4096 * 2
    assert_reads_back(store, "long-header", plaintext, tmp_path)


def test_public_key_only_rsa_keyring_cannot_read(
    cs_store: Callable[..., SecureStore], rsa_public_keyring: RawRsaKeyring
) -> None:
    store = cs_store(rsa_public_keyring, frame_length=F)
    store.put("rsa", b"data")
    with pytest.raises(NoMatchingKeyError) as caught:
        store.get("rsa")
    assert caught.value.tried == (
        f"raw-rsa {rsa_public_keyring.namespace}/rsa-key-1 (public key only)",
    )


@pytest.mark.parametrize(
    "bad", [{"securestore:key": "x"}, {"aws-crypto-public-key": "x"}, {"": "x"}]
)
def test_reserved_or_invalid_context_is_refused(
    aes_keyring: RawAesKeyring,
    cs_store: Callable[..., SecureStore],
    bad: dict[str, str],
) -> None:
    with pytest.raises(ConfigurationError):
        ClientSide(aes_keyring, context=bad)
    store = cs_store(aes_keyring, frame_length=F)
    store.put("c", b"x")
    with pytest.raises(ConfigurationError):
        store.get("c", context=bad)
