"""Part sizes of multipart uploads, as plain arithmetic (no I/O).

S3 allows at most 10,000 parts, each of 5 MiB to 5 GiB (the last may be
smaller), and objects of at most 5 TiB; parts of one upload may differ in size.
A body of known length gets one part size, the smallest configured size that
fits it in 10,000 parts. A stream of unknown length cannot be planned that way:
fixed 8 MiB parts stop at 78 GiB. It gets a :class:`PartSchedule` that keeps the
configured size for the first ``steady`` parts (20 GiB at the defaults) and then
doubles it every ``every`` parts up to a ``ceiling``, both chosen by
:func:`growing_schedule` so that 10,000 parts hold a whole 5 TiB object while
the parts stay as small, for as long, as that allows.

Memory follows the part size: an upload holds about ``concurrency + 1`` parts at
once (those in flight and the one being read, in buffers reused from part to
part: see :mod:`securestore.chunking` and :mod:`securestore.buffers`), so the
peak is a function of the *current* part size, not of the stream's length. At the defaults (8 MiB,
concurrency 4) a stream keeps 8 MiB parts up to 20 GiB, has 64 MiB parts at
about 42 GiB, and its largest parts (1 GiB) come only past 1 TiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from securestore.errors import ConfigurationError

__all__ = [
    "MAX_OBJECT",
    "MAX_PART",
    "MAX_PARTS",
    "MIN_PART",
    "PartSchedule",
    "growing_schedule",
]

MiB = 1024 * 1024
#: S3's limits (all but the last part at least MIN_PART).
MIN_PART = 5 * MiB
MAX_PART = 5 * 1024 * MiB
MAX_PARTS = 10_000
MAX_OBJECT = 5 * 1024 * 1024 * MiB


@dataclass(frozen=True, kw_only=True)
class PartSchedule:
    """The size of every part of one upload.

    Parts ``1..steady`` hold ``base`` bytes; after them the size doubles every
    ``every`` parts (parts ``steady+1..steady+every`` hold ``2 * base``, and so
    on) until it reaches ``ceiling``. All sizes are multiples of ``unit`` when
    ``base`` and ``ceiling`` are (a client-side message's frame length: parts
    stay whole frames).

    Args:
        base: bytes of each of the first parts.
        steady: how many parts keep ``base``.
        every: parts per doubling afterwards.
        ceiling: the largest part (default ``base``: no growth).
    """

    base: int
    steady: int = MAX_PARTS
    every: int = 1
    ceiling: int = 0

    def __post_init__(self) -> None:
        if self.base < 1 or self.steady < 1 or self.every < 1:
            raise ConfigurationError("part schedule: base, steady and every must be positive")
        if not self.ceiling:
            object.__setattr__(self, "ceiling", self.base)
        if self.ceiling < self.base:
            raise ConfigurationError("part schedule: the ceiling is below the base size")

    @classmethod
    def fixed(cls, size: int) -> PartSchedule:
        """Every part ``size`` bytes."""
        return cls(base=size)

    def size(self, number: int) -> int:
        """Bytes of part ``number`` (1-based) when it is not the last."""
        if number < 1:
            raise ConfigurationError("part numbers start at 1")
        if number <= self.steady:
            return self.base
        doublings = (number - self.steady - 1) // self.every + 1
        return min(self.ceiling, self.base << min(doublings, 64))

    def offset(self, number: int) -> int:
        """Bytes held by the parts before part ``number``."""
        if number < 1:
            raise ConfigurationError("part numbers start at 1")
        before = number - 1
        total = min(before, self.steady) * self.base
        left = before - self.steady
        size = self.base
        while left > 0:
            size = min(self.ceiling, size * 2)
            if size == self.ceiling:
                return total + left * size
            run = min(left, self.every)
            total += run * size
            left -= run
        return total

    def capacity(self, parts: int = MAX_PARTS) -> int:
        """Bytes that ``parts`` full parts hold (at 10,000: the largest upload possible)."""
        return self.offset(parts + 1)


def growing_schedule(
    base: int,
    *,
    steady: int,
    every: int | None = None,
    target: int = MAX_OBJECT,
    max_part: int = MAX_PART,
    unit: int = 1,
) -> PartSchedule:
    """The schedule of a stream of unknown length: ``base`` for ``steady`` parts, then growth.

    With ``every`` given, the size doubles every ``every`` parts up to the
    largest ``base * 2**k`` within ``max_part``. Otherwise the smallest ceiling
    ``base * 2**k`` (within ``max_part``) for which some pace lets 10,000 parts
    hold ``target`` bytes is chosen, with the slowest such pace: parts grow as
    late and as little as reaching ``target`` allows. When no schedule reaches
    ``target`` (``steady`` too close to 10,000), parts grow as fast as allowed.

    Args:
        base: the first parts' size (a multiple of ``unit``).
        steady: parts at ``base`` before any growth.
        every: parts per doubling, or ``None`` to choose.
        target: bytes 10,000 parts must be able to hold (S3's 5 TiB).
        max_part: the largest part allowed (S3's 5 GiB, less for ciphertext overhead).
        unit: every size a multiple of this (the frame length of a client-side message).
    """
    if base % unit or base > max_part:
        raise ConfigurationError("part schedule: base must be a multiple of unit within max_part")
    ceilings = []
    ceiling = base
    while ceiling <= max_part:
        ceilings.append(ceiling)
        ceiling *= 2
    if every is not None:
        return PartSchedule(base=base, steady=steady, every=every, ceiling=ceilings[-1])
    for ceiling in ceilings:
        pace = _slowest_pace(base, steady, ceiling, target)
        if pace is not None:
            return PartSchedule(base=base, steady=steady, every=pace, ceiling=ceiling)
    return PartSchedule(base=base, steady=steady, every=1, ceiling=ceilings[-1])


def _slowest_pace(base: int, steady: int, ceiling: int, target: int) -> int | None:
    """The largest ``every`` whose schedule holds ``target`` in 10,000 parts, if any."""

    def holds(pace: int) -> bool:
        schedule = PartSchedule(base=base, steady=steady, every=pace, ceiling=ceiling)
        return schedule.capacity() >= target

    if not holds(1):
        return None
    low, high = 1, MAX_PARTS  # capacity only falls as the pace slows
    while low < high:
        middle = (low + high + 1) // 2
        if holds(middle):
            low = middle
        else:
            high = middle - 1
    return low
