"""Part sizes of streams: pure arithmetic, no endpoint.

Fixed 8 MiB parts stopped a stream of unknown length at 78 GiB (10,000 parts).
A stream now keeps the configured size for a steady run of parts and then
grows, so that 10,000 parts hold S3's 5 TiB while memory (a function of the
current part size times the concurrency) stays what it was for the first 20 GiB.
"""

from __future__ import annotations

import io
import itertools

import pytest

from securestore import TransferConfig
from securestore.errors import ConfigurationError
from securestore.message.frames import REGULAR_FRAME_OVERHEAD
from securestore.parts import (
    MAX_OBJECT,
    MAX_PART,
    MAX_PARTS,
    MIN_PART,
    PartSchedule,
    growing_schedule,
)
from securestore.transfer import chunk_stream

MiB = 1024 * 1024
GiB = 1024 * MiB


def sizes(schedule: PartSchedule) -> list[int]:
    return [schedule.size(n) for n in range(1, MAX_PARTS + 1)]


def parts_for(schedule: PartSchedule, total: int) -> list[int]:
    """The sizes of the parts a ``total``-byte stream is cut into."""
    out, left = [], total
    for number in itertools.count(1):
        size = min(left, schedule.size(number))
        out.append(size)
        left -= size
        if left <= 0:
            return out
    raise AssertionError


def test_fixed_8_mib_parts_held_only_78_gib() -> None:
    assert PartSchedule.fixed(8 * MiB).capacity() == 78.125 * GiB


def test_the_default_stream_schedule_reaches_5_tib_within_s3_part_limits() -> None:
    schedule = TransferConfig().schedule_for(None)
    every = sizes(schedule)
    assert schedule.capacity() >= MAX_OBJECT
    assert sum(every) == schedule.capacity()
    assert all(MIN_PART <= size <= MAX_PART for size in every)
    assert every == sorted(every)
    # The largest part is as small as reaching 5 TiB allows with doubling sizes.
    assert max(every) == 1 * GiB
    assert PartSchedule(base=8 * MiB, steady=2560, every=1, ceiling=512 * MiB).capacity() < (
        MAX_OBJECT
    )


def test_a_20_gib_stream_keeps_8_mib_parts() -> None:
    schedule = TransferConfig().schedule_for(None)
    planned = parts_for(schedule, 20 * GiB)
    assert len(planned) == 2560
    assert set(planned) == {8 * MiB}
    # Peak buffered bytes are (concurrency + 2) parts of the current size: 48 MiB here.
    assert (TransferConfig().concurrency + 2) * max(planned) == 48 * MiB
    assert schedule.size(2561) == 16 * MiB


def test_offsets_are_the_sums_of_the_sizes_before() -> None:
    schedule = growing_schedule(5 * MiB, steady=3, every=2)
    total = 0
    for number in range(1, 200):
        assert schedule.offset(number) == total
        total += schedule.size(number)
    assert [schedule.size(n) // MiB for n in range(1, 9)] == [5, 5, 5, 10, 10, 20, 20, 40]


def test_an_explicit_pace_grows_to_the_largest_doubling_within_5_gib() -> None:
    schedule = growing_schedule(5 * MiB, steady=2, every=1)
    assert schedule.ceiling == 5 * GiB
    assert schedule.size(12) == 5 * GiB


@pytest.mark.parametrize("frame_length", [4096, 64 * 1024, 256 * 1024, 1 * MiB])
def test_client_side_schedules_are_whole_frames_within_5_gib_of_ciphertext(
    frame_length: int,
) -> None:
    frame_size = frame_length + REGULAR_FRAME_OVERHEAD
    schedule = TransferConfig().schedule_for(
        None,
        unit=frame_length,
        max_part=(MAX_PART - 16 * MiB) // frame_size * frame_length,
        target=MAX_OBJECT // frame_size * frame_length,
    )
    every = sizes(schedule)
    assert all(size % frame_length == 0 for size in every)
    assert max(every) // frame_length * frame_size <= MAX_PART
    assert schedule.capacity() // frame_length * frame_size >= MAX_OBJECT - frame_size


def test_an_expected_size_picks_the_part_size_up_front() -> None:
    config = TransferConfig()
    hinted = config.schedule_for(None, expected_size=100 * GiB)
    assert hinted.base == config.part_size_for(100 * GiB) == 16 * MiB
    assert set(parts_for(hinted, 100 * GiB)) == {16 * MiB}
    assert hinted.capacity() >= MAX_OBJECT  # a stream longer than its hint still fits
    small = config.schedule_for(None, expected_size=1 * GiB)
    assert small.base == 8 * MiB and small.capacity() >= MAX_OBJECT
    whole = config.schedule_for(None, expected_size=MAX_OBJECT)
    assert whole.base == 1 * GiB and whole.capacity() >= MAX_OBJECT


def test_a_known_size_gets_one_part_size() -> None:
    assert TransferConfig().schedule_for(200 * GiB) == PartSchedule.fixed(32 * MiB)


@pytest.mark.parametrize(
    "settings",
    [{"stream_steady_parts": 0}, {"stream_steady_parts": 10_001}, {"stream_growth_every": 0}],
)
def test_bad_stream_settings_are_refused(settings: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        TransferConfig(**settings)  # type: ignore[arg-type]


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        PartSchedule(base=8 * MiB, ceiling=4 * MiB)
    with pytest.raises(ConfigurationError):
        PartSchedule(base=8 * MiB).size(0)
    with pytest.raises(ConfigurationError):
        growing_schedule(5 * MiB + 1, steady=2, unit=4096)
    with pytest.raises(ConfigurationError):
        TransferConfig().schedule_for(None, expected_size=-1)


@pytest.mark.parametrize("kind", ["bytes", "file", "iterable"])
def test_streams_are_cut_as_the_schedule_says(kind: str) -> None:
    schedule = PartSchedule(base=10, steady=2, every=2, ceiling=40)
    data = bytes(range(256)) * 1
    source: object = {
        "bytes": data,
        "file": io.BytesIO(data),
        "iterable": (data[i : i + 7] for i in range(0, len(data), 7)),
    }[kind]
    parts = list(chunk_stream(source, schedule))  # type: ignore[arg-type]
    assert [len(p.data) for p in parts] == [10, 10, 20, 20, 40, 40, 40, 40, 36]
    assert b"".join(bytes(p.data) for p in parts) == data
    assert [p.number for p in parts] == list(range(1, 10))
    assert [p.last for p in parts] == [False] * 8 + [True]
