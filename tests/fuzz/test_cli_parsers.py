"""The CLI's own parsers (``--context``/``--metadata`` pairs, ``--range``) on arbitrary text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from securestore_cli.commands import parse_pairs
from securestore_cli.reading import parse_range

from securestore.errors import ConfigurationError
from tests.fuzz.profiles import FUZZ

pair_text = st.text(max_size=20) | st.builds(
    lambda k, sep, v: k + sep + v,
    st.text(st.characters(blacklist_characters="="), max_size=8),
    st.sampled_from(["=", "==", ""]),
    st.text(max_size=8),
)


@pytest.mark.timeout(60)
@FUZZ
@given(st.lists(pair_text, max_size=6), st.sampled_from(["context", "metadata"]))
def test_pairs_parse_to_a_dict_or_a_configuration_error(pairs: list[str], what: str) -> None:
    try:
        result = parse_pairs(pairs, what)
    except ConfigurationError as error:
        refused: ConfigurationError | None = error
    else:
        refused = None
    if refused is not None:
        assert what in str(refused)
        return
    assert len(result) == len(pairs)
    for pair in pairs:
        name, _, value = pair.partition("=")
        assert name and result[name] == value
    assert parse_pairs([f"{k}={v}" for k, v in result.items()], what) == result


_CANONICAL = re.compile(r"([0-9]+)-([0-9]*)")

range_text = (
    st.text(max_size=12)
    | st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 10**12), st.integers(0, 10**12))
    | st.builds(lambda a: f"{a}-", st.integers(0, 10**30))
    | st.text(st.sampled_from("0123456789-_+ "), max_size=10)
)


@pytest.mark.timeout(60)
@FUZZ
@given(range_text)
def test_canonical_ranges_parse_exactly_and_nothing_else_crashes(text: str) -> None:
    match = _CANONICAL.fullmatch(text)
    try:
        start, length = parse_range(text)
    except ConfigurationError as error:
        refused: ConfigurationError | None = error
    else:
        refused = None
    if refused is not None:
        assert "invalid range" in str(refused)
        if match:
            assert match[2] and int(match[2]) < int(match[1])
        return
    assert start >= 0 and (length == -1 or length >= 1)
    if match:
        assert start == int(match[1])
        assert length == (int(match[2]) - start + 1 if match[2] else -1)


@pytest.mark.parametrize("text", ["1_0-2_0", " 1-2", "+1-2", "\u0663-\u0665", "1-2\n"])
def test_only_ascii_digit_ranges_are_accepted(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_range(text)
