"""``S3Url.parse``, ``validate_bucket_name`` and ``validate_key`` on arbitrary text.

Only :class:`InvalidLocationError` may come out, and what is accepted obeys S3's
rules, checked against an independent oracle.
"""

from __future__ import annotations

import ipaddress
import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from securestore.errors import InvalidLocationError
from securestore.location import S3Url, validate_bucket_name, validate_key
from tests.fuzz.profiles import FUZZ

_BUCKET_CHARS = string.ascii_lowercase + string.digits + ".-"
bucketish = (
    st.text(st.sampled_from(_BUCKET_CHARS), min_size=0, max_size=70)
    | st.text(max_size=70)
    | st.text(st.sampled_from(_BUCKET_CHARS + "A_ \n\t/\x00é"), max_size=70)
)
keyish = st.text(max_size=40) | st.text(st.characters(codec="utf-8"), max_size=40) | st.just("")
urls = (
    st.builds(lambda b, k, sep: f"s3://{b}{sep}{k}", bucketish, keyish, st.sampled_from(["/", ""]))
    | st.text(max_size=80)
    | st.builds(
        lambda p, rest: p + rest,
        st.sampled_from(["s3:/", "S3://", "s3:///", "s3://"]),
        st.text(max_size=40),
    )
)


def _is_ipv4_like(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def oracle_bucket_ok(name: str) -> bool:
    """S3's general-purpose bucket naming rules, written independently of the library."""
    return (
        3 <= len(name) <= 63
        and all(c in _BUCKET_CHARS for c in name)
        and name[0] not in ".-"
        and name[-1] not in ".-"
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and not name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        and not name.endswith(("-s3alias", "--ol-s3", "--x-s3", ".mrap", "--table-s3"))
        and not _is_ipv4_like(name)
    )


@pytest.mark.timeout(60)
@FUZZ
@given(bucketish)
@example("abc")
@example("a" * 63)
@example("1.2.3.4")
def test_bucket_names_follow_the_rules(name: str) -> None:
    try:
        accepted = validate_bucket_name(name) == name
        hint = None
    except InvalidLocationError as error:
        accepted, hint = False, error.hint
    assert accepted == oracle_bucket_ok(name), name
    assert accepted or hint


@pytest.mark.parametrize("name", ["abc\n", "my-bucket\n"])
def test_a_trailing_newline_is_not_a_valid_bucket_name(name: str) -> None:
    with pytest.raises(InvalidLocationError):
        validate_bucket_name(name)


@pytest.mark.timeout(60)
@FUZZ
@given(keyish | st.text(max_size=1100) | st.just("\udc80"))
def test_keys_are_non_empty_utf8_of_at_most_1024_bytes(key: str) -> None:
    try:
        assert validate_key(key) == key
    except InvalidLocationError:
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            return
        assert size == 0 or size > 1024
        return
    assert 1 <= len(key.encode("utf-8")) <= 1024


@pytest.mark.timeout(60)
@FUZZ
@given(urls, st.booleans())
def test_url_parsing_accepts_only_valid_locations_and_round_trips(
    url: str, require_key: bool
) -> None:
    try:
        parsed = S3Url.parse(url, require_key=require_key)
    except InvalidLocationError:
        return
    assert url.startswith("s3://")
    assert validate_bucket_name(parsed.bucket) == parsed.bucket
    assert "/" not in parsed.bucket
    if require_key or parsed.key:
        assert validate_key(parsed.key) == parsed.key
    assert S3Url.parse(str(parsed), require_key=require_key) == parsed
    assert url in (str(parsed), str(parsed) + "/")
