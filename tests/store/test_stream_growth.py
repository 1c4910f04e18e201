"""A stream of unknown length whose parts grow: uploaded with the planned part sizes.

A small :class:`TransferConfig` makes the parts grow after two parts (5, 5, 10,
10, 20 MiB, ...), so that a 32 MiB stream crosses two growth boundaries. Each
UploadPart is counted as it is sent; the object must read back whole, for SSE
and for client-side messages (whose parts must stay whole frames, with the
sequence numbers running on across parts of different sizes).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from securestore_cli.main import main_group

from securestore import Connection, SecureStore, TransferConfig
from securestore.clientside import ClientSide
from securestore.keyrings import RawAesKeyring
from securestore.message.frames import REGULAR_FRAME_OVERHEAD
from tests.conftest import Endpoint

MiB = 1024 * 1024
FRAME = 64 * 1024
GROWING = TransferConfig(
    part_size=5 * MiB, concurrency=2, stream_steady_parts=2, stream_growth_every=2
)
PLANNED = [5 * MiB, 5 * MiB, 10 * MiB, 10 * MiB, 2 * MiB + 12345]
KEYRING = RawAesKeyring("securestore-test", "growth", bytes(range(32)))


class Stream:
    """Only ``read``: a body of unknown length, served in short pieces like a pipe."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        n = min(n if n >= 0 else len(self.data), 256 * 1024)
        piece = self.data[self.pos : self.pos + n]
        self.pos += len(piece)
        return piece


def record_parts(connection: Connection) -> list[tuple[int, int]]:
    """(PartNumber, body length) of every UploadPart sent through ``connection``."""
    sent: list[tuple[int, int]] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        sent.append((params["PartNumber"], len(params["Body"])))

    connection.client("s3").meta.events.register("provide-client-params.s3.UploadPart", note)
    return sent


@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_a_stream_crossing_growth_boundaries_uploads_with_the_planned_parts(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    tmp_path: Path,
    client_side: bool,
) -> None:
    mode = ClientSide(KEYRING, frame_length=FRAME) if client_side else None
    store = fault_store(transfer=GROWING, **({"encryption": mode} if mode else {}))
    sent = record_parts(fault_connection)
    data = os.urandom(sum(PLANNED))
    store.put("grown", Stream(data))
    numbers = sorted(sent)
    assert [number for number, _ in numbers] == [1, 2, 3, 4, 5]
    lengths = [length for _, length in numbers]
    if client_side:
        # Whole frames: each plaintext part of n frames is n ciphertext frames;
        # part 1 also carries the header, the last part the final frame.
        frame_size = FRAME + REGULAR_FRAME_OVERHEAD
        middle = [planned // FRAME * frame_size for planned in PLANNED[1:-1]]
        assert lengths[1:-1] == middle
        assert lengths[0] > PLANNED[0] // FRAME * frame_size
    else:
        assert lengths == PLANNED
    assert store.get("grown") == data
    store.download_file("grown", tmp_path / "grown")
    assert hashlib.sha256((tmp_path / "grown").read_bytes()).digest() == (
        hashlib.sha256(data).digest()
    )
    with store.open("grown") as reader:
        # A range across the boundary of two parts of different sizes.
        at = 20 * MiB - 1000
        assert reader.read_range(at, 5000) == data[at : at + 5000]


def test_an_expected_size_gives_fixed_parts_up_front(
    fault_store: Callable[..., SecureStore], fault_connection: Connection
) -> None:
    store = fault_store(transfer=GROWING)
    sent = record_parts(fault_connection)
    data = os.urandom(16 * MiB + 1)
    store.put("hinted", Stream(data), expected_size=len(data))
    assert sorted(length for _, length in sent) == [MiB + 1] + [5 * MiB] * 3
    assert store.get("hinted") == data


def test_put_accepts_expected_size_for_stdin_only(
    tls_endpoint: Endpoint, bucket: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = dict(tls_endpoint.env)
    data = os.urandom(6 * MiB)
    url = f"s3://{bucket}/cli-hinted"
    put = runner.invoke(
        main_group, ["put", "-", url, "--expected-size", str(len(data))], input=data, env=env
    )
    assert put.exit_code == 0, put.output
    get = runner.invoke(main_group, ["get", url, str(tmp_path / "back")], env=env)
    assert get.exit_code == 0, get.output
    assert (tmp_path / "back").read_bytes() == data
    source = tmp_path / "file"
    source.write_bytes(b"x")
    refused = runner.invoke(main_group, ["put", str(source), url, "--expected-size", "1"], env=env)
    assert refused.exit_code == 2
    assert "error: --expected-size goes with SRC -" in refused.output
    negative = runner.invoke(main_group, ["put", "-", url, "--expected-size", "-1"], env=env)
    assert negative.exit_code == 2
