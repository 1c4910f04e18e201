"""``range_answered``: an answer that starts elsewhere than asked is never accepted.

Mutation testing (docs/mutation.md) found the start check unasserted: every refused
case of test_range_honoured.py was also refused by its end. An answer from another
offset that ends where asked would hand the reader the wrong bytes as the right ones.
"""

from __future__ import annotations

import pytest

from securestore.reader import range_answered


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes 0-199/1000", 100, 199),  # the right end, from byte 0
        ("bytes 101-199/1000", 100, 199),  # one byte late
        ("bytes 99-199/1000", 100, 199),  # one byte early
        ("bytes 0-999/1000", 100, None),  # an open range answered from byte 0
        ("bytes 0-999/1000", 900, 1999),  # past the end, from byte 0
    ],
)
def test_an_answer_that_starts_elsewhere_is_refused(
    header: str, first: int, last: int | None
) -> None:
    assert range_answered(header, first, last) is False


def test_the_same_ends_from_the_asked_start_are_accepted() -> None:
    assert range_answered("bytes 100-199/1000", 100, 199) is True
    assert range_answered("bytes 100-999/1000", 100, None) is True
    assert range_answered("bytes 900-999/1000", 900, 1999) is True
